"""What the pages ask of the studio: submit a request, refresh a task, cancel one.

The record is written before the create request is sent, so a task the vendor may have accepted (and charged
for) is never lost: if the answer never arrives the task stays "submitted" with what is needed to find it.
"""
from __future__ import annotations

import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, replace

from lib.core.errors import InvalidRequest, NetworkError, VendorError
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.core.validation import validate
from lib.service.callbacks import callback_address_problems
from lib.store.sqlite import Store
from lib.vendors.vendor import VendorClient

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
    """The clients the studio talks through, and whether each one is the real vendor or the simulator.

    One field pair per `Provider` (named by its value), so `client` and `live` never branch on the vendor."""

    vidu: VendorClient
    kling: VendorClient
    vidu_live: bool
    kling_live: bool

    def client(self, provider: Provider) -> VendorClient:
        return getattr(self, provider.value)

    def live(self, provider: Provider) -> bool:
        return getattr(self, f"{provider.value}_live")

    def with_client(self, provider: Provider, client: VendorClient) -> Vendors:
        """These vendors with `client` (a person's own, live) in place of the studio's for `provider`."""
        return replace(self, **{provider.value: client, f"{provider.value}_live": True})


def request_key(endpoint: Endpoint, body: dict) -> str:
    same = {k: v for k, v in body.items() if k != "external_task_id"}
    return hashlib.sha256(json.dumps([endpoint.value, same], sort_keys=True).encode()).hexdigest()


def submit(store: Store, vendors: Vendors, endpoint: Endpoint, body: dict, owner: str,
           own_key: bool = False, hosted: bool = False) -> tuple[Task, bool]:
    """Validate, record, then send. Returns the task and whether it is new (False: a duplicate click).

    `own_key` marks a task sent with a key the person pasted, so it is polled only with that key. `hosted`: a
    shared instance, where a callback address must be public (`lib.service.callbacks.callback_address_problems`).
    """
    problems = validate(endpoint, body) + (callback_address_problems(body.get("callback_url")) if hosted else [])
    if problems:
        raise InvalidRequest(problems)
    key, studio_id = request_key(endpoint, body), uuid.uuid4().hex
    body = vendors.client(endpoint.provider).traceable(endpoint, body, studio_id)  # found even if the answer is lost
    task = Task(endpoint, params=body, id=studio_id, owner=owner, external_id=body.get("external_task_id"),
                own_key=own_key)
    task, new = store.add(task, key, DUPLICATE_WINDOW_SECONDS)
    if not new:
        return task, False
    with _sending_lock:
        _sending.add(task.id)
    try:
        task = _send(vendors, task)
        store.save(task)
    finally:
        with _sending_lock:
            _sending.discard(task.id)
    return task, True


def _send(vendors: Vendors, task: Task) -> Task:
    """The create request, once; `task` as its answer (or the lack of one) leaves it."""
    try:
        created = vendors.client(task.provider).create_task(task)
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
    return vendors.client(task.provider).query_task(task)


def cancel(store: Store, vendors: Vendors, task: Task) -> Task:
    """Ask the vendor to cancel (NotSupported where it has no cancel); the poller picks up the resulting state."""
    vendors.client(task.provider).cancel_task(task)
    fresh = task.merged(fetch(vendors, task))
    store.save(fresh)
    return fresh
