"""The Score page: how a score reads (lib.core.score_view), the lanes over a video's frames, and the page itself
through AppTest in demo mode (choosing the video, problems, the plan and its cost, Generate, the re-mix)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from lib.core import score_view, timeline
from lib.core.score import Mix, Part, Score, ScoreState, Source
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import media_name, owner_dir
from lib.sim.media import render_video

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
