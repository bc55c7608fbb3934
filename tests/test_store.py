"""The history store: versioned schema, per-owner reads, filters, paging, concurrent writers."""
import sqlite3
import threading
import time

from lib.core.tasks import Endpoint, Media, State, Task
from lib.store.sqlite import MIGRATIONS, Store


def task(owner="ann", endpoint=Endpoint.VIDU_TEXT2AUDIO, state=State.QUEUED, created_at=1.0, **fields):
    return Task(endpoint, params={"prompt": "rain"}, owner=owner, state=state, created_at=created_at, **fields)


def test_new_store_is_at_the_latest_schema_and_reopening_keeps_it(tmp_path):
    Store(tmp_path / "s.db")
    again = Store(tmp_path / "s.db")
    assert again.schema_version == len(MIGRATIONS)


def test_an_older_database_is_migrated_on_start(tmp_path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # version 0: an empty file from before the first migration
    assert Store(path).schema_version == len(MIGRATIONS)


def test_round_trip_keeps_every_field(store):
    original = task(vendor_id="42", external_id="cue-1", progress=40, credits=20.0, trace_id="t",
                    media=(Media("audio", "http://x/a.mp3", "mp3", 5.0, archived="a/1.mp3"),),
                    error_message="x", started_at=2.0)
    store.add(original)
    assert store.get(original.id) == original


def test_owners_never_see_each_others_tasks(store):
    mine, theirs = task("ann"), task("bob")
    store.add(mine), store.add(theirs)
    assert [t.id for t in store.find("ann")] == [mine.id]
    assert store.get(theirs.id, owner="ann") is None
    assert [t.id for t in store.in_flight("ann")] == [mine.id]


def test_filters_and_pages_newest_first(store):
    for number in range(25):
        store.add(task(created_at=float(number), state=State.SUCCEEDED if number % 2 else State.FAILED,
                       endpoint=Endpoint.KLING_TEXT2AUDIO if number % 5 == 0 else Endpoint.VIDU_TEXT2AUDIO))
    first = store.find("ann", limit=10)
    assert [t.created_at for t in first] == [float(n) for n in range(24, 14, -1)]
    assert len(store.find("ann", limit=10, offset=20)) == 5
    assert store.count("ann", endpoints=(Endpoint.KLING_TEXT2AUDIO,)) == 5
    assert store.count("ann", states=(State.SUCCEEDED,)) == 12
    assert store.count("ann", endpoints=(Endpoint.KLING_TEXT2AUDIO,), states=(State.SUCCEEDED,)) == 2


def test_due_tasks_follow_their_schedule(store):
    waiting, done = task(), task(state=State.SUCCEEDED)
    store.add(waiting), store.add(done)
    store.schedule(waiting.id, 100.0, 2.0, poll_deadline=500.0)
    assert store.due(99.0) == [] and [t.id for t in store.due(100.0)] == [waiting.id]
    assert store.poll_plan(waiting.id) == (2.0, 500.0)
    store.schedule(waiting.id, 200.0, 3.0)  # no deadline given: the old one stays
    assert store.poll_plan(waiting.id) == (3.0, 500.0)


def test_racing_duplicate_submissions_store_one_task(store):
    results, barrier = [], threading.Barrier(8)

    def submit():
        barrier.wait()
        results.append(store.add(task(created_at=time.time()), request_key="same")[1])

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1 and store.count("ann") == 1


def test_concurrent_writers_lose_nothing(store):

    def write(owner):
        for _ in range(30):
            store.add(task(owner))

    threads = [threading.Thread(target=write, args=(f"user{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [store.count(f"user{n}") for n in range(4)] == [30] * 4
