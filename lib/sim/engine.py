"""The task state machine both vendors share, its scheduler thread, the concurrency limit and the credit accounts.

Each vendor names the same five phases with its own words (Vidu created/queueing/processing/success/failed,
Kling submitted/submitted/processing/succeed/failed), so the engine only knows phases and the vendor modules
translate. Durations are the vendor's realistic ones divided by `speed`.
"""
from __future__ import annotations

import enum
import itertools
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

from lib.sim.assets import AssetStore, Bundle

_EPOCH_MS = 1_577_836_800_000  # 2020-01-01, with 20 sequence bits: 18-digit ids (like both vendors) until 2050
_sequence = itertools.count()


def new_id() -> str:
    """A snowflake-like numeric id: 18 digits, growing with time, as a string (both vendors send strings)."""
    return str(((time.time_ns() // 1_000_000 - _EPOCH_MS) << 20) | (next(_sequence) & 0xFFFFF))


class Phase(enum.Enum):
    ACCEPTED = "accepted"  # just created; not yet in the queue
    QUEUED = "queued"  # waiting for a free slot under the concurrency limit
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)


@dataclass(frozen=True)
class Lifecycle:
    """A vendor's words for the phases, and how long a new task waits before it joins the queue."""

    words: dict[Phase, str]
    accept_seconds: float
    internal_error: str  # the failure reason when rendering breaks


class NotEnoughCredit(Exception):
    pass


@dataclass(eq=False)
class Task:
    vendor: str
    lifecycle: Lifecycle
    request: dict  # the normalised request; the vendor module reads it back to answer queries
    bundle: Bundle | None  # the media to render; None when the task is going to fail anyway
    run_seconds: float  # realistic processing time, before dividing by speed
    charge: int | Decimal
    owner: str  # the key that created the task (Vidu signs callbacks with it)
    callback_url: str | None = None
    external_id: str | None = None
    fail_with: str | None = None  # set by a [fail:...] prompt marker
    id: str = field(default_factory=new_id)
    result_id: str = field(default_factory=new_id)  # the id of what it produces (Vidu creation, Kling audio)
    created: float = field(default_factory=time.time)
    updated: float = 0.0
    started: float | None = None
    finished: float | None = None
    phase: Phase = Phase.ACCEPTED
    error: str = ""
    render: Future | None = None

    def __post_init__(self):
        self.updated = self.created

    @property
    def state(self) -> str:
        return self.lifecycle.words[self.phase]

    def progress(self, speed: float) -> int:
        if self.phase is Phase.SUCCEEDED:
            return 100
        if self.phase is not Phase.RUNNING:
            return 0
        return min(99, int(100 * (time.time() - self.started) * speed / self.run_seconds))


@dataclass
class Account:
    balance: int | Decimal
    limit: int


class Engine:
    """Holds every task and advances them from a scheduler thread that sleeps until the next one is due."""

    def __init__(self, speed: float, concurrency: int, balances: dict[str, int | Decimal], assets: AssetStore,
                 on_change: Callable[[Task], None], queue_seconds: float = 0.0):
        self.speed = speed
        self.queue_seconds = queue_seconds  # real seconds a new task stays queued, however fast the speed
        self.assets = assets
        self.on_change = on_change  # called under the lock on every phase change; must only enqueue work
        self._initial = dict(balances)
        self._concurrency = concurrency
        self.lock = threading.Condition()  # re-entrant: vendor modules hold it while reading a task
        self._stopped = False
        self.reset()
        self._thread = threading.Thread(target=self._loop, name="sim-scheduler", daemon=True)
        self._thread.start()

    # --- account and task store -------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self._tasks: dict[str, Task] = {}
            self._accounts = {vendor: Account(amount, self._concurrency) for vendor, amount in self._initial.items()}
            self.lock.notify()

    def submit(self, task: Task) -> Task:
        with self.lock:
            account = self._accounts[task.vendor]
            if account.balance < task.charge:
                raise NotEnoughCredit
            account.balance -= task.charge
            self._tasks[task.id] = task
            self.on_change(task)
            self.lock.notify()
        return task

    def tasks(self, vendor: str) -> list[Task]:
        """The vendor's tasks, newest first."""
        with self.lock:
            return [task for task in reversed(self._tasks.values()) if task.vendor == vendor]

    def get(self, vendor: str, task_id: str) -> Task | None:
        with self.lock:
            task = self._tasks.get(task_id)
            return task if task and task.vendor == vendor else None

    def balance(self, vendor: str) -> int | Decimal:
        with self.lock:
            return self._accounts[vendor].balance

    def initial_balance(self, vendor: str) -> int | Decimal:
        """The balance `vendor`'s account started with (what a reset gives back)."""
        return self._initial[vendor]

    def set_balance(self, vendor: str, amount: int | Decimal) -> None:
        with self.lock:
            self._accounts[vendor].balance = amount

    def load(self, vendor: str) -> tuple[int, int]:
        """(running, waiting) task counts for the vendor's account."""
        with self.lock:
            phases = [task.phase for task in self._tasks.values() if task.vendor == vendor]
            return phases.count(Phase.RUNNING), phases.count(Phase.ACCEPTED) + phases.count(Phase.QUEUED)

    def cancel(self, task: Task, reason: str) -> str | None:
        """Fail a task that has not started; None on success, else the state word that forbids it."""
        with self.lock:
            if task.phase not in (Phase.ACCEPTED, Phase.QUEUED):
                return task.state
            self._fail(task, reason, time.time())
            return None

    def stop(self) -> None:
        with self.lock:
            self._stopped = True
            self.lock.notify()
        self._thread.join(timeout=2)

    # --- the state machine ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        with self.lock:
            while not self._stopped:
                now = time.time()
                self._advance(now)
                due = [self._due(task) for task in self._tasks.values()]
                due = [when for when in due if when is not None]
                self.lock.wait(timeout=max(0.0, min(due) - now) if due else None)

    def _due(self, task: Task) -> float | None:
        """When the task next needs the scheduler; None while it waits on something that will notify."""
        if task.phase is Phase.ACCEPTED:
            return task.created + task.lifecycle.accept_seconds / self.speed
        if task.phase is Phase.QUEUED and time.time() < self._runnable_at(task):
            return self._runnable_at(task)
        if task.phase is Phase.RUNNING and (task.render is None or task.render.done()):
            return task.started + task.run_seconds / self.speed
        return None

    def _advance(self, now: float) -> None:
        for task in list(self._tasks.values()):
            due = self._due(task)
            if task.phase is Phase.ACCEPTED and due <= now:
                self._move(task, Phase.QUEUED, now)
            elif task.phase is Phase.RUNNING and due is not None and due <= now:
                self._finish(task, now)
        for vendor, account in self._accounts.items():
            running = sum(task.phase is Phase.RUNNING and task.vendor == vendor for task in self._tasks.values())
            waiting = (task for task in self._tasks.values() if task.vendor == vendor and task.phase is Phase.QUEUED
                       and self._runnable_at(task) <= now)
            for task in itertools.islice(waiting, max(0, account.limit - running)):
                self._start(task, now)

    def _runnable_at(self, task: Task) -> float:
        return task.created + self.queue_seconds

    def _start(self, task: Task, now: float) -> None:
        task.started = now
        if task.bundle is not None:  # None when a [fail:...] marker means there is nothing to make
            # Render while the task "processes", off the request threads; the scheduler wakes when it is done.
            task.render = self.assets.warm(task.bundle)
            task.render.add_done_callback(lambda _: self._wake())
        self._move(task, Phase.RUNNING, now)

    def _finish(self, task: Task, now: float) -> None:
        if task.fail_with is not None:
            self._fail(task, task.fail_with, now)
        elif task.render is not None and task.render.exception() is not None:
            self._fail(task, task.lifecycle.internal_error, now)
        else:
            task.finished = now
            self._move(task, Phase.SUCCEEDED, now)

    def _fail(self, task: Task, reason: str, now: float) -> None:
        """Failed tasks are refunded, as Vidu documents for cancelled off-peak tasks."""
        self._accounts[task.vendor].balance += task.charge
        task.charge = type(task.charge)()  # 0, keeping int for Vidu and Decimal for Kling
        task.error = reason
        task.finished = now
        self._move(task, Phase.FAILED, now)

    def _move(self, task: Task, phase: Phase, now: float) -> None:
        task.phase, task.updated = phase, now
        self.on_change(task)

    def _wake(self) -> None:
        with self.lock:
            self.lock.notify()
