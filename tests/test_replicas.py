"""Several studio processes ("replicas") on one PostgreSQL, one media folder and one simulator share the work:
each result archived once, a dead replica's copy taken over, a callback at any replica, a pasted key lost on a
failover said plainly. Each replica is a whole `build(settings)` studio in this process."""
from __future__ import annotations

import json
import threading
import time
from email.utils import formatdate

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.tasks import Endpoint, Provider, State
from lib.service import callbacks, studio
from lib.service.app import build
from lib.service.config import Settings
from lib.service.keyring import KEY_LOST, KEY_LOST_HERE
from lib.service.poller import LEASE_SECONDS
from lib.sim import DEMO_VIDU_KEY
from lib.vendors.signatures import vidu_callback_headers
from tests.test_app import demo_studio  # noqa: F401  (the demo-mode fixture, used by name below)

SOUND = {"model": "audio1.0", "prompt": "Rain on a tin roof", "duration": 2}


@pytest.fixture
def replicas(postgres_url, tmp_path, fresh_sim):
    """`replicas(n)`: n studios on one database, one data folder and the module's simulator (closed after)."""
    made = []

    def make(count: int):
        settings = Settings(data_dir=tmp_path, database_url=postgres_url, sim_url=fresh_sim.url,
                            vidu_base_url=fresh_sim.url)  # a pasted own key is sent to the simulator too
        made.extend(build(settings) for _ in range(count))
        return made[-count:]
    yield make
    for replica in made:
        replica.close()


def count_archiving(replicas) -> list[tuple[str, float]]:
    """Every archive write of these replicas, as (task id, when), by wrapping each one's copy step."""
    calls, lock = [], threading.Lock()
    for replica in replicas:
        def archive(task, original=replica.worker.on_success):
            with lock:
                calls.append((task.id, time.time()))
            return original(task)
        replica.worker.on_success = archive
    return calls


def wait_until(condition, seconds: float = 60, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


def archived(store, task_id: str) -> bool:
    task = store.get(task_id)
    return task.state is State.SUCCEEDED and not task.copying and all(m.archived for m in task.media)


def finished_at_vendor(replica, task):
    """The vendor's view of `task` once it has finished (asked directly, not through any worker)."""
    return wait_until(lambda: (fresh := studio.fetch(replica.vendors, task)).state.terminal and fresh,
                      what="the vendor to finish the task")


def test_the_simulator_is_shared_not_started_per_replica(replicas, fresh_sim):
    first, second = replicas(2)
    assert first.simulator is None and second.simulator is None
    assert first.vendors.vidu.base_url == second.vendors.vidu.base_url == fresh_sim.url
    assert first.archive.trusted == (fresh_sim.url + "/",)


def test_three_replicas_archive_each_of_twenty_results_exactly_once(replicas):
    group = replicas(3)
    calls = count_archiving(group)
    tasks = [studio.submit(replica.store, replica.vendors, Endpoint.VIDU_TEXT2AUDIO,
                           {**SOUND, "prompt": f"Rain number {number}"}, "ann")[0]
             for number, replica in zip(range(20), group * 7)]
    for replica in group:
        replica.start()
    wait_until(lambda: all(archived(group[0].store, task.id) for task in tasks), what="every task archived")
    assert sorted(task_id for task_id, _ in calls) == sorted(task.id for task in tasks)  # each once
    for task in tasks:
        stored = group[2].store.get(task.id)
        assert all(group[1].archive.path(m.archived).stat().st_size > 1000 for m in stored.media)


def test_a_copy_held_by_a_replica_that_died_is_made_by_another_after_its_lease(replicas):
    survivor, = replicas(1)
    calls = count_archiving([survivor])
    task, _ = studio.submit(survivor.store, survivor.vendors, Endpoint.VIDU_TEXT2AUDIO, SOUND, "ann")
    survivor.store.save(task.merged(finished_at_vendor(survivor, task)))  # a success still to be copied...
    leased_until = time.time() + LEASE_SECONDS
    assert survivor.store.claim_copy(task.id, time.time(), leased_until)  # ...by a replica that then died
    survivor.start()
    wait_until(lambda: archived(survivor.store, task.id), what="the copy taken over")
    assert [task_id for task_id, _ in calls] == [task.id] and calls[0][1] >= leased_until


def test_a_callback_delivered_to_another_replica_updates_the_task_at_once(replicas):
    submitter, receiver = replicas(2)
    calls = count_archiving([submitter, receiver])
    task, _ = studio.submit(submitter.store, submitter.vendors, Endpoint.VIDU_TEXT2AUDIO, SOUND, "ann")
    finished_at_vendor(submitter, task)
    body = submitter.vendors.vidu._call("GET", f"/ent/v2/tasks/{task.vendor_id}/creations", retry=True)
    url = "https://studio.example/callbacks/vidu"
    headers = vidu_callback_headers(receiver.vidu_key, url, formatdate(time.time(), usegmt=True), "replica-n1")
    answer = callbacks.receive_vidu(callbacks.receiver_for(receiver.settings, receiver.store, receiver.worker,
                                                           receiver.vidu_key), "/callbacks/vidu", "",
                                    {"Content-Type": "application/json", **headers}, json.dumps(body).encode())
    assert answer.status == 200
    assert submitter.store.get(task.id).state is State.SUCCEEDED  # the submitter's view, at once
    submitter.start(), receiver.start()
    wait_until(lambda: archived(submitter.store, task.id), what="the callback's result archived")
    assert [task_id for task_id, _ in calls] == [task.id]


def test_own_key_tasks_are_left_to_the_replica_holding_the_key_and_wait_when_it_dies(replicas):
    holder, other = replicas(2)
    holder.keyring.set("ann", Provider.VIDU, api_key=DEMO_VIDU_KEY)
    own = holder.keyring.vendors_for("ann", holder.vendors)
    followed, _ = studio.submit(holder.store, own, Endpoint.VIDU_TEXT2AUDIO, SOUND, "ann", own_key=True)
    other.start()  # the replica without the key leaves the task alone while the holder runs
    holder.start()
    wait_until(lambda: archived(other.store, followed.id), what="the holder to follow its own-key task")
    assert other.store.get(followed.id).error_message is None  # never marked as waiting by the other replica
    assert not other.keyring.lost("ann", Provider.VIDU) and not other.keyring.lost("bob", Provider.VIDU)

    stranded, _ = studio.submit(holder.store, own, Endpoint.VIDU_TEXT2AUDIO, SOUND, "ann", own_key=True)
    holder.close()  # the failover: the key was only in the holder's memory
    lost = KEY_LOST.format(vendor="Vidu")
    wait_until(lambda: other.store.get(stranded.id).error_message == lost, what="the task to wait for the key")
    assert other.keyring.lost("ann", Provider.VIDU) and not other.keyring.lost("bob", Provider.VIDU)
    assert other.store.get(stranded.id).state is not State.FAILED
    other.keyring.set("ann", Provider.VIDU, api_key=DEMO_VIDU_KEY)  # entered again, on the replica now serving
    wait_until(lambda: archived(other.store, stranded.id), what="the task followed with the key entered again")
    assert other.store.get(stranded.id).error_message is None


def own_keys_section():
    from lib.ui import keys

    keys.own_keys()


def test_the_settings_page_says_a_key_lost_on_a_failover_must_be_entered_again(demo_studio):  # noqa: F811
    from lib.ui.runtime import services

    at = AppTest.from_function(own_keys_section, default_timeout=30).run()
    assert not at.warning  # never entered: nothing lost to tell of
    services().store.hold_keys("a-replica-now-stopped", [("local", Provider.VIDU)], time.time() - 1)
    at.run()
    assert [w.value for w in at.warning] == [KEY_LOST_HERE.format(vendor="Vidu")]
