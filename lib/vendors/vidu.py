"""Vidu: hosts and auth profiles, endpoint paths, and translation between Vidu's JSON and the studio's `Task`.

The parse functions are pure; `ViduClient` only adds headers and URLs and sends through `Transport`.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import PurePosixPath
from urllib.parse import quote, urlsplit

import requests

from lib.core import endpoints
from lib.core.errors import ConfigError, InvalidRequest, NetworkError, VendorError
from lib.core.tasks import Endpoint, Media, Provider, State, Task
from lib.core.validation import SEED_MAX, as_number, validate
from lib.vendors.transport import Transport, json_or_none, retry_after_seconds
from lib.vendors.vendor import Dialect, text

# profile: (base URL, Authorization scheme). kkiai resells Vidu under the same paths with Bearer auth.
PROFILES = {
    "vidu-global": ("https://api.vidu.com", "Token"),
    "vidu-cn": ("https://api.vidu.cn", "Token"),
    "kkiai": ("https://www.kkiai.com", "Bearer"),
}
PATHS = {s.endpoint: s.path for s in endpoints.of(Provider.VIDU)}
AUDIO_FORMATS = ("mp3", "wav")
CANCELLED = "UserCancelled"  # a cancelled task reports state "failed" with this err_code
# Vidu cancels only tasks still waiting (created, queueing); later it answers 400 "task state is X, can not cancel".
_CANCEL_REFUSED = re.compile(r"task state is (\w+), can not cancel")
TOO_LATE_TO_CANCEL = {
    "success": "Too late: Vidu has already finished it, and charged for it.",
    "failed": "Too late: the task has already ended at Vidu.",
}
TOO_LATE_STARTED = "Too late: Vidu has already started making it; it will finish and be charged."
LIST_PATH = "/ent/v2/tasks"
LIST_PAGE_SIZE = 100  # the documented maximum of `paper.pagesz`
LIST_MAX_PAGES = 20  # enough for 2,000 tasks in one lookup window; a lookup must never page forever
# A create whose answer was lost is looked for among the tasks Vidu lists as created in this window around the
# moment it was sent: clocks differ, and a slow create is registered when Vidu gets to it.
LOOKUP_BEFORE_SECONDS, LOOKUP_AFTER_SECONDS = 300, 600
PAYLOAD_TAG = "cue-studio-task:"  # text2video's pass-through payload, naming the studio's task, when left empty
_NANOSECONDS = re.compile(r"(\.\d{6})\d+")  # Python reads at most microseconds
KIND = {Endpoint.VIDU_TEXT2AUDIO: "text2audio", Endpoint.VIDU_TIMING2AUDIO: "timing2audio",
        Endpoint.VIDU_TEXT2VIDEO: "text2video"}

# Every reason in Vidu's error-code tables (.com and .cn). Task err_codes use the same names.
MESSAGES = {
    "BadRequest": "Vidu could not accept the request.",
    "FieldLacking": "A required setting is missing.",
    "FieldUnwanted": "Vidu does not accept one of the settings.",
    "FieldItemCountOutOfRange": "A list in the request has too many or too few items.",
    "FieldInvalid": "Vidu does not accept the value of one of the settings.",
    "PageSizeOutOfRange": "An image has a size, format or shape Vidu does not accept.",
    "ImageDownloadFailure": "Vidu could not download an image.",
    "OperationInProcess": "Vidu is still working on an earlier change to this task. Try again in a moment.",
    "TaskPromptPolicyViolation": "Vidu's content policy rejected the prompt. Rephrase it and try again.",
    "ImageFormatInvalid": "An image is in a format Vidu does not accept (use PNG, JPEG or WebP).",
    "AuditSubmitIllegal": "Vidu's safety review rejected the request. Change the prompt and try again.",
    "CreditInsufficient": "Your Vidu account has run out of credits.",
    "CreationPolicyViolation": "Vidu's content policy blocked the result. Change the prompt and try again.",
    "ModelUnavailable": "This Vidu model is not available right now. Try another model or try again later.",
    "UserCancelled": "The task was cancelled.",
    "ImageCheckBodyJointsFailed": "Vidu could not find a person's body in the image.",
    "ImageCheckFaceFailed": "Vidu could not find a face in the image.",
    "ImageObjectsUndetected": "Vidu could not find the subject in the image.",
    "Unauthorized": "Vidu rejected the API key. Check VIDU_API_KEY in Settings.",
    "Forbidden": "This Vidu API key is not allowed to do that.",
    "TaskNotFound": "Vidu has no record of this task.",
    "CreationNotFound": "Vidu has no record of this result.",
    "NotFound": "Vidu could not find what the studio asked for.",
    "Conflict": "The task changed at Vidu while the studio was asking; refresh it and try again.",
    "QuotaExceeded": "Your Vidu account is already running as many tasks as it may. Wait for one to finish.",
    "TooManyRequests": "Too many requests to Vidu in a short time. Wait a moment and try again.",
    "SystemThrottling": "Vidu is busy right now. Try again in a moment.",
    "Canceled": "The request was cancelled before Vidu finished answering it.",
    "InternalServiceFailure": "Vidu had an internal problem. Try again later.",
}
DIALECT = Dialect(
    provider=Provider.VIDU,
    name="Vidu",
    states={"created": State.QUEUED, "queueing": State.QUEUED, "processing": State.RUNNING,
            "success": State.SUCCEEDED, "failed": State.FAILED},
    messages=MESSAGES,
    retryable_codes=frozenset({"QuotaExceeded", "TooManyRequests", "SystemThrottling", "OperationInProcess",
                               "InternalServiceFailure"}),
)


def profile_settings(profile: str) -> tuple[str, str]:
    """(base URL, auth scheme) of a profile name, or a ConfigError naming the valid ones."""
    try:
        return PROFILES[profile]
    except KeyError:
        raise ConfigError(f"VIDU_PROFILE must be one of: {', '.join(PROFILES)} (it is “{profile}”).") from None


def describe_failure(err_code: str | None) -> str:
    """Plain words for a failed task's err_code."""
    if not err_code:
        return "The Vidu task failed without giving a reason."
    return MESSAGES.get(err_code) or f"The Vidu task failed (code {err_code})."


def parse_created(endpoint: Endpoint, body: dict, request_body: dict) -> Task:
    """The task a create answer describes, carrying the request that made it."""
    if not text(body.get("task_id")):
        raise DIALECT.unexpected("no task ID")
    return _task(endpoint, body, request_body)


def parse_query(body: dict, endpoint: Endpoint | None = None) -> Task:
    """A query (or callback) answer as an update for `Task.merged`.

    Pass the endpoint that created the task; the answer itself does not reliably say, and only the media kind
    depends on it, so without one the kind is read from the first result.
    """
    return _task(endpoint or _endpoint_of(body), body, {})


def error_from_response(resp: requests.Response, secrets: tuple[str | None, ...] = ()) -> VendorError:
    """The VendorError for an error answer: go-kratos style `{code, reason, message, metadata}`, a reseller's
    `{"error": {...}}` wrapper, or no JSON at all."""
    body = json_or_none(resp)
    if not isinstance(body, dict):
        return DIALECT.error_page(resp.status_code, resp.content)
    error = body["error"] if isinstance(body.get("error"), dict) else body
    meta = error.get("metadata") if isinstance(error.get("metadata"), dict) else {}
    detail = str(error.get("message") or "")
    if meta.get("fields") and str(meta["fields"]) not in detail:
        detail = f"{detail} ({meta['fields']})".strip()
    return DIALECT.error(resp.status_code, str(error.get("reason") or error.get("code") or ""), detail,
                         trace_id=meta.get("trace_id") or resp.headers.get("x-md-trace-id"),
                         retry_after=retry_after_seconds(resp.headers.get("Retry-After")), secrets=secrets)


def _is_error(body: dict) -> bool:
    # Vidu's own client treats any body with a `code` as an error, whatever the HTTP status.
    return body.get("code") is not None or isinstance(body.get("error"), dict)


def _task(endpoint: Endpoint, body: dict, params: dict) -> Task:
    word = str(body.get("state") or "")
    task_id = text(body.get("task_id")) or text(body.get("id"))
    state = DIALECT.state(word, task_id)
    err_code = str(body.get("err_code") or "")
    if state is State.FAILED and err_code == CANCELLED:
        state = State.CANCELLED
    ended_badly = state in (State.FAILED, State.CANCELLED)
    progress = as_number(body.get("progress"))
    creations = [c for c in _creations(body) if text(c.get("url"))]
    seed = as_number(body.get("seed"))  # the resolved seed a create answer echoes (0 asked Vidu to pick one)
    return Task(
        endpoint=endpoint,
        params=params,
        vendor_id=task_id,
        state=state,
        raw_state=word,
        progress=int(progress) if progress is not None else None,
        credits=as_number(body.get("credits")),
        media=tuple(_media(endpoint, creation) for creation in creations),
        error_code=(err_code or None) if ended_badly else None,
        error_message=describe_failure(err_code) if ended_badly else None,
        seed=int(seed) if seed and seed == int(seed) and 0 < seed <= SEED_MAX else None,
    )


def _extension(url: str) -> str:
    return PurePosixPath(urlsplit(url).path).suffix.lower().lstrip(".")


def _creations(body: dict) -> list[dict]:
    creations = body.get("creations")
    return [c for c in creations if isinstance(c, dict)] if isinstance(creations, list) else []


def _endpoint_of(body: dict) -> Endpoint:
    first = next(iter(_creations(body)), None)
    is_video = first is not None and (bool(first.get("video")) or _extension(str(first.get("url"))) == "mp4")
    return Endpoint.VIDU_TEXT2VIDEO if is_video else Endpoint.VIDU_TEXT2AUDIO


def _media(endpoint: Endpoint, creation: dict) -> Media:
    url = text(creation["url"])
    if endpoint.media_kind == "audio":
        # Vidu does not document the audio format; the file name says it, and mp3 is the usual one.
        extension = _extension(url)
        return Media("audio", url, extension if extension in AUDIO_FORMATS else "mp3")
    video = creation.get("video") if isinstance(creation.get("video"), dict) else {}
    return Media("video", url, "mp4", duration=as_number(video.get("duration")) or None,
                 cover_url=text(creation.get("cover_url")), watermarked_url=text(creation.get("watermarked_url")))


def payload_tag(studio_task_id: str) -> str:
    return f"{PAYLOAD_TAG}{studio_task_id}"


def is_payload_tag(value) -> bool:
    return isinstance(value, str) and value.startswith(PAYLOAD_TAG)


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def parse_time(value) -> float | None:
    """Unix seconds for Vidu's RFC 3339 times, nanoseconds included ("2025-05-03T02:02:11.440323061Z")."""
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(_NANOSECONDS.sub(r"\1", value.strip()))
    except ValueError:
        return None
    return stamp.timestamp() if stamp.tzinfo else None


def same_request(endpoint: Endpoint, body: dict, entry: dict) -> bool:
    """Whether a task-list entry is what `body` asked for: the same kind, model, prompt (or timing events) and
    every setting both sides name. A payload tag, when both carry one, decides on its own."""
    if is_payload_tag(body.get("payload")) and entry.get("payload"):
        return entry["payload"] == body["payload"]
    if entry.get("type") not in (None, "", KIND.get(endpoint)):
        return False
    if body.get("model") != entry.get("model"):
        return False
    if endpoint is Endpoint.VIDU_TIMING2AUDIO:
        if _events(body.get("timing_prompts")) != _events(entry.get("timing_prompts")):
            return False
    elif body.get("prompt") != entry.get("prompt"):
        return False
    # A seed of 0 (or none) asks for a random one, so it matches any seed.
    numbers = [name for name in ("duration", "seed") if body.get(name) and entry.get(name) is not None]
    words = [name for name in ("resolution", "aspect_ratio") if body.get(name) and entry.get(name)]
    return (all(as_number(body[name]) == as_number(entry[name]) for name in numbers)
            and all(body[name] == entry[name] for name in words))


def best_match(task: Task, entries: list[dict]) -> str | None:
    """The id of the entry that is `task`'s request, created closest to when the studio sent it."""
    window = (task.created_at - LOOKUP_BEFORE_SECONDS, task.created_at + LOOKUP_AFTER_SECONDS)
    found = [(abs(created - task.created_at), str(entry["id"])) for entry in entries
             if text(entry.get("id")) and same_request(task.endpoint, task.params, entry)
             and (created := parse_time(entry.get("created_at"))) is not None and window[0] <= created <= window[1]]
    return min(found)[1] if found else None


def _events(events) -> list | None:
    if not isinstance(events, list):
        return None
    return [(as_number(e.get("from")), as_number(e.get("to")), e.get("prompt")) for e in events if isinstance(e, dict)]


def _objects(answer: dict, *names: str) -> list[dict]:
    """The objects in the first of `names` that holds a list."""
    items = next((answer[name] for name in names if isinstance(answer.get(name), list)), [])
    return [item for item in items if isinstance(item, dict)]


class ViduClient:
    """Vidu's create, query, cancel and credits calls for one API key and host profile (a `VendorClient`)."""

    supports_cancel = True

    def __init__(self, api_key: str, profile: str = "vidu-global", base_url: str | None = None,
                 transport: Transport | None = None):
        if not api_key:
            raise ConfigError("Add VIDU_API_KEY in Settings to use Vidu.")
        host, scheme = profile_settings(profile)
        self.base_url = (base_url or host).rstrip("/")  # an override (e.g. the simulator) keeps the auth scheme
        self._api_key = api_key
        self._authorization = f"{scheme} {api_key}"
        self._transport = transport or Transport(vendor="Vidu")

    def create(self, endpoint: Endpoint, body: dict) -> Task:
        """Validate, then send once. Raises InvalidRequest (nothing sent), VendorError or NetworkError."""
        if endpoint not in PATHS:
            raise ValueError(f"{endpoint} is not a Vidu endpoint")
        problems = validate(endpoint, body)
        if problems:
            raise InvalidRequest(problems)
        return self._post(endpoint, body)

    def _post(self, endpoint: Endpoint, body: dict) -> Task:
        try:
            answer = self._call("POST", PATHS[endpoint], body, retry=False)
        except NetworkError as err:
            err.task = Task(endpoint=endpoint, params=body)
            raise
        return parse_created(endpoint, answer, body)

    def traceable(self, endpoint: Endpoint, body: dict, studio_id: str) -> dict:
        """Vidu passes text2video's `payload` back in its task list: a tag naming the studio's task, when the
        person left it empty."""
        if endpoint is Endpoint.VIDU_TEXT2VIDEO and not body.get("payload"):
            return {**body, "payload": payload_tag(studio_id)}
        return body

    def create_task(self, task: Task) -> Task:
        """Sent as recorded: `studio.submit_takes` validated the request once, before recording it."""
        return self._post(task.endpoint, task.params)

    def query_task(self, task: Task) -> Task:
        return self.query(task.vendor_id, task.endpoint)

    def cancel_task(self, task: Task) -> None:
        self.cancel(task.vendor_id)

    def query(self, task_id: str, endpoint: Endpoint | None = None) -> Task:
        task = parse_query(self._call("GET", f"{self._task_path(task_id)}/creations", retry=True), endpoint)
        return task.replace(vendor_id=task.vendor_id or task_id)

    def cancel(self, task_id: str) -> None:
        try:
            self._call("POST", f"{self._task_path(task_id)}/cancel", {"id": task_id}, retry=False)
        except NetworkError as err:
            if not err.may_have_reached_server:
                raise
            raise NetworkError("Vidu did not answer in time, so the task may or may not have been cancelled — "
                               "refresh it to see.", may_have_reached_server=True) from None
        except VendorError as err:
            refused = _CANCEL_REFUSED.search(err.message) if err.code == "BadRequest" else None
            if refused is None:
                raise
            message = TOO_LATE_TO_CANCEL.get(refused[1], TOO_LATE_STARTED)  # processing, or an internal stage
            raise VendorError(err.vendor, err.http_status, err.code, message, err.trace_id) from None

    def credits(self) -> dict:
        """The account's credit balances (`remains`) and purchased `packages`, as Vidu lists them. Some answers
        name the balances `remaining_credits`; either way they come back as `remains`."""
        answer = self._call("GET", "/ent/v2/credits", params={"show_detail": "true"}, retry=True)
        return {"remains": _objects(answer, "remains", "remaining_credits"), "packages": _objects(answer, "packages")}

    def list_tasks(self, created_from: float, created_to: float, page_token: str = "") -> tuple[list[dict], str]:
        """One page of the account's tasks created between two moments (Unix seconds), and the token of the
        next page ("" after the last one)."""
        params = {"created_at.from": rfc3339(created_from), "created_at.to": rfc3339(created_to),
                  "paper.pagesz": LIST_PAGE_SIZE}
        if page_token:
            params["pager.page_token"] = page_token
        answer = self._call("GET", LIST_PATH, params=params, retry=True)
        if not isinstance(answer.get("tasks"), list):
            raise DIALECT.unexpected("no task list")
        return _objects(answer, "tasks"), text(answer.get("next_page_token")) or ""

    def find_created(self, task: Task, taken: Callable[[str], bool] = lambda vendor_id: False) -> str | None:
        """Vidu's id for `task`, a create whose answer never arrived, from Vidu's task list; None if not there.

        `taken` says whether an id already belongs to another of the studio's tasks, so two identical requests
        sent close together are never both linked to one Vidu task.
        """
        entries, token = [], ""
        for _ in range(LIST_MAX_PAGES):
            page, token = self.list_tasks(task.created_at - LOOKUP_BEFORE_SECONDS,
                                          task.created_at + LOOKUP_AFTER_SECONDS, token)
            entries += page
            if not token or not page:
                break
        return best_match(task, [entry for entry in entries if not taken(str(entry.get("id")))])

    @staticmethod
    def _task_path(task_id: str) -> str:
        return f"/ent/v2/tasks/{quote(str(task_id), safe='')}"

    def _call(self, method: str, path: str, body: dict | None = None, *, params: dict | None = None,
              retry: bool) -> dict:
        resp = self._transport.request(method, self.base_url + path, json=body, params=params, retry=retry,
                                       headers={"Authorization": self._authorization,
                                                "Content-Type": "application/json"})
        # Cancel succeeds with `{}` or, by its docs, with nothing at all.
        answer = {} if resp.ok and resp.content.strip() in (b"", b"null") else json_or_none(resp)
        if not resp.ok or not isinstance(answer, dict) or _is_error(answer):
            raise error_from_response(resp, secrets=(self._api_key,))
        return answer
