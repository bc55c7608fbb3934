"""Kling's /v1/audio/text-to-audio API as documented: API-key and AK/SK JWT auth, the {code, message, request_id,
data} envelope, create/query/list answers and (optionally signed) callbacks."""
from __future__ import annotations

import json
import re
import time
import uuid
import zlib
from decimal import Decimal
from typing import TYPE_CHECKING

import jwt

from lib.core.endpoints import spec
from lib.core.tasks import Endpoint
from lib.core.validation import as_number, validate_kling_text2audio
from lib.sim import assets, faults
from lib.sim.callbacks import Delivery
from lib.sim.engine import Lifecycle, NotEnoughCredit, Phase, Task, new_id
from lib.sim.messages import Reply, Request
from lib.vendors.pricing import KLING_UNITS_PER_TASK
from lib.vendors.signatures import webhook_signature

if TYPE_CHECKING:
    from lib.sim.server import Simulator

NAME = "kling"
PREFIX = ("/v1/", "/account/")  # the task routes, and the account's resource packs
LIFECYCLE = Lifecycle(
    words={Phase.ACCEPTED: "submitted", Phase.QUEUED: "submitted", Phase.RUNNING: "processing",
           Phase.SUCCEEDED: "succeed", Phase.FAILED: "failed"},
    accept_seconds=1.5,
    internal_error="Server internal error")
JWT_LEEWAY = 1  # seconds; Kling's own nbf = now - 5 suggests it allows little clock skew

# The official error table: code -> (HTTP status, message).
CODES = {
    1000: (401, "Authentication failed"),
    1001: (401, "Authorization is empty"),
    1002: (401, "Authorization is invalid"),
    1003: (401, "Authorization is not yet valid"),
    1004: (401, "Authorization has expired"),
    1100: (429, "Account exception"),
    1101: (429, "Account in arrears (postpaid scenario)"),
    1102: (429, "Account balance not enough"),
    1103: (403, "Unauthorized access to requested resource, such as API/model"),
    1200: (400, "Invalid request parameters"),
    1201: (400, "Invalid parameters, such as incorrect key or illegal value"),
    1202: (404, "The requested method is invalid"),
    1203: (404, "The requested resource does not exist"),
    1300: (400, "Trigger strategy of the platform"),
    1301: (400, "Trigger the content security policy of the platform"),
    1302: (429, "The API request is too fast, exceeding the platform's rate limit"),
    1303: (429, "parallel task over resource pack limit"),
    1304: (429, "Trigger the platform's IP whitelisting policy"),
    5000: (500, "Server internal error"),
    5001: (503, "Server temporarily unavailable, usually due to maintenance"),
    5002: (504, "Server internal timeout, usually due to a backlog"),
}
_CODE_FOR_STATUS = {400: 1200, 401: 1000, 403: 1103, 404: 1203, 429: 1302, 500: 5000, 503: 5001, 504: 5002}


# --- errors and auth --------------------------------------------------------------------------------------------

def error(code: int, message: str | None = None, status: int | None = None) -> Reply:
    default_status, default_message = CODES.get(code, (500, "Server internal error"))
    body = {"code": code, "message": message or default_message, "request_id": str(uuid.uuid4())}
    return Reply.json(status or default_status, body)


def status_error(status: int, code: int | str | None = None, message: str | None = None) -> Reply:
    if code is None:
        code = _CODE_FOR_STATUS.get(status, 5000 if status >= 500 else 1200)
    return error(int(code), message, status=status)


def authenticate(sim: Simulator, request: Request) -> str | Reply:
    """The caller's access key (or API key) on success; Kling's documented 1001-1004 codes otherwise."""
    header = request.headers.get("Authorization")
    if not header:
        return error(1001)
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme != "Bearer" or not token:
        return error(1002)
    if "." not in token:  # a console API key, sent as it is
        return token if token in sim.options.kling_api_keys else error(1002)
    try:
        access_key = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.InvalidTokenError:
        return error(1002)
    secret = sim.options.kling_keys.get(access_key) if isinstance(access_key, str) else None
    if secret is None:
        return error(1002, f"access key not found: {access_key}")
    try:
        jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "nbf"]}, leeway=JWT_LEEWAY)
    except jwt.ImmatureSignatureError:
        return error(1003)
    except jwt.ExpiredSignatureError:
        return error(1004)
    except jwt.InvalidTokenError:
        return error(1002)
    return access_key


def _ok(data) -> Reply:
    return Reply.json(200, {"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()), "data": data})


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


# --- create, query, list ----------------------------------------------------------------------------------------

def _find(sim: Simulator, task_id: str | None = None, external_id: str | None = None) -> Task | None:
    return next((task for task in sim.engine.tasks(NAME)
                 if task.id == task_id or (external_id is not None and task.external_id == external_id)), None)


def create(sim: Simulator, request: Request, key: str) -> Reply:
    body = request.json_object()
    if body is None:
        return error(1200)
    prompt = body.get("prompt")
    found = faults.markers([prompt] if isinstance(prompt, str) else [])
    time.sleep(found.slow)
    if found.http:
        return status_error(found.http)
    problems = validate_kling_text2audio(body)
    if problems:
        return error(1201, "; ".join(problem.message for problem in problems))
    if not sim.dispatcher.address_allowed(body.get("callback_url")):
        return error(1201, "callback_url must be a public http(s) address")
    duration = as_number(body["duration"])
    task_id = new_id()
    # Kling takes no seed, yet two tasks with one prompt are two takes: each task's id picks its variation.
    recipe = assets.sound(prompt, duration, zlib.crc32(task_id.encode()), ("mp3", "wav"))
    external_id = body.get("external_task_id") or None  # the documented example sends "" for "none"
    task = Task(NAME, LIFECYCLE, {"duration": duration}, None if found.fail else sim.assets.add(recipe),
                run_seconds=6 + 4 * (duration - 3) / 7,  # 6 s for 3 s of audio up to 10 s for 10 s
                charge=Decimal(KLING_UNITS_PER_TASK), owner=key, callback_url=body.get("callback_url") or None,
                external_id=external_id, fail_with=found.fail, id=task_id)
    with sim.engine.lock:  # check and insert in one step, so two requests cannot both claim an external id
        if external_id and _find(sim, external_id=external_id):
            return error(1201, f"external_task_id already exists: {external_id}")
        try:
            sim.engine.submit(task)
        except NotEnoughCredit:
            return error(1102)
    return _ok({"task_id": task.id, "task_info": _info(task), "task_status": LIFECYCLE.words[Phase.ACCEPTED],
                "created_at": _ms(task.created), "updated_at": _ms(task.created)})


def _info(task: Task) -> dict:
    return {"external_task_id": task.external_id} if task.external_id else {}


def task_data(sim: Simulator, task: Task, base_url: str) -> dict:
    """The task object of query answers, list answers and callbacks."""
    with sim.engine.lock:
        audios = []
        if task.phase is Phase.SUCCEEDED:
            names, seconds = task.bundle.names, f"{task.request['duration']:.1f}"
            url = {fmt: base_url + sim.assets.url_path(names[fmt], task.finished, sim.options.url_ttl)
                   for fmt in ("mp3", "wav")}
            audios.append({"id": task.result_id, "url_mp3": url["mp3"], "url_wav": url["wav"],
                           "duration_mp3": seconds, "duration_wav": seconds})
        return {"task_id": task.id, "task_status": task.state, "task_status_msg": task.error,
                "task_info": _info(task), "task_result": {"audios": audios},
                "final_unit_deduction": str(task.charge),
                "created_at": _ms(task.created), "updated_at": _ms(task.updated)}


def _answer(sim: Simulator, request: Request, task: Task | None) -> Reply:
    return _ok(task_data(sim, task, request.base_url)) if task else error(1203)


def query(sim: Simulator, request: Request, key: str, ref: str) -> Reply:
    """The path segment may be a task_id or an external_task_id; task ids win."""
    return _answer(sim, request, _find(sim, task_id=ref) or _find(sim, external_id=ref))


def list_tasks(sim: Simulator, request: Request, key: str) -> Reply:
    """Newest first, as a bare array; `?task_id=` / `?external_task_id=` query a single task instead."""
    if "task_id" in request.query or "external_task_id" in request.query:
        found = _find(sim, request.query.get("task_id"), request.query.get("external_task_id"))
        return _answer(sim, request, found)
    page, size = (request.query.get(name, default) for name, default in (("pageNum", "1"), ("pageSize", "30")))
    if not (page.isdigit() and 1 <= int(page) <= 1000 and size.isdigit() and 1 <= int(size) <= 500):
        return error(1201, "pageNum must be between 1 and 1000 and pageSize between 1 and 500")
    first = (int(page) - 1) * int(size)
    tasks = sim.engine.tasks(NAME)[first:first + int(size)]
    return _ok([task_data(sim, task, request.base_url) for task in tasks])


def account_costs(sim: Simulator, request: Request, key: str) -> Reply:
    """`GET /account/costs`: one audio resource pack holding the simulated balance (Kling's own answer lags by
    about 12 hours; the simulator's is current)."""
    times = [request.query.get(name, "") for name in ("start_time", "end_time")]
    if not all(value.isdigit() for value in times):
        return error(1201, "start_time and end_time must be times in milliseconds")
    total, left = sim.engine.initial_balance(NAME), sim.engine.balance(NAME)
    return _ok({"code": 0, "msg": "", "resource_pack_subscribe_infos": [{
        "resource_pack_name": "Audio pack (simulated)", "resource_pack_id": "sim-audio", "resource_pack_type": "audio",
        "total_quantity": float(total), "remaining_quantity": float(left), "purchase_time": 0, "effective_time": 0,
        "invalid_time": _ms(time.time() + 365 * 86400), "status": "online" if left > 0 else "runOut"}]})


_PATH = spec(Endpoint.KLING_TEXT2AUDIO).path
ROUTES = [
    ("GET", re.compile(r"/account/costs"), account_costs),
    ("POST", re.compile(re.escape(_PATH)), create),
    ("GET", re.compile(re.escape(_PATH)), list_tasks),
    ("GET", re.compile(re.escape(_PATH) + r"/(?P<ref>[^/]+)"), query),
]


# --- callbacks --------------------------------------------------------------------------------------------------

def on_change(sim: Simulator, task: Task) -> None:
    """The bare task object on every status change, signed (Standard Webhooks) when a secret is configured."""
    if not task.callback_url or task.phase is Phase.QUEUED:  # queued is still "submitted": no change to report
        return
    body = json.dumps(task_data(sim, task, sim.url)).encode()
    secret, webhook_id = sim.options.kling_webhook_secret, str(uuid.uuid4())  # one id per event, kept on retries

    def headers() -> dict[str, str]:
        signed = {}
        if secret:
            timestamp = str(int(time.time()))
            signed = {"webhook-id": webhook_id, "webhook-timestamp": timestamp,
                      "webhook-signature": webhook_signature(secret, webhook_id, timestamp, body)}
        return {"Content-Type": "application/json; charset=utf-8", **signed}

    sim.dispatcher.send(Delivery(task.id, task.callback_url, body, headers, retry=task.phase.terminal))
