"""The plan of a score (lib.core.score): which timing-to-audio requests cover a video, where their sounds are cut,
what is wrong before anything is sent, and the receipt in plain words."""
from __future__ import annotations

import dataclasses
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from lib.core.errors import Problem
from lib.core.score import (
    OVERLAP_SECONDS,
    SCORE_EVENTS_MAX,
    WINDOW_MAX,
    WINDOW_MIN,
    Mix,
    Part,
    Score,
    Source,
    cuts,
    mix_problems,
    plan,
    problems,
    receipt_lines,
    requests,
    sent,
    silent_stretches,
)
from lib.core.tasks import Endpoint
from lib.core.validation import validate

EPSILON = 1e-9


def source(duration: float) -> Source:
    return Source(name="0123456789abcdef/" + "a" * 32 + "-1.mp4", duration=duration, width=64, height=48,
                  has_audio=True, label="A boat at sunset")


def event(start: float, end: float, prompt: str = "A door slams") -> dict:
    return {"from": start, "to": end, "prompt": prompt}


def on_video(window) -> list[tuple[float, float]]:
    return [(window.start + e["from"], window.start + e["to"]) for e in window.events]


def messages(found: list[Problem]) -> list[str]:
    return [problem.message for problem in found]


# ---- the windows ----

def test_a_16_second_video_with_events_spread_over_it_gets_two_overlapping_requests():
    windows = plan([event(1, 3), event(7, 9.5), event(13, 15)], 16)
    assert len(sent(windows)) == 2
    first, second = windows
    assert first.start == 0 and second.end == 16 and first.end - second.start >= OVERLAP_SECONDS - EPSILON
    assert sorted(span for window in windows for span in on_video(window)) == [(1, 3), (7, 9.5), (13, 15)]


def test_a_60_second_video_gets_seven_requests():
    windows = plan([event(start, start + 2) for start in range(0, 58, 6)], 60)
    assert len(sent(windows)) == 7 == math.ceil((60 - OVERLAP_SECONDS) / (WINDOW_MAX - OVERLAP_SECONDS))


def test_a_boundary_moves_so_an_event_it_would_split_lies_whole_in_the_next_window():
    windows = plan([event(8, 12, "A train passes")], 16)
    holding = [window for window in windows if window.events]
    assert len(holding) == 1 and holding[0].start <= 8 and holding[0].end >= 12 and holding[0].seconds <= WINDOW_MAX
    assert len(windows) == 2 and windows[0].end - windows[1].start >= OVERLAP_SECONDS
    assert holding[0].events == ({"from": 8 - holding[0].start, "to": 12 - holding[0].start,
                                  "prompt": "A train passes"},)


def test_windows_without_events_are_not_sent_and_their_stretch_is_silent():
    windows = plan([event(1, 2)], 30)
    assert len(windows) == 4 and len(sent(windows)) == 1
    spans = [(window.start, window.end) for window in sent(windows)]
    assert silent_stretches(spans, 30) == [(windows[0].end, 30)]


def test_a_video_under_two_seconds_gets_one_two_second_window():
    assert [(w.start, w.end) for w in plan([event(0.2, 1.0)], 1.5)] == [(0, 2)]


def test_the_cut_lies_in_the_overlap_where_no_event_sounds():
    windows = plan([event(0, 8.8), event(9.5, 15)], 16)
    (cut,) = cuts(windows)
    first, second = windows
    assert second.start <= cut <= first.end
    assert 8.8 < cut < 9.5


def test_sounds_that_do_not_overlap_have_no_cut():
    windows = plan([event(1, 2), event(25, 27)], 30)
    assert cuts(windows) == [None]


@st.composite
def videos(draw):
    duration = draw(st.floats(0.5, 60, allow_nan=False))
    count = draw(st.integers(0, SCORE_EVENTS_MAX))
    events = []
    for _ in range(count):
        start = draw(st.floats(0, duration, allow_nan=False))
        length = draw(st.floats(0.05, WINDOW_MAX, allow_nan=False))
        end = min(duration, start + length)
        if end - start >= 0.05:  # clipped at the end of the video, an event can shrink below the editor's 0.1 s step
            events.append(event(start, end))
    return duration, events


@settings(max_examples=300, deadline=None)
@given(videos())
def test_every_event_lies_wholly_in_exactly_one_window_of_two_to_ten_seconds(video):
    duration, events = video
    windows = plan(events, duration)
    assert windows[0].start == 0 and windows[-1].end == max(duration, WINDOW_MIN)
    for window in windows:
        assert WINDOW_MIN - EPSILON <= window.seconds <= WINDOW_MAX + EPSILON
        assert window.start >= 0 and (window.end <= duration + EPSILON or duration < WINDOW_MIN)
        for local in window.events:
            assert -EPSILON <= local["from"] < local["to"] <= window.seconds + EPSILON
    for first, second in zip(windows, windows[1:]):
        assert first.start < second.start and first.end - second.start >= OVERLAP_SECONDS - EPSILON
    placed = sorted(span for window in windows for span in on_video(window))
    assert len(placed) == len(events)
    for (a, b), wanted in zip(placed, sorted((e["from"], e["to"]) for e in events)):
        assert math.isclose(a, wanted[0], abs_tol=1e-9) and math.isclose(b, wanted[1], abs_tol=1e-9)
    for first, second in zip(sent(windows), sent(windows)[1:]):
        cut = cuts([first, second])[0]
        assert cut is None or second.start <= cut <= first.end


@settings(max_examples=200, deadline=None)
@given(st.floats(10.5, 60, allow_nan=False), st.integers(1, 20))
def test_as_few_windows_as_the_length_needs_when_events_allow_it(duration, count):
    # short events that no nominal boundary splits: every window may reach as far as it can
    events = [event(t, t + 0.1) for t in (duration * k / (count + 1) for k in range(1, count + 1))]
    windows = plan(events, duration)
    nominal = math.ceil((duration - OVERLAP_SECONDS) / (WINDOW_MAX - OVERLAP_SECONDS))
    assert nominal <= len(windows) <= nominal + count  # each event can hold a boundary back once at most
    assert len(plan([], duration)) == nominal


# ---- the requests ----

def test_each_take_sends_timing_to_audio_in_local_time_and_the_music_bed_once():
    asked = requests([event(1, 3), event(13, 15.5)], "Calm piano", 16, seed=42)
    assert [role for role, _, _ in asked] == ["effects", "effects", "music"]
    (_, first, body), (_, second, later), (_, _, music) = asked
    assert body["model"] == "audio1.0" and body["duration"] == round(first.seconds, 3) and body["seed"] == 42
    assert later["timing_prompts"] == [{"from": round(13 - second.start, 3), "to": round(15.5 - second.start, 3),
                                        "prompt": "A door slams"}]
    assert music == {"model": "audio1.0", "prompt": "Calm piano", "duration": 10, "seed": 42}
    for role, _, one in asked:
        assert validate(Endpoint.VIDU_TIMING2AUDIO if role == "effects" else Endpoint.VIDU_TEXT2AUDIO, one) == []
    assert "seed" not in requests([event(1, 3)], "", 6, seed=0)[0][2]  # 0: Vidu picks


def test_a_short_video_asks_for_a_two_second_music_bed():
    assert requests([], "Drums", 1.2, 0)[0][2]["duration"] == 2


# ---- problems ----

def test_every_problem_is_reported_at_once_in_plain_words():
    found = messages(problems(None, [event(0, 12, "A long storm"), event(3, 2, "")], "x" * 1501,
                              Mix(effects_db=20, target=-18)))
    assert "Choose a video to score first." in found
    assert "Event 1 lasts 12 s; one request makes at most 10 s of sound, so split it into shorter events." in found
    assert "Event 2 needs a prompt." in found and any("Event 2 ends before it starts" in m for m in found)
    assert "The music description is 1,501 of 1,500 characters — shorten it by 1." in found
    assert "The gain of the effects must be between -30 and +12 dB." in found
    assert any(m.startswith("The loudness target must be one of") for m in found)


def test_events_outside_the_video_are_refused():
    found = messages(problems(source(8), [event(6, 9)], "", Mix()))
    assert found == ["Event 1 ends after the clip (9 s > 8 s)."]


def test_too_many_events_are_refused_before_any_is_read():
    found = messages(problems(source(60), [event(1, 2)] * (SCORE_EVENTS_MAX + 1), "", Mix()))
    assert found == [f"A timeline has at most {SCORE_EVENTS_MAX} events; this one has {SCORE_EVENTS_MAX + 1}."]


def test_no_events_and_no_music_is_nothing_to_make():
    assert messages(problems(source(8), [], "  ", Mix())) == [
        "Add a sound event or describe a music bed: there is nothing to make yet."]
    assert problems(source(8), [], "Soft strings", Mix()) == []
    assert problems(source(16), [event(1, 3), event(7, 9.5)], "", Mix()) == []


def test_a_mix_has_bounded_gains_and_a_known_target():
    assert mix_problems(Mix()) == [] and mix_problems(Mix(original_db=-30, music_db=12, target=-23)) == []
    found = messages(mix_problems(Mix(original_db=-31, music_db="loud", duck="yes", target=-14.5)))
    assert found[0] == "The gain of the video's own sound must be between -30 and +12 dB."
    assert found[1] == "The gain of the music must be a number of dB."
    assert "Ducking must be on or off." in found and len(found) == 4


# ---- the receipt ----

def test_the_receipt_says_in_plain_lines_what_was_done():
    receipt = {"video_seconds": 16.0, "sound_seconds": 16.0, "fitted": "", "loudness": -14.04, "true_peak": -1.3,
               "target": -14.0, "ducked": True, "video_codec": "h264",
               "layers": [{"layer": "original", "gain_db": 0.0, "present": True},
                          {"layer": "effects", "gain_db": 3.0, "present": True},
                          {"layer": "music", "gain_db": -6.0, "present": True}],
               "requests": [{"role": "effects", "start": 0, "end": 8.5, "seconds": 8.5, "credits": 20},
                            {"role": "music", "start": 0, "end": 16, "seconds": 10, "credits": 20}],
               "cost": 40, "notes": ["No sound events between 8.5 and 16 s: the effects layer is silent there."]}
    score = Score(source(16), (event(1, 3),), "Piano", (Part("t1", "effects", 0, 8.5), Part("t2", "music", 0, 16)),
                  receipt=receipt)
    lines = receipt_lines(score)
    assert lines[0] == "Picture: 16.00 s (h264, copied unchanged). Sound: 16.00 s."
    assert lines[1] == ("Loudness: −14.0 LUFS integrated, true peak −1.3 dBTP; target −14 LUFS (web), true peak at "
                        "most −1 dBTP.")
    assert lines[2] == ("Layers: the video's own sound 0 dB, the effects +3.0 dB, the music −6.0 dB; the music ducked "
                        "under the effects.")
    assert lines[3] == ("Requests: 2 to Vidu (effects 0–8.5 s, 8.5 s of sound, 20 credits; music bed, 10 s of sound, "
                        "20 credits), 40 credits in all.")
    assert lines[4] == receipt["notes"][0]
    assert receipt_lines(Score(source(16), (), "Piano", ())) == []
    re_encoded = dataclasses.replace(score, receipt={**receipt, "video_codec": "h264", "video_copied": False})
    assert receipt_lines(re_encoded)[0] == "Picture: 16.00 s (h264, re-encoded). Sound: 16.00 s."
