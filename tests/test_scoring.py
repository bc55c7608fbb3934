"""The Scores service end to end: a studio built by lib.service.app.build against a simulator kept running
outside it (so a studio can be closed and built again on the same data folder), short videos, real mixes."""
from __future__ import annotations

import io
import logging
import time

import numpy as np
import pytest

from lib.core.errors import InvalidRequest
from lib.core.score import Mix, ScoreState
from lib.core.tasks import Endpoint, Media, Provider, State, Task
from lib.media.archive import owner_dir
from lib.service import budget, scoring
from lib.service.app import build
from lib.service.config import Settings
from lib.service.poller import Poller
from lib.service.scoring import UPLOAD_CHUNK, ScoreError
from lib.service.transfer import export_zip, import_zip
from lib.sim import DEMO_KLING_API_KEY, DEMO_VIDU_KEY, start
from lib.store.sqlite import Store
from tests.conftest import write_video

EVENTS = [{"from": 1.0, "to": 3.0, "prompt": "A door slams"},
          {"from": 7.0, "to": 9.5, "prompt": "Footsteps on wood"},
          {"from": 12.0, "to": 15.0, "prompt": "Glass breaking"}]
MUSIC = "Calm piano"
CREATES = ("/ent/v2/timing2audio", "/ent/v2/text2audio")


def settings_for(simulator, data_dir, **changes) -> Settings:
    """The simulator as the studio's "live" vendors: it runs outside every studio, so closing a studio leaves its
    tasks running there."""
    return Settings(data_dir=data_dir, vidu_api_key=DEMO_VIDU_KEY, vidu_base_url=simulator.url,
                    kling_api_key=DEMO_KLING_API_KEY, kling_base_url=simulator.url, **changes)


@pytest.fixture
def studio(fresh_sim, tmp_path):
    with build(settings_for(fresh_sim, tmp_path)).start() as engine:
        yield engine


def creates(simulator) -> list[str]:
    return [entry.path for entry in simulator.requests if entry.method == "POST" and entry.path in CREATES]


def wait_for(condition, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.05)
    return found


def finished(store: Store, score_id: str, version: int = 1, seconds: float = 60):
    """The score once it is DONE with mix `version`, or FAILED."""
    def ended():
        score = store.get_score(score_id)
        return score if score.state is ScoreState.FAILED or (
            score.state is ScoreState.DONE and score.mixed_version == version) else None
    return wait_for(ended, seconds)


def video_task(engine, owner: str, seconds: float = 16, sound: bool = True) -> Task:
    """A finished video of `owner`'s history with its archived copy (a tiny synthetic one)."""
    task = Task(Endpoint.VIDU_TEXT2VIDEO, {"model": "viduq2", "prompt": "A boat at sunset", "duration": 5},
                owner=owner, state=State.SUCCEEDED, vendor_id="v-video")
    name = f"{owner_dir(owner)}/{task.id}-1.mp4"
    path = engine.archive.path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tone = (0.1 * np.sin(2 * np.pi * 220 * np.arange(round(seconds * 48000)) / 48000)).astype(np.float32)
    write_video(path, seconds, sound=np.stack([tone, tone]) if sound else None)
    task = task.replace(media=(Media("video", url="https://vendor.example/v.mp4", format="mp4", archived=name),))
    engine.store.add(task)
    return task


def files_of(engine, owner: str) -> set[str]:
    folder = engine.archive.path(owner_dir(owner))
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


# ---- a whole score ----

def test_three_events_and_music_on_a_16_s_video_make_three_requests_and_one_playable_mp4(studio, fresh_sim):
    source = studio.scores.source_from_task("ann", video_task(studio, "ann"))
    assert source.duration == pytest.approx(16, abs=0.05) and source.has_audio
    assert studio.archive.resolve(source.frames, "ann") is not None  # the strip, beside the video
    assert studio.scores.estimate(source, EVENTS, MUSIC, 1) == (3, 60)
    (score,) = studio.scores.submit("ann", source, EVENTS, MUSIC, Mix(), 1, 0)
    assert sorted(creates(fresh_sim)) == sorted(["/ent/v2/timing2audio"] * 2 + ["/ent/v2/text2audio"])
    done = finished(studio.store, score.id)
    assert done.state is ScoreState.DONE, done.error_message
    parts = studio.scores.parts(done)
    assert [part.role for part in done.parts] == ["effects", "effects", "music"]
    assert all(task.state is State.SUCCEEDED and studio.archive.resolve(task.media[0].archived, "ann")
               for task in parts)
    for name in (done.video, done.sound, done.peaks, done.receipt_file):
        assert studio.archive.resolve(name, "ann") is not None, name
    receipt = done.receipt
    assert receipt["video_seconds"] == pytest.approx(source.duration, abs=1e-3)
    assert receipt["sound_seconds"] == pytest.approx(receipt["video_seconds"], abs=1 / 48000)
    assert abs(receipt["loudness"] - -14) <= 0.5 and receipt["true_peak"] <= -1
    assert [r["role"] for r in receipt["requests"]] == ["effects", "effects", "music"]
    assert [r["task_id"] for r in receipt["requests"]] == [task.id for task in parts]
    assert receipt["cost"] == sum(task.credits for task in parts) == 60
    text = studio.archive.resolve(done.receipt_file, "ann").read_text(encoding="utf-8")
    assert "Requests: 3 to Vidu" in text and "60 credits in all" in text
    assert studio.store.library("ann")[1] == 1  # the video only: the parts are shown with their score
    assert studio.scores.recent("ann") == [done] and studio.scores.get(done.id, "ann") == done


def test_a_remix_writes_new_files_from_the_stored_parts_without_a_vendor_request(studio, fresh_sim):
    source = studio.scores.source_from_task("ann", video_task(studio, "ann", seconds=6, sound=False))
    (score,) = studio.scores.submit("ann", source, EVENTS[:1], "", Mix(), 1, 5)
    first = finished(studio.store, score.id)
    assert first.state is ScoreState.DONE, first.error_message
    asked = len(creates(fresh_sim))
    remixed = studio.scores.remix(score.id, "ann", Mix(effects_db=6, target=-23))
    assert (remixed.state, remixed.mix_version) == (ScoreState.MIXING, 2)
    second = finished(studio.store, score.id, version=2)
    assert second.state is ScoreState.DONE and second.mixed_version == 2
    assert abs(second.receipt["loudness"] - -23) <= 0.5
    assert len(creates(fresh_sim)) == asked == 1
    assert second.video != first.video and studio.archive.resolve(second.video, "ann") is not None
    for old in (first.video, first.sound, first.peaks, first.receipt_file):  # the previous mix's files went
        assert studio.archive.resolve(old, "ann") is None
    with pytest.raises(InvalidRequest, match="between -30 and \\+12 dB"):
        studio.scores.remix(score.id, "ann", Mix(music_db=40))


def test_takes_are_scores_sharing_a_group_each_with_its_own_seed(studio, fresh_sim):
    source = studio.scores.source_from_task("ann", video_task(studio, "ann", seconds=6, sound=False))
    scores = studio.scores.submit("ann", source, EVENTS[:1], MUSIC, Mix(), 2, 0)
    assert len(scores) == 2 and len({s.group_id for s in scores}) == 1 and len({s.seed for s in scores}) == 2
    for score in scores:
        assert {task.params["seed"] for task in studio.scores.parts(score)} == {score.seed}
    assert len(creates(fresh_sim)) == 4
    assert all(finished(studio.store, s.id).state is ScoreState.DONE for s in scores)


def test_a_stretch_without_events_is_not_sent_and_the_receipt_says_it_is_silent(studio, fresh_sim):
    source = studio.scores.source_from_task("ann", video_task(studio, "ann", seconds=16, sound=False))
    (score,) = studio.scores.submit("ann", source, EVENTS[:1], "", Mix(), 1, 0)
    done = finished(studio.store, score.id)
    assert done.state is ScoreState.DONE and creates(fresh_sim) == ["/ent/v2/timing2audio"]
    (part,) = done.parts
    assert done.receipt["notes"][-1] == (f"No sound events between {part.end:g} and {source.duration:g} s: the "
                                         "effects layer is silent there.")


def test_a_video_under_two_seconds_gets_a_two_second_request_trimmed_to_the_picture_and_said(studio, fresh_sim):
    source = studio.scores.source_from_task("ann", video_task(studio, "ann", seconds=1.5))
    (score,) = studio.scores.submit("ann", source, [{"from": 0.2, "to": 1.2, "prompt": "A bell"}], "", Mix(), 1, 0)
    assert studio.scores.parts(score)[0].params["duration"] == 2
    done = finished(studio.store, score.id)
    assert done.state is ScoreState.DONE, done.error_message
    assert done.receipt["sound_seconds"] == pytest.approx(done.receipt["video_seconds"], abs=1 / 48000)
    assert "The effects ran 0.50 s past the end of the picture" in done.receipt["fitted"]


def test_the_budget_counts_every_part_of_every_take(studio, fresh_sim):
    source = studio.scores.source_from_task("ann", video_task(studio, "ann", seconds=6, sound=False))
    budgets = budget.Budgets(default={Provider.VIDU: 35 + 70})  # the video, then 60 for one take: not for two
    assert studio.scores.estimate(source, EVENTS[:1], MUSIC, 2) == (4, 80)
    with pytest.raises(budget.OverBudget, match="This would cost 80 credits"):
        studio.scores.submit("ann", source, EVENTS[:1], MUSIC, Mix(), 2, 0, budgets=budgets)
    assert creates(fresh_sim) == []
    assert len(studio.scores.submit("ann", source, EVENTS[:1], MUSIC, Mix(), 1, 0, budgets=budgets)) == 1


# ---- restarts and failures ----

def test_a_restart_while_parts_are_queued_loses_nothing_and_sends_nothing_twice(tmp_path):
    queued = start(speed=50, queue_seconds=1.5)
    try:
        first = build(settings_for(queued, tmp_path)).start()
        try:
            source = first.scores.source_from_task("ann", video_task(first, "ann", seconds=6))
            (score,) = first.scores.submit("ann", source, EVENTS[:1], MUSIC, Mix(), 1, 0)
            assert all(task.vendor_id for task in first.scores.parts(score))
        finally:
            first.close()
        assert first.store.get_score(score.id).state is ScoreState.GENERATING
        with build(settings_for(queued, tmp_path)).start() as again:
            done = finished(again.store, score.id)
            assert done.state is ScoreState.DONE, done.error_message
        assert sorted(creates(queued)) == ["/ent/v2/text2audio", "/ent/v2/timing2audio"]
    finally:
        queued.stop()


def test_a_mix_asked_for_before_a_restart_is_made_after_it(fresh_sim, tmp_path):
    with build(settings_for(fresh_sim, tmp_path)).start() as first:
        source = first.scores.source_from_task("ann", video_task(first, "ann", seconds=6, sound=False))
        (score,) = first.scores.submit("ann", source, EVENTS[:1], "", Mix(), 1, 0)
        assert finished(first.store, score.id).state is ScoreState.DONE
    Store(tmp_path / "studio.db").remix_score(score.id, "ann", Mix(effects_db=-3))  # while no studio runs
    with build(settings_for(fresh_sim, tmp_path)).start() as again:
        done = finished(again.store, score.id, version=2)
        assert done.state is ScoreState.DONE and done.mix.effects_db == -3


def test_a_failed_part_fails_its_score_naming_the_part(studio, fresh_sim):
    source = studio.scores.source_from_task("ann", video_task(studio, "ann", seconds=6, sound=False))
    events = [{"from": 1.0, "to": 2.0, "prompt": "A door slams [fail:AudioGenerationFailed]"}]
    (score,) = studio.scores.submit("ann", source, events, MUSIC, Mix(), 1, 0)
    failed = finished(studio.store, score.id)
    assert failed.state is ScoreState.FAILED
    assert failed.error_message.startswith("The effects for 0–6 s failed: ")
    assert len(studio.scores.parts(failed)) == 2  # kept, nothing dropped
    with pytest.raises(ScoreError, match="Not every part of this score arrived"):
        studio.scores.remix(score.id, "ann", Mix())


def test_a_mix_that_cannot_be_made_fails_only_its_own_score(studio, fresh_sim):
    source = studio.scores.source_from_task("ann", video_task(studio, "ann", seconds=6, sound=False))
    (kept,) = studio.scores.submit("ann", source, [], MUSIC, Mix(), 1, 0)
    other = studio.scores.source_from_task("ann", video_task(studio, "ann", seconds=6, sound=False))
    (lost,) = studio.scores.submit("ann", other, [], MUSIC, Mix(), 1, 0)
    studio.archive.path(other.name).write_bytes(b"not a video any more")
    failed = finished(studio.store, lost.id)
    assert failed.state is ScoreState.FAILED
    assert failed.error_message == "The mix could not be made: this file is not a video the studio can read."
    assert finished(studio.store, kept.id).state is ScoreState.DONE


def test_over_budget_nothing_is_recorded_nor_sent(studio, fresh_sim):
    video = video_task(studio, "ann")
    source = studio.scores.source_from_task("ann", video)
    budgets = budget.Budgets(default={Provider.VIDU: 80})  # the video took 35 of them
    with pytest.raises(budget.OverBudget, match="This would cost 60 credits with Vidu"):
        studio.scores.submit("ann", source, EVENTS, MUSIC, Mix(), 1, 0, budgets=budgets)
    assert studio.scores.recent("ann") == [] and creates(fresh_sim) == []
    assert [task.id for task in studio.store.month_tasks("ann", 0)] == [video.id]


def test_the_same_token_twice_makes_one_set(studio, fresh_sim):
    source = studio.scores.source_from_task("ann", video_task(studio, "ann", seconds=6, sound=False))
    first = studio.scores.submit("ann", source, EVENTS[:1], "", Mix(), 1, 0, token="form-1")
    again = studio.scores.submit("ann", source, EVENTS[:1], "", Mix(), 1, 0, token="form-1")
    assert [s.id for s in again] == [s.id for s in first] and len(studio.scores.recent("ann")) == 1
    assert len(creates(fresh_sim)) == 1


def test_invalid_scores_are_refused_with_every_problem_and_nothing_sent(studio, fresh_sim):
    source = studio.scores.source_from_task("ann", video_task(studio, "ann", seconds=6, sound=False))
    with pytest.raises(InvalidRequest) as refused:
        studio.scores.submit("ann", source, [{"from": 5.0, "to": 8.0, "prompt": "Late"}], "", Mix(target=-3), 1,
                             -1)
    found = [problem.message for problem in refused.value.problems]
    assert any("Event 1 ends after the clip" in m for m in found) and len(found) == 3
    assert studio.scores.recent("ann") == [] and creates(fresh_sim) == []


def test_another_owner_can_neither_read_nor_remix_a_score(studio, fresh_sim):
    source = studio.scores.source_from_task("ann", video_task(studio, "ann", seconds=6, sound=False))
    (score,) = studio.scores.submit("ann", source, [], MUSIC, Mix(), 1, 0)
    assert studio.scores.get(score.id, "bob") is None and studio.scores.recent("bob") == []
    with pytest.raises(ScoreError, match="no such score"):
        studio.scores.remix(score.id, "bob", Mix())
    with pytest.raises(ScoreError, match="finished video of your own"):
        studio.scores.source_from_task("bob", studio.store.get(source.task_id))
    assert finished(studio.store, score.id).state is ScoreState.DONE


# ---- uploads ----

def test_an_uploaded_video_is_copied_under_a_name_of_its_own_and_can_be_scored(studio, tmp_path):
    path = write_video(tmp_path / "clip.webm", 4, codec="libvpx")
    source = studio.scores.source_from_upload("ann", io.BytesIO(path.read_bytes()), "../../My holiday.mp4")
    assert source.name.endswith("-1-source.webm") and source.label == "My holiday.mp4" and source.task_id is None
    assert studio.archive.resolve(source.name, "ann") is not None
    assert studio.archive.resolve(source.frames, "ann") is not None
    assert source.duration == pytest.approx(4, abs=0.05)


@pytest.mark.parametrize("make, message", [
    (lambda folder: (folder / "notes.mp4").write_text("not a video at all") and folder / "notes.mp4",
     "This file is not a video the studio can read."),
    (lambda folder: write_video(folder / "long.mp4", 61, width=16, height=16, fps=4),
     "This video is longer than 60 seconds, the longest the studio scores."),
    (lambda folder: write_audio_only(folder / "song.mp4"), "This file has no picture: it holds sound only."),
])
def test_uploads_that_are_not_a_video_to_score_are_refused_and_leave_no_file(studio, tmp_path, make, message):
    path = make(tmp_path)
    before = files_of(studio, "ann")
    with pytest.raises(ScoreError) as refused:
        studio.scores.source_from_upload("ann", io.BytesIO(path.read_bytes()), path.name)
    assert str(refused.value) == message
    assert files_of(studio, "ann") == before


def test_an_upload_past_the_size_limit_or_the_quota_is_refused_and_leaves_no_file(fresh_sim, tmp_path, monkeypatch):
    with build(settings_for(fresh_sim, tmp_path / "data", media_quota_mb=0.01)) as engine:
        with pytest.raises(ScoreError, match="over your storage quota"):
            engine.scores.source_from_upload("ann", io.BytesIO(b"\0" * 20_000), "big.mp4")
        assert files_of(engine, "ann") == set()

    class Endless(io.RawIOBase):
        """An upload that never ends: it must be cut off at the limit, not read whole."""
        read_so_far = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            self.read_so_far += len(buffer)
            buffer[:] = b"\0" * len(buffer)
            return len(buffer)

    monkeypatch.setattr(scoring, "MAX_UPLOAD_BYTES", 2 * 1024 ** 2)  # the real 200 MB, scaled down for a test
    with build(settings_for(fresh_sim, tmp_path / "other")) as engine:
        endless = Endless()
        with pytest.raises(ScoreError, match="larger than 2 MB"):
            engine.scores.source_from_upload("ann", io.BufferedReader(endless), "huge.mp4")
        assert files_of(engine, "ann") == set() and endless.read_so_far <= 2 * 1024 ** 2 + 2 * UPLOAD_CHUNK


def write_audio_only(path):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000, layout="stereo")
        for start in range(0, 48000, 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# ---- the worker's steps, and imports ----

def test_a_failing_worker_step_is_logged_without_secrets_and_holds_up_no_other(store, caplog):
    calls = []

    def broken(now):
        calls.append("broken")
        raise RuntimeError("boom with Token sk_live_abcdefghijkl")

    poller = Poller(store, None, steps=(broken, lambda now: calls.append("good")), secrets=("sk_live_abcdefghijkl",))
    with caplog.at_level(logging.WARNING, logger="lib.service.poller"):
        poller.start()
        try:
            wait_for(lambda: calls.count("good") >= 3, 10)  # passes go on; the same failure is said once
        finally:
            poller.stop()
    logged = [record.getMessage() for record in caplog.records if "worker step" in record.getMessage()]
    assert len(logged) == 1 and "RuntimeError" in logged[0] and "sk_live_abcdefghijkl" not in logged[0]


def test_an_import_never_takes_a_score_id(studio, fresh_sim, tmp_path):
    source = studio.scores.source_from_task("ann", video_task(studio, "ann", seconds=6, sound=False))
    (score,) = studio.scores.submit("ann", source, [], MUSIC, Mix(), 1, 0)
    assert finished(studio.store, score.id).state is ScoreState.DONE
    bundle = io.BytesIO()
    export_zip(studio.store, studio.archive, "ann", bundle)
    bundle.seek(0)
    report = import_zip(studio.store, studio.archive, "bob", bundle)
    assert report.added == 2
    imported = [task for group in studio.store.library("bob")[0] for task in group]
    assert len(imported) == 2 and all(task.score_id is None for task in imported)
