"""The Score page: how a score reads (lib.core.score_view), the lanes over a video's frames, and the page itself
through AppTest in demo mode (choosing the video, problems, the plan and its cost, Generate, the re-mix)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.core import score, score_view, timeline
from lib.core.money import dollars
from lib.core.plain import plain
from lib.core.score import Mix, Part, Score, ScoreState, Source
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import media_name, owner_dir
from lib.sim.media import render_video
from lib.ui.runtime import services
from lib.ui.tasks import SCORE_VIDEO

SOURCE = Source("0123456789abcdef/" + "a" * 32 + "-1.mp4", 16.0, 320, 180, False, "A fox runs through snow",
                task_id="a" * 32, frames="0123456789abcdef/" + "a" * 32 + "-1-frames.jpg")


def _score(**changes) -> Score:
    parts = (Part("t1", "effects", 0.0, 8.5), Part("t2", "effects", 7.5, 16.0), Part("t3", "music", 0.0, 16.0))
    return Score(SOURCE, ({"from": 1.0, "to": 3.0, "prompt": "steps"},), "calm piano", parts, seed=42,
                 **changes)


# --- how a score reads ----------------------------------------------------------------------------------------

def test_the_plan_is_said_with_its_windows_and_cost():
    assert score_view.plan_note([(0, 8.5), (7.5, 16)], False, 1, 2, "60 credits") == \
        "2 requests: 0–8.5 s and 7.5–16 s · 60 credits"
    assert score_view.plan_note([(0, 8.5), (7.5, 16)], True, 2, 6, "140 credits") == (
        "6 requests (3 for each of 2 takes): sound effects for 0–8.5 s and 7.5–16 s, and the music bed · "
        "140 credits")
    assert score_view.plan_note([], True, 1, 1, "10 credits") == "1 request: the music bed · 10 credits"
    assert score_view.plan_note([(0, 4), (3.5, 8), (7.5, 12)], False, 1, 3, "90 credits").startswith(
        "3 requests: 0–4 s, 3.5–8 s and 7.5–12 s")


def test_each_part_says_which_stretch_it_covers_and_where_it_stands():
    effects, _, music = _score().parts
    running = Task(Endpoint.VIDU_TIMING2AUDIO, {}, state=State.RUNNING)
    assert score_view.part_line(effects, running) == "Sound effects, 0–8.5 s: running"
    assert score_view.part_line(music, None) == "Music bed, the whole video: waiting"
    assert score_view.part_line(effects, running.replace(state=State.QUEUED)).endswith(": waiting")
    assert score_view.part_line(effects, running.replace(state=State.FAILED)).endswith(": failed")
    assert score_view.part_line(effects, running.replace(state=State.SUCCEEDED)).endswith(": done")


def test_a_score_says_how_far_it_is():
    done = Task(Endpoint.VIDU_TIMING2AUDIO, {}, state=State.SUCCEEDED)
    assert score_view.state_line(_score(), [done]) == "Generating: 1 of 3 parts done"
    assert score_view.state_line(_score(state=ScoreState.MIXING), []) == "Mixing…"
    assert score_view.state_line(_score(state=ScoreState.MIXING, mixed_version=1), []) == "Mixing the new mix…"
    assert score_view.state_line(_score(state=ScoreState.DONE, mixed_version=1), []) == "Done"


def test_downloads_are_named_for_people_and_by_mix():
    first = score_view.download_names(_score(mixed_version=1))
    assert first == {"mp4": "a-fox-runs-through-snow_16s_seed42_vidu-scored.mp4",
                     "wav": "a-fox-runs-through-snow_16s_seed42_vidu-score.wav",
                     "txt": "a-fox-runs-through-snow_16s_seed42_vidu-receipt.txt"}
    assert score_view.download_names(_score(mixed_version=2))["mp4"].endswith("-scored-mix2.mp4")
    named = _score(id="b" * 32, owner="ann", mixed_version=2)
    assert score_view.receipt_name(named) == f"{owner_dir('ann')}/{'b' * 32}-2-receipt.txt"
    assert score_view.receipt_name(_score()) is None  # no mix yet


def test_only_archived_finished_videos_can_be_scored_and_they_read_by_prompt_and_length():
    video = Media("video", "https://cdn.example.com/v.mp4", "mp4", 8.0, archived="x/y-1.mp4")
    task = Task(Endpoint.VIDU_TEXT2VIDEO, {"prompt": "A  fox runs\nthrough snow"}, state=State.SUCCEEDED,
                media=(video,))
    assert score_view.scorable(task) and score_view.video_label(task) == "A fox runs through snow · 8 s"
    assert not score_view.scorable(task.replace(media=(video.__class__("video", video.url, "mp4", 8.0),)))
    assert not score_view.scorable(task.replace(state=State.RUNNING))
    long = task.replace(params={"prompt": "word " * 40})
    assert len(score_view.video_label(long).split(" · ")[0]) == score_view.LABEL_CHARS


# --- the lanes over the frames --------------------------------------------------------------------------------

def test_the_frames_strip_is_stretched_over_the_lanes_time_axis():
    events = [{"from": 1.0, "to": 4.0, "prompt": "steps"}, {"from": 10.0, "to": 14.0, "prompt": "wind"}]
    plain_spec = timeline.lanes(events, 16.0)
    spec = timeline.lanes(events, 16.0, frames="http://studio/files/strip.jpg?s=1")
    strip, lanes = spec["layer"]
    assert strip["mark"]["type"] == "image" and strip["mark"]["aspect"] is False
    assert strip["data"]["values"] == [{"frames": "http://studio/files/strip.jpg?s=1"}]
    assert strip["encoding"]["x"]["datum"] == 0 and strip["encoding"]["x2"]["datum"] == 16.0
    # the lanes are the same picture as without frames, on the same 0…16 s axis the strip spans
    assert lanes["encoding"] == plain_spec["encoding"] and lanes["mark"] == plain_spec["mark"]
    assert lanes["encoding"]["x"]["scale"]["domain"] == [0, 16.0]
    assert spec["data"] == plain_spec["data"] and spec["height"] == plain_spec["height"]
    assert spec["padding"]["top"] == plain_spec["padding"]["top"] + timeline.FRAMES_PIXELS + timeline.FRAMES_GAP
    assert "layer" not in plain_spec


# --- the page (AppTest, demo mode) ----------------------------------------------------------------------------

# Not streamlit_app.py: AppTest reruns a page from it as a legacy `pages/` script (see bench/app.py).
APP = str(Path(__file__).resolve().parents[1] / "bench" / "app.py")


@pytest.fixture(autouse=True)
def _demo(request):
    """The page's tests run in demo mode (tests/conftest.py); the pure ones above need nothing."""
    if request.node.name.startswith("test_page_"):
        request.getfixturevalue("demo")


def _video(seconds: float = 16.0, prompt: str = "A fox runs through snow", created_at: float | None = None) -> Task:
    """A finished, archived demo video in the store, as a text-to-video task leaves it."""
    task = Task(Endpoint.VIDU_TEXT2VIDEO, {"model": "viduq1", "prompt": prompt}, state=State.SUCCEEDED,
                vendor_id="seeded", created_at=created_at or time.time())
    name = media_name("local", task.id, 1, "mp4")
    path = services().archive.path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_video(prompt, seconds, 160, 90, seed=3)[0])
    task = task.replace(media=(Media("video", "https://cdn.example.com/v.mp4", "mp4", seconds, archived=name),))
    services().store.add(task)
    return task


def _open(video_task: Task | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    if video_task is not None:
        at.session_state[SCORE_VIDEO] = video_task.id  # as History's "Score this video" leaves it
    at.session_state["open_page"] = "score"
    at.run()
    assert not at.exception, at.exception
    return at


def _events(at: AppTest, events: list[dict]) -> AppTest:
    """The timeline as the editor would hold it after typing (the table itself is browser-only)."""
    at.session_state["score_events"] = events
    at.session_state["score_revision"] = at.session_state["score_revision"] + 1
    at.run()
    assert not at.exception, at.exception
    return at


def _click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    at.run()
    assert not at.exception, at.exception
    return at


def _lanes(at: AppTest) -> dict:
    return json.loads(at.get("vega_lite_chart")[0].proto.spec)


def test_page_opened_from_history_chooses_that_video_and_draws_its_frames_over_the_lanes():
    older = _video(prompt="An older video of rain", created_at=time.time() - 60)
    _video(prompt="The newest video")
    at = _open(older)
    assert at.selectbox(key="score_pick").value == older.id  # not the newest: the one opened
    assert "An older video of rain · 16 s · 160×90 · no sound of its own" in [c.value for c in at.caption]
    assert "MP4, MOV or WebM" not in " ".join(c.value for c in at.caption)  # the upload's note is not shown
    strip, _ = _lanes(at)["layer"]
    assert "-1-frames.jpg" in strip["data"]["values"][0]["frames"] and strip["encoding"]["x2"]["datum"] == 16.0
    at.segmented_control(key="score_from").set_value("Upload a video").run()
    assert "MP4, MOV or WebM, up to 60 s and 200 MB." in [c.value for c in at.caption]


def test_page_without_videos_says_how_to_get_one():
    at = _open()
    assert any("no finished videos in your history" in i.value for i in at.info)
    assert not at.get("vega_lite_chart")


def test_page_shows_every_problem_and_sends_nothing():
    at = _events(_open(_video()), [{"from": 1.0, "to": 13.0, "prompt": "a long rumble"},
                                   {"from": 6.0, "to": 4.0, "prompt": "a bell"},
                                   {"from": 14.0, "to": 15.0, "prompt": ""}])
    warnings = [w.value for w in at.warning]
    assert plain("Event 1 lasts 12 s; one request makes at most 10 s of sound, so split it into shorter "
                 "events.") in warnings
    assert plain("Event 2 ends before it starts (4 s ≤ 6 s).") in warnings
    assert plain("Event 3 needs a prompt.") in warnings
    assert not any("requests:" in c.value for c in at.caption)  # no plan for what cannot be sent
    _click(at, "Generate")
    assert at.error and services().store.recent_scores("local") == []


def test_page_says_the_plan_and_its_cost_then_generate_makes_one_score_per_take():
    at = _events(_open(_video()), [{"from": 1.0, "to": 3.0, "prompt": "footsteps"},
                                   {"from": 9.0, "to": 14.0, "prompt": "wind"}])
    requests, cost = services().scores.estimate(at.session_state["score_history_source"],
                                                at.session_state["score_events"], "", 1)
    assert requests == 2
    said = (f"2 requests: 0–10 s and 9–16 s · {cost:g} credits (≈ {dollars(cost * 0.005)}) · "
            "Vidu balance after this: ")
    assert any(c.value.startswith(said) and c.value.endswith(" · demo mode, nothing is charged") for c in at.caption)
    pressed = next(b for b in at.button if b.label == "Generate")
    pressed.click()
    at.run()
    pressed.click()  # the same button again (its token is spent): no second score
    at.run()
    made = services().store.recent_scores("local")
    assert len(made) == 1 and len(made[0].parts) == 2 and made[0].mix == Mix()
    assert [b.label for b in at.button if b.label in ("Generate", "Another take")] == ["Another take"]


def _done(score_id: str, version: int = 1, seconds: float = 120) -> Score:
    deadline = time.monotonic() + seconds
    while True:
        found = services().store.get_score(score_id)
        if found.state is ScoreState.DONE and found.mixed_version == version:
            return found
        assert time.monotonic() < deadline and found.state is not ScoreState.FAILED, (found.state,
                                                                                       found.error_message)
        time.sleep(0.1)  # the worker makes the parts and the mix: polling the store with a deadline


def test_page_shows_a_finished_score_and_a_gain_change_remixes_it_at_once():
    at = _events(_open(_video(seconds=6.0)), [{"from": 1.0, "to": 3.0, "prompt": "footsteps"}])
    _click(at, "Generate")
    made = _done(services().store.recent_scores("local")[0].id)
    tasks_before = services().store.count("local")
    at.run()
    player = next(e for e in at.get("bidi_component") if e.proto.component_name.endswith("cue_waveform"))
    data = json.loads(player.proto.json)
    assert data.get("video") is True and data["events"][0]["prompt"] == "footsteps"
    assert any(line in at.text[-1].value for line in score.receipt_lines(made))
    effects = at.slider(key=f"remix_{made.id}_effects")
    effects.set_value(-4.0).run()
    assert not at.exception, at.exception
    asked = services().store.get_score(made.id)
    assert asked.mix.effects_db == -4.0 and asked.mix_version == 2
    assert services().store.count("local") == tasks_before  # no vendor request: the parts are reused
    remixed = _done(made.id, version=2)
    assert remixed.video != made.video


def test_page_history_card_of_an_archived_video_offers_score_this_video():
    task = _video()
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.session_state["open_page"] = "history"
    at.run()
    next(b for b in at.button if b.label == "Score this video").click()
    at.run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Score a video"] and at.selectbox(key="score_pick").value == task.id


def test_page_offers_a_gain_for_the_videos_own_sound_only_when_it_has_one_and_ducking_only_with_music():
    import numpy as np

    from tests.conftest import write_video

    task = _video(seconds=4.0, prompt="A video with its own sound")
    path = services().archive.path(task.media[0].archived)
    write_video(path, 4.0, sound=np.full((2, 4 * 48000), 0.1, np.float32))  # the same video, now with sound
    at = _open(task)
    assert [s.label for s in at.slider] == ["The video's own sound (dB)", "Sound effects (dB)"]
    assert not at.toggle
    at.text_area(key="score_music").input("Calm piano").run()
    assert [s.label for s in at.slider][-1] == "Music bed (dB)"
    assert at.toggle(key="score_mix_duck").value is True  # on by default (Mix)


def test_page_without_sound_of_its_own_has_no_gain_for_it():
    at = _open(_video(seconds=4.0))
    assert [s.label for s in at.slider] == ["Sound effects (dB)"]
