"""lib.sim over real HTTP on loopback: wire formats, auth, lifecycle, media, callbacks and faults."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from lib.sim import (
    DEMO_KLING_ACCESS_KEY,
    DEMO_KLING_API_KEY,
    DEMO_KLING_SECRET_KEY,
    DEMO_VIDU_KEY,
    start,
)
from lib.vendors.signatures import vidu_signature_valid, webhook_signature_valid

FIXTURES = Path(__file__).parent / "fixtures"
WEBHOOK_SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
VIDU_ENDPOINTS = {"text2audio": "/ent/v2/text2audio", "timing2audio": "/ent/v2/timing2audio",
                  "text2video": "/ent/v2/text2video"}
KLING_ENDPOINTS = {"kling.text2audio": "/v1/audio/text-to-audio"}
KLING_PATH = "/v1/audio/text-to-audio"
RAIN = {"model": "audio1.0", "prompt": "Rain on a tin roof", "duration": 5}
FIREWORKS = {"prompt": "Fireworks over the harbour", "duration": 3}
SMALL_VIDEO = {"model": "viduq2", "prompt": "A cat on the grass", "duration": 2, "resolution": "540p"}


def examples(vendor: str) -> dict:
    return json.loads((FIXTURES / f"{vendor}_examples.json").read_text())


# --- fixtures and helpers ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim():
    simulator = start(speed=50, kling_webhook_secret=WEBHOOK_SECRET)
    yield simulator
    simulator.stop()


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.reset()


@pytest.fixture
def slow():
    """Real vendor durations (1 s in "created", 8 s processing), to catch tasks before they start."""
    with start(speed=1) as simulator:
        yield simulator


def vidu(sim, method: str, path: str, body=None, *, auth: str | None = f"Token {DEMO_VIDU_KEY}", **kwargs):
    headers = {"Authorization": auth} if auth else {}
    return requests.request(method, sim.url + path, json=body, headers=headers, **{"timeout": 10, **kwargs})


def kling_jwt(access_key=DEMO_KLING_ACCESS_KEY, secret=DEMO_KLING_SECRET_KEY, exp=1800, nbf=-5) -> str:
    now = int(time.time())
    return jwt.encode({"iss": access_key, "exp": now + exp, "nbf": now + nbf}, secret, algorithm="HS256",
                      headers={"alg": "HS256", "typ": "JWT"})


def kling(sim, method: str, path: str = KLING_PATH, body=None, *, token: str | None = DEMO_KLING_API_KEY, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, sim.url + path, json=body, headers=headers, **{"timeout": 10, **kwargs})


def wait_for(check, timeout: float = 15, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def vidu_balance(sim) -> int:
    return vidu(sim, "GET", "/ent/v2/credits").json()["remains"][0]["credit_remain"]


def vidu_create(sim, endpoint: str = "text2audio", body=RAIN) -> str:
    answer = vidu(sim, "POST", VIDU_ENDPOINTS[endpoint], body)
    assert answer.status_code == 200, answer.text
    return answer.json()["task_id"]


def vidu_query(sim, vendor_id: str) -> dict:
    return vidu(sim, "GET", f"/ent/v2/tasks/{vendor_id}/creations").json()


def vidu_wait(sim, vendor_id: str, states=("success", "failed")) -> dict:
    return wait_for(lambda: (task := vidu_query(sim, vendor_id))["state"] in states and task)


def kling_create(sim, body=FIREWORKS) -> str:
    answer = kling(sim, "POST", body=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["task_id"]


def kling_wait(sim, ref: str) -> dict:
    return wait_for(lambda: (task := kling(sim, "GET", f"{KLING_PATH}/{ref}").json()["data"])["task_status"]
                    in ("succeed", "failed") and task)


def assert_vidu_error(answer, status: int, reason: str, message: str | None = None) -> dict:
    body = answer.json()
    assert answer.status_code == status and body["code"] == status and body["reason"] == reason, answer.text
    assert set(body) == {"code", "reason", "message", "metadata"}
    assert re.fullmatch(r"[0-9a-f]{32}", body["metadata"]["trace_id"])
    if message is not None:
        assert body["message"] == message
    return body


def assert_kling_error(answer, status: int, code: int, message: str | None = None) -> dict:
    body = answer.json()
    assert answer.status_code == status and body["code"] == code, answer.text
    assert set(body) == {"code", "message", "request_id"}
    uuid.UUID(body["request_id"])
    if message is not None:
        assert message in body["message"]
    return body


def assert_shape(documented, actual, where="body"):
    """Every documented key is present with a value of the same JSON type (lists compared by first item)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), where
        for key, value in documented.items():
            if not key.startswith("_"):
                assert key in actual, f"{where}.{key} missing"
                assert_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(actual, list), where
        if documented and actual:
            assert_shape(documented[0], actual[0], f"{where}[0]")
    elif isinstance(documented, (int, float)) and not isinstance(documented, bool):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), where
    else:
        assert type(actual) is type(documented), f"{where}: {actual!r}"


def fetch(url: str, **headers):
    return requests.get(url, headers=headers, timeout=10)


@dataclass
class Callback:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """A local callback endpoint: records every POST and answers from a script of statuses (then 200)."""

    def __init__(self, answers=()):
        self.calls: list[Callback] = []
        self.answers = list(answers)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(Callback(self.path, dict(self.headers), body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def states(self, key: str) -> list[str]:
        return [call.json[key] for call in self.calls]


@pytest.fixture
def receiver():
    made = []

    def make(answers=()):
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for one in made:
        one.server.shutdown()


# --- every documented request is accepted as written ------------------------------------------------------------

@pytest.mark.parametrize("name, example", examples("vidu")["requests"].items())
def test_vidu_doc_request_is_accepted(sim, name, example):
    answer = vidu(sim, "POST", VIDU_ENDPOINTS[example["endpoint"]], example["body"],
                  auth=f"{example['auth']} {DEMO_VIDU_KEY}")
    assert answer.status_code == 200, answer.text
    created = answer.json()
    assert "code" not in created and created["state"] == "created"
    assert re.fullmatch(r"\d{18}", created["task_id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", created["created_at"])
    assert isinstance(created["seed"], int) and created["seed"] > 0  # 0 or absent: a random seed
    documented = {"text2audio": "text2audio_created_kkiai", "timing2audio": "timing2audio_created_official",
                  "text2video": "text2video_created_kkiai"}[example["endpoint"]]
    assert_shape(examples("vidu")["responses"][documented], created)


@pytest.mark.parametrize("name, example", examples("kling")["requests"].items())
def test_kling_doc_request_is_accepted(sim, name, example):
    for token in (kling_jwt(), DEMO_KLING_API_KEY):  # both documented credentials
        answer = kling(sim, "POST", KLING_ENDPOINTS[example["endpoint"]], example["body"], token=token)
        assert answer.status_code == 200, answer.text
        created = answer.json()
        assert created["code"] == 0 and created["message"] == "SUCCEED"
        assert created["data"]["task_status"] == "submitted" and created["data"]["task_info"] == {}
        assert_shape(examples("kling")["responses"]["create_without_external_id"], created)


def test_vidu_other_doc_requests_are_accepted(slow):
    sim, other = slow, examples("vidu")["other_requests"]
    vendor_id = vidu_create(sim)
    for name in ("cancel", "query", "credits"):
        example = other[name]
        body = json.loads(json.dumps(example.get("body")).replace("<task_id>", vendor_id))
        answer = vidu(sim, example["method"], example["path"].replace("{id}", vendor_id), body,
                      params=example.get("params"))
        assert answer.status_code == 200, f"{name}: {answer.text}"
    assert_shape(examples("vidu")["responses"]["credits"], vidu(sim, "GET", "/ent/v2/credits").json())
    assert_shape(examples("vidu")["responses"]["query_cancelled"], vidu_query(sim, vendor_id))


def test_kling_other_doc_requests_are_accepted(sim):
    other = examples("kling")["other_requests"]
    vendor_id = kling_create(sim, {**FIREWORKS, "external_task_id": "studio-0001"})
    kling_wait(sim, vendor_id)
    single = kling(sim, other["query"]["method"], other["query"]["path"].replace("{task_id}", vendor_id))
    listed = kling(sim, other["list"]["method"], other["list"]["path"], params=other["list"]["params"])
    assert_shape(examples("kling")["responses"]["query_succeed_reference"], single.json())
    assert_shape(examples("kling")["responses"]["list_doc"], listed.json())


# --- validation and error bodies --------------------------------------------------------------------------------

TIMELINE = [{"from": 0, "to": 1, "prompt": "a click"}] * 21


@pytest.mark.parametrize("endpoint, body, reason, message", [
    ("text2audio", {}, "FieldLacking", "field is missing or empty: model, prompt"),
    ("text2audio", {**RAIN, "duration": 11}, "FieldInvalid", "invalid field: duration"),
    ("text2audio", {**RAIN, "colour": "blue"}, "FieldUnwanted", "unwanted field: colour"),
    ("timing2audio", {"model": "audio1.0", "timing_prompts": TIMELINE}, "FieldItemCountOutOfRange",
     "field item count out of range: timing_prompts"),
    ("text2video", {**SMALL_VIDEO, "resolution": "4k"}, "FieldInvalid", "invalid field: resolution"),
])
def test_vidu_validation_errors(sim, endpoint, body, reason, message):
    assert_vidu_error(vidu(sim, "POST", VIDU_ENDPOINTS[endpoint], body), 400, reason, message)


def test_vidu_bad_json_unknown_task_and_unknown_route(sim):
    for raw in (b"{not json", b"[1, 2]", b""):
        answer = vidu(sim, "POST", "/ent/v2/text2audio", data=raw)
        assert_vidu_error(answer, 400, "BadRequest")
    assert_vidu_error(vidu(sim, "GET", "/ent/v2/tasks/123456789012345678/creations"), 404, "TaskNotFound")
    assert_vidu_error(vidu(sim, "POST", "/ent/v2/tasks/123456789012345678/cancel", {}), 404, "TaskNotFound")
    assert_vidu_error(vidu(sim, "GET", "/ent/v2/nothing-here"), 404, "NotFound")


@pytest.mark.parametrize("body, message", [
    ({"prompt": "x" * 201, "duration": 5}, "200"),
    ({"prompt": "rain", "duration": 2}, "between 3 and 10"),
    ({"prompt": "rain", "duration": 3.55}, "decimal"),
    ({"prompt": "rain"}, "Duration is required"),
    ({"prompt": "", "duration": 5, "callback_url": ""}, "prompt is required"),
])
def test_kling_validation_errors(sim, body, message):
    assert_kling_error(kling(sim, "POST", body=body), 400, 1201, message)


def test_kling_request_errors(sim):
    for raw in (b"", b"{not json", b"[]"):
        assert_kling_error(kling(sim, "POST", data=raw), 400, 1200)
    assert_kling_error(kling(sim, "GET", f"{KLING_PATH}/404404404404404404"), 404, 1203)
    kling_create(sim, {**FIREWORKS, "external_task_id": "mine-1"})
    assert_kling_error(kling(sim, "POST", body={**FIREWORKS, "external_task_id": "mine-1"}), 400, 1201, "mine-1")
    for params in ({"pageNum": 0}, {"pageSize": 501}, {"pageNum": 1001}, {"pageSize": "x"}):
        assert_kling_error(kling(sim, "GET", params=params), 400, 1201)


# --- auth -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("auth, status", [
    (f"Token {DEMO_VIDU_KEY}", 200), (f"Bearer {DEMO_VIDU_KEY}", 200), ("Token vda_wrong", 401),
    (None, 401), (f"Basic {DEMO_VIDU_KEY}", 401), (DEMO_VIDU_KEY, 401),
])
def test_vidu_auth(sim, auth, status):
    answer = vidu(sim, "GET", "/ent/v2/credits", auth=auth)
    if status == 200:
        assert answer.status_code == 200 and "remains" in answer.json()
    else:
        assert_vidu_error(answer, 401, "Unauthorized")


@pytest.mark.parametrize("name, header, code", [
    ("api key", lambda: f"Bearer {DEMO_KLING_API_KEY}", 0),
    ("jwt", lambda: f"Bearer {kling_jwt()}", 0),
    ("missing", lambda: None, 1001),
    ("not bearer", lambda: f"Token {DEMO_KLING_API_KEY}", 1002),
    ("unknown api key", lambda: "Bearer kling_wrong_key", 1002),
    ("unparseable jwt", lambda: "Bearer a.b.c", 1002),
    ("bad signature", lambda: f"Bearer {kling_jwt(secret='not-the-secret-key-but-just-as-long')}", 1002),
    ("unknown access key", lambda: f"Bearer {kling_jwt(access_key='someone-else')}", 1002),
    ("expired", lambda: f"Bearer {kling_jwt(exp=-10, nbf=-100)}", 1004),
    ("not yet valid", lambda: f"Bearer {kling_jwt(nbf=60)}", 1003),
])
def test_kling_auth(sim, name, header, code):
    header = header()  # built inside the test: tokens carry the time
    answer = requests.get(sim.url + KLING_PATH, headers={"Authorization": header} if header else {}, timeout=10)
    if code == 0:
        assert answer.status_code == 200 and answer.json()["code"] == 0
    else:
        assert_kling_error(answer, 401, code)


def test_request_log_records_auth_validity(sim):
    vidu(sim, "GET", "/ent/v2/credits")
    vidu(sim, "GET", "/ent/v2/credits", auth="Token nope")
    kling(sim, "GET")
    log = [(r.method, r.path, r.vendor, r.auth_valid) for r in sim.requests]
    assert log == [("GET", "/ent/v2/credits", "vidu", True), ("GET", "/ent/v2/credits", "vidu", False),
                   ("GET", KLING_PATH, "kling", True)]
    over_http = requests.get(sim.url + "/_sim/requests", timeout=10).json()
    assert [entry["auth_valid"] for entry in over_http] == [True, False, True]
    assert requests.get(sim.url + "/_sim/health", timeout=10).text == "ok"


# --- lifecycle and result shapes --------------------------------------------------------------------------------

def test_vidu_audio_lifecycle(sim):
    vendor_id = vidu_create(sim)
    seen, progress = [], []
    while not seen or seen[-1] not in ("success", "failed"):
        task = vidu_query(sim, vendor_id)
        progress.append(task["progress"])
        if not seen or seen[-1] != task["state"]:
            seen.append(task["state"])
        time.sleep(0.003)
    order = ["created", "queueing", "processing", "success"]
    assert seen == sorted(seen, key=order.index) and seen[-1] == "success", seen
    assert progress == sorted(progress) and progress[-1] == 100
    assert "code" not in task and task["err_code"] == "" and task["credits"] == 10
    assert set(task) == {"id", "state", "err_code", "credits", "payload", "bgm", "off_peak", "progress", "creations"}
    [creation] = task["creations"]
    assert creation["url"].startswith(sim.url + "/_sim/media/") and ".mp3?Expires=" in creation["url"]
    assert creation["cover_url"] == "" and "video" not in creation


def test_vidu_timing_and_video_results(sim):
    timing = vidu_create(sim, "timing2audio", examples("vidu")["requests"]["official_timing2audio"]["body"])
    video = vidu_create(sim, "text2video", {**SMALL_VIDEO, "watermark": "true", "aspect_ratio": "9:16"})
    assert ".mp3?" in vidu_wait(sim, timing)["creations"][0]["url"]
    done = vidu_wait(sim, video)
    assert_shape(examples("vidu")["responses"]["query_success"], done)
    [creation] = done["creations"]
    assert creation["video"] == {"duration": 2.0, "fps": 24, "resolution": {"width": 540, "height": 960}}
    for key, kind, magic in (("url", "video/mp4", b"ftyp"), ("watermarked_url", "video/mp4", b"ftyp"),
                             ("cover_url", "image/jpeg", b"\xff\xd8")):
        answer = fetch(creation[key])
        assert answer.headers["Content-Type"] == kind and magic in answer.content[:12]
    assert fetch(creation["url"]).content != fetch(creation["watermarked_url"]).content


def test_kling_lifecycle_and_lookups(sim):
    first = kling_create(sim, {**FIREWORKS, "external_task_id": "ext-1", "callback_url": ""})
    second = kling_create(sim, {"prompt": "Waves on a beach", "duration": 4.5})
    task = kling_wait(sim, "ext-1")  # the path segment may be the external id
    assert task["task_id"] == first and task["task_status"] == "succeed" and task["task_status_msg"] == ""
    assert task["task_info"] == {"external_task_id": "ext-1"} and task["final_unit_deduction"] == "0.25"
    [audio] = task["task_result"]["audios"]
    assert audio["duration_mp3"] == audio["duration_wav"] == "3.0"
    assert fetch(audio["url_mp3"]).headers["Content-Type"] == "audio/mpeg"
    wav = fetch(audio["url_wav"])
    assert wav.headers["Content-Type"] == "audio/wav" and wav.content[:4] == b"RIFF"
    assert_shape(examples("kling")["responses"]["query_doc"]["data"], task)
    by_query = kling(sim, "GET", params={"external_task_id": "ext-1"}).json()["data"]
    assert by_query["task_id"] == kling(sim, "GET", params={"task_id": first}).json()["data"]["task_id"] == first
    kling_wait(sim, second)
    listed = kling(sim, "GET", params={"pageNum": 1, "pageSize": 30}).json()["data"]
    assert [t["task_id"] for t in listed] == [second, first]  # newest first
    assert [t["task_id"] for t in kling(sim, "GET", params={"pageNum": 2, "pageSize": 1}).json()["data"]] == [first]


def test_media_is_deterministic_per_seed(sim):
    fixed = {**RAIN, "seed": 42}
    urls = [vidu_wait(sim, vidu_create(sim, body=fixed))["creations"][0]["url"] for _ in range(2)]
    assert urls[0] != urls[1] and fetch(urls[0]).content == fetch(urls[1]).content
    other = vidu_wait(sim, vidu_create(sim, body={**RAIN, "seed": 43}))["creations"][0]["url"]
    assert fetch(other).content != fetch(urls[0]).content


def test_concurrency_limit_holds_extra_tasks_in_queue(sim):
    ids = [vidu_create(sim) for _ in range(7)]
    kling_ids = [kling_create(sim) for _ in range(7)]
    most, queued, kling_most = 0, 0, 0
    while True:
        remains = vidu(sim, "GET", "/ent/v2/credits").json()["remains"][0]
        most, queued = max(most, remains["current_concurrency"]), max(queued, remains["queue_count"])
        kling_most = max(kling_most, sim.engine.load("kling")[0])
        if remains["current_concurrency"] == remains["queue_count"] == 0 and sim.engine.load("kling") == (0, 0):
            break
        time.sleep(0.002)
    assert most == kling_most == 5 and queued >= 2
    assert all(vidu_query(sim, vendor_id)["state"] == "success" for vendor_id in ids)
    assert all(kling(sim, "GET", f"{KLING_PATH}/{vendor_id}").json()["data"]["task_status"] == "succeed"
               for vendor_id in kling_ids)


# --- cancel and credits -----------------------------------------------------------------------------------------

def test_cancel_rules_and_refund(slow):
    ids = [vidu_create(slow) for _ in range(7)]
    assert vidu_balance(slow) == 10_000 - 7 * 10
    assert vidu(slow, "POST", f"/ent/v2/tasks/{ids[0]}/cancel", {"id": ids[0]}).json() == {}
    cancelled = vidu_query(slow, ids[0])
    assert (cancelled["state"], cancelled["err_code"], cancelled["credits"]) == ("failed", "UserCancelled", 0)
    assert vidu_balance(slow) == 10_000 - 6 * 10
    assert_vidu_error(vidu(slow, "POST", f"/ent/v2/tasks/{ids[0]}/cancel", {}), 400, "BadRequest",
                      "task state is failed, can not cancel")
    vidu_wait(slow, ids[6], ("queueing",))  # five run, so the seventh waits
    assert vidu(slow, "POST", f"/ent/v2/tasks/{ids[6]}/cancel").status_code == 200
    vidu_wait(slow, ids[1], ("processing",))
    assert_vidu_error(vidu(slow, "POST", f"/ent/v2/tasks/{ids[1]}/cancel", {}), 400, "BadRequest",
                      "task state is processing, can not cancel")


def test_cancel_after_success_is_refused(sim):
    vendor_id = vidu_create(sim)
    vidu_wait(sim, vendor_id)
    assert_vidu_error(vidu(sim, "POST", f"/ent/v2/tasks/{vendor_id}/cancel", {}), 400, "BadRequest",
                      "task state is success, can not cancel")


def test_credits_are_charged_and_run_out(sim):
    vidu_create(sim)  # 5 s: 10 credits
    vidu_create(sim, body={**RAIN, "duration": 8})  # over 5 s: 20 credits
    video = vidu(sim, "POST", "/ent/v2/text2video", SMALL_VIDEO).json()
    assert video["credits"] == 12  # viduq2 540p: 10 + 2 per further second
    assert vidu_balance(sim) == 10_000 - 42
    assert requests.post(sim.url + "/_sim/credits", json={"vidu": 15, "kling": 0}, timeout=10).json() == {
        "vidu": 15, "kling": 0}
    assert_vidu_error(vidu(sim, "POST", "/ent/v2/text2audio", {**RAIN, "duration": 8}), 400, "CreditInsufficient")
    vidu_create(sim)
    assert_vidu_error(vidu(sim, "POST", "/ent/v2/text2audio", RAIN), 400, "CreditInsufficient")
    assert_kling_error(kling(sim, "POST", body=FIREWORKS), 429, 1102, "Account balance not enough")
    sim.set_credits(kling="0.25")
    kling_create(sim)


# --- media URLs -------------------------------------------------------------------------------------------------

def test_media_ranges_and_signatures(sim):
    url = vidu_wait(sim, vidu_create(sim))["creations"][0]["url"]
    whole = fetch(url)
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    assert int(whole.headers["Content-Length"]) == len(whole.content) > 1000
    part = fetch(url, Range="bytes=100-199")
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(whole.content)}"
    assert fetch(url, Range="bytes=-10").content == whole.content[-10:]
    assert fetch(url, Range=f"bytes={len(whole.content) + 5}-").status_code == 416
    assert requests.head(url, timeout=10).headers["Content-Length"] == str(len(whole.content))
    assert fetch(re.sub(r"Signature=[^&]+", "Signature=forged", url)).status_code == 403
    assert fetch(re.sub(r"Expires=\d+", "Expires=9999999999", url)).status_code == 403


def test_media_urls_expire():
    with start(speed=50, url_ttl=1) as short:
        url = vidu_wait(short, vidu_create(short))["creations"][0]["url"]
        assert fetch(url).status_code == 200
        expires = int(parse_qs(urlsplit(url).query)["Expires"][0])
        time.sleep(max(0.0, expires - time.time()) + 0.05)
        answer = fetch(url)
        assert answer.status_code == 403 and b"expired" in answer.content


# --- callbacks --------------------------------------------------------------------------------------------------

def test_vidu_callbacks_are_signed(sim, receiver):
    hook = receiver()
    url = f"{hook.url}/vidu/callback?name=james&age=36"
    vendor_id = vidu_create(sim, body={**RAIN, "callback_url": url})
    wait_for(lambda: "success" in hook.states("state"))
    assert hook.states("state") == ["processing", "success"]
    for call in hook.calls:
        assert vidu_signature_valid(DEMO_VIDU_KEY, "POST", url, call.headers)
        assert not vidu_signature_valid("vda_other_key", "POST", url, call.headers)
        assert call.json["id"] == vendor_id
    assert hook.calls[-1].json == vidu_query(sim, vendor_id)


def test_vidu_terminal_callback_is_retried(sim, receiver):
    hook = receiver(answers=[200, 500, 503])
    vidu_create(sim, body={**RAIN, "prompt": "rain [fail:CreationPolicyViolation]", "callback_url": hook.url})
    wait_for(lambda: len(hook.calls) == 4)
    assert hook.states("state") == ["processing", "failed", "failed", "failed"]
    assert hook.calls[-1].json["err_code"] == "CreationPolicyViolation"


def test_kling_callbacks_are_signed(sim, receiver):
    hook = receiver(answers=[200, 200, 500])
    vendor_id = kling_create(sim, {**FIREWORKS, "external_task_id": "hooked", "callback_url": hook.url + "/kling"})
    wait_for(lambda: len(hook.calls) == 4)
    assert hook.states("task_status") == ["submitted", "processing", "succeed", "succeed"]
    for call in hook.calls:
        headers = {name.lower(): value for name, value in call.headers.items()}
        assert webhook_signature_valid(WEBHOOK_SECRET, headers["webhook-id"], headers["webhook-timestamp"],
                                       call.body, headers["webhook-signature"])
        assert call.json["task_id"] == vendor_id and "code" not in call.json  # a bare task object
    assert hook.calls[2].headers["webhook-id"] == hook.calls[3].headers["webhook-id"]  # a retry keeps its id
    assert hook.calls[1].headers["webhook-id"] != hook.calls[2].headers["webhook-id"]
    assert_shape(examples("kling")["responses"]["query_doc"]["data"], hook.calls[-1].json)


# --- faults -----------------------------------------------------------------------------------------------------

def test_fault_429_with_retry_after_over_http(sim):
    rule = {"match": "/ent/v2/tasks/", "status": 429, "retry_after": 1, "times": 2}
    assert requests.post(sim.url + "/_sim/faults", json=rule, timeout=10).status_code == 200
    vendor_id = vidu_create(sim)  # not matched
    for _ in range(2):
        answer = vidu(sim, "GET", f"/ent/v2/tasks/{vendor_id}/creations")
        assert_vidu_error(answer, 429, "TooManyRequests")
        assert answer.headers["Retry-After"] == "1"
    assert vidu(sim, "GET", f"/ent/v2/tasks/{vendor_id}/creations").status_code == 200
    sim.add_fault(match=KLING_PATH, status=429, code=1303, times=1)
    assert_kling_error(kling(sim, "GET"), 429, 1303, "parallel task over resource pack limit")


def test_fault_server_errors(sim):
    assert_vidu_error(vidu(sim, "POST", "/ent/v2/text2audio", {**RAIN, "prompt": "rain [http:503]"}), 503,
                      "ServiceUnavailable")
    assert_kling_error(kling(sim, "POST", body={**FIREWORKS, "prompt": "boom [http:500]"}), 500, 5000)
    sim.add_fault(match="/ent/v2/credits", status=500, times=1)
    sim.add_fault(match=KLING_PATH, status=502, times=1)
    assert_vidu_error(vidu(sim, "GET", "/ent/v2/credits"), 500, "InternalServiceFailure")
    assert_kling_error(kling(sim, "GET"), 502, 5000)
    assert vidu(sim, "GET", "/ent/v2/credits").status_code == kling(sim, "GET").status_code == 200
    assert vidu_balance(sim) == 10_000  # nothing was charged


def test_fault_slow_and_delay(sim):
    began = time.monotonic()
    vidu_create(sim, body={**RAIN, "prompt": "rain [slow:0.4]"})
    assert time.monotonic() - began >= 0.4
    with pytest.raises(requests.Timeout):
        vidu(sim, "POST", "/ent/v2/text2audio", {**RAIN, "prompt": "rain [slow:0.6]"}, timeout=0.2)
    wait_for(lambda: len(sim.engine.tasks("vidu")) == 2)  # the late create still lands; keep it out of other tests
    sim.add_fault(match=KLING_PATH, method="GET", delay=0.3, times=1)
    began = time.monotonic()
    assert kling(sim, "GET").status_code == 200 and time.monotonic() - began >= 0.3


def test_fault_malformed_html_and_drop(sim):
    rules = [{"match": "/ent/v2/credits", "body": "malformed", "times": 1},
             {"body": "html", "status": 502, "times": 1}, {"drop": True, "times": 1}]
    for rule in rules:
        requests.post(sim.url + "/_sim/faults", json=rule, timeout=10).raise_for_status()
    assert [f["body"] for f in requests.get(sim.url + "/_sim/faults", timeout=10).json()] == ["malformed", "html", None]
    cut = vidu(sim, "GET", "/ent/v2/credits")
    assert cut.status_code == 200
    with pytest.raises(ValueError):
        cut.json()
    page = kling(sim, "GET")
    assert page.status_code == 502 and page.headers["Content-Type"] == "text/html" and "<html>" in page.text
    with pytest.raises(requests.ConnectionError):
        kling(sim, "GET")
    assert kling(sim, "GET").status_code == 200
    assert requests.post(sim.url + "/_sim/faults", json={"colour": "red"}, timeout=10).status_code == 400


def test_fault_fail_markers(sim):
    vidu_id = vidu_create(sim, body={**RAIN, "prompt": "rain [fail:CreationPolicyViolation]"})
    kling_id = kling_create(sim, {**FIREWORKS, "prompt": "boom [fail:content risk control]"})
    failed = vidu_wait(sim, vidu_id)
    assert (failed["state"], failed["err_code"], failed["credits"], failed["creations"]) == (
        "failed", "CreationPolicyViolation", 0, [])
    assert vidu_balance(sim) == 10_000  # refunded
    task = kling_wait(sim, kling_id)
    assert (task["task_status"], task["task_status_msg"], task["final_unit_deduction"]) == (
        "failed", "content risk control", "0")
    assert task["task_result"] == {"audios": []}


def test_fault_kling_code_in_200_and_reset(sim):
    sim.add_fault(match=KLING_PATH, kling_code_in_200=1303)
    for _ in range(2):
        answer = kling(sim, "POST", body=FIREWORKS)
        assert answer.status_code == 200 and answer.json()["code"] == 1303 and "data" not in answer.json()
    assert requests.post(sim.url + "/_sim/reset", timeout=10).json() == {}
    assert kling(sim, "GET").json()["data"] == [] and [r.path for r in sim.requests] == [KLING_PATH]


# --- running it alone -------------------------------------------------------------------------------------------

def test_command_line_prints_its_url():
    process = subprocess.Popen([sys.executable, "-m", "lib.sim", "--port", "0", "--speed", "100"],
                               stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    try:
        url = re.search(r"http://\S+", process.stdout.readline()).group()
        assert requests.get(url + "/_sim/health", timeout=10).text == "ok"
        credits = requests.get(url + "/ent/v2/credits", headers={"Authorization": f"Token {DEMO_VIDU_KEY}"}, timeout=10)
        assert credits.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
