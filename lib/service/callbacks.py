"""Vendor callbacks: verify, read, find the task, record it the way the poller does.

The studio's own server takes `POST /callbacks/vidu` and `POST /callbacks/kling` (routes in `lib/ui/server.py`,
which only hand the request's parts to `receive_vidu` / `receive_kling` here). Polling stays on as the fallback,
so a callback that never arrives, or is refused, costs nothing but speed.

- Vidu: an HMAC signature made with the API key that created the task over the method, the callback address's
  path and query as called, `Date` and `x-request-nonce` (`lib.vendors.signatures`); `Date` must be within 5 minutes
  and the nonce unused (nonces are kept in the store for 10 minutes, so a replay after a restart is refused too).
- Kling with a webhook secret: the Standard Webhooks signature over id, timestamp and body, timestamp within
  5 minutes, and each `webhook-id` once (a replay is answered 200 "already received", so a sender retrying a
  delivery stops, and changes nothing). Without a secret Kling sends no signature, so the body is only a hint:
  a task the store knows is polled at once (in the background), at most once per task every 10 s and a few
  times a second in all, and only Kling's own answer to that poll is recorded. The answer is the same
  whether the task exists or not, so the route cannot be used to find out which task ids exist.
- A vendor that is simulated on a hosted studio (demo mode, no keys) takes no callbacks at all: its demo keys
  are public, so anyone could sign one. Those are answered 403.

Rejections are logged with their reason only: never the body, never the signature headers.
"""
from __future__ import annotations

import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from lib.core.errors import Problem, StudioError
from lib.core.tasks import Provider, Task
from lib.store.base import BaseStore as Store  # either backend (lib.store.open_store)
from lib.vendors import fetch, kling, vidu
from lib.vendors.signatures import vidu_signature_valid, webhook_signature_valid

log = logging.getLogger(__name__)

PATHS = {Provider.VIDU: "/callbacks/vidu", Provider.KLING: "/callbacks/kling"}
MAX_SKEW_SECONDS = 300  # Vidu's Date and Kling's webhook-timestamp may be this far from our clock, either way
NONCE_KEEP_SECONDS = 600  # twice the skew: a nonce forgotten after this could only come with a refused Date
MAX_BODY_BYTES = 1024 * 1024  # a task object is a few kB; anything near this is not a vendor's callback
CONFIRM_EVERY_SECONDS = 10.0  # an unsigned Kling callback makes the studio ask Kling about a task at most this often
CONFIRMS_PER_SECOND = 5  # ... and about all tasks together at most this many times a second
ALREADY_RECEIVED = "already received"  # a signed Kling webhook-id seen before: answered 200, changes nothing
DEMO_REFUSED = "this vendor is simulated on a hosted studio, and its public demo keys could sign anything"


def own_address(public_url: str | None, provider: Provider) -> str | None:
    """The address a vendor should call back for `provider`'s tasks, when the studio has a public address."""
    return f"{public_url.rstrip('/')}{PATHS[provider]}" if public_url else None


@dataclass(frozen=True)
class Answer:
    """What a callback route answers: 200, 400 (unreadable), 401 (not verified), 403 (not taken here),
    404 (unknown task, only after a signature was verified), 413."""

    status: int
    reason: str
    task: Task | None = None  # the task as recorded, when one was found

    @property
    def body(self) -> dict:
        if self.status != 200:
            return {"ok": False, "error": self.reason}
        return {"ok": True, "already_received": True} if self.reason == ALREADY_RECEIVED else {"ok": True}


class ConfirmLimit:
    """How often unsigned Kling callbacks may make the studio ask Kling: once per task every `every` seconds,
    and `per_second` times a second in all. In memory and thread-safe; only tasks the store knows get this far,
    so a flood of made-up ids costs neither a vendor query nor memory."""

    def __init__(self, every: float = CONFIRM_EVERY_SECONDS, per_second: int = CONFIRMS_PER_SECOND):
        self.every, self.per_second = every, per_second
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # task id -> when Kling was last asked (at most per_second * every)
        self._recent: list[float] = []  # when Kling was asked within the last second

    def allow(self, task_id: str, now: float) -> bool:
        with self._lock:
            if now - self._last.get(task_id, float("-inf")) < self.every:
                return False
            self._recent = [when for when in self._recent if now - when < 1.0]
            if len(self._recent) >= self.per_second:
                return False
            self._recent.append(now)
            self._last = {key: when for key, when in self._last.items() if now - when < self.every}
            self._last[task_id] = now
            return True


def in_background(job: Callable[[], object]) -> None:
    """Run `job` on its own thread, so the answer does not wait for the vendor (nor take longer for a task that
    exists than for one that does not)."""
    def run():
        try:
            job()
        except Exception:  # a thread's failure would otherwise only reach stderr
            log.exception("asking Kling about a task after a callback failed")
    threading.Thread(target=run, name="cue-callback-confirm", daemon=True).start()


@dataclass(frozen=True)
class Receiver:
    """What receiving a callback needs from the running studio."""

    store: Store
    apply: Callable[[Task, Task], Task]  # Poller.apply: archive a success, then save (the poller's own path)
    confirm: Callable[[Task], Task]  # Poller.poll: ask the vendor now (for unsigned Kling callbacks)
    vidu_keys: tuple[str, ...]  # the keys Vidu may have signed with: the one the studio creates tasks with
    kling_webhook_secret: str | None = None
    clock: Callable[[], float] = time.time
    refused: frozenset[Provider] = frozenset()  # vendors whose callbacks are not taken (simulated when hosted)
    confirm_limit: ConfirmLimit = field(default_factory=ConfirmLimit)
    background: Callable[[Callable[[], object]], None] = in_background  # how the confirming poll is run


def refused_vendors(settings) -> frozenset[Provider]:
    """On a hosted studio, the vendors that are simulated: their demo keys are public, so nothing they sign
    proves anything."""
    if not settings.hosted:
        return frozenset()
    return frozenset(provider for provider, live in ((Provider.VIDU, settings.vidu_live),
                                                     (Provider.KLING, settings.kling_live)) if not live)


_confirm_limit = ConfirmLimit()  # one per server process, shared by the receivers made per request


def receiver_for(settings, store: Store, poller, vidu_key: str) -> Receiver:
    """The receiver for a running studio: its store, its poller, and `vidu_key`, the key its Vidu tasks are
    created with (the configured key, or the simulator's demo key in demo mode: `lib.service.app.Studio.vidu_key`)."""
    return Receiver(store=store, apply=poller.apply, confirm=poller.poll, vidu_keys=(vidu_key,),
                    kling_webhook_secret=settings.kling_webhook_secret, refused=refused_vendors(settings),
                    confirm_limit=_confirm_limit)


def _refuse(provider: Provider, status: int, reason: str) -> Answer:
    log.warning("%s callback refused (%d): %s", provider.value.capitalize(), status, reason)
    return Answer(status, reason)


def too_large(provider: Provider) -> Answer:
    return _refuse(provider, 413, "the body is too large")


def _json_object(body: bytes) -> dict | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def receive_vidu(receiver: Receiver, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Answer:
    """A Vidu callback: `path` and `query` exactly as the request arrived (they are part of what Vidu signed)."""
    if Provider.VIDU in receiver.refused:
        return _refuse(Provider.VIDU, 403, DEMO_REFUSED)
    now = receiver.clock()
    lower = {name.lower(): value for name, value in headers.items()}
    if not all(lower.get(name) for name in ("date", "x-request-nonce", "x-hmac-signature",
                                             "x-hmac-signed-headers")):
        return _refuse(Provider.VIDU, 401, "signature headers missing")
    signed = [name.strip().lower() for name in lower["x-hmac-signed-headers"].split(";")]
    if "x-request-nonce" not in signed:  # an unsigned nonce could be swapped for a fresh one on every replay
        return _refuse(Provider.VIDU, 401, "the nonce is not signed")
    if lower.get("x-hmac-algorithm", "hmac-sha256").lower() != "hmac-sha256":
        return _refuse(Provider.VIDU, 401, "unknown signature algorithm")
    url = f"http://callback{path or '/'}" + (f"?{query}" if query else "")
    if not any(vidu_signature_valid(key, "POST", url, lower) for key in receiver.vidu_keys if key):
        return _refuse(Provider.VIDU, 401, "signature does not match")
    try:
        sent = parsedate_to_datetime(lower["date"]).timestamp()
    except (TypeError, ValueError, IndexError):
        return _refuse(Provider.VIDU, 401, "unreadable Date")
    if abs(now - sent) > MAX_SKEW_SECONDS:
        return _refuse(Provider.VIDU, 401, "Date is more than 5 minutes off")
    if not receiver.store.use_nonce(f"vidu:{lower['x-request-nonce']}", now, NONCE_KEEP_SECONDS):
        return _refuse(Provider.VIDU, 401, "nonce already used")
    data = _json_object(body)
    if data is None:
        return _refuse(Provider.VIDU, 400, "the body is not a JSON object")
    vendor_id = data.get("id") or data.get("task_id")
    if not vendor_id:
        return _refuse(Provider.VIDU, 400, "the body names no task")
    task = receiver.store.find_by_vendor_id(Provider.VIDU, str(vendor_id))
    if task is None:
        return _refuse(Provider.VIDU, 404, "no such task")
    try:
        update = vidu.parse_query(data, task.endpoint)
    except StudioError:
        return _refuse(Provider.VIDU, 400, "the body is not a task Vidu would send")
    return _record(receiver, task, update)


def receive_kling(receiver: Receiver, headers: Mapping[str, str], body: bytes) -> Answer:
    """A Kling callback (the bare task object); signed when a webhook secret is configured."""
    if Provider.KLING in receiver.refused:
        return _refuse(Provider.KLING, 403, DEMO_REFUSED)
    secret = receiver.kling_webhook_secret
    if secret:
        lower = {name.lower(): value for name, value in headers.items()}
        webhook_id, stamp = lower.get("webhook-id", ""), lower.get("webhook-timestamp", "")
        signature = lower.get("webhook-signature", "")
        if not (webhook_id and stamp and signature):
            return _refuse(Provider.KLING, 401, "signature headers missing")
        try:
            valid = webhook_signature_valid(secret, webhook_id, stamp, body, signature)
        except (binascii.Error, ValueError):
            return _refuse(Provider.KLING, 401, "KLING_WEBHOOK_SECRET is not a whsec_ secret")
        if not valid:
            return _refuse(Provider.KLING, 401, "signature does not match")
        if not stamp.isdigit() or abs(receiver.clock() - int(stamp)) > MAX_SKEW_SECONDS:
            return _refuse(Provider.KLING, 401, "webhook-timestamp is more than 5 minutes off")
        if not receiver.store.use_nonce(f"kling:{webhook_id}", receiver.clock(), NONCE_KEEP_SECONDS):
            log.warning("Kling callback ignored: %s", ALREADY_RECEIVED)
            return Answer(200, ALREADY_RECEIVED)
    data = _json_object(body)
    if data is None:
        return _refuse(Provider.KLING, 400, "the body is not a JSON object")
    info = data.get("task_info") if isinstance(data.get("task_info"), dict) else {}
    vendor_id, external_id = data.get("task_id"), info.get("external_task_id")
    if not (vendor_id or external_id):
        return _refuse(Provider.KLING, 400, "the body names no task")
    task = receiver.store.find_by_vendor_id(Provider.KLING, vendor_id and str(vendor_id),
                                            external_id and str(external_id))
    if not secret:
        # Anyone could have sent this: let Kling itself say what became of the task, now and then, off this
        # request. The answer is the same, and as quick, for every id, so it tells nothing about which exist.
        if task is not None and not task.state.terminal and receiver.confirm_limit.allow(task.id, receiver.clock()):
            receiver.background(lambda: receiver.confirm(task))
        return Answer(200, "received")
    if task is None:
        return _refuse(Provider.KLING, 404, "no such task")
    try:
        update = kling.parse_task(data)
    except StudioError:
        return _refuse(Provider.KLING, 400, "the body is not a task Kling would send")
    return _record(receiver, task, update)


def _record(receiver: Receiver, task: Task, update: Task) -> Answer:
    """Merge the vendor's report into the stored task and record it the way the poller does."""
    if task.state.terminal:
        return Answer(200, "already finished", task)  # a late or repeated report changes nothing
    recorded = receiver.apply(task, task.merged(update))
    log.info("%s callback: task %s is %s", task.provider.value.capitalize(), task.id, recorded.state.value)
    return Answer(200, "recorded", recorded)


def callback_address_problems(url: str | None, resolver: Callable[[str], list[str]] | None = None) -> list[Problem]:
    """On a hosted studio, a callback address the vendor is asked to call must be a public web address: one
    inside the server's own network would have the vendor (or the demo simulator next to the studio) send
    requests to machines only the server can reach. Pure given `resolver` (the system's DNS by default). An
    address that is not a web address at all is left to `lib.core.validation`, which already says so."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        scheme, host = "", None
    if scheme not in ("http", "https") or not host:
        return []
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost") or fetch.host_is_private(host, resolver):
        return [Problem("callback_url", "The callback address points inside the server's own network. Use a "
                                        "public address the vendor can reach, or leave it empty.")]
    return []
