"""The one background worker per server process: it follows every in-flight task of every user and keeps a
copy of every result.

A scheduler thread hands each due task to its vendor's pool of threads, at most `concurrency` queries in flight
per vendor, so a vendor that hangs holds up only its own tasks. A task handed out is claimed until its poll
ends: its next poll moves forward in the store (a lease) and its id is held in memory. A poll never sleeps:
Retry-After and backoff become the task's next poll time, and the clients send each query once. Results are
copied by their own pool, so a slow or huge download delays no poll and no other download. Any failure while
handling one task is logged without secrets and only that task is tried again later.

Several studio processes (replicas) on one shared store share the work: polls, copies and mixes are each leased
in the store to one process at a time (LEASE_SECONDS), and renewed every RENEW_SECONDS while they run, so a long
download or mix keeps its lease and the work of a process that dies is taken over within LEASE_SECONDS plus a
second (copies are looked for every RENEW_SECONDS).

Browser tabs only read the store, so the vendors see one query per task per interval however many tabs are
open or replicas run: an interval counts from the vendor's answer (never from before the query was sent, which
a slow store or a busy process could delay), and a poll that outlived its lease plans nothing. Intervals start
at one second and back off to five while nothing changes and the task is far from its expected end (the
anchors poll every 1-5 s); failed polls back off further. After a restart the worker simply
finds the in-flight rows, and the results still to be copied, again.
"""
from __future__ import annotations

import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from lib.core import history
from lib.core.endpoints import spec
from lib.core.errors import NetworkError, StudioError, VendorError, redact
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.service import studio
from lib.service.keyring import Keyring
from lib.store.base import BaseStore
from lib.vendors.transport import single_attempt

log = logging.getLogger(__name__)

FIRST_INTERVAL, MAX_INTERVAL, MAX_ERROR_INTERVAL = 1.0, 5.0, 30.0
MAX_RETRY_AFTER = 300.0  # a vendor's Retry-After is honoured up to this; a bogus huge one must not park a task
NEVER = float("inf")
LOST_AFTER_SECONDS = 120  # a task with no id this long after submission never got its answer (or never existed)
# How long a Vidu create may go unanswered (and not being sent by this process) before Vidu's task list is
# searched for it; later searches back off from there to MAX_ERROR_INTERVAL.
LOOKUP_AFTER_SECONDS = 5.0
KEY_CHECK_SECONDS = 5  # how soon a task waiting for its owner's own key looks again (no vendor call)
STILL_RUNNING = "Still running at the vendor after {minutes} minutes — check again later."
# Queries in flight per vendor. Neither vendor publishes a rate limit for queries (Kling says there is none;
# Vidu gives no figure), so the bound is ours: 32 polls about 100 tasks a second against a vendor answering in
# 0.3 s, so a team's 200 tasks in flight are each seen about once a second (the transport keeps 64 connections).
POLL_CONCURRENCY = 32
DOWNLOADS = 16  # results copied at once: each may be a large video, and they share the server's bandwidth
LEASE_SECONDS = 5  # a claimed poll, copy or mix is not handed out again for this long, unless its process stops
RENEW_SECONDS = 1.0  # how often running polls, copies and mixes renew their leases (and unleased copies are sought)
COPY_ATTEMPTS, COPY_RETRY_WAIT = 3, 2.0  # a copy interrupted by the network or the disk is tried again
NO_COPY = "The result is ready, but no copy could be kept: {reason}"
# What a credential looks like in an exception message we did not write: an auth header's value, or a JWT.
_CREDENTIALS = re.compile(r"(?i)\b(bearer|token|basic)\s+[\w.~+/=-]{8,}|eyJ[\w-]+\.[\w-]+\.[\w-]+")


def next_interval(current: float, changed: bool, error: bool, near_end: bool = False) -> float:
    if error:
        return min(MAX_ERROR_INTERVAL, current * 2)
    return FIRST_INTERVAL if changed or near_end else min(MAX_INTERVAL, current * 1.5)


def near_end(task: Task, now: float) -> bool:
    """Whether the vendor may finish `task` before a backed-off poll would look again, so it is polled every
    FIRST_INTERVAL: by the vendor's progress when it reports some, else by the endpoint's typical duration.

    Typical durations are rough, so "near" starts at half of one and lasts until three: a task later than that
    has no predictable end, and polling it every second would only cost queries.
    """
    if task.state is not State.RUNNING or not task.started_at:
        return False
    elapsed, typical = now - task.started_at, spec(task.endpoint).typical_seconds
    if task.progress:
        return history.seconds_left(task, now) <= max(MAX_INTERVAL, typical / 2)
    return typical / 2 - MAX_INTERVAL <= elapsed <= 3 * typical


def inconclusive(task: Task, error: VendorError, now: float) -> bool:
    """Whether an error says nothing final about the task, so it is tried again later instead of failing it.

    That is an answer that is not the vendor's data at all (cut off, a proxy's page), and any error while
    looking up a task whose create was never confirmed: the vendor may not have registered it yet.
    """
    unconfirmed = task.state is State.SUBMITTED and not task.vendor_id and now - task.created_at < LOST_AFTER_SECONDS
    return error.code == "non_json" or unconfirmed


def describe(error: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """An exception for the log: its type, where it was raised and its message, without keys or tokens."""
    frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    message = _CREDENTIALS.sub(lambda match: f"{match.group(1) or ''} [hidden]".strip(), redact(str(error), secrets))
    return f"{type(error).__name__}{where}: {message[:300]}"


def copy_failure(error: Exception) -> str:
    """Why a copy failed, in plain words, for an error that is not already a message for people."""
    if isinstance(error, requests.RequestException):
        return "the download was interrupted several times."
    if isinstance(error, OSError):
        return "the server could not save the file (its disk may be full)."
    return "the studio ran into a problem while copying it."


class Poller:
    def __init__(self, store: BaseStore, vendors: studio.Vendors, *, task_timeout: float = 3600,
                 on_success: Callable[[Task], Task] = lambda task: task, tick: float = 0.1,
                 keyring: Keyring | None = None, concurrency: int = POLL_CONCURRENCY, downloads: int = DOWNLOADS,
                 copy_retry_wait: float = COPY_RETRY_WAIT, secrets: Iterable[str | None] = (),
                 measure: Callable[[Task], Task] | None = None, steps: Iterable[Callable[[float], None]] = (),
                 renewals: Iterable[Callable[[float], None]] = ()):
        """`on_success` makes the studio's own copy of a success (the archive); `measure` measures copies archived
        before the studio measured them (run once on start, in the copy pool); `secrets` are kept out of logs;
        `steps` run on every pass with the time (a score's steps), each failure logged and contained; `renewals`
        run with the leases' own renewal every RENEW_SECONDS (the mixes' leases)."""
        self.store, self.vendors, self.task_timeout = store, vendors, task_timeout
        self.on_success, self.tick, self.concurrency = on_success, tick, concurrency
        self.copy_retry_wait, self.secrets = copy_retry_wait, tuple(s for s in secrets if s)
        self.measure, self.steps, self.renewals = measure, tuple(steps), tuple(renewals)
        self.keyring = keyring or Keyring(lambda provider, credentials: None)
        self._stop = threading.Event()
        self._locks = [threading.Lock() for _ in range(32)]  # by task id: the poller and callbacks apply in turn
        self._claims = threading.Lock()  # guards the three below
        self._claimed: set[str] = set()  # tasks handed to a poll that has not ended yet
        self._busy = {provider: 0 for provider in Provider}  # polls in flight per vendor
        self._copying: set[str] = set()  # tasks whose copy is queued or running
        self._poll_leases: dict[str, float] = {}  # claimed tasks -> the end of the poll lease this process set
        self._copy_leases: set[str] = set()  # tasks whose copy this process holds the lease of and is making
        self._pools = {provider: ThreadPoolExecutor(concurrency, thread_name_prefix=f"cue-poll-{provider.value}")
                       for provider in Provider}
        self._downloads = ThreadPoolExecutor(downloads, thread_name_prefix="cue-copy")
        self._thread = threading.Thread(target=self._run, name="cue-poller", daemon=True)
        # a thread of its own, so a slow pass of the scheduler never lets a running lease lapse
        self._renewer = threading.Thread(target=self._renew_loop, name="cue-leases", daemon=True)

    def start(self) -> Poller:
        self._renewer.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in (self._thread, self._renewer):
            if thread.is_alive():
                thread.join(timeout=5)
        for pool in (*self._pools.values(), self._downloads):
            pool.shutdown(wait=False, cancel_futures=True)

    # --- scheduling ---------------------------------------------------------------------------------------------

    def _run(self) -> None:
        if self.measure:
            try:
                self._downloads.submit(self._measure_older)
            except RuntimeError:  # stopped meanwhile: the next start measures them
                pass
        failing: dict[int, str] = {}  # the last failure logged of each step still failing
        while not self._stop.is_set():
            try:
                self._hand_out(time.time())
            except Exception as error:  # the worker must outlive any single bad row or outage
                log.warning("poller pass failed: %s", describe(error, self.secrets))
            for number, step in enumerate(self.steps):
                try:
                    step(time.time())
                    failing.pop(number, None)
                except Exception as error:  # one step failing holds up neither the polls nor the other steps
                    said = describe(error, self.secrets)
                    if failing.get(number) != said:  # once per new failure, not ten times a second
                        log.warning("worker step %s failed: %s", getattr(step, "__qualname__", "?"), said)
                    failing[number] = said
            self._stop.wait(self.tick)

    def _renew_loop(self) -> None:
        while True:
            self._renew(time.time())
            if self._stop.wait(RENEW_SECONDS):
                return

    def _renew(self, now: float) -> None:
        """Renew this process's leases and held keys, and queue the copies no process holds (ones a stopped
        process had not finished, or whose process died mid-copy)."""
        with self._claims:  # only polls already running a while: most end within a second, unrenewed
            polls = {task_id: lease for task_id, lease in self._poll_leases.items()
                     if lease - now < LEASE_SECONDS - 2 * RENEW_SECONDS}
            copies = list(self._copy_leases)
        try:
            for renew in self.renewals:
                renew(now)
            for task_id in self.store.renew_polls(polls, now + LEASE_SECONDS):
                with self._claims:
                    if task_id in self._poll_leases:
                        self._poll_leases[task_id] = now + LEASE_SECONDS
            self.store.renew_copies(copies, now + LEASE_SECONDS)
            self.keyring.renew(now)
            for task in self.store.copies_pending(now):
                self._copy_later(task)
        except Exception as error:  # the store failing: the leases run out and the work comes back
            log.warning("renewing leases failed: %s", describe(error, self.secrets))

    def _hand_out(self, now: float) -> None:
        """Claim due tasks for each vendor's pool while it has room, and hand them to it. The store leases them in
        the claiming statement, so another process's worker never gets the same task; one still being polled here
        (its lease ran out during a long poll) is left to that poll."""
        for provider in Provider:
            with self._claims:
                room = self.concurrency - self._busy[provider]
            if room <= 0:
                continue
            endpoints = [endpoint for endpoint in Endpoint if endpoint.provider is provider]
            for task in self.store.claim_due(now, now + LEASE_SECONDS, room, endpoints, self.keyring.holder):
                with self._claims:
                    self._poll_leases[task.id] = now + LEASE_SECONDS  # the lease the renewals extend
                    if task.id in self._claimed:
                        continue
                    self._claimed.add(task.id)
                    self._busy[provider] += 1
                try:
                    self._pools[provider].submit(self._poll_job, task)
                except BaseException:
                    self._release(task)
                    raise

    def _poll_job(self, task: Task) -> None:
        try:
            current = self.store.get(task.id)  # a callback may have moved it on since it was handed out
            if current is not None and not current.state.terminal:
                self.poll(current)
        except Exception as error:
            self._contain(task, error)
        finally:
            self._release(task)

    def _release(self, task: Task) -> None:
        with self._claims:
            self._claimed.discard(task.id)
            self._poll_leases.pop(task.id, None)
            self._busy[task.provider] -= 1

    def _contain(self, task: Task, error: Exception) -> None:
        """Log a failure while handling `task` and try it again later with backoff; nothing else is affected."""
        log.warning("handling task %s failed: %s", task.id, describe(error, self.secrets))
        try:
            interval = next_interval(self.store.poll_plan(task.id)[0], changed=False, error=True)
            self._plan(task.id, time.time() + interval, interval)
        except Exception as again:  # the store itself is failing: the lease runs out and the task comes back
            log.warning("rescheduling task %s failed: %s", task.id, describe(again, self.secrets))

    # --- one task ------------------------------------------------------------------------------------------------

    def poll(self, task: Task) -> Task:
        """Ask the vendor about `task` once, record what it says and plan the next poll; never raises."""
        try:
            return self._poll(task)
        except Exception as error:  # anything at all: vendor, network, disk or our own code
            self._contain(task, error)
            return task

    def _poll(self, task: Task) -> Task:
        now = time.time()
        interval, deadline = self.store.poll_plan(task.id)
        # No id to ask the vendor by (Kling's tasks always have the external id the studio gave them): only the
        # vendor's task list can tell what became of the create.
        unconfirmed = task.state is State.SUBMITTED and not task.vendor_id and not task.external_id
        if unconfirmed and (studio.sending(task.id) or now - task.created_at < LOOKUP_AFTER_SECONDS):
            self._plan(task.id, now + FIRST_INTERVAL, interval)
            return task
        # The timeout counts from when the vendor started on the task: time in its queue is not a fault.
        limit = deadline or (task.started_at + self.task_timeout if task.started_at else NEVER)
        if not unconfirmed and now > limit:
            return self._set_aside(task, STILL_RUNNING.format(minutes=round(self.task_timeout / 60)), NEVER,
                                   interval)
        if waiting := self.keyring.missing_for(task):
            return self._set_aside(task, waiting, now + KEY_CHECK_SECONDS, interval)
        vendors = self.keyring.vendors_for_task(task, self.vendors)
        if unconfirmed:
            return self._find_created(task, vendors, now, interval)
        try:
            with single_attempt():  # retries happen across polls, never inside one
                fresh = task.merged(studio.fetch(vendors, task))
        except (VendorError, NetworkError) as error:
            if isinstance(error, VendorError) and not error.retryable and not inconclusive(task, error, now):
                return self.apply(task, studio.failed(task, error.code, str(error), error.trace_id))
            interval = next_interval(interval, changed=False, error=True)
            asked = error.retry_after if isinstance(error, VendorError) else None
            wait = min(MAX_RETRY_AFTER, max(FIRST_INTERVAL, asked)) if asked is not None else interval
            self._plan(task.id, time.time() + wait, interval)
            return task
        answered = time.time()
        fresh = self.apply(task, fresh)
        changed = (fresh.state, fresh.progress) != (task.state, task.progress)
        interval = next_interval(interval, changed, error=False, near_end=near_end(fresh, now))
        self._plan(task.id, answered + interval, interval)
        return fresh

    def apply(self, task: Task, fresh: Task) -> Task:
        """Record `fresh` (`task` merged with what the vendor reports, by a poll or a verified callback).

        A success is saved at once, with the vendor's links, and copied into the archive in the background
        (`Task.copying` until then). A task the store already holds as finished is left alone and returned as
        stored: a poll and a callback racing each other, or a late callback, neither undo an end nor copy it
        twice.
        """
        with self._lock_for(task.id):
            stored = self.store.get(task.id)
            if stored is not None and stored.state.terminal:
                return stored
            if not self.store.save_unfinished(fresh):  # ended meanwhile, on another replica
                return self.store.get(task.id) or fresh
        if fresh.copying:
            self._copy_later(fresh)
        return fresh

    def _find_created(self, task: Task, vendors: studio.Vendors, now: float, interval: float) -> Task:
        """Link a Vidu create that never got its answer (the studio died while sending it, or the answer was
        lost) to the task Vidu made of it, found in Vidu's task list; it is then followed as usual. Nothing is
        ever sent again. If the list has no such task by LOST_AFTER_SECONDS, say what to look for instead."""
        def taken(vendor_id: str) -> bool:
            return self.store.find_by_vendor_id(task.provider, vendor_id) is not None

        try:
            found = vendors.client(task.provider).find_created(task, taken)
        except (VendorError, NetworkError) as error:
            log.info("looking up unconfirmed task %s in Vidu's task list failed: %s", task.id, error)
            interval = next_interval(interval, changed=False, error=True)
            self._plan(task.id, time.time() + interval, interval)
            return task
        if found:
            with self._lock_for(task.id):
                stored = self.store.get(task.id)
                if stored is None or stored.vendor_id or stored.state is not State.SUBMITTED:
                    return stored or task
                task = stored.replace(vendor_id=found, error_message=None)
                self.store.save(task)
            log.info("task %s: found Vidu task %s in Vidu's task list; following it", task.id, found)
            self._plan(task.id, now, FIRST_INTERVAL)
            return task
        if now - task.created_at > LOST_AFTER_SECONDS:
            return self._set_aside(task, history.not_found_message(task), NEVER, interval)
        interval = min(MAX_ERROR_INTERVAL, max(LOOKUP_AFTER_SECONDS, interval * 2))
        self._plan(task.id, time.time() + interval, interval)
        return task

    def _set_aside(self, task: Task, message: str, next_poll_at: float, interval: float) -> Task:
        """Keep the task as it is, say why it is not being followed, and look again at `next_poll_at`."""
        if task.error_message != message:
            task = task.replace(error_message=message)
            self.store.save(task)
        self._plan(task.id, next_poll_at, interval)
        return task

    def _plan(self, task_id: str, next_poll_at: float, interval: float) -> None:
        """Plan the next poll of a task this process is polling, only while the task still has the lease this
        process set: a poll that outlived its lease (another process took the task over) must not cut short that
        process's lease, or a third would query the task while the second still is. A poll not handed out by the
        scheduler (no lease held) plans as asked."""
        with self._claims:
            lease = self._poll_leases.get(task_id)
        if self.store.schedule(task_id, next_poll_at, interval, lease=lease) or lease is None:
            return
        with self._claims:  # the renewal may have just extended the lease: plan against the extended one
            renewed = self._poll_leases.get(task_id)
        if renewed not in (None, lease):
            self.store.schedule(task_id, next_poll_at, interval, lease=renewed)

    def check_again(self, task: Task) -> None:
        """Resume polling a task the timeout had set aside (the "check again" button)."""
        self.store.save(task.replace(error_message=None))
        self.store.schedule(task.id, 0, FIRST_INTERVAL, poll_deadline=time.time() + self.task_timeout)

    def _lock_for(self, task_id: str) -> threading.Lock:
        return self._locks[hash(task_id) % len(self._locks)]

    # --- copies --------------------------------------------------------------------------------------------------

    def _copy_later(self, task: Task) -> None:
        """Queue the copy of a success, once: a task already queued or being copied is not queued again."""
        with self._claims:
            if task.id in self._copying or self._stop.is_set():
                return  # after a stop, the next start finds the copy still to be made
            self._copying.add(task.id)
        try:
            self._downloads.submit(self._copy_job, task.id)
        except RuntimeError:  # the pool was shut down meanwhile: the next start picks the copy up
            with self._claims:
                self._copying.discard(task.id)

    def _copy_job(self, task_id: str) -> None:
        try:
            if not self.store.claim_copy(task_id, time.time(), time.time() + LEASE_SECONDS):
                return  # another process is making it (or has made it)
            with self._claims:
                self._copy_leases.add(task_id)
            self._copy(task_id)
        except Exception as error:  # e.g. the store failing: the copy is made again once its lease runs out
            log.warning("copying task %s failed: %s", task_id, describe(error, self.secrets))
        finally:
            with self._claims:
                self._copying.discard(task_id)
                self._copy_leases.discard(task_id)

    def _copy(self, task_id: str) -> None:
        """Copy a success's media into the archive; a network or disk failure is tried again a few times,
        then the task says plainly that no copy could be kept."""
        for attempt in range(1, COPY_ATTEMPTS + 1):
            task = self.store.get(task_id)
            if task is None or not task.copying:
                return
            try:
                copied = self.on_success(task)
            except StudioError as error:  # a definite answer (link expired, too large, not media): say it now
                log.warning("archiving task %s failed: %s", task_id, describe(error, self.secrets))
                return self._record_copy(task_id, error_message=NO_COPY.format(reason=error))
            except Exception as error:
                log.warning("copying task %s failed (attempt %d of %d): %s", task_id, attempt, COPY_ATTEMPTS,
                            describe(error, self.secrets))
                if attempt == COPY_ATTEMPTS:
                    return self._record_copy(task_id, error_message=NO_COPY.format(reason=copy_failure(error)))
                if self._stop.wait(self.copy_retry_wait * 2 ** (attempt - 1)):
                    return  # stopping: the next start makes the copy
            else:
                return self._record_copy(task_id, media=copied.media)

    def _measure_older(self) -> None:
        """Measure every archived sound still without its waveform and loudness (archived by an older studio).

        Every replica does this once when it starts, unleased: a measurement is the same whoever makes it, and
        the sounds measured once are skipped by the next start, so a repeat costs one read of the successes."""
        offset = 0
        while not self._stop.is_set() and (batch := self.store.find(None, states=(State.SUCCEEDED,),
                                                                       limit=100, offset=offset)):
            offset += len(batch)
            for task in batch:
                if self._stop.is_set():
                    return
                if task.copying or not any(m.kind == "audio" and m.archived and not m.peaks for m in task.media):
                    continue
                try:
                    with self._lock_for(task.id):
                        stored = self.store.get(task.id)
                        measured = self.measure(stored) if stored is not None else None
                        if measured is not None and measured.media != stored.media:
                            self.store.save(stored.replace(media=measured.media))
                except Exception as error:  # one bad file or row must not stop the others
                    log.warning("measuring task %s failed: %s", task.id, describe(error, self.secrets))

    def _record_copy(self, task_id: str, **changes) -> None:
        with self._lock_for(task_id):
            stored = self.store.get(task_id)
            if stored is not None and stored.copying:
                self.store.save(stored.replace(**changes))
