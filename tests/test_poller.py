"""The poller: follows in-flight tasks, backs off, gives up politely, survives outages, archives on success."""
import time

import pytest

from lib.core.errors import NetworkError, StudioError, VendorError
from lib.core.tasks import Endpoint, Media, State, Task
from lib.service import poller as poller_module
from lib.service.poller import (
    FIRST_INTERVAL,
    MAX_ERROR_INTERVAL,
    MAX_INTERVAL,
    Poller,
    next_interval,
)
from lib.store.sqlite import Store
from tests.fakes import ScriptedClient, settled, vendors

SOUND = Media("audio", "http://sim/a.mp3", "mp3", 5.0)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "s.db")


def queued(store, endpoint=Endpoint.VIDU_TEXT2AUDIO, **fields) -> Task:
    task = Task(endpoint, params={"prompt": "rain"}, **{"vendor_id": "1", "state": State.QUEUED, **fields})
    store.add(task)
    return task


@pytest.mark.parametrize("current, changed, error, expected", [
    (1.0, True, False, FIRST_INTERVAL),
    (1.0, False, False, 1.5),
    (MAX_INTERVAL, False, False, MAX_INTERVAL),
    (2.0, False, True, 4.0),
    (MAX_ERROR_INTERVAL, False, True, MAX_ERROR_INTERVAL),
])
def test_backoff(current, changed, error, expected):
    assert next_interval(current, changed, error) == expected


def test_success_is_archived_and_polling_stops(store):
    task = queued(store)
    vidu = ScriptedClient(queries=[{"state": State.SUCCEEDED, "raw_state": "success", "media": (SOUND,)}])
    archived = []

    def archive(done):
        archived.append(done.id)
        return done.replace(media=(SOUND.__class__(**{**SOUND.__dict__, "archived": "x.mp3"}),))

    Poller(store, vendors(vidu=vidu), on_success=archive).poll(task)
    stored = settled(store, task.id)
    assert stored.state is State.SUCCEEDED and stored.media[0].archived == "x.mp3"
    assert archived == [task.id] and store.due(time.time() + 3600) == []


def test_unchanged_task_is_polled_less_often(store):
    task = queued(store)
    vidu = ScriptedClient(queries=[{"state": State.QUEUED, "raw_state": "queueing"}])
    worker = Poller(store, vendors(vidu=vidu))
    worker.poll(task)
    worker.poll(store.get(task.id))
    assert store.poll_plan(task.id)[0] == 2.25


def test_outage_keeps_the_task_and_backs_off(store):
    task = queued(store)
    outage = NetworkError("down", may_have_reached_server=True)
    worker = Poller(store, vendors(vidu=ScriptedClient(queries=[outage])))
    worker.poll(task)
    stored = store.get(task.id)
    assert stored.state is State.QUEUED and store.poll_plan(task.id)[0] == 2.0


def test_final_vendor_error_fails_the_task_with_its_message(store):
    task = queued(store)
    gone = VendorError("vidu", 404, "TaskNotFound", "Vidu does not know this task.", trace_id="t1")
    Poller(store, vendors(vidu=ScriptedClient(queries=[gone]))).poll(task)
    stored = store.get(task.id)
    assert stored.state is State.FAILED and stored.trace_id == "t1"


def test_task_past_the_timeout_waits_for_check_again(store):
    task = queued(store, state=State.RUNNING, created_at=time.time() - 7300, started_at=time.time() - 7200)
    vidu = ScriptedClient(queries=[{"state": State.RUNNING, "raw_state": "processing"}])
    worker = Poller(store, vendors(vidu=vidu), task_timeout=3600)
    worker.poll(task)
    stored = store.get(task.id)
    assert "Still running at the vendor" in stored.error_message and vidu.queried == []
    assert store.due(time.time() + 10**6) == []
    worker.check_again(stored)
    worker.poll(store.get(task.id))
    assert vidu.queried == ["1"] and store.get(task.id).state is State.RUNNING


def test_kling_task_without_an_answer_is_found_by_its_external_id(store):
    task = Task(Endpoint.KLING_TEXT2AUDIO, params={}, external_id="cue-abc", state=State.SUBMITTED)
    store.add(task)
    kling = ScriptedClient(queries=[{"vendor_id": "77", "state": State.RUNNING, "raw_state": "processing"}])
    Poller(store, vendors(kling=kling)).poll(task)
    assert kling.queried == ["cue-abc"] and store.get(task.id).vendor_id == "77"


def test_vidu_task_whose_answer_never_came_is_marked_unknown_not_dropped(store, monkeypatch):
    task = Task(Endpoint.VIDU_TEXT2AUDIO, params={}, state=State.SUBMITTED,
                created_at=time.time() - poller_module.LOST_AFTER_SECONDS - 1)
    store.add(task)
    Poller(store, vendors()).poll(task)
    stored = store.get(task.id)
    assert stored.state is State.SUBMITTED and "may still have been created" in stored.error_message


def test_archive_failure_is_said_plainly(store):
    task = queued(store)
    vidu = ScriptedClient(queries=[{"state": State.SUCCEEDED, "raw_state": "success", "media": (SOUND,)}])

    def archive(done):
        raise StudioError("The vendor's link to the result has expired.")

    Poller(store, vendors(vidu=vidu), on_success=archive).poll(task)
    stored = settled(store, task.id)
    assert stored.state is State.SUCCEEDED and "no copy could be kept" in stored.error_message


def test_background_thread_polls_until_done(store):
    task = queued(store)
    vidu = ScriptedClient(queries=[{"state": State.RUNNING, "raw_state": "processing", "progress": 50},
                                   {"state": State.SUCCEEDED, "raw_state": "success", "media": (SOUND,)}])
    worker = Poller(store, vendors(vidu=vidu), tick=0.01).start()
    try:
        deadline = time.time() + 10
        while store.get(task.id).state is not State.SUCCEEDED and time.time() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert store.get(task.id).state is State.SUCCEEDED and len(vidu.queried) == 2
