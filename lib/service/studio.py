"""What the pages ask of the studio: submit a request's takes, refresh a task, cancel one.

Every record is written before its create request is sent, so a task the vendor may have accepted (and charged
for) is never lost: if the answer never arrives the task stays "submitted" with what is needed to find it.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from lib.core.errors import InvalidRequest, NetworkError, VendorError
from lib.core.takes import has_seed
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.core.validation import validate
from lib.service import budget
from lib.service.callbacks import callback_address_problems
from lib.store.base import BaseStore as Store  # either backend (lib.store.open_store)
from lib.vendors.vendor import VendorClient

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


@dataclass(frozen=True)
class Group:
    """The takes one submission made, in the order asked; `new` is False for a repeat of a submission token."""

    id: str
    tasks: tuple[Task, ...]
    new: bool


def submit_takes(store: Store, vendors: Vendors, requests: Sequence[tuple[Endpoint, dict]], owner: str,
                 token: str | None = None, own_keys: frozenset[Provider] = frozenset(),
                 hosted: bool = False, budgets: budget.Budgets | None = None) -> Group:
    """Validate every request, check the budget, record them all as one group, then send them concurrently.

    `token` is the form's submission token: a rerun carrying one already used (a double click) gets that group
    back and sends nothing. `own_keys`: the vendors whose tasks go with a key the person pasted, so they are
    polled only with that key. `budgets`: the monthly budgets per person, checked with the vendor's balance
    (`lib.service.budget`; None: no guard, for callers that are not a person's form). `hosted`: a shared
    instance, where a callback address must be public (`lib.service.callbacks.callback_address_problems`). Raises InvalidRequest or budget.OverBudget, with
    nothing recorded nor sent.
    """
    problems = [problem for endpoint, body in requests for problem in validate(endpoint, body) + (
        callback_address_problems(body.get("callback_url")) if hosted else [])]
    if problems:
        raise InvalidRequest(list(dict.fromkeys(problems)))  # the takes of one form share their problems
    if token and (earlier := store.group_of(owner, token)):
        return Group(earlier[0].group_id or earlier[0].id, tuple(earlier), False)
    if budgets is not None:
        budget.check(store, vendors, requests, owner, budgets)
    group_id = uuid.uuid4().hex
    tasks, new = store.add_group([recorded(vendors, endpoint, body, owner, endpoint.provider in own_keys, group_id)
                                  for endpoint, body in requests], token)
    if not new:
        return Group(tasks[0].group_id or tasks[0].id, tuple(tasks), False)
    return Group(group_id, send_all(store, vendors, tasks), True)


def submit(store: Store, vendors: Vendors, endpoint: Endpoint, body: dict, owner: str,
           own_key: bool = False, hosted: bool = False, token: str | None = None) -> tuple[Task, bool]:
    """One take (`submit_takes` with one request): the task, and whether it is new."""
    group = submit_takes(store, vendors, [(endpoint, body)], owner, token,
                         frozenset({endpoint.provider}) if own_key else frozenset(), hosted)
    return group.tasks[0], group.new


def recorded(vendors: Vendors, endpoint: Endpoint, body: dict, owner: str, own_key: bool, group_id: str) -> Task:
    """The record of one take, as written before it is sent (`send_all` sends it once the store holds it)."""
    studio_id = uuid.uuid4().hex
    body = vendors.client(endpoint.provider).traceable(endpoint, body, studio_id)  # found even if the answer is lost
    seed = body.get("seed") if isinstance(body.get("seed"), int) and body.get("seed") else None
    return Task(endpoint, params=body, id=studio_id, owner=owner, external_id=body.get("external_task_id"),
                own_key=own_key, group_id=group_id, seed=seed)


def send_all(store: Store, vendors: Vendors, tasks: Sequence[Task]) -> tuple[Task, ...]:
    """Send the create requests of recorded `tasks` concurrently, each once, saving each answer as it comes."""
    with _sending_lock:
        _sending.update(task.id for task in tasks)
    with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="create") as pool:
        return tuple(pool.map(lambda task: _sent(store, vendors, task), tasks))


def _sent(store: Store, vendors: Vendors, task: Task) -> Task:
    try:
        task = _send(vendors, task)
        store.save(task)
    finally:
        with _sending_lock:
            _sending.discard(task.id)
    return task


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
    sent = task.merged(created)
    if sent.seed and has_seed(task.endpoint) and not task.params.get("seed"):
        # 0 asked the vendor to choose; the seed it echoed goes into the request, so reusing it makes this take
        sent = sent.replace(params={**task.params, "seed": sent.seed})
    return sent


def failed(task: Task, code: str, message: str, trace_id: str | None = None) -> Task:
    return task.merged(task.replace(state=State.FAILED, raw_state=task.raw_state, error_code=code,
                                    error_message=message, trace_id=trace_id))


def fetch(vendors: Vendors, task: Task) -> Task:
    """The vendor's current view of `task` (raises VendorError / NetworkError)."""
    return vendors.client(task.provider).query_task(task)


def cancel(vendors: Vendors, task: Task, apply: Callable[[Task, Task], Task]) -> Task:
    """Ask the vendor to cancel (NotSupported where it has no cancel) and record its answer through `apply`.

    `vendors`: for a task sent with a person's own key, theirs (`Keyring.vendors_for_task`), never the studio's.
    `apply` is the poller's own update (`Poller.apply`: its lock, and a task the store holds as finished is never
    turned back), so a cancel's answer and a late poll's cannot undo each other's end."""
    vendors.client(task.provider).cancel_task(task)
    return apply(task, task.merged(fetch(vendors, task)))
