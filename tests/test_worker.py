"""The worker under load and under failure: per-vendor pools, a download pool, polls that never sleep, every
failure contained to its own task. Fake clients and a fake media server; the simulator only where the wire
format matters (Retry-After)."""
from __future__ import annotations

import dataclasses
import errno
import logging
import pathlib
import threading
import time
from collections import defaultdict

import pytest
import requests

from lib.core.endpoints import spec
from lib.core.errors import VendorError
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import Archiver
from lib.service import poller as poller_module
from lib.service.poller import (
    FIRST_INTERVAL,
    MAX_INTERVAL,
    Poller,
    copy_failure,
    describe,
    near_end,
    next_interval,
)
from lib.service.studio import Vendors
from lib.sim import DEMO_VIDU_KEY, start
from lib.store.sqlite import Store
from lib.vendors.transport import Transport, single_attempt
from lib.vendors.vidu import ViduClient
from tests.fakes import ScriptedClient, settled, vendors

SECRET = "vda_very_secret_key_123"


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "studio.db")


@pytest.fixture
def release():
    """Set at the end of every test, so nothing a test left hanging outlives it."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def running():
    """Start a poller for the test and stop it afterwards."""
    started = []

    def go(worker: Poller) -> Poller:
        started.append(worker.start())
        return worker

    yield go
    for worker in started:
        worker.stop()


def wait_for(condition, seconds: float = 15, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return result


def in_flight(store, endpoint=Endpoint.VIDU_TEXT2AUDIO, **fields) -> Task:
    task = Task(endpoint, params={"prompt": "rain"}, **{"vendor_id": "v1", "state": State.QUEUED, **fields})
    store.add(task)
    return task


def sound(url: str = "http://media.test/a.mp3") -> Media:
    return Media("audio", url, "mp3")


class Client:
    """A vendor client whose answer per task id comes from `answer(vendor_id, count)`; records query times and
    how many queries were in flight at once."""

    def __init__(self, answer):
        self.answer, self.times = answer, defaultdict(list)
        self.active = self.most = 0
        self._lock = threading.Lock()

    def query(self, vendor_id=None, endpoint=None, *, external_id=None) -> Task:
        vendor_id = vendor_id or external_id
        with self._lock:
            self.times[vendor_id].append(time.monotonic())
            self.active += 1
            self.most = max(self.most, self.active)
            count = len(self.times[vendor_id])
        try:
            fields = self.answer(vendor_id, count)
        finally:
            with self._lock:
                self.active -= 1
        return Task(endpoint or Endpoint.KLING_TEXT2AUDIO, params={}, **fields)

    def query_task(self, task: Task) -> Task:  # the VendorClient call the poller makes
        return self.query(task.vendor_id or task.external_id, task.endpoint)


def running_then_done(after: int):
    """Progress that moves on every query, then success with one sound after `after` queries."""
    def answer(vendor_id, count):
        if count >= after:
            return {"state": State.SUCCEEDED, "raw_state": "success",
                    "media": (sound(f"http://media.test/{vendor_id}.mp3"),)}
        return {"state": State.RUNNING, "raw_state": "processing", "progress": count}
    return answer


class Download:
    """A streamed media answer whose body is made by `body()`, a generator of chunks (it may stall or fail)."""

    def __init__(self, body):
        self.status_code, self.body = 200, body
        self.headers = requests.structures.CaseInsensitiveDict({"Content-Type": "audio/mpeg"})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def iter_content(self, chunk_size=1):
        return self.body()


class MediaServer:
    """Stands in for the media transport: `bodies[url]` is a list of body generators, one per request (the last
    one repeats)."""

    def __init__(self, bodies: dict):
        self.bodies, self.calls = bodies, defaultdict(int)

    def request(self, method, url, **kwargs):
        self.calls[url] += 1
        answers = self.bodies.get(url, [lambda: iter([b"x" * 2000])])
        return Download(answers[min(self.calls[url], len(answers)) - 1])


# --- pure functions -------------------------------------------------------------------------------------------------

def test_near_the_expected_end_polls_every_first_interval():
    now = 10_000.0
    typical = spec(Endpoint.VIDU_TEXT2VIDEO).typical_seconds
    video = Task(Endpoint.VIDU_TEXT2VIDEO, {}, state=State.RUNNING, started_at=now)
    assert not near_end(video, now + 1)  # just started on a minute-long video: far from the end
    assert near_end(video, now + typical - 1)
    assert not near_end(video, now + 4 * typical)  # far later than typical: no predictable end any more
    assert near_end(video.replace(progress=95), now + 40)  # the vendor's own progress wins
    assert not near_end(video.replace(progress=10), now + 40)
    assert not near_end(video.replace(state=State.QUEUED), now + typical)  # queued: nothing to go by
    assert next_interval(MAX_INTERVAL, changed=False, error=False, near_end=True) == FIRST_INTERVAL
    assert next_interval(FIRST_INTERVAL, changed=False, error=False, near_end=False) == 1.5


def test_copying_is_success_with_media_not_yet_archived_and_no_message():
    done = Task(Endpoint.VIDU_TEXT2AUDIO, {}, state=State.SUCCEEDED, media=(sound(),))
    assert done.copying
    assert not done.replace(media=(Media("audio", "u", "mp3", archived="a.mp3"),)).copying
    assert not done.replace(error_message="The result is ready, but no copy could be kept: x").copying
    assert not done.replace(state=State.RUNNING).copying and not done.replace(media=()).copying


def test_log_lines_name_the_error_without_secrets():
    try:
        raise RuntimeError(f"boom with {SECRET}, Authorization: Bearer eyJhbGc.eyJpc3M.c2ln, Token abc123def456; "
                           "the token expired")
    except RuntimeError as error:
        line = describe(error, secrets=(SECRET,))
    assert line.startswith("RuntimeError at test_worker.py:")
    assert SECRET not in line and "eyJ" not in line and "abc123def456" not in line
    assert "boom" in line and "the token expired" in line  # ordinary words stay readable


def test_copy_failures_are_said_plainly():
    assert copy_failure(requests.ConnectionError("reset")) == "the download was interrupted several times."
    assert "disk may be full" in copy_failure(OSError(errno.ENOSPC, "No space left on device"))
    assert copy_failure(KeyError("x")) == "the studio ran into a problem while copying it."


def test_inside_single_attempt_a_query_is_sent_once():
    class Flaky:
        calls = 0

        def request(self, *args, **kwargs):
            Flaky.calls += 1
            raise requests.ConnectionError("reset")

    slept = []
    transport = Transport(session=Flaky(), sleep=slept.append)
    with single_attempt(), pytest.raises(Exception):
        transport.request("GET", "http://vendor.test/q", retry=True)
    assert (Flaky.calls, slept) == (1, [])
    with pytest.raises(Exception):
        transport.request("GET", "http://vendor.test/q", retry=True)  # outside: retried as before
    assert Flaky.calls == 1 + 1 + transport.max_retries and len(slept) == transport.max_retries


# --- concurrency ----------------------------------------------------------------------------------------------------

def test_a_hanging_vendor_does_not_slow_the_other_one(store, release, running):
    def hang(vendor_id, count):
        release.wait(30)
        return {"state": State.RUNNING, "raw_state": "processing"}

    vidu, kling = Client(hang), Client(running_then_done(after=3))
    for number in range(6):
        in_flight(store, vendor_id=f"v{number}")
    kling_task = in_flight(store, Endpoint.KLING_TEXT2AUDIO, vendor_id="k1")
    running(Poller(store, Vendors(vidu, kling, False, False), tick=0.01, concurrency=2))
    wait_for(lambda: store.get(kling_task.id).state is State.SUCCEEDED, what="the Kling task")
    # Kling's task went through its three polls while every Vidu query was still hanging (none has returned),
    # and Vidu hangs with as many queries in flight as its pool allows, no more.
    assert len(kling.times["k1"]) == 3 and not release.is_set()
    assert vidu.active == vidu.most == 2 and sum(map(len, vidu.times.values())) == 2


def test_a_trickling_download_delays_no_other_poll_or_download(store, tmp_path, release, running):
    def trickle():
        yield b"x" * 100
        release.wait(30)  # a result that takes 30 s to arrive
        yield b"x" * 2000

    media = MediaServer({"http://media.test/slow.mp3": [trickle]})
    archive = Archiver(tmp_path / "media", media, allow_private=True)
    slow = in_flight(store, vendor_id="slow")
    quick = in_flight(store, vendor_id="quick")
    vidu = Client(lambda vendor_id, count: running_then_done(after=1 if vendor_id == "slow" else 3)(vendor_id, count))
    running(Poller(store, vendors(vidu=vidu), on_success=archive.archive, tick=0.01))
    wait_for(lambda: media.calls["http://media.test/slow.mp3"], what="the slow download to start")
    quick_done = wait_for(lambda: (t := store.get(quick.id)).state is State.SUCCEEDED and not t.copying and t,
                          what="the quick task to be polled to its end and copied")
    assert quick_done.media[0].archived and archive.path(quick_done.media[0].archived).stat().st_size == 2000
    assert store.get(slow.id).copying  # still trickling in: the card can say a copy is being made


def test_one_query_per_task_per_interval_with_eight_threads(store, running):
    vidu = Client(lambda vendor_id, count: {"state": State.RUNNING, "raw_state": "processing", "progress": count})
    ids = [in_flight(store, vendor_id=f"t{n}").vendor_id for n in range(20)]
    running(Poller(store, vendors(vidu=vidu), tick=0.005, concurrency=8))
    wait_for(lambda: all(len(vidu.times[i]) >= 3 for i in ids), what="three polls of every task")
    for vendor_id in ids:
        times = vidu.times[vendor_id]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert min(gaps) >= FIRST_INTERVAL - 0.05, (vendor_id, gaps)


# --- a poll never sleeps --------------------------------------------------------------------------------------------

def test_retry_after_becomes_the_next_poll_time(store):
    slept = []
    with start(speed=50) as sim:
        client = ViduClient(DEMO_VIDU_KEY, base_url=sim.url, transport=Transport(vendor="Vidu", sleep=slept.append))
        created = client.create(Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": "rain", "duration": 2})
        task = in_flight(store, vendor_id=created.vendor_id)
        sim.add_fault(match="/ent/v2/tasks/", status=429, retry_after=5)
        before = time.time()
        Poller(store, vendors(vidu=client)).poll(task)
    assert slept == []  # the client was never told to wait
    assert [t.id for t in store.due(before + 4.5)] == []
    assert [t.id for t in store.due(time.time() + 5.5)] == [task.id]  # next poll ≈ then + 5 s
    assert store.get(task.id).state is State.QUEUED and store.get(task.id).error_message is None


# --- failures are contained -----------------------------------------------------------------------------------------

def test_a_poll_raising_a_plain_error_is_contained(store, running, caplog):
    def answer(vendor_id, count):
        if vendor_id == "bad":
            raise RuntimeError(f"our own bug, near {SECRET}")
        return running_then_done(after=2)(vendor_id, count)

    vidu = Client(answer)
    bad, good = in_flight(store, vendor_id="bad"), in_flight(store, vendor_id="good")
    caplog.set_level(logging.WARNING, logger="lib.service.poller")
    running(Poller(store, vendors(vidu=vidu), tick=0.01, secrets=(SECRET,)))
    wait_for(lambda: store.poll_plan(bad.id)[0] > FIRST_INTERVAL, what="the failing task to be backed off")
    wait_for(lambda: store.get(good.id).state is State.SUCCEEDED, what="the other task")
    stored = store.get(bad.id)
    assert stored.state is State.QUEUED and stored.error_message is None  # kept as it was, tried again later
    lines = [r.getMessage() for r in caplog.records if bad.id in r.getMessage()]
    assert lines and all("RuntimeError" in line and SECRET not in line for line in lines)


def test_a_connection_reset_mid_download_is_retried_and_contained(store, tmp_path):
    def reset_halfway():
        yield b"x" * 500
        raise requests.exceptions.ChunkedEncodingError("Connection reset by peer")

    url = "http://media.test/r.mp3"
    media = MediaServer({url: [reset_halfway, lambda: iter([b"y" * 3000])]})
    archive = Archiver(tmp_path / "media", media, allow_private=True)
    worker = Poller(store, vendors(), on_success=archive.archive, copy_retry_wait=0.01)
    task = in_flight(store)
    saved = worker.apply(task, task.merged(task.replace(state=State.SUCCEEDED, raw_state="success",
                                                        media=(sound(url),))))
    assert saved.state is State.SUCCEEDED and saved.copying  # saved at once, before any download
    done = settled(store, task.id)
    assert done.error_message is None and archive.path(done.media[0].archived).read_bytes() == b"y" * 3000
    assert media.calls[url] == 2


def test_a_download_that_keeps_failing_ends_with_a_plain_message(store, tmp_path):
    def reset():
        raise requests.exceptions.ChunkedEncodingError("Connection reset by peer")
        yield

    media = MediaServer({"http://media.test/r.mp3": [reset]})
    worker = Poller(store, vendors(), on_success=Archiver(tmp_path / "m", media, allow_private=True).archive,
                    copy_retry_wait=0.01)
    task = in_flight(store)
    worker.apply(task, task.merged(task.replace(state=State.SUCCEEDED, raw_state="s",
                                                media=(sound("http://media.test/r.mp3"),))))
    done = settled(store, task.id)
    assert done.state is State.SUCCEEDED and done.error_message == (
        "The result is ready, but no copy could be kept: the download was interrupted several times.")
    assert media.calls["http://media.test/r.mp3"] == poller_module.COPY_ATTEMPTS


def test_an_oserror_on_write_is_contained(store, tmp_path, monkeypatch):
    real_open = pathlib.Path.open

    def full_disk(self, mode="r", *args, **kwargs):
        if "w" in mode and "full" in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", full_disk)
    worker = Poller(store, vendors(), on_success=Archiver(tmp_path / "m", MediaServer({}), allow_private=True)
                    .archive, copy_retry_wait=0.01)
    # The archive names files after the task id: one task's writes fail, the other's do not.
    full = Task(Endpoint.VIDU_TEXT2AUDIO, {}, id="full", vendor_id="1", state=State.QUEUED)
    fine = Task(Endpoint.VIDU_TEXT2AUDIO, {}, id="fine", vendor_id="2", state=State.QUEUED)
    for task in (full, fine):
        store.add(task)
        worker.apply(task, task.merged(task.replace(state=State.SUCCEEDED, raw_state="s", media=(sound(),))))
    assert settled(store, "full").error_message == (
        "The result is ready, but no copy could be kept: the server could not save the file (its disk may be full).")
    assert settled(store, "fine").media[0].archived and settled(store, "fine").error_message is None


# --- copies: once, and after a restart ------------------------------------------------------------------------------

def test_a_result_is_copied_once_even_when_reported_twice(store, release):
    calls = []

    def slow_copy(task):
        calls.append(task.id)
        release.wait(10)  # until the test has reported the success again
        return task.replace(media=tuple(dataclasses.replace(m, archived="kept.mp3") for m in task.media))

    worker = Poller(store, vendors(), on_success=slow_copy)
    task = in_flight(store)
    success = task.merged(task.replace(state=State.SUCCEEDED, raw_state="s", media=(sound(),)))
    worker.apply(task, success)
    worker.apply(task, success)  # a callback and a poll reporting the same success
    worker._copy_later(success)  # and a stray extra enqueue while the copy runs
    release.set()
    assert settled(store, task.id).media[0].archived == "kept.mp3" and calls == [task.id]


def test_copies_left_unfinished_are_made_after_a_restart(store, running):
    done = Task(Endpoint.VIDU_TEXT2AUDIO, {}, vendor_id="1", state=State.SUCCEEDED, media=(sound(),))
    failed = done.replace(id="other", error_message="The result is ready, but no copy could be kept: gone")
    store.add(done)
    store.add(failed)
    copied = []

    def keep(task):
        copied.append(task.id)
        return task.replace(media=(dataclasses.replace(sound(), archived="k.mp3"),))

    running(Poller(store, vendors(), on_success=keep, tick=0.01))
    assert settled(store, done.id).media[0].archived == "k.mp3" and copied == [done.id]


# --- the timeout ----------------------------------------------------------------------------------------------------

def test_the_timeout_counts_from_when_the_vendor_started(store):
    hours_ago = time.time() - 7200
    waiting = in_flight(store, vendor_id="q", created_at=hours_ago)  # two hours in the vendor's queue
    working = in_flight(store, vendor_id="r", state=State.RUNNING, created_at=hours_ago, started_at=hours_ago)
    vidu = ScriptedClient(queries=[{"state": State.QUEUED, "raw_state": "queueing"}])
    worker = Poller(store, vendors(vidu=vidu), task_timeout=3600)
    worker.poll(waiting)
    worker.poll(working)
    assert vidu.queried == ["q"] and store.get(waiting.id).error_message is None
    assert "Still running at the vendor after 60 minutes" in store.get(working.id).error_message


def test_a_vendor_error_with_retry_after_is_honoured_on_the_schedule(store):
    busy = VendorError("vidu", 429, "TooManyRequests", "Too many requests.", retryable=True, retry_after=7)
    task = in_flight(store)
    before = time.time()
    Poller(store, vendors(vidu=ScriptedClient(queries=[busy]))).poll(task)
    assert store.due(before + 6.5) == [] and [t.id for t in store.due(time.time() + 7.5)] == [task.id]


def test_an_unchanged_task_near_its_end_is_still_polled_every_first_interval(store):
    now = time.time()
    answer = {"state": State.RUNNING, "raw_state": "processing"}
    sound_task = in_flight(store, vendor_id="a", state=State.RUNNING, started_at=now - 5)
    video_task = in_flight(store, Endpoint.VIDU_TEXT2VIDEO, vendor_id="v", state=State.RUNNING, started_at=now)
    worker = Poller(store, vendors(vidu=ScriptedClient(queries=[answer])))
    for _ in range(3):
        worker.poll(store.get(sound_task.id))
        worker.poll(store.get(video_task.id))
    assert store.poll_plan(sound_task.id)[0] == FIRST_INTERVAL  # a 10 s sound, 5 s in: about to end
    assert store.poll_plan(video_task.id)[0] == 1.5 ** 3  # a minute-long video just started: backing off


def test_a_lease_is_taken_only_on_a_task_that_is_still_due(store):
    task = in_flight(store)
    now = time.time()
    assert store.lease(task.id, now, now + 10)
    assert not store.lease(task.id, now, now + 10)  # already claimed: its next poll is in the future
    assert store.due(now + 9) == [] and [t.id for t in store.due(now + 11)] == [task.id]
