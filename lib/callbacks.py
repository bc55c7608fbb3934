"""Vendor callbacks: verify, read, find the task, record it the way the poller does.

The studio's own server takes `POST /callbacks/vidu` and `POST /callbacks/kling` (routes in `lib/ui/server.py`,
which only hand the request's parts to `receive_vidu` / `receive_kling` here). Polling stays on as the fallback,
so a callback that never arrives, or is refused, costs nothing but speed.

- Vidu: an HMAC signature made with the API key that created the task over the method, the callback address's
  path and query as called, `Date` and `x-request-nonce` (`lib.signatures`); `Date` must be within 5 minutes
  and the nonce unused (nonces are kept in the store for 10 minutes, so a replay after a restart is refused too).
- Kling with a webhook secret: the Standard Webhooks signature over id, timestamp and body, timestamp within
  5 minutes. Without a secret Kling sends no signature, so the body is only a hint: it must name a task the store
  knows, and that task is then polled at once; only Kling's own answer to that poll is recorded.

Rejections are logged with their reason only: never the body, never the signature headers.
"""
from __future__ import annotations

import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from lib import kling, vidu
from lib.errors import StudioError
from lib.signatures import vidu_signature_valid, webhook_signature_valid
from lib.store import Store
from lib.tasks import Provider, Task

log = logging.getLogger(__name__)

PATHS = {Provider.VIDU: "/callbacks/vidu", Provider.KLING: "/callbacks/kling"}
MAX_SKEW_SECONDS = 300  # Vidu's Date and Kling's webhook-timestamp may be this far from our clock, either way
NONCE_KEEP_SECONDS = 600  # twice the skew: a nonce forgotten after this could only come with a refused Date
MAX_BODY_BYTES = 1024 * 1024  # a task object is a few kB; anything near this is not a vendor's callback


def own_address(public_url: str | None, provider: Provider) -> str | None:
    """The address a vendor should call back for `provider`'s tasks, when the studio has a public address."""
    return f"{public_url.rstrip('/')}{PATHS[provider]}" if public_url else None


@dataclass(frozen=True)
class Answer:
    """What a callback route answers: 200, 400 (unreadable), 401 (not verified), 404 (unknown task), 413."""

    status: int
    reason: str
    task: Task | None = None  # the task as recorded, when one was found

    @property
    def body(self) -> dict:
        return {"ok": True} if self.status == 200 else {"ok": False, "error": self.reason}


@dataclass(frozen=True)
class Receiver:
    """What receiving a callback needs from the running studio."""

    store: Store
    apply: Callable[[Task, Task], Task]  # Poller.apply: archive a success, then save (the poller's own path)
    confirm: Callable[[Task], Task]  # Poller.poll: ask the vendor now (for unsigned Kling callbacks)
    vidu_keys: tuple[str, ...]  # the keys Vidu may have signed with: the one the studio creates tasks with
    kling_webhook_secret: str | None = None
    clock: Callable[[], float] = time.time


def receiver_for(settings, store: Store, poller, vidu_key: str) -> Receiver:
    """The receiver for a running studio: its store, its poller, and `vidu_key`, the key its Vidu tasks are
    created with (the configured key, or the simulator's demo key in demo mode: `lib.app.Studio.vidu_key`)."""
    return Receiver(store=store, apply=poller.apply, confirm=poller.poll, vidu_keys=(vidu_key,),
                    kling_webhook_secret=settings.kling_webhook_secret)


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
    data = _json_object(body)
    if data is None:
        return _refuse(Provider.KLING, 400, "the body is not a JSON object")
    info = data.get("task_info") if isinstance(data.get("task_info"), dict) else {}
    vendor_id, external_id = data.get("task_id"), info.get("external_task_id")
    if not (vendor_id or external_id):
        return _refuse(Provider.KLING, 400, "the body names no task")
    task = receiver.store.find_by_vendor_id(Provider.KLING, vendor_id and str(vendor_id),
                                            external_id and str(external_id))
    if task is None:
        return _refuse(Provider.KLING, 404, "no such task")
    if not secret:
        # Anyone could have sent this: let Kling itself say what became of the task.
        return Answer(200, "confirmed by polling", task if task.state.terminal else receiver.confirm(task))
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
