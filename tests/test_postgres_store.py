"""PostgreSQL as the shared store: migrations made once however many processes start together, work claimed by
one worker at a time across processes, a whole studio on it, and the database password kept out of everything.

The store's behaviour on both backends is the rest of the store suite (the `store` fixture); this is what only
several processes on one database, or a database server, can show.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
import time
import types
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from lib.core.errors import ConfigError
from lib.core.tasks import Endpoint, State, Task
from lib.service import studio
from lib.service.app import build
from lib.service.config import Settings, load_settings
from lib.store import open_store
from lib.store.base import MIGRATIONS
from lib.store.postgres import PostgresStore
from lib.store.sqlite import Store
from tests.fakes import settled

PASSWORD = "pg-PASSWORD_FAKE_recognisable_4471"


def _due(count: int, created_at: float = 1.0) -> list[Task]:
    return [Task(Endpoint.VIDU_TEXT2AUDIO if n % 2 else Endpoint.KLING_TEXT2AUDIO, {"prompt": f"rain {n}"},
                 owner="ann", state=State.QUEUED, created_at=created_at + n) for n in range(count)]


def _open_and_report(conninfo: str, go, results) -> None:
    """In a process of its own: wait for the start signal, open the store (migrating if need be), report."""
    go.wait(30)
    try:
        store = PostgresStore(conninfo, pool_size=1)
        results.put(store.schema_version)
        store.close()
    except Exception as error:  # reported, so the test shows it
        results.put(repr(error))


def test_stores_starting_together_on_an_empty_database_migrate_it_once(postgres_url):
    spawn = multiprocessing.get_context("spawn")
    go, results = spawn.Event(), spawn.Queue()
    processes = [spawn.Process(target=_open_and_report, args=(postgres_url, go, results)) for _ in range(3)]
    # A spawned child runs the parent's __main__ script again first, and after an AppTest that can be the studio's
    # router (bench/app.py), which would open a store of its own; these children need only this module.
    with mock.patch.dict(sys.modules, {"__main__": types.ModuleType("__main__")}):
        for process in processes:
            process.start()
    threads = [threading.Thread(target=_open_and_report, args=(postgres_url, go, results)) for _ in range(4)]
    for thread in threads:
        thread.start()
    go.set()
    reports = [results.get(timeout=60) for _ in range(len(processes) + len(threads))]
    for worker in (*processes, *threads):
        worker.join(30)
    assert reports == [len(MIGRATIONS)] * 7
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]
        assert db.execute("SELECT count(*) FROM tasks").fetchone() == (0,)


def test_two_stores_claiming_at_once_never_get_the_same_task(postgres_url):
    first, second = PostgresStore(postgres_url, pool_size=4), PostgresStore(postgres_url, pool_size=4)
    try:
        tasks = _due(120)
        for task in tasks:
            first.add(task)
        claimed: list[list[str]] = [[] for _ in range(6)]
        barrier = threading.Barrier(6)

        def claim(store, into):
            barrier.wait()
            while batch := store.claim_due(1000.0, 1010.0, 5):
                into.extend(task.id for task in batch)

        workers = [threading.Thread(target=claim, args=(store, claimed[n])) for n, store in
                   enumerate([first, second] * 3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        every = [task_id for ids in claimed for task_id in ids]
        assert sorted(every) == sorted(task.id for task in tasks)  # each task once, none left out
        assert sum(1 for ids in claimed if ids) > 1  # the claims really were shared out
    finally:
        first.close()
        second.close()


def test_a_lease_that_runs_out_is_claimed_again_and_claims_keep_to_their_vendor(store):
    vidu, kling = _due(2)[1], _due(2)[0]
    store.add(vidu), store.add(kling)
    assert [t.id for t in store.claim_due(100.0, 110.0, 10, [Endpoint.VIDU_TEXT2AUDIO])] == [vidu.id]
    assert store.claim_due(105.0, 115.0, 10, [Endpoint.VIDU_TEXT2AUDIO]) == []  # leased until 110
    assert [t.id for t in store.claim_due(110.0, 120.0, 10, [Endpoint.VIDU_TEXT2AUDIO])] == [vidu.id]
    assert [t.id for t in store.claim_due(110.0, 120.0, 10)] == [kling.id]
    store.save(store.get(kling.id).replace(state=State.SUCCEEDED))
    assert store.claim_due(10 ** 9, 10 ** 9 + 10, 10, [Endpoint.KLING_TEXT2AUDIO]) == []  # finished: never claimed


def test_claims_stop_at_the_limit_oldest_due_first(store):
    tasks = _due(5)
    for number, task in enumerate(tasks):
        store.add(task)
        store.schedule(task.id, 50.0 - number, 1.0)  # the newest task is the most overdue
    assert {t.id for t in store.claim_due(100.0, 110.0, 2)} == {tasks[4].id, tasks[3].id}
    assert len(store.claim_due(100.0, 110.0, 10)) == 3


def test_a_whole_studio_on_postgresql_completes_a_task(tmp_path, postgres_url):
    body = {"model": "audio1.0", "prompt": "Rain on a tin roof", "duration": 2}
    with build(Settings(data_dir=tmp_path, database_url=postgres_url, sim_speed=50,
                        sim_queue_seconds=0)).start() as engine:
        assert isinstance(engine.store, PostgresStore)
        task, new = studio.submit(engine.store, engine.vendors, Endpoint.VIDU_TEXT2AUDIO, body, "ann")
        deadline = time.monotonic() + 30
        while not engine.store.get(task.id).state.terminal:
            assert time.monotonic() < deadline, engine.store.get(task.id)
            time.sleep(0.05)
        assert settled(engine.store, task.id).state is State.SUCCEEDED
    assert not (tmp_path / "studio.db").exists()  # nothing went to SQLite


def test_without_a_database_url_the_store_is_sqlite_in_the_data_folder(tmp_path):
    store = open_store(None, tmp_path)
    assert isinstance(store, Store) and store.path == tmp_path / "studio.db"


def _url_with_password(database: str) -> str:
    """The test server's address with a password and another database in it."""
    base = urlsplit(os.environ.get("STUDIO_TEST_DATABASE_URL") or pytest.fail("set STUDIO_TEST_DATABASE_URL"))
    return urlunsplit(base._replace(netloc=f"{base.username or 'studio'}:{PASSWORD}@{base.hostname}:{base.port}",
                                    path=f"/{database}"))


def test_the_database_password_is_never_shown_logged_or_in_an_error(tmp_path, caplog):
    url = _url_with_password("no_such_database")
    settings = load_settings({"STUDIO_DATABASE_URL": url, "STUDIO_DATA_DIR": str(tmp_path)})
    assert settings.database_url == url and PASSWORD not in repr(settings)
    assert PASSWORD in settings.database_passwords
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigError) as refused:
        build(settings)
    assert "cannot reach its database" in str(refused.value) and "no_such_database" in str(refused.value)
    for shown in (str(refused.value), repr(refused.value), caplog.text):
        assert PASSWORD not in shown
    with pytest.raises(ConfigError) as unreadable:
        PostgresStore(f"host=127.0.0.1 password={PASSWORD} nonsense")
    assert PASSWORD not in str(unreadable.value)
    with pytest.raises(ConfigError) as wrong:
        load_settings({"STUDIO_DATABASE_URL": f"mysql://ann:{PASSWORD}@db/studio"})
    assert "STUDIO_DATABASE_URL" in str(wrong.value) and PASSWORD not in str(wrong.value)


def test_a_nul_typed_or_sent_back_neither_breaks_a_write_nor_anyones_search(store):
    typed = Task(Endpoint.VIDU_TIMING2AUDIO, {"prompt": "rain\0 on tin", "timing_prompts": [
        {"from": 0, "to": 2, "prompt": "thunder\0\\u0000 roll"}]}, owner="ann", state=State.SUCCEEDED)
    store.add(typed)
    store.save(typed.replace(error_message="the vendor said\0 no", vendor_id="v\0-1"))
    plain = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "rain on a tin roof"}, owner="bob", state=State.SUCCEEDED)
    store.add(plain)
    assert [[t.id for t in g] for g in store.library(None, search="rain")[0]] == [[plain.id], [typed.id]]
    assert [[t.id for t in g] for g in store.library(None, search="THUNDER")[0]] == [[typed.id]]
    assert "no" in store.get(typed.id).error_message
