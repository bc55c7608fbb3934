"""The real Vidu and Kling clients against the simulator over real HTTP on loopback: every endpoint, every fault.

One simulator per module (speed 50), reset before each test. Clients get a `Transport` whose waits are recorded
instead of slept, so retries cost no time and Retry-After can be checked; the same transport records the
Authorization header of every request it sent.
"""
from __future__ import annotations

import re
import socket
import time

import jwt
import pytest
import requests

from lib.core.errors import NetworkError, VendorError
from lib.core.tasks import Endpoint, State, Task
from lib.sim import (
    DEMO_KLING_ACCESS_KEY,
    DEMO_KLING_API_KEY,
    DEMO_KLING_SECRET_KEY,
    DEMO_VIDU_KEY,
    start,
)
from lib.vendors import kling, vidu
from lib.vendors.kling import KlingClient
from lib.vendors.transport import MAX_RETRIES, Transport
from lib.vendors.vidu import ViduClient

SPEED = 50
KEYS = (DEMO_VIDU_KEY, DEMO_KLING_ACCESS_KEY, DEMO_KLING_SECRET_KEY, DEMO_KLING_API_KEY)
BODIES = {
    Endpoint.VIDU_TEXT2AUDIO: {"model": "audio1.0", "prompt": "Rain on a tin roof", "duration": 2},
    Endpoint.VIDU_TIMING2AUDIO: {"model": "audio1.0", "duration": 2,
                                 "timing_prompts": [{"from": 0, "to": 1, "prompt": "A door creaks"}]},
    Endpoint.VIDU_TEXT2VIDEO: {"model": "viduq2", "prompt": "A cat on the grass", "duration": 1,
                               "resolution": "540p"},
    Endpoint.KLING_TEXT2AUDIO: {"prompt": "Fireworks over the harbour", "duration": 3},
}
RAIN, FIREWORKS = BODIES[Endpoint.VIDU_TEXT2AUDIO], BODIES[Endpoint.KLING_TEXT2AUDIO]
VIDU_CREATE, VIDU_TASKS = "/ent/v2/text2audio", "/ent/v2/tasks/"
KLING_PATH = "/v1/audio/text-to-audio"
CREATE_PATHS = {"vidu": VIDU_CREATE, "kling": KLING_PATH}
# Vidu's documented task err_codes (vidu_api.md §9.2) and the state each leaves the task in.
VIDU_TASK_ERRORS = {"CreationPolicyViolation": State.FAILED, "TaskPromptPolicyViolation": State.FAILED,
                    "AuditSubmitIllegal": State.FAILED, "ModelUnavailable": State.FAILED,
                    "InternalServiceFailure": State.FAILED, "UserCancelled": State.CANCELLED}


# --- fixtures and helpers ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim():
    simulator = start(speed=SPEED)
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def slow_sim():
    """Slow enough (0.25 s in "created", 2 s processing) to catch a task before and while it runs."""
    simulator = start(speed=4)
    yield simulator
    simulator.stop()


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.reset()
    sim.clear_faults()
    yield
    sim.clear_faults()


@pytest.fixture
def closed_port() -> str:
    """The address of a loopback port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Wire:
    """A Transport that records its waits instead of sleeping, and the Authorization header it sent."""

    def __init__(self, vendor: str, **options):
        self.waits: list[float] = []
        self.authorizations: list[str] = []
        session = requests.Session()
        session.hooks["response"].append(self._sent)
        self.transport = Transport(vendor=vendor, sleep=self.waits.append, session=session, **options)

    def _sent(self, response, *args, **kwargs):
        self.authorizations.append(response.request.headers.get("Authorization"))


def vidu_client(url: str, profile: str = "vidu-global", **options) -> tuple[ViduClient, Wire]:
    wire = Wire("Vidu", **options)
    return ViduClient(DEMO_VIDU_KEY, profile=profile, base_url=url, transport=wire.transport), wire


def kling_client(url: str, auth: str = "jwt", clock=time.time, **options) -> tuple[KlingClient, Wire]:
    wire = Wire("Kling", **options)
    keys = ({"api_key": DEMO_KLING_API_KEY} if auth == "api_key" else
            {"access_key": DEMO_KLING_ACCESS_KEY, "secret_key": DEMO_KLING_SECRET_KEY})
    return KlingClient(**keys, base_url=url, transport=wire.transport, clock=clock), wire


def client(vendor: str, url: str, **options):
    return (vidu_client if vendor == "vidu" else kling_client)(url, **options)


def create(vendor: str, api, marker: str = "") -> Task:
    if vendor == "vidu":
        return api.create(Endpoint.VIDU_TEXT2AUDIO, {**RAIN, "prompt": f"{RAIN['prompt']} {marker}".strip()})
    return api.create({**FIREWORKS, "prompt": f"{FIREWORKS['prompt']} {marker}".strip()})


def query(vendor: str, api, task: Task) -> Task:
    return api.query(task.vendor_id, task.endpoint) if vendor == "vidu" else api.query(task_id=task.vendor_id)


def until_done(check, timeout: float = 15) -> Task:
    deadline = time.monotonic() + timeout
    while True:
        task = check()
        if task.state.terminal or time.monotonic() > deadline:
            return task
        time.sleep(0.02)


def sent(sim, method: str, path: str) -> int:
    """How many requests the simulator saw with this method whose path starts with `path`."""
    return sum(r.method == method and r.path.startswith(path) for r in sim.requests)


def creates(sim, vendor: str) -> int:
    return sent(sim, "POST", CREATE_PATHS[vendor])


def assert_plain(message: str) -> None:
    """What a person may be shown: words, no traceback or exception text, no key or token."""
    assert message and message.strip()
    for leak in ("Traceback", 'File "', "Error(", "Exception", "JSONDecodeError", "Expecting value", "<html",
                 "urllib3", "HTTPConnectionPool", "Max retries", *KEYS):
        assert leak not in message, (leak, message)
    assert not re.search(r"eyJ[\w-]+\.[\w-]+", message), message  # a JWT


# --- every endpoint ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile, scheme", [("vidu-global", "Token"), ("kkiai", "Bearer")])
@pytest.mark.parametrize("endpoint", [Endpoint.VIDU_TEXT2AUDIO, Endpoint.VIDU_TIMING2AUDIO,
                                      Endpoint.VIDU_TEXT2VIDEO])
def test_vidu_endpoint_runs_to_success(sim, profile, scheme, endpoint):
    api, wire = vidu_client(sim.url, profile)
    task = api.create(endpoint, BODIES[endpoint])
    assert task.state is State.QUEUED and task.vendor_id and task.params == BODIES[endpoint]

    done = until_done(lambda: api.query(task.vendor_id, endpoint))
    assert done.state is State.SUCCEEDED and done.vendor_id == task.vendor_id and done.progress == 100
    [media] = done.media
    assert media.kind == endpoint.media_kind and media.url.startswith(sim.url)
    if endpoint is Endpoint.VIDU_TEXT2VIDEO:
        assert media.format == "mp4" and media.duration == 1.0 and media.cover_url
    else:
        assert media.format == "mp3"
    assert requests.get(media.url, timeout=10).status_code == 200

    assert set(wire.authorizations) == {f"{scheme} {DEMO_VIDU_KEY}"}
    assert all(r.auth_valid for r in sim.requests if r.vendor == "vidu")
    assert sent(sim, "POST", "/ent/v2/") == 1 and wire.waits == []


@pytest.mark.parametrize("auth", ["jwt", "api_key"])
def test_kling_text_to_audio_runs_to_success_and_is_found_by_external_id(sim, auth):
    api, wire = kling_client(sim.url, auth)
    task = api.create(FIREWORKS)
    assert task.state is State.QUEUED and task.vendor_id and task.external_id.startswith("cue-")

    done = until_done(lambda: api.query(task_id=task.vendor_id))
    assert done.state is State.SUCCEEDED and done.credits == 0.25
    assert [(m.kind, m.format) for m in done.media] == [("audio", "mp3"), ("audio", "wav")]
    assert all(isinstance(m.duration, float) and m.duration == 3.0 for m in done.media)

    by_external = api.query(external_id=task.external_id)
    assert (by_external.vendor_id, by_external.state, by_external.media) == (task.vendor_id, done.state, done.media)
    listed = api.list()
    assert [t.vendor_id for t in listed] == [task.vendor_id] and listed[0].external_id == task.external_id

    [authorization] = set(wire.authorizations)  # a JWT is reused until it nears expiry
    if auth == "api_key":
        assert authorization == f"Bearer {DEMO_KLING_API_KEY}"
    else:
        claims = jwt.decode(authorization.removeprefix("Bearer "), DEMO_KLING_SECRET_KEY, algorithms=["HS256"])
        assert claims["iss"] == DEMO_KLING_ACCESS_KEY and claims["nbf"] < time.time() < claims["exp"]
    assert all(r.auth_valid for r in sim.requests if r.vendor == "kling") and creates(sim, "kling") == 1


def test_kling_list_is_newest_first_and_each_task_is_found_by_its_external_id(sim):
    api, _ = kling_client(sim.url)
    first, second = api.create(FIREWORKS), api.create({**FIREWORKS, "prompt": "A squeaky door"})
    assert [t.vendor_id for t in api.list(page=1, page_size=30)] == [second.vendor_id, first.vendor_id]
    assert [t.vendor_id for t in api.list(page=2, page_size=1)] == [first.vendor_id]
    for task in (first, second):
        assert api.query(external_id=task.external_id).vendor_id == task.vendor_id


def test_vidu_credits_show_the_balance_and_what_a_task_cost(sim):
    api, _ = vidu_client(sim.url)
    assert api.credits()["remains"][0]["credit_remain"] == 10_000
    task = api.create(Endpoint.VIDU_TEXT2AUDIO, RAIN)
    answer = api.credits()
    assert answer["remains"][0]["credit_remain"] == 10_000 - task.credits
    assert answer["packages"][0]["credit_amount"] == 10_000


def test_vidu_cancel_of_a_queued_task_cancels_it(slow_sim):
    api, _ = vidu_client(slow_sim.url)
    task = api.create(Endpoint.VIDU_TEXT2AUDIO, RAIN)
    assert task.state is State.QUEUED
    api.cancel(task.vendor_id)
    cancelled = api.query(task.vendor_id, task.endpoint)
    assert cancelled.state is State.CANCELLED and cancelled.error_code == "UserCancelled"
    assert cancelled.error_message == "The task was cancelled." and cancelled.credits == 0


def test_vidu_cancel_of_a_running_task_is_refused_in_plain_words(slow_sim):
    api, _ = vidu_client(slow_sim.url)
    task = api.create(Endpoint.VIDU_TEXT2AUDIO, RAIN)
    deadline = time.monotonic() + 5
    while api.query(task.vendor_id).state is not State.RUNNING:
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.02)
    with pytest.raises(VendorError) as raised:
        api.cancel(task.vendor_id)
    error = raised.value
    assert (error.http_status, error.code, error.retryable) == (400, "BadRequest", False)
    assert error.message == "Too late: Vidu has already started making it; it will finish and be charged."
    assert_plain(str(error))
    assert api.query(task.vendor_id).state is State.RUNNING


# --- faults on reads: retried, and Retry-After honoured ----------------------------------------------------------

def _vidu_query(sim, **options):
    api, wire = vidu_client(sim.url, **options)
    task = api.create(Endpoint.VIDU_TEXT2AUDIO, RAIN)
    return wire, VIDU_TASKS, lambda: api.query(task.vendor_id, task.endpoint).vendor_id == task.vendor_id


def _vidu_credits(sim, **options):
    api, wire = vidu_client(sim.url, **options)
    return wire, "/ent/v2/credits", lambda: api.credits()["remains"][0]["credit_remain"] == 10_000


def _kling_query(sim, **options):
    api, wire = kling_client(sim.url, **options)
    task = api.create(FIREWORKS)
    return wire, f"{KLING_PATH}/", lambda: api.query(task_id=task.vendor_id).vendor_id == task.vendor_id


def _kling_by_external_id(sim, **options):
    api, wire = kling_client(sim.url, "api_key", **options)
    task = api.create(FIREWORKS)
    return wire, KLING_PATH, lambda: api.query(external_id=task.external_id).vendor_id == task.vendor_id


def _kling_list(sim, **options):
    api, wire = kling_client(sim.url, **options)
    task = api.create(FIREWORKS)
    return wire, KLING_PATH, lambda: [t.vendor_id for t in api.list()] == [task.vendor_id]


READS = {"vidu query": _vidu_query, "vidu credits": _vidu_credits, "kling query": _kling_query,
         "kling query by external id": _kling_by_external_id, "kling list": _kling_list}


@pytest.mark.parametrize("read", READS)
def test_429_on_a_read_is_retried_after_the_retry_after_it_asks_for(sim, read):
    wire, path, works = READS[read](sim)
    sim.add_fault(match=path, method="GET", status=429, retry_after=7, times=2)
    assert works()
    assert wire.waits == [7.0, 7.0] and sent(sim, "GET", path) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("read", ["vidu query", "kling query"])
def test_server_errors_on_a_read_are_retried_with_backoff(sim, read, status):
    wire, path, works = READS[read](sim)
    sim.add_fault(match=path, method="GET", status=status, times=2)
    assert works()
    assert len(wire.waits) == 2 and 0.25 <= wire.waits[0] <= 0.5 and 0.5 <= wire.waits[1] <= 1.0
    assert sent(sim, "GET", path) == 3


@pytest.mark.parametrize("read", ["vidu query", "kling query"])
def test_a_dropped_connection_on_a_read_is_retried(sim, read):
    wire, path, works = READS[read](sim)
    sim.add_fault(match=path, method="GET", drop=True, times=1)
    assert works()
    assert len(wire.waits) == 1 and sent(sim, "GET", path) == 2


@pytest.mark.parametrize("read", ["vidu query", "kling query"])
def test_a_slow_read_times_out_and_is_retried(sim, read):
    wire, path, works = READS[read](sim, read_timeout=0.3)
    sim.add_fault(match=path, method="GET", delay=0.6, times=1)
    assert works()
    assert len(wire.waits) == 1 and sent(sim, "GET", path) == 2


@pytest.mark.parametrize("vendor", ["vidu", "kling"])
def test_a_read_that_keeps_failing_gives_up_with_a_plain_retryable_error(sim, vendor):
    api, wire = client(vendor, sim.url)
    task = create(vendor, api)
    sim.add_fault(match=VIDU_TASKS if vendor == "vidu" else KLING_PATH, method="GET", status=503)
    with pytest.raises(VendorError) as raised:
        query(vendor, api, task)
    assert raised.value.retryable and raised.value.http_status == 503
    assert len(wire.waits) == MAX_RETRIES
    assert_plain(str(raised.value))


# --- faults on creates: never retried ----------------------------------------------------------------------------

@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
@pytest.mark.parametrize("vendor", ["vidu", "kling"])
def test_an_error_status_on_create_is_not_retried(sim, vendor, status):
    api, wire = client(vendor, sim.url)
    sim.add_fault(match=CREATE_PATHS[vendor], method="POST", status=status, retry_after=3)
    with pytest.raises(VendorError) as raised:
        create(vendor, api)
    error = raised.value
    assert (error.vendor, error.http_status, error.retryable, error.retry_after) == (vendor, status, True, 3)
    assert_plain(str(error))
    assert creates(sim, vendor) == 1 and wire.waits == []


@pytest.mark.parametrize("vendor", ["vidu", "kling"])
def test_an_http_marker_on_create_is_not_retried(sim, vendor):
    api, wire = client(vendor, sim.url)
    with pytest.raises(VendorError) as raised:
        create(vendor, api, "[http:503]")
    assert raised.value.http_status == 503 and raised.value.retryable
    assert creates(sim, vendor) == 1 and wire.waits == []


@pytest.mark.parametrize("vendor", ["vidu", "kling"])
def test_a_create_slower_than_the_read_timeout_may_have_reached_the_server(sim, vendor):
    api, wire = client(vendor, sim.url, read_timeout=0.3)
    with pytest.raises(NetworkError) as raised:
        create(vendor, api, "[slow:1]")
    error = raised.value
    assert error.may_have_reached_server and "may still have been created" in str(error)
    assert_plain(str(error))
    assert creates(sim, vendor) == 1 and wire.waits == []
    assert error.task is not None and error.task.params["prompt"].endswith("[slow:1]")
    if vendor == "kling":  # the task did get made, and the external id the error carries finds it
        assert error.task.external_id
        found = until_done(lambda: _lookup(api, error.task.external_id), timeout=5)
        assert found.external_id == error.task.external_id and found.vendor_id


def _lookup(api: KlingClient, external_id: str) -> Task:
    try:
        return api.query(external_id=external_id)
    except VendorError as missing:  # not made yet: the simulator is still sleeping on the create
        assert missing.code == "1203"
        return Task(Endpoint.KLING_TEXT2AUDIO, params={}, state=State.QUEUED)


@pytest.mark.parametrize("vendor", ["vidu", "kling"])
def test_a_dropped_connection_on_create_may_have_reached_the_server(sim, vendor):
    api, wire = client(vendor, sim.url)
    sim.add_fault(match=CREATE_PATHS[vendor], method="POST", drop=True)
    with pytest.raises(NetworkError) as raised:
        create(vendor, api)
    assert raised.value.may_have_reached_server and raised.value.task is not None
    assert_plain(str(raised.value))
    assert creates(sim, vendor) == 1 and wire.waits == []


@pytest.mark.parametrize("vendor", ["vidu", "kling"])
def test_a_refused_connection_sent_nothing(sim, vendor, closed_port):
    api, wire = client(vendor, closed_port)
    with pytest.raises(NetworkError) as raised:
        create(vendor, api)
    error = raised.value
    assert not error.may_have_reached_server and "nothing was sent" in str(error)
    assert_plain(str(error))
    assert wire.waits == []  # a create is not retried, even when nothing was sent

    with pytest.raises(NetworkError) as raised:
        api.query("1") if vendor == "vidu" else api.query(task_id="1")
    assert not raised.value.may_have_reached_server and "nothing was sent" in str(raised.value)
    assert len(wire.waits) == MAX_RETRIES  # a read is
    assert sim.requests == []


# --- answers that are not data -----------------------------------------------------------------------------------

@pytest.mark.parametrize("step", ["create", "query"])
@pytest.mark.parametrize("vendor", ["vidu", "kling"])
def test_a_cut_off_json_answer_is_a_plain_error(sim, vendor, step):
    api, wire = client(vendor, sim.url)
    task = create(vendor, api) if step == "query" else None
    sim.add_fault(match=CREATE_PATHS[vendor] if step == "create" else "/", method="POST" if step == "create"
                  else "GET", body="malformed", times=1)
    with pytest.raises(VendorError) as raised:
        create(vendor, api) if step == "create" else query(vendor, api, task)
    error = raised.value
    assert (error.code, error.http_status) == ("non_json", 200)
    assert error.message == f"{vendor.title()}'s server answered with an error page (HTTP 200) instead of data."
    assert_plain(str(error))
    assert creates(sim, vendor) == 1 and wire.waits == []


@pytest.mark.parametrize("step", ["create", "query"])
@pytest.mark.parametrize("vendor", ["vidu", "kling"])
def test_a_proxy_html_page_is_a_plain_error(sim, vendor, step):
    api, wire = client(vendor, sim.url)
    task = create(vendor, api) if step == "query" else None
    sim.add_fault(match=CREATE_PATHS[vendor] if step == "create" else "/", method="POST" if step == "create"
                  else "GET", body="html", status=502)
    with pytest.raises(VendorError) as raised:
        create(vendor, api) if step == "create" else query(vendor, api, task)
    error = raised.value
    assert (error.code, error.http_status, error.retryable) == ("non_json", 502, True)
    assert error.message == f"{vendor.title()}'s server answered with an error page (HTTP 502) instead of data."
    assert_plain(str(error))
    assert creates(sim, vendor) == 1
    assert len(wire.waits) == (0 if step == "create" else MAX_RETRIES)


# --- tasks that fail, accounts that run dry, clocks that disagree -------------------------------------------------

@pytest.mark.parametrize("code", VIDU_TASK_ERRORS)
def test_a_vidu_task_failing_with_a_documented_code_says_so_plainly(sim, code):
    api, _ = vidu_client(sim.url)
    task = create("vidu", api, f"[fail:{code}]")
    done = until_done(lambda: api.query(task.vendor_id, task.endpoint))
    assert done.state is VIDU_TASK_ERRORS[code] and done.error_code == code
    assert done.error_message == vidu.describe_failure(code) == vidu.MESSAGES[code]
    assert done.media == () and done.credits == 0  # failed tasks are refunded
    assert_plain(done.error_message)


def test_a_kling_task_failure_carries_kling_s_reason(sim):
    api, _ = kling_client(sim.url)
    task = create("kling", api, "[fail:Audio generation failed]")
    done = until_done(lambda: api.query(task_id=task.vendor_id))
    assert done.state is State.FAILED and done.media == ()
    assert done.error_message == "Kling could not finish the task: Audio generation failed"


@pytest.mark.parametrize("step", ["create", "query", "list"])
def test_a_kling_error_code_inside_http_200_is_an_error(sim, step):
    api, wire = kling_client(sim.url)
    task = api.create(FIREWORKS) if step != "create" else None
    sim.add_fault(match=KLING_PATH, method="POST" if step == "create" else "GET", kling_code_in_200=1301)
    call = {"create": lambda: api.create(FIREWORKS), "query": lambda: api.query(task_id=task.vendor_id),
            "list": api.list}[step]
    with pytest.raises(VendorError) as raised:
        call()
    error = raised.value
    assert (error.http_status, error.code, error.retryable) == (200, "1301", False)
    assert error.message.startswith(kling.MESSAGES["1301"])
    assert_plain(str(error))
    assert creates(sim, "kling") == 1 and wire.waits == []


@pytest.mark.parametrize("vendor, code, words", [
    ("vidu", "CreditInsufficient", "Your Vidu account has run out of credits."),
    ("kling", "1102", "Your Kling resource pack is used up or has expired."),
])
def test_running_out_of_credits_is_said_plainly_and_not_retried(sim, vendor, code, words):
    api, wire = client(vendor, sim.url)
    sim.set_credits(**{vendor: 0})
    with pytest.raises(VendorError) as raised:
        create(vendor, api)
    assert raised.value.code == code and raised.value.message.startswith(words)
    assert_plain(str(raised.value))
    assert creates(sim, vendor) == 1 and wire.waits == []


@pytest.mark.parametrize("skew, code, words", [
    (+3600, "1003", "Kling says the access token is not valid yet. Check that this computer's clock is right."),
    (-3600, "1004", "Kling says the access token has expired. Check that this computer's clock is right."),
])
def test_a_kling_token_from_a_clock_an_hour_off_is_refused_plainly(sim, skew, code, words):
    api, wire = kling_client(sim.url, clock=lambda: time.time() + skew)
    for call in (lambda: api.create(FIREWORKS), api.list):
        with pytest.raises(VendorError) as raised:
            call()
        assert (raised.value.http_status, raised.value.code, raised.value.retryable) == (401, code, False)
        assert raised.value.message.startswith(words)
        assert_plain(str(raised.value))
    assert creates(sim, "kling") == 1 and wire.waits == []
    assert [r.auth_valid for r in sim.requests] == [False, False]
