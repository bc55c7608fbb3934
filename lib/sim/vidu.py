"""Vidu's /ent/v2 API as documented: routes, Token/Bearer auth, the kratos-style error body, create/query/cancel/
credits answers and signed callbacks."""
from __future__ import annotations

import hashlib
import json
import random
import re
import time
import uuid
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING, Callable

from lib.core.endpoints import spec
from lib.core.errors import Problem
from lib.core.tasks import Endpoint
from lib.core.validation import (
    SEED_MAX,
    VIDU_AUDIO_DEFAULT_SECONDS,
    as_bool,
    as_number,
    validate_vidu_text2audio,
    validate_vidu_text2video,
    validate_vidu_timing2audio,
    video_rules,
)
from lib.sim import assets, faults, media
from lib.sim.callbacks import Delivery
from lib.sim.engine import Lifecycle, NotEnoughCredit, Phase, Task
from lib.sim.messages import Reply, Request
from lib.vendors import pricing
from lib.vendors.signatures import vidu_callback_headers
from lib.vendors.vidu import parse_time

if TYPE_CHECKING:
    from lib.sim.server import Simulator

NAME = "vidu"
PREFIX = "/ent/v2/"
LIFECYCLE = Lifecycle(
    words={Phase.ACCEPTED: "created", Phase.QUEUED: "queueing", Phase.RUNNING: "processing",
           Phase.SUCCEEDED: "success", Phase.FAILED: "failed"},
    accept_seconds=1.0,
    internal_error="InternalServiceFailure")
AUDIO_SECONDS = 8.0  # processing time of an audio task
COVER_TTL = 3600  # real cover URLs expire after an hour even though video URLs last 24 h

# Documented reason and message per HTTP status; other statuses use the standard phrase.
_STATUS_REASONS = {
    400: ("BadRequest", "bad request"), 401: ("Unauthorized", "unauthorized"), 403: ("Forbidden", "forbidden"),
    404: ("NotFound", "not found"), 409: ("Conflict", "resource conflict"),
    429: ("TooManyRequests", "too many requests"), 499: ("Canceled", "request canceled by client"),
    500: ("InternalServiceFailure", "internal service failure"),
}
_PROBLEM_REASONS = {
    "missing": ("FieldLacking", "field is missing or empty: {}"),
    "invalid": ("FieldInvalid", "invalid field: {}"),
    "unwanted": ("FieldUnwanted", "unwanted field: {}"),
    "count": ("FieldItemCountOutOfRange", "field item count out of range: {}"),
}


# --- errors and auth --------------------------------------------------------------------------------------------

def error(status: int, reason: str, message: str, **metadata: str) -> Reply:
    """Vidu's error body; `code` appears only here, because clients treat any body with `code` as an error."""
    body = {"code": status, "reason": reason, "message": message,
            "metadata": {"trace_id": uuid.uuid4().hex, **metadata}}
    return Reply.json(status, body)


def status_error(status: int, code: str | None = None, message: str | None = None) -> Reply:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    reason, default = _STATUS_REASONS.get(status, (phrase.replace(" ", ""), phrase.lower()))
    return error(status, code or reason, message or default)


def authenticate(sim: Simulator, request: Request) -> str | Reply:
    """The key on success (callbacks are signed with it); the official API sends Token, resellers Bearer."""
    scheme, _, key = (request.headers.get("Authorization") or "").partition(" ")
    if scheme in ("Token", "Bearer") and key.strip() in sim.options.vidu_keys:
        return key.strip()
    return status_error(401)


def _invalid(problems: list[Problem]) -> Reply:
    """One error per answer, as Vidu sends: the first problem's kind, naming every field with that kind."""
    kind = problems[0].kind if problems[0].kind in _PROBLEM_REASONS else "invalid"
    reason, template = _PROBLEM_REASONS[kind]
    names = ", ".join(dict.fromkeys(p.field for p in problems if p.kind == problems[0].kind))
    return error(400, reason, template.format(names), fields=names)


# --- create -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    echo: dict  # the request as the create answer echoes it (seed resolved, defaults filled in)
    credits: int
    run_seconds: float
    recipe: assets.Recipe


def _whole(number: float) -> int | float:
    return int(number) if number == int(number) else number


def _audio_duration(body: dict) -> float:
    return as_number(body.get("duration")) or VIDU_AUDIO_DEFAULT_SECONDS


def _plan_text2audio(body: dict, seed: int) -> _Plan:
    duration = _audio_duration(body)
    echo = {"model": body["model"], "prompt": body["prompt"], "duration": _whole(duration), "seed": seed}
    return _Plan(echo, pricing.vidu_audio_credits(duration), AUDIO_SECONDS,
                 assets.sound(body["prompt"], duration, seed))


def _plan_timing2audio(body: dict, seed: int) -> _Plan:
    duration = _audio_duration(body)
    events = [(as_number(e["from"]), as_number(e["to"]), e["prompt"]) for e in body["timing_prompts"]]
    echo = {"model": body["model"], "duration": _whole(duration),
            "timing_prompts": [{"from": start, "to": end, "prompt": prompt} for start, end, prompt in events],
            "seed": seed}
    return _Plan(echo, pricing.vidu_audio_credits(duration), AUDIO_SECONDS,
                 assets.timeline(events, duration, seed))


def _plan_text2video(body: dict, seed: int) -> _Plan:
    model = body["model"]
    rules = video_rules(model)
    duration = int(as_number(body.get("duration")) or rules["default_seconds"])
    resolution = body.get("resolution") or rules["default_resolution"]
    aspect_ratio = body.get("aspect_ratio") or "16:9"
    watermark = bool(as_bool(body.get("watermark")))
    off_peak = bool(as_bool(body.get("off_peak")))
    position = as_number(body.get("wm_position"))
    audio = as_bool(body.get("audio"))
    if audio is None:
        audio = model.startswith("viduq3")  # Vidu's q3 default is native audio on
    echo = {"type": "text2video", "model": model, "style": body.get("style") or "general",
            "prompt": body["prompt"], "images": [], "duration": duration, "seed": seed,
            "aspect_ratio": aspect_ratio, "resolution": resolution,
            "movement_amplitude": body.get("movement_amplitude") or "auto",
            "bgm": bool(as_bool(body.get("bgm"))), "audio": audio, "payload": body.get("payload") or "", "cus_priority": 0,
            "off_peak": off_peak, "watermark": watermark, "is_rec": False,
            "wm_position": str(int(position)) if position else "unspecified", "wm_url": body.get("wm_url") or "",
            "meta_data": body.get("meta_data") or "", "client_request_id": ""}
    width, height = media.video_size(resolution, aspect_ratio)
    run_seconds = 20 + 20 * (duration - 1) / 15  # 20 s for a 1 s clip up to 40 s for 16 s
    return _Plan(echo, pricing.vidu_video_credits(model, resolution, duration, off_peak), run_seconds,
                 assets.video(body["prompt"], duration, width, height, seed, watermark, ambience=audio,
                              music=echo["bgm"]))


def _prompts(body: dict) -> list[str]:
    """Where fault markers may hide: the prompt and every timeline event's prompt."""
    events = body.get("timing_prompts") if isinstance(body.get("timing_prompts"), list) else []
    prompts = [body.get("prompt"), *(event.get("prompt") for event in events if isinstance(event, dict))]
    return [prompt for prompt in prompts if isinstance(prompt, str)]


def _create(sim: Simulator, request: Request, key: str, validate: Callable[[dict], list[Problem]],
            plan: Callable[[dict, int], _Plan]) -> Reply:
    body = request.json_object()
    if body is None:
        return status_error(400)
    found = faults.markers(_prompts(body))
    time.sleep(found.slow)
    if found.http:
        return status_error(found.http)
    problems = validate(body)
    if problems:
        return _invalid(problems)
    if not sim.dispatcher.address_allowed(body.get("callback_url")):
        return _invalid([Problem("callback_url", "not a public address")])
    seed = int(as_number(body.get("seed")) or 0) or random.randint(1, SEED_MAX)  # 0 or absent: random
    job = plan(body, seed)
    task = Task(NAME, LIFECYCLE, job.echo, None if found.fail else sim.assets.add(job.recipe), job.run_seconds,
                job.credits, owner=key, callback_url=body.get("callback_url") or None, fail_with=found.fail)
    try:
        sim.engine.submit(task)
    except NotEnoughCredit:
        return error(400, "CreditInsufficient", "insufficient credits")
    echo = dict(job.echo)
    kind = {"type": echo.pop("type")} if "type" in echo else {}
    return Reply.json(200, {"task_id": task.id, **kind, "state": LIFECYCLE.words[Phase.ACCEPTED], **echo,
                            "credits": job.credits, "created_at": _rfc3339(task.created)})


def create_text2audio(sim: Simulator, request: Request, key: str) -> Reply:
    return _create(sim, request, key, validate_vidu_text2audio, _plan_text2audio)


def create_timing2audio(sim: Simulator, request: Request, key: str) -> Reply:
    return _create(sim, request, key, validate_vidu_timing2audio, _plan_timing2audio)


def create_text2video(sim: Simulator, request: Request, key: str) -> Reply:
    return _create(sim, request, key, validate_vidu_text2video, _plan_text2video)


# --- query, cancel, credits -------------------------------------------------------------------------------------

def _rfc3339(seconds: float) -> str:
    """RFC 3339 UTC with nanoseconds, as Vidu writes created_at."""
    whole = int(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((seconds - whole) * 1e9):09d}Z"


def _creations(sim: Simulator, task: Task, base_url: str) -> list[dict]:
    names, ttl = task.bundle.names, sim.options.url_ttl

    def url(role: str, lifetime: float = ttl) -> str:
        return base_url + sim.assets.url_path(names[role], task.finished, lifetime)

    if "mp3" in names:
        return [{"id": task.result_id, "url": url("mp3"), "cover_url": ""}]
    req = task.request
    width, height = media.video_size(req["resolution"], req["aspect_ratio"])
    creation = {"id": task.result_id, "url": url("video"), "cover_url": url("cover", min(ttl, COVER_TTL))}
    if "watermarked" in names:
        creation["watermarked_url"] = url("watermarked")
    creation["video"] = {"duration": float(req["duration"]), "fps": media.FPS,
                         "resolution": {"width": width, "height": height}}
    return [creation]


def task_json(sim: Simulator, task: Task, base_url: str) -> dict:
    """The GET creations body, which callbacks also carry."""
    with sim.engine.lock:
        req = task.request
        return {"id": task.id, "state": task.state, "err_code": task.error, "credits": task.charge,
                "payload": req.get("payload", ""), "bgm": req.get("bgm", False),
                "off_peak": req.get("off_peak", False), "progress": task.progress(sim.engine.speed),
                "creations": _creations(sim, task, base_url) if task.phase is Phase.SUCCEEDED else []}


def _not_found() -> Reply:
    return error(404, "TaskNotFound", "task not found")


def query(sim: Simulator, request: Request, key: str, task_id: str) -> Reply:
    task = sim.engine.get(NAME, task_id)
    return Reply.json(200, task_json(sim, task, request.base_url)) if task else _not_found()


def cancel(sim: Simulator, request: Request, key: str, task_id: str) -> Reply:
    """Allowed before processing starts; the task then fails with UserCancelled and is refunded."""
    task = sim.engine.get(NAME, task_id)
    if task is None:
        return _not_found()
    refused = sim.engine.cancel(task, "UserCancelled")
    if refused:
        return error(400, "BadRequest", f"task state is {refused}, can not cancel")
    return Reply.json(200, {})


LIST_PAGE_SIZES = (10, 100)  # default and maximum of `paper.pagesz`
LIST_DEFAULT_SECONDS = 7 * 86400  # without `created_at.from`, the last 7 days


def _list_entry(sim: Simulator, task: Task, base_url: str) -> dict:
    """A task as `GET /ent/v2/tasks` lists it: the documented fields, plus what the simulator knows of the request
    (type, state, seed, payload, timing events) so a client can recognise its own."""
    req = task.request
    kind = req.get("type") or ("timing2audio" if "timing_prompts" in req else "text2audio")
    entry = {"id": task.id, "key_id": hashlib.sha256(task.owner.encode()).hexdigest()[:16], "type": kind,
             "model": req["model"], "prompt": req.get("prompt", ""), "images": [], "duration": req["duration"],
             "resolution": req.get("resolution", ""), "aspect_ratio": req.get("aspect_ratio", ""),
             "seed": req["seed"], "payload": req.get("payload", ""), "state": task.state, "credits": task.charge,
             "created_at": _rfc3339(task.created),
             "creations": _creations(sim, task, base_url) if task.phase is Phase.SUCCEEDED else []}
    if "timing_prompts" in req:
        entry["timing_prompts"] = req["timing_prompts"]
    return entry


def list_tasks(sim: Simulator, request: Request, key: str) -> Reply:
    """Newest first, filtered by `created_at.from`/`.to` (RFC 3339) and `states`, paged by `paper.page` (0-based)
    or `pager.page_token` (the `next_page_token` of the previous page), `paper.pagesz` per page."""
    now = time.time()
    bounds = [request.query.get(name) for name in ("created_at.from", "created_at.to")]
    times = [parse_time(value) if value else default
             for value, default in zip(bounds, (now - LIST_DEFAULT_SECONDS, now + 1))]
    size, page = request.query.get("paper.pagesz", str(LIST_PAGE_SIZES[0])), request.query.get("paper.page", "0")
    page = request.query.get("pager.page_token") or page
    if None in times or not size.isdigit() or not 1 <= int(size) <= LIST_PAGE_SIZES[1] or not page.isdigit():
        return error(400, "FieldInvalid", "invalid field: created_at, paper or pager", fields="created_at, paper")
    states = set(filter(None, request.query.get("states", "").split(",")))
    with sim.engine.lock:
        found = [task for task in sim.engine.tasks(NAME) if times[0] <= task.created <= times[1]
                 and (not states or task.state in states)]
        first, size = int(page) * int(size), int(size)
        tasks = [_list_entry(sim, task, request.base_url) for task in found[first:first + size]]
    more = first + size < len(found)
    return Reply.json(200, {"next_page_token": str(int(page) + 1) if more else "", "tasks": tasks})


def credits(sim: Simulator, request: Request, key: str) -> Reply:
    running, waiting = sim.engine.load(NAME)
    balance = sim.engine.balance(NAME)
    started = _rfc3339(sim.started)
    return Reply.json(200, {
        "remains": [{"type": "metered", "credit_remain": balance, "concurrency_limit": sim.options.concurrency,
                     "current_concurrency": running, "queue_count": waiting}],
        "packages": [{"id": "simulator", "name": "Simulator credits", "type": "metered",
                      "concurrency": sim.options.concurrency, "credit_amount": sim.options.vidu_credits,
                      "credit_remain": balance, "created_at": started, "purchase_at": started,
                      "valid_from": started, "valid_to": _rfc3339(sim.started + 365 * 86400)}],
    })


ROUTES = [
    ("POST", re.compile(re.escape(spec(Endpoint.VIDU_TEXT2AUDIO).path)), create_text2audio),
    ("POST", re.compile(re.escape(spec(Endpoint.VIDU_TIMING2AUDIO).path)), create_timing2audio),
    ("POST", re.compile(re.escape(spec(Endpoint.VIDU_TEXT2VIDEO).path)), create_text2video),
    ("GET", re.compile(r"/ent/v2/tasks"), list_tasks),
    ("GET", re.compile(r"/ent/v2/tasks/(?P<task_id>[^/]+)/creations"), query),
    ("POST", re.compile(r"/ent/v2/tasks/(?P<task_id>[^/]+)/cancel"), cancel),
    ("GET", re.compile(r"/ent/v2/credits"), credits),
]


# --- callbacks --------------------------------------------------------------------------------------------------

def on_change(sim: Simulator, task: Task) -> None:
    """Vidu calls back on processing, success and failed; the final two are retried."""
    if not task.callback_url or task.phase not in (Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED):
        return
    url = task.callback_url
    body = json.dumps(task_json(sim, task, sim.url)).encode()

    def headers() -> dict[str, str]:
        signed = vidu_callback_headers(task.owner, url, formatdate(usegmt=True), str(uuid.uuid4()))
        return {"Content-Type": "application/json", **signed}

    sim.dispatcher.send(Delivery(task.id, url, body, headers, retry=task.phase.terminal))
