"""Several workers on one store (replicas: each with its own store connection, on SQLite and on PostgreSQL) poll a
task one at a time, and the vendor never sees two queries of one task within its polling interval."""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from itertools import pairwise

import pytest

from lib.core.tasks import Endpoint, State, Task
from lib.service.poller import FIRST_INTERVAL, LEASE_SECONDS, Poller
from lib.service.studio import Vendors

LATENCY = 0.05  # the vendor's answer
ON_THE_WAY = 0.3  # every other query of a task is this long on its way to the vendor (a slow network, a busy process)
QUERIES = 4  # per task, before the record is judged
REPLICAS = 3


class RecordingVendor:
    """Both vendors: each query is logged when it reaches the vendor and when it is answered, and answered with
    the task's progress moved on, so the task is due again one FIRST_INTERVAL after each answer."""

    def __init__(self, on_the_way: float = ON_THE_WAY):
        self.on_the_way = on_the_way
        self.queries: dict[str, list[tuple[float, float]]] = defaultdict(list)  # vendor id -> (arrived, answered)
        self._sent: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def query_task(self, task: Task) -> Task:
        with self._lock:
            number = self._sent[task.vendor_id]
            self._sent[task.vendor_id] += 1
        if number % 2 == 0:
            time.sleep(self.on_the_way)
        arrived = time.time()
        time.sleep(LATENCY)
        with self._lock:
            self.queries[task.vendor_id].append((arrived, time.time()))
        return Task(task.endpoint, params={}, state=State.RUNNING, raw_state="processing", progress=number + 1)

    def asked(self, vendor_id: str) -> int:
        with self._lock:
            return len(self.queries[vendor_id])


def in_flight(store, count: int) -> list[Task]:
    tasks = [Task(Endpoint.VIDU_TEXT2AUDIO if number % 2 else Endpoint.KLING_TEXT2AUDIO, params={"prompt": "rain"},
                  vendor_id=f"v{number}", state=State.QUEUED) for number in range(count)]
    for task in tasks:
        store.add(task)
    return tasks


def wait_until(condition, seconds: float = 60, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def workers():
    """`workers(*pollers)`: started for the test, stopped after it."""
    started = []

    def start(*pollers: Poller) -> list[Poller]:
        started.extend(poller.start() for poller in pollers)
        return list(pollers)
    yield start
    for poller in started:
        poller.stop()


def test_replicas_never_query_a_task_twice_within_its_interval(store, reopen, workers):
    vendor = RecordingVendor()
    vendors = Vendors(vendor, vendor, False, False)
    tasks = in_flight(store, 6)
    pollers = workers(*(Poller(replica, vendors, tick=0.01, concurrency=4)
                        for replica in (store, *(reopen(store) for _ in range(REPLICAS - 1)))))
    wait_until(lambda: all(vendor.asked(task.vendor_id) >= QUERIES for task in tasks), what="every task's queries")
    for poller in pollers:
        poller.stop()
    for task in tasks:
        queries = vendor.queries[task.vendor_id]
        for (arrived, answered), (next_arrived, _) in pairwise(queries):
            assert next_arrived >= answered, f"{task.vendor_id} was queried while a query of it was unanswered"
            assert next_arrived - arrived >= FIRST_INTERVAL, (
                f"{task.vendor_id} queried twice within {FIRST_INTERVAL:g} s: {next_arrived - arrived:.2f} s apart")


def test_a_poll_that_outlived_its_lease_leaves_the_task_to_the_replica_that_took_it_over(store, reopen):
    answer = threading.Event()

    class Hanging(RecordingVendor):
        def query_task(self, task: Task) -> Task:
            self.queries[task.vendor_id].append((time.time(), time.time()))
            assert answer.wait(30), "the test never let the vendor answer"
            return Task(task.endpoint, params={}, state=State.RUNNING, raw_state="processing", progress=50)

    vendor, planned = Hanging(), threading.Event()
    first_store = reopen(store)
    plan = first_store.schedule

    def schedule(*args, **options):
        try:
            return plan(*args, **options)
        finally:
            planned.set()
    first_store.schedule = schedule
    first = Poller(first_store, Vendors(vendor, vendor, False, False))
    (task,) = in_flight(store, 1)
    now = time.time()
    try:
        first._hand_out(now)  # one pass of its scheduler: the task is claimed and its query sent
        wait_until(lambda: vendor.queries[task.vendor_id], what="the query")
        later = now + LEASE_SECONDS + 1  # the lease has run out, as if its renewals had failed
        taken = reopen(store).claim_due(later, later + LEASE_SECONDS, 10)
        assert [claimed.id for claimed in taken] == [task.id]
        answer.set()
        wait_until(planned.is_set, what="the first poll to end")
    finally:
        answer.set()
        first.stop()
    assert store.get(task.id).progress == 50  # what the vendor said is kept
    # ... but the task is still the second replica's until its lease ends: no third query meanwhile
    assert store.due(later + LEASE_SECONDS - FIRST_INTERVAL) == []


def test_a_poll_plans_its_next_only_while_its_lease_is_the_one_the_task_has(store):
    (task,) = in_flight(store, 1)
    assert [claimed.id for claimed in store.claim_due(100.0, 105.0, 10)] == [task.id]
    assert store.schedule(task.id, 101.5, 1.0, lease=105.0)  # its own lease: planned
    assert [due.id for due in store.due(101.5)] == [task.id]
    assert store.claim_due(106.0, 111.0, 10)  # due since 101.5: claimed again, until 111
    assert not store.schedule(task.id, 107.0, 1.0, lease=105.0)  # a stale lease: nothing planned
    assert store.due(110.0) == [] and [due.id for due in store.due(111.0)] == [task.id]
