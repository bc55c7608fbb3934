"""The one background worker per server process that follows every in-flight task of every user.

Browser tabs only read the store, so the vendors see one query per task per interval however many tabs are
open. Intervals start at one second and back off to five while nothing changes (the anchors poll every 1-5 s);
failed polls back off further. After a restart the worker simply finds the in-flight rows again.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from lib import history, studio
from lib.errors import NetworkError, StudioError, VendorError
from lib.keyring import Keyring
from lib.store import Store
from lib.tasks import Provider, State, Task

log = logging.getLogger(__name__)

FIRST_INTERVAL, MAX_INTERVAL, MAX_ERROR_INTERVAL = 1.0, 5.0, 30.0
NEVER = float("inf")
LOST_AFTER_SECONDS = 120  # a task with no id this long after submission never got its answer (or never existed)
# How long a Vidu create may go unanswered (and not being sent by this process) before Vidu's task list is
# searched for it; later searches back off from there to MAX_ERROR_INTERVAL.
LOOKUP_AFTER_SECONDS = 5.0
KEY_CHECK_SECONDS = 5  # how soon a task waiting for its owner's own key looks again (no vendor call)
STILL_RUNNING = "Still running at the vendor after {minutes} minutes — check again later."


def next_interval(current: float, changed: bool, error: bool) -> float:
    if error:
        return min(MAX_ERROR_INTERVAL, current * 2)
    return FIRST_INTERVAL if changed else min(MAX_INTERVAL, current * 1.5)


def inconclusive(task: Task, error: VendorError, now: float) -> bool:
    """Whether an error says nothing final about the task, so it is tried again later instead of failing it.

    That is an answer that is not the vendor's data at all (cut off, a proxy's page), and any error while
    looking up a task whose create was never confirmed: the vendor may not have registered it yet.
    """
    unconfirmed = task.state is State.SUBMITTED and not task.task_id and now - task.created_at < LOST_AFTER_SECONDS
    return error.code == "non_json" or unconfirmed


class Poller:
    def __init__(self, store: Store, vendors: studio.Vendors, *, task_timeout: float = 3600,
                 on_success: Callable[[Task], Task] = lambda task: task, tick: float = 0.1,
                 keyring: Keyring | None = None):
        self.store, self.vendors, self.task_timeout = store, vendors, task_timeout
        self.on_success, self.tick = on_success, tick
        self.keyring = keyring or Keyring(lambda provider, credentials: None)
        self._stop = threading.Event()
        self._locks = [threading.Lock() for _ in range(32)]  # by task id: the poller and callbacks apply in turn
        self._thread = threading.Thread(target=self._run, name="cue-poller", daemon=True)

    def start(self) -> Poller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for task in self.store.due(time.time()):
                    self.poll(task)
            except Exception:  # the worker must outlive any single bad row or outage
                log.exception("poller pass failed")
            self._stop.wait(self.tick)

    def poll(self, task: Task) -> Task:
        now = time.time()
        interval, deadline = self.store.poll_plan(task.id)
        unconfirmed = task.state is State.SUBMITTED and not task.task_id and task.provider is Provider.VIDU
        if unconfirmed and (studio.sending(task.id) or now - task.created_at < LOOKUP_AFTER_SECONDS):
            self.store.schedule(task.id, now + FIRST_INTERVAL, interval)
            return task
        if not unconfirmed and now > (deadline or task.created_at + self.task_timeout):
            return self._set_aside(task, STILL_RUNNING.format(minutes=round(self.task_timeout / 60)), NEVER,
                                   interval)
        if waiting := self.keyring.missing_for(task):
            return self._set_aside(task, waiting, now + KEY_CHECK_SECONDS, interval)
        vendors = self.keyring.vendors_for(task.owner, self.vendors) if task.own_key else self.vendors
        if unconfirmed:
            return self._find_created(task, vendors, now, interval)
        try:
            fresh = task.merged(studio.fetch(vendors, task))
        except (VendorError, NetworkError) as error:
            if isinstance(error, VendorError) and not error.retryable and not inconclusive(task, error, now):
                return self.apply(task, studio.failed(task, error.code, str(error), error.trace_id))
            interval = next_interval(interval, changed=False, error=True)
            self.store.schedule(task.id, now + interval, interval)
            return task
        fresh = self.apply(task, fresh)
        changed = (fresh.state, fresh.progress) != (task.state, task.progress)
        interval = next_interval(interval, changed, error=False)
        self.store.schedule(task.id, now + interval, interval)
        return fresh

    def apply(self, task: Task, fresh: Task) -> Task:
        """Record `fresh` (`task` merged with what the vendor reports, by a poll or a verified callback).

        A success is archived before it is saved, so a finished task always has our own copy (or says why
        not). A task the store already holds as finished is left alone and returned as stored: a poll and a
        callback racing each other, or a late callback, neither undo an end nor archive it twice.
        """
        with self._locks[hash(task.id) % len(self._locks)]:
            stored = self.store.get(task.id)
            if stored is not None and stored.state.terminal:
                return stored
            if fresh.state is State.SUCCEEDED:
                try:
                    fresh = self.on_success(fresh)
                except StudioError as error:
                    log.warning("archiving task %s failed: %s", task.id, error)
                    fresh = fresh.replace(error_message=f"The result is ready, but no copy could be kept: {error}")
            self.store.save(fresh)
            return fresh

    def _find_created(self, task: Task, vendors: studio.Vendors, now: float, interval: float) -> Task:
        """Link a Vidu create that never got its answer (the studio died while sending it, or the answer was
        lost) to the task Vidu made of it, found in Vidu's task list; it is then followed as usual. Nothing is
        ever sent again. If the list has no such task by LOST_AFTER_SECONDS, say what to look for instead."""
        def taken(vendor_id: str) -> bool:
            return self.store.find_by_vendor_id(Provider.VIDU, vendor_id) is not None

        try:
            found = vendors.vidu.find_created(task, taken)
        except (VendorError, NetworkError) as error:
            log.info("looking up unconfirmed task %s in Vidu's task list failed: %s", task.id, error)
            interval = next_interval(interval, changed=False, error=True)
            self.store.schedule(task.id, now + interval, interval)
            return task
        if found:
            with self._locks[hash(task.id) % len(self._locks)]:
                stored = self.store.get(task.id)
                if stored is None or stored.task_id or stored.state is not State.SUBMITTED:
                    return stored or task
                task = stored.replace(task_id=found, error_message=None)
                self.store.save(task)
            log.info("task %s: found Vidu task %s in Vidu's task list; following it", task.id, found)
            self.store.schedule(task.id, now, FIRST_INTERVAL)
            return task
        if now - task.created_at > LOST_AFTER_SECONDS:
            return self._set_aside(task, history.not_found_message(task), NEVER, interval)
        interval = min(MAX_ERROR_INTERVAL, max(LOOKUP_AFTER_SECONDS, interval * 2))
        self.store.schedule(task.id, now + interval, interval)
        return task

    def _set_aside(self, task: Task, message: str, next_poll_at: float, interval: float) -> Task:
        """Keep the task as it is, say why it is not being followed, and look again at `next_poll_at`."""
        if task.error_message != message:
            task = task.replace(error_message=message)
            self.store.save(task)
        self.store.schedule(task.id, next_poll_at, interval)
        return task

    def check_again(self, task: Task) -> None:
        """Resume polling a task the timeout had set aside (the "check again" button)."""
        self.store.save(task.replace(error_message=None))
        self.store.schedule(task.id, 0, FIRST_INTERVAL, poll_deadline=time.time() + self.task_timeout)
