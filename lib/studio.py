"""What the pages ask of the studio: submit a request, refresh a task, cancel one.

The record is written before the create request is sent, so a task the vendor may have accepted (and charged
for) is never lost: if the answer never arrives the task stays "submitted" with what is needed to find it.
"""
from __future__ import annotations

import hashlib
import json
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lib.callbacks import callback_address_problems
from lib.errors import InvalidRequest, NetworkError, VendorError
from lib.store import Store
from lib.tasks import Endpoint, Provider, State, Task
from lib.validation import validate
from lib.vidu import payload_tag

if TYPE_CHECKING:
    from lib.kling import KlingClient
    from lib.vidu import ViduClient

# Two clicks on the same request this close together are one task (double clicks, reruns, page switches).
DUPLICATE_WINDOW_SECONDS = 10
UNCONFIRMED_STATUSES = (502, 504)  # a proxy's answer: the request may have reached the vendor behind it
OUTCOME_UNKNOWN = ("The vendor did not confirm this request. It may still have been created: "
                   "look it up in the vendor's console before trying again.")
# Studio task ids whose create request this process is sending right now: the poller leaves them to `submit`
# and looks only for creates whose sender died (or whose answer was lost).
_sending: set[str] = set()
_sending_lock = threading.Lock()


def sending(task_id: str) -> bool:
    with _sending_lock:
        return task_id in _sending


@dataclass(frozen=True)
class Vendors:
    """The clients the studio talks through, and whether each one is the real vendor or the simulator."""

    vidu: ViduClient
    kling: KlingClient
    vidu_live: bool
    kling_live: bool

    def live(self, provider: Provider) -> bool:
        return self.vidu_live if provider is Provider.VIDU else self.kling_live


def request_key(endpoint: Endpoint, body: dict) -> str:
    same = {k: v for k, v in body.items() if k != "external_task_id"}
    return hashlib.sha256(json.dumps([endpoint.value, same], sort_keys=True).encode()).hexdigest()


def submit(store: Store, vendors: Vendors, endpoint: Endpoint, body: dict, owner: str,
           own_key: bool = False, hosted: bool = False) -> tuple[Task, bool]:
    """Validate, record, then send. Returns the task and whether it is new (False: a duplicate click).

    `own_key` marks a task sent with a key the person pasted, so it is polled only with that key. `hosted`: a
    shared instance, where a callback address must be public (`lib.callbacks.callback_address_problems`).
    """
    problems = validate(endpoint, body) + (callback_address_problems(body.get("callback_url")) if hosted else [])
    if problems:
        raise InvalidRequest(problems)
    key, studio_id = request_key(endpoint, body), uuid.uuid4().hex
    if endpoint.provider is Provider.KLING:
        # Kling lets us name the task ourselves, so even a lost answer can be found again later.
        body = {**body, "external_task_id": body.get("external_task_id") or f"cue-{uuid.uuid4().hex}"}
    elif endpoint is Endpoint.VIDU_TEXT2VIDEO and not body.get("payload"):
        # Vidu passes `payload` back in its task list: a tag naming our task finds it if the answer is lost.
        body = {**body, "payload": payload_tag(studio_id)}
    task = Task(endpoint, params=body, id=studio_id, owner=owner, external_id=body.get("external_task_id"),
                own_key=own_key)
    task, new = store.add(task, key, DUPLICATE_WINDOW_SECONDS)
    if not new:
        return task, False
    with _sending_lock:
        _sending.add(task.id)
    try:
        task = _send(vendors, endpoint, body, task)
        store.save(task)
    finally:
        with _sending_lock:
            _sending.discard(task.id)
    return task, True


def _send(vendors: Vendors, endpoint: Endpoint, body: dict, task: Task) -> Task:
    """The create request, once; `task` as its answer (or the lack of one) leaves it."""
    try:
        created = (vendors.kling.create(body) if endpoint.provider is Provider.KLING
                   else vendors.vidu.create(endpoint, body))
    except VendorError as error:
        if error.http_status in UNCONFIRMED_STATUSES or (error.code == "non_json" and 200 <= error.http_status < 300):
            # A gateway gave up waiting, or the vendor took the request (2xx) but its answer arrived cut off or
            # garbled: the task may exist and be charged, so it is kept as unknown, never reported as failed.
            return task.replace(error_message=OUTCOME_UNKNOWN)
        return failed(task, error.code, str(error), error.trace_id)
    except NetworkError as error:
        return (task.replace(error_message=OUTCOME_UNKNOWN) if error.may_have_reached_server
                else failed(task, "NetworkError", str(error)))
    return task.merged(created)


def failed(task: Task, code: str, message: str, trace_id: str | None = None) -> Task:
    return task.merged(task.replace(state=State.FAILED, raw_state=task.raw_state, error_code=code,
                                    error_message=message, trace_id=trace_id))


def fetch(vendors: Vendors, task: Task) -> Task:
    """The vendor's current view of `task` (raises VendorError / NetworkError)."""
    if task.provider is Provider.KLING:
        return vendors.kling.query(task_id=task.task_id, external_id=None if task.task_id else task.external_id)
    return vendors.vidu.query(task.task_id, task.endpoint)


def cancel(store: Store, vendors: Vendors, task: Task) -> Task:
    """Ask Vidu to cancel; the poller picks up the resulting state. Kling has no cancel."""
    vendors.vidu.cancel(task.task_id)
    fresh = task.merged(fetch(vendors, task))
    store.save(fresh)
    return fresh
