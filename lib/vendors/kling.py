"""Kling text-to-audio: regions, auth (API key or access/secret-key JWT), and translation to the studio's `Task`.

The parse functions are pure; `KlingClient` only adds headers and URLs and sends through `Transport`.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from urllib.parse import quote

import jwt
import requests

from lib.core.endpoints import spec
from lib.core.errors import (
    ConfigError,
    InvalidRequest,
    NetworkError,
    NotSupported,
    Problem,
    VendorError,
)
from lib.core.tasks import Endpoint, Media, Provider, State, Task
from lib.core.validation import as_number, validate_kling_text2audio
from lib.vendors.transport import Transport, json_or_none, retry_after_seconds
from lib.vendors.vendor import Dialect, text

REGIONS = {"singapore": "https://api-singapore.klingai.com", "beijing": "https://api-beijing.klingai.com"}
PATH = spec(Endpoint.KLING_TEXT2AUDIO).path
PAGE_RANGE = (1, 1000)
PAGE_SIZE_RANGE = (1, 500)
PACKS_SECONDS = 366 * 86400  # resource packs asked for: those of about the last year

# Every code in Kling's error table.
MESSAGES = {
    "1000": "Kling rejected the credentials. Check the Kling keys in Settings.",
    "1001": "No Kling credentials were sent. Add KLING_ACCESS_KEY and KLING_SECRET_KEY (or KLING_API_KEY) in "
            "Settings.",
    "1002": "Kling rejected the credentials. Check the Kling keys in Settings, and that KLING_REGION is the "
            "region the keys belong to.",
    "1003": "Kling says the access token is not valid yet. Check that this computer's clock is right.",
    "1004": "Kling says the access token has expired. Check that this computer's clock is right.",
    "1100": "Kling reports a problem with your account.",
    "1101": "Your Kling account is in arrears. Settle the balance in the Kling console.",
    "1102": "Your Kling resource pack is used up or has expired.",
    "1103": "Your Kling account is not allowed to use this API or model.",
    "1200": "Kling could not accept the request.",
    "1201": "Kling does not accept one of the settings.",
    "1202": "Kling does not offer this operation.",
    "1203": "Kling could not find the task (or model) the studio asked for.",
    "1300": "Kling's platform policy blocked the request.",
    "1301": "Kling's content policy rejected the prompt. Rephrase it and try again.",
    "1302": "Too many requests to Kling in a short time. Wait a moment and try again.",
    "1303": "Your Kling account is already running as many tasks as its resource pack allows. Wait for one to "
            "finish.",
    "1304": "Kling's IP allow-list blocked this computer.",
    "5000": "Kling had an internal problem. Try again later.",
    "5001": "Kling is temporarily unavailable, usually for maintenance. Try again later.",
    "5002": "Kling timed out internally, usually because it is busy. Try again later.",
}
DIALECT = Dialect(
    provider=Provider.KLING,
    name="Kling",
    # "succeeded" is the newer APIs' spelling; accepted in case the audio API adopts it.
    states={"submitted": State.QUEUED, "processing": State.RUNNING, "succeed": State.SUCCEEDED,
            "succeeded": State.SUCCEEDED, "failed": State.FAILED},
    messages=MESSAGES,
    retryable_codes=frozenset({"1302", "1303", "5000", "5001", "5002"}),
)


def region_url(region: str) -> str:
    """The base URL of a region name, or a ConfigError naming the valid ones."""
    try:
        return REGIONS[region]
    except KeyError:
        raise ConfigError(f"KLING_REGION must be one of: {', '.join(REGIONS)} (it is “{region}”).") from None


def describe_failure(message: str | None) -> str:
    """Plain words for a failed task; Kling explains failures in free text (`task_status_msg`)."""
    if not isinstance(message, str) or not message.strip():
        return "Kling could not finish the task and gave no reason."
    return f"Kling could not finish the task: {message.strip()}"


def with_external_id(body: dict) -> dict:
    """`body` with an `external_task_id`, made up if missing, so the task can be found even if the create
    answer is lost."""
    if not isinstance(body, dict) or body.get("external_task_id"):
        return body  # not an object: left as it is, for validation to refuse
    return {**body, "external_task_id": f"cue-{uuid.uuid4().hex}"}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def parse_task(data: dict) -> Task:
    """One Kling task object: a query's or create's `data`, a list entry, or a callback body."""
    word = str(data.get("task_status") or "")
    state = DIALECT.state(word, text(data.get("task_id")))
    info = data.get("task_info") if isinstance(data.get("task_info"), dict) else {}
    result = data.get("task_result") if isinstance(data.get("task_result"), dict) else {}
    # Kling times are Unix milliseconds.
    stamps = {key: millis / 1000 for key in ("created_at", "updated_at")
              if isinstance(data.get(key), int) and (millis := as_number(data[key])) is not None}
    return Task(
        endpoint=Endpoint.KLING_TEXT2AUDIO,
        params={},
        vendor_id=text(data.get("task_id")),
        external_id=text(info.get("external_task_id")),
        state=state,
        raw_state=word,
        credits=as_number(data.get("final_unit_deduction")),
        media=tuple(media for audio in _list(result.get("audios")) if isinstance(audio, dict)
                    for media in _media(audio)),
        error_message=describe_failure(data.get("task_status_msg")) if state is State.FAILED else None,
        **stamps,
    )


def parse_created(body: dict, request_body: dict) -> Task:
    """The task a create answer describes, carrying the request (and external id) that made it."""
    data = _data(body)
    if not isinstance(data, dict) or not text(data.get("task_id")):
        raise DIALECT.unexpected("no task ID")
    task = parse_task(data)
    return task.replace(params=request_body, external_id=task.external_id or request_body.get("external_task_id"),
                        trace_id=text(body.get("request_id")))


def parse_query(body: dict) -> Task:
    """A single-task query answer as an update for `Task.merged`."""
    data = _data(body)
    if not isinstance(data, dict):
        raise DIALECT.unexpected("no task")
    return parse_task(data)


def error_from_response(resp: requests.Response, secrets: tuple[str | None, ...] = ()) -> VendorError:
    """The VendorError for an error answer `{code, message, request_id}` (even one sent with HTTP 200)."""
    body = json_or_none(resp)
    if not isinstance(body, dict):
        return DIALECT.error_page(resp.status_code, resp.content)
    return DIALECT.error(resp.status_code, str(body.get("code", "")), str(body.get("message") or ""),
                         trace_id=body.get("request_id"),
                         retry_after=retry_after_seconds(resp.headers.get("Retry-After")), secrets=secrets)


def _data(body: dict):
    return body.get("data") if isinstance(body, dict) else None


def _media(audio: dict) -> list[Media]:
    # Kling makes each sound in both formats; durations come as strings.
    return [Media("audio", text(audio[f"url_{fmt}"]), fmt, as_number(audio.get(f"duration_{fmt}")))
            for fmt in ("mp3", "wav") if text(audio.get(f"url_{fmt}"))]


class KlingToken:
    """An HS256 JWT signed with the secret key, reused until less than `RENEW_WITHIN` seconds remain."""

    LIFETIME = 1800
    RENEW_WITHIN = 300
    NOT_BEFORE = 5  # Kling's own example backdates nbf so a slightly slow clock does not reject it

    def __init__(self, access_key: str, secret_key: str, clock: Callable[[], float] = time.time):
        self._access_key, self._secret_key, self._clock = access_key, secret_key, clock
        self._token, self._expires = "", 0

    def value(self) -> str:
        now = int(self._clock())
        if self._expires - now < self.RENEW_WITHIN:
            self._expires = now + self.LIFETIME
            claims = {"iss": self._access_key, "exp": self._expires, "nbf": now - self.NOT_BEFORE}
            self._token = jwt.encode(claims, self._secret_key, algorithm="HS256",
                                     headers={"alg": "HS256", "typ": "JWT"})
        return self._token


class KlingClient:
    """Kling text-to-audio create, query and list calls, with an API key or an access/secret key pair (a
    `VendorClient`)."""

    supports_cancel = False

    def __init__(self, access_key: str | None = None, secret_key: str | None = None, api_key: str | None = None,
                 region: str = "singapore", base_url: str | None = None, transport: Transport | None = None,
                 clock: Callable[[], float] = time.time):
        if not api_key and not (access_key and secret_key):
            raise ConfigError("Add KLING_ACCESS_KEY and KLING_SECRET_KEY (or KLING_API_KEY) in Settings to use "
                              "Kling.")
        self.base_url = (base_url or region_url(region)).rstrip("/")
        self._api_key = api_key
        self._token = None if api_key else KlingToken(access_key, secret_key, clock)
        self._secrets = (api_key, access_key, secret_key)
        self._transport = transport or Transport(vendor="Kling")

    def create(self, body: dict) -> Task:
        """Validate, then send once. Raises InvalidRequest (nothing sent), VendorError or NetworkError, whose
        `task` carries the external id to find the task by."""
        problems = validate_kling_text2audio(body)
        if problems:
            raise InvalidRequest(problems)
        return self._post(self.traceable(Endpoint.KLING_TEXT2AUDIO, body, ""))

    def _post(self, body: dict) -> Task:
        try:
            answer = self._call("POST", PATH, body, retry=False)
        except NetworkError as err:
            err.task = Task(endpoint=Endpoint.KLING_TEXT2AUDIO, params=body, external_id=body["external_task_id"])
            raise
        return parse_created(answer, body)

    def traceable(self, endpoint: Endpoint, body: dict, studio_id: str) -> dict:
        """Kling lets the studio name the task itself (`external_task_id`), so even a lost answer is found."""
        return with_external_id(body)

    def create_task(self, task: Task) -> Task:
        """Sent as recorded: `studio.submit_takes` validated the request once, and `traceable` gave it its id."""
        return self._post(task.params)

    def query_task(self, task: Task) -> Task:
        """By Kling's id once known, else by the studio's external id."""
        return self.query(task_id=task.vendor_id, external_id=None if task.vendor_id else task.external_id)

    def cancel_task(self, task: Task) -> None:
        raise NotSupported("Kling cannot cancel a task once it is submitted.")

    def find_created(self, task: Task, taken: Callable[[str], bool] = lambda vendor_id: False) -> None:
        """Nothing to look up: a Kling task is always found by the external id the studio gave it."""
        return None

    def query(self, task_id: str | None = None, external_id: str | None = None) -> Task:
        """One task, by Kling's id or by the studio's external id. Both go in the path, as Kling documents
        ("query by external_task_id or task_id"); Kling matches the segment against its ids first."""
        if bool(task_id) == bool(external_id):
            raise ValueError("pass exactly one of task_id and external_id")
        task = parse_query(self._call("GET", f"{PATH}/{quote(str(task_id or external_id), safe='')}", retry=True))
        if external_id and task.external_id not in (None, external_id):
            # The segment matched some other task's own id: not the task the studio named.
            raise DIALECT.error(None, "1203", f"no task with external_task_id {external_id}")
        return task

    def list(self, page: int = 1, page_size: int = 30) -> list[Task]:
        """One page of the account's text-to-audio tasks. An empty or short page is the last one."""
        problems = [Problem(name, f"{label} must be a whole number between {low} and {high}.")
                    for name, label, value, (low, high) in (("pageNum", "Page", page, PAGE_RANGE),
                                                            ("pageSize", "Page size", page_size, PAGE_SIZE_RANGE))
                    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high]
        if problems:
            raise InvalidRequest(problems)
        data = _data(self._call("GET", PATH, params={"pageNum": page, "pageSize": page_size}, retry=True))
        if not isinstance(data, list):
            raise DIALECT.unexpected("no task list")
        return [parse_task(item) for item in data if isinstance(item, dict)]

    def resource_packs(self, now: float | None = None) -> list[dict]:
        """The account's resource packs (`GET /account/costs`), each with its `total_quantity`, `remaining_quantity`
        (Kling updates it about 12 hours late) and `status`; those valid in the last PACKS_SECONDS."""
        now = time.time() if now is None else now
        data = _data(self._call("GET", "/account/costs", retry=True,
                                params={"start_time": int((now - PACKS_SECONDS) * 1000), "end_time": int(now * 1000)}))
        packs = data.get("resource_pack_subscribe_infos") if isinstance(data, dict) else None
        return [pack for pack in packs if isinstance(pack, dict)] if isinstance(packs, list) else []

    def _authorization(self) -> str:
        return f"Bearer {self._api_key or self._token.value()}"

    def _call(self, method: str, path: str, body: dict | None = None, *, params: dict | None = None,
              retry: bool) -> dict:
        authorization = self._authorization()
        resp = self._transport.request(method, self.base_url + path, json=body, params=params, retry=retry,
                                       headers={"Authorization": authorization, "Content-Type": "application/json"})
        answer = json_or_none(resp)
        # Some rejections arrive as HTTP 200 with a non-zero code, so both are checked.
        if not resp.ok or not isinstance(answer, dict) or str(answer.get("code", 0)) != "0":
            raise error_from_response(resp, secrets=(*self._secrets, authorization.removeprefix("Bearer ")))
        return answer
