"""Property-based tests: whatever a person types and whatever a vendor (or a proxy in front of it) answers,
the studio fails only with its own typed, plain-language errors, and never sends a request its validators reject.

Each property runs a bounded number of examples so the whole file stays under 30 seconds; the `@example`s pin
down inputs that once escaped as ValueError, RecursionError or AttributeError. Media downloads are covered too:
http(s) only, private addresses refused when hosted, size and time capped, nothing half-written left behind.
"""
from __future__ import annotations

import ipaddress
import json
import math
import socket
import tempfile
import time
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lib.core.errors import InvalidRequest, Problem, StudioError, VendorError
from lib.core.tasks import Endpoint, Media, State, Task
from lib.core.validation import (
    KLING_FIELDS,
    MOVEMENTS,
    STYLES,
    VIDEO_MODELS,
    VIDU_FIELDS,
    validate,
    validate_kling_text2audio,
    validate_vidu_text2audio,
    validate_vidu_text2video,
    validate_vidu_timing2audio,
)
from lib.media import archive
from lib.service import studio
from lib.store.sqlite import Store
from lib.vendors import kling, vidu
from lib.vendors.transport import json_or_none

EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DEEP_JSON = "[" * 5000 + "]" * 5000  # the C decoder gives up on nesting this deep with RecursionError
BROKEN_URLS = ["http://[::1", "https://[not-an-ip]/x", "http://a..b/", "http://" + "a" * 64 + ".com/",
               "http://exa mple.com/", "http://\x00/", "https://[::1]:99999/"]

# --- strategies --------------------------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
           | st.sampled_from(["", " ", "0", "5", "10.5", "1e400", "NaN", "-3", "true", "false", "http://x.y/",
                              "https://[::1", "{}", "[]", "<script>x</script>"]))
json_like = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=10)
urls = st.sampled_from(["https://example.com/cb", "http://example.com/a.mp3", "ftp://x/y", "https://", "",
                        *BROKEN_URLS]) | st.text(max_size=30)


def maybe(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly a plausible value for a field, sometimes anything at all."""
    return st.one_of(valid, valid, json_like)


def body_of(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """Request bodies near the valid ones: any subset of the real fields (each plausible or wild), sometimes
    with unknown extra fields, sometimes not a dict at all."""
    near = st.fixed_dictionaries({}, optional={name: maybe(value) for name, value in fields.items()})
    extra = st.dictionaries(st.text(max_size=10), json_like, max_size=2)
    return st.one_of(near, near, st.builds(lambda a, b: {**b, **a}, near, extra), json_like)


prompts = st.text(min_size=1, max_size=60) | st.sampled_from(["x" * 1501, "x" * 2001, "x" * 201, "   "])
seeds = st.integers(-5, 2**31 + 5) | st.sampled_from([0, 2_147_483_647, 2_147_483_648, 1.5, "42"])
events = st.fixed_dictionaries({"from": maybe(st.floats(-1, 12)), "to": maybe(st.floats(-1, 12)),
                                "prompt": maybe(prompts)})
VIDU_T2A = body_of({"model": st.just("audio1.0"), "prompt": prompts, "duration": st.floats(0, 12),
                    "seed": seeds, "callback_url": urls})
VIDU_TIMING = body_of({"model": st.just("audio1.0"), "duration": st.floats(0, 12), "seed": seeds,
                       "callback_url": urls, "timing_prompts": st.lists(maybe(events), max_size=22)})
VIDU_T2V = body_of({"model": st.sampled_from(list(VIDEO_MODELS)), "prompt": prompts,
                    "duration": st.integers(0, 17), "seed": seeds,
                    "resolution": st.sampled_from(["540p", "720p", "1080p", "4k"]),
                    "aspect_ratio": st.sampled_from(["16:9", "9:16", "1:1", "3:4", "4:3", "2:1"]),
                    "style": st.sampled_from(STYLES), "movement_amplitude": st.sampled_from(MOVEMENTS),
                    "bgm": st.booleans(), "audio": st.booleans(), "off_peak": st.booleans(),
                    "watermark": st.booleans(), "wm_position": st.integers(0, 5), "wm_url": urls,
                    "payload": st.text(max_size=20), "callback_url": urls,
                    "meta_data": st.sampled_from(['{"Label": "x"}', "{", "[]", DEEP_JSON]) | st.text(max_size=10)})
KLING_T2A = body_of({"prompt": prompts, "duration": st.floats(2, 11) | st.sampled_from([3, 10, 5.5, 5.55, "4"]),
                     "external_task_id": st.text(max_size=10), "callback_url": urls})
WILD = {Endpoint.VIDU_TEXT2AUDIO: VIDU_T2A, Endpoint.VIDU_TIMING2AUDIO: VIDU_TIMING,
        Endpoint.VIDU_TEXT2VIDEO: VIDU_T2V, Endpoint.KLING_TEXT2AUDIO: KLING_T2A}

# Valid bodies, built from the documented limits, so that the "it was sent" side of a property is exercised too.
real_prompts = st.text(min_size=1, max_size=80).filter(str.strip)
web_urls = st.sampled_from(["https://example.com/callback", "http://hooks.example.org:8080/cue?x=1"])


def optional(**fields: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional=fields)


@st.composite
def valid_timeline(draw) -> dict:
    clip = draw(st.sampled_from([2.0, 5.0, 7.5, 10.0]))
    events = []
    for _ in range(draw(st.integers(1, 20))):
        start = draw(st.integers(0, int(clip * 10) - 1)) / 10
        end = draw(st.integers(int(start * 10) + 1, int(clip * 10))) / 10
        events.append({"from": start, "to": end, "prompt": draw(real_prompts)})
    return {"model": "audio1.0", "duration": clip, "timing_prompts": events,
            **draw(optional(seed=st.integers(0, 2_147_483_647), callback_url=web_urls))}


@st.composite
def valid_video(draw) -> dict:
    model = draw(st.sampled_from(list(VIDEO_MODELS)))
    seconds, _, resolutions, _, ratios, _ = VIDEO_MODELS[model]
    body = {"model": model, "prompt": draw(real_prompts)}
    body |= draw(optional(
        duration=st.sampled_from(list(seconds)), resolution=st.sampled_from(resolutions),
        aspect_ratio=st.sampled_from(ratios), style=st.sampled_from(STYLES),
        movement_amplitude=st.sampled_from(MOVEMENTS), seed=st.integers(0, 2_147_483_647),
        bgm=st.just(False) if model.startswith("viduq3") else st.booleans(), off_peak=st.booleans(), watermark=st.booleans(), wm_position=st.integers(1, 4), wm_url=web_urls,
        payload=st.text(max_size=20), meta_data=st.sampled_from(['{"Label": "x"}', "[]", "1"]), callback_url=web_urls,
        audio=st.booleans() if model.startswith("viduq3") else st.just(False)))
    return body


VALID = {
    Endpoint.VIDU_TEXT2AUDIO: st.builds(lambda prompt, rest: {"model": "audio1.0", "prompt": prompt, **rest},
                                        real_prompts, optional(duration=st.integers(4, 20).map(lambda n: n / 2),
                                                               seed=st.integers(0, 2_147_483_647),
                                                               callback_url=web_urls)),
    Endpoint.VIDU_TIMING2AUDIO: valid_timeline(),
    Endpoint.VIDU_TEXT2VIDEO: valid_video(),
    Endpoint.KLING_TEXT2AUDIO: st.builds(lambda prompt, seconds, rest: {"prompt": prompt[:200], "duration": seconds,
                                                                        **rest},
                                         real_prompts, st.integers(30, 100).map(lambda n: n / 10),
                                         optional(external_task_id=st.text(min_size=1, max_size=20),
                                                  callback_url=web_urls)),
}


@st.composite
def mutated(draw, valid: st.SearchStrategy, fields: set[str]) -> dict:
    """A valid body with one or two fields removed, replaced by anything, or added."""
    body = dict(draw(valid))
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(sorted(fields | {"extra", "timing_prompts"})))
        if name in body and draw(st.booleans()):
            del body[name]
        else:
            body[name] = draw(json_like)
    return body


def bodies(endpoint: Endpoint) -> st.SearchStrategy:
    """Valid bodies, nearly valid ones, and wild ones, in about equal parts."""
    fields = {Endpoint.VIDU_TEXT2AUDIO: VIDU_FIELDS["text2audio"],
              Endpoint.VIDU_TIMING2AUDIO: VIDU_FIELDS["timing2audio"],
              Endpoint.VIDU_TEXT2VIDEO: VIDU_FIELDS["text2video"], Endpoint.KLING_TEXT2AUDIO: KLING_FIELDS}[endpoint]
    return st.one_of(VALID[endpoint], mutated(VALID[endpoint], fields), WILD[endpoint])


BODIES = {endpoint: bodies(endpoint) for endpoint in Endpoint}
VALIDATORS = {Endpoint.VIDU_TEXT2AUDIO: validate_vidu_text2audio,
              Endpoint.VIDU_TIMING2AUDIO: validate_vidu_timing2audio,
              Endpoint.VIDU_TEXT2VIDEO: validate_vidu_text2video,
              Endpoint.KLING_TEXT2AUDIO: validate_kling_text2audio}
FIELDS = {Endpoint.VIDU_TEXT2AUDIO: VIDU_FIELDS["text2audio"], Endpoint.VIDU_TIMING2AUDIO: VIDU_FIELDS["timing2audio"],
          Endpoint.VIDU_TEXT2VIDEO: VIDU_FIELDS["text2video"], Endpoint.KLING_TEXT2AUDIO: KLING_FIELDS}

VIDU_STATES = st.sampled_from(["created", "queueing", "processing", "success", "failed", "", "weird"]) | json_like
KLING_STATES = st.sampled_from(["submitted", "processing", "succeed", "succeeded", "failed", "", "?"]) | json_like
VIDU_CREATION = st.fixed_dictionaries({}, optional={
    "url": maybe(st.sampled_from(["https://cdn.example/a.mp3", "https://cdn.example/v.mp4?x=1", "a.wav"])),
    "cover_url": maybe(st.just("https://cdn.example/c.jpg")), "watermarked_url": maybe(st.just("https://w/x")),
    "video": maybe(st.fixed_dictionaries({}, optional={"duration": maybe(st.floats(0, 20))}))})
VIDU_ANSWER = st.fixed_dictionaries({}, optional={
    "task_id": maybe(st.text(max_size=12)), "id": maybe(st.text(max_size=12)), "state": VIDU_STATES,
    "err_code": maybe(st.sampled_from(["", "UserCancelled", "CreationPolicyViolation", "Nope"])),
    "progress": maybe(st.integers(0, 100)), "credits": maybe(st.integers(0, 100)),
    "creations": maybe(st.lists(maybe(VIDU_CREATION), max_size=3))})
VIDU_ERROR = st.fixed_dictionaries({}, optional={
    "code": json_like, "reason": maybe(st.sampled_from(list(vidu.MESSAGES))), "message": json_like,
    "metadata": maybe(st.fixed_dictionaries({}, optional={"trace_id": json_like, "fields": json_like})),
    "error": maybe(st.fixed_dictionaries({}, optional={"code": json_like, "reason": json_like,
                                                      "message": json_like, "metadata": json_like}))})
KLING_AUDIO = st.fixed_dictionaries({}, optional={
    "url_mp3": maybe(st.just("https://cdn.example/a.mp3")), "url_wav": maybe(st.just("https://cdn.example/a.wav")),
    "duration_mp3": maybe(st.just("3.0")), "duration_wav": maybe(st.just("3.0"))})
KLING_TASK = st.fixed_dictionaries({}, optional={
    "task_id": maybe(st.text(max_size=12)), "task_status": KLING_STATES, "task_status_msg": json_like,
    "task_info": maybe(st.fixed_dictionaries({}, optional={"external_task_id": maybe(st.text(max_size=12))})),
    "task_result": maybe(st.fixed_dictionaries({}, optional={"audios": maybe(st.lists(maybe(KLING_AUDIO),
                                                                                       max_size=2))})),
    "created_at": maybe(st.integers(0, 2**63)), "updated_at": maybe(st.integers(0, 2**63)),
    "final_unit_deduction": maybe(st.just("0.25"))})
KLING_ANSWER = st.fixed_dictionaries({}, optional={
    "code": maybe(st.sampled_from([0, "0", 1201, "1302", 5000])), "message": json_like,
    "request_id": maybe(st.text(max_size=12)), "data": maybe(KLING_TASK | st.lists(maybe(KLING_TASK), max_size=3))})


def answer_bytes(shapes: st.SearchStrategy) -> st.SearchStrategy:
    """What can come back over HTTP: the vendor's JSON shapes, any JSON, or any bytes (HTML pages, cut-offs)."""
    return st.one_of(shapes.map(lambda b: json.dumps(b).encode()), json_like.map(lambda b: json.dumps(b).encode()),
                     st.binary(max_size=60), st.sampled_from([b"", b"null", b"<html>502</html>", b'{"task_id": "a"',
                                                              DEEP_JSON.encode()]))


statuses = st.sampled_from([200, 200, 201, 204, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504])
headers = st.fixed_dictionaries({}, optional={
    "Retry-After": st.sampled_from(["1", "-5", "nan", "inf", "1e999", "Wed, 21 Oct 2015 07:28:00 GMT", "soon"])
    | st.text(max_size=12).filter(lambda h: "\n" not in h and "\r" not in h),
    "x-md-trace-id": st.text(max_size=12)})


def fake_response(status: int, content: bytes, head: dict | None = None) -> requests.Response:
    resp = requests.Response()
    resp.status_code, resp._content, resp._content_consumed = status, content, True
    resp.headers.update(head or {})
    resp.url = "https://vendor.example/x"
    return resp


class Recording:
    """A Transport stand-in: records every request and answers each with the same canned response."""

    def __init__(self, resp: requests.Response | None = None):
        self.calls: list[dict] = []
        self.resp = resp

    def request(self, method, url, **kwargs):
        self.calls.append({"method": method, "url": url, **kwargs})
        return self.resp or fake_response(200, b'{"task_id": "t1", "state": "created"}')


# --- what every typed result must look like -----------------------------------------------------------------

def plain_problems(problems) -> None:
    assert isinstance(problems, list)
    for problem in problems:
        assert isinstance(problem, Problem)
        assert isinstance(problem.message, str) and problem.message.strip()
        assert "Traceback" not in problem.message and "Error:" not in problem.message
        assert problem.kind in ("missing", "invalid", "unwanted", "count")


def typed_error(error: StudioError) -> None:
    assert str(error).strip()
    if isinstance(error, VendorError):
        assert isinstance(error.code, str)
        assert error.trace_id is None or isinstance(error.trace_id, str)  # it is stored and shown
        assert error.retry_after is None or (isinstance(error.retry_after, float) and math.isfinite(error.retry_after))


def well_formed(task: Task) -> None:
    """A parsed task holds only what the store and the pages can take: text where text is expected."""
    assert isinstance(task.state, State)
    for name in ("vendor_id", "external_id", "error_code", "error_message", "trace_id"):
        assert getattr(task, name) is None or isinstance(getattr(task, name), str), name
    assert task.progress is None or isinstance(task.progress, int)
    assert task.credits is None or (isinstance(task.credits, float) and math.isfinite(task.credits))
    for stamp in (task.created_at, task.updated_at):
        assert isinstance(stamp, float) and math.isfinite(stamp)
    for media in task.media:
        assert isinstance(media, Media)
        assert isinstance(media.url, str) and media.url
        for name in ("cover_url", "watermarked_url"):
            assert getattr(media, name) is None or isinstance(getattr(media, name), str), name
        assert media.duration is None or math.isfinite(media.duration)


# --- validators ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", list(Endpoint))
def test_every_validator_answers_any_body_with_plain_problems(endpoint):
    @EXAMPLES
    @given(BODIES[endpoint] | json_like)
    def check(body):
        problems = VALIDATORS[endpoint](body)
        plain_problems(problems)
        assert problems == validate(endpoint, body)
        if not isinstance(body, dict):
            assert problems, "a body that is not an object is never valid"
        else:
            unknown = set(body) - FIELDS[endpoint]
            assert {p.field for p in problems} >= unknown  # every unknown field is named
        if not problems:  # a clean body is what would go on the wire: it must be JSON the vendor can read
            json.dumps(body, allow_nan=False)

    check()


@pytest.mark.parametrize("url", BROKEN_URLS)
@pytest.mark.parametrize("field", ["callback_url", "wm_url"])
def test_a_malformed_address_is_a_problem_not_a_crash(field, url):
    body = {"model": "viduq2", "prompt": "a cat", field: url}
    problems = validate_vidu_text2video(body)
    plain_problems(problems)
    if "[" in url:  # an unclosed or invalid IPv6 host, or a port past 65535
        assert [p.field for p in problems] == [field]


def test_deeply_nested_metadata_is_a_problem_not_a_crash():
    problems = validate_vidu_text2video({"model": "viduq2", "prompt": "a cat", "meta_data": DEEP_JSON})
    plain_problems(problems)


# --- response parsers, fed directly ---------------------------------------------------------------------------

def only_typed_errors(call, *args):
    try:
        result = call(*args)
    except StudioError as error:
        typed_error(error)
        return None
    return result


@EXAMPLES
@given(endpoint=st.sampled_from([e for e in Endpoint if e.provider.value == "vidu"]), body=VIDU_ANSWER | json_like,
       request_body=st.dictionaries(st.text(max_size=5), json_like, max_size=3))
def test_vidu_parsers_raise_only_typed_errors(endpoint, body, request_body):
    if not isinstance(body, dict):
        body = {"value": body}  # the client only hands the parsers an object (anything else is an error answer)
    for task in (only_typed_errors(vidu.parse_created, endpoint, body, request_body),
                 only_typed_errors(vidu.parse_query, body, endpoint), only_typed_errors(vidu.parse_query, body)):
        if task is not None:
            well_formed(task)


@EXAMPLES
@given(body=KLING_ANSWER | KLING_TASK | json_like, request_body=st.dictionaries(st.text(max_size=5), json_like,
                                                                                 max_size=3))
def test_kling_parsers_raise_only_typed_errors(body, request_body):
    for call, args in ((kling.parse_query, (body,)), (kling.parse_created, (body, request_body)),
                       (kling.parse_task, (body if isinstance(body, dict) else {"value": body},))):
        if call is kling.parse_created and not isinstance(body, dict):
            continue  # the client only hands it an object
        task = only_typed_errors(call, *args)
        if task is not None:
            well_formed(task)


@EXAMPLES
@given(status=statuses, content=answer_bytes(VIDU_ERROR | KLING_ANSWER), head=headers)
@example(status=500, content=DEEP_JSON.encode(), head={})
def test_error_readers_turn_any_answer_into_a_vendor_error(status, content, head):
    secret = "SK_PROPERTY_SECRET_1234567890abcdef"
    for module in (vidu, kling):
        error = module.error_from_response(fake_response(status, content + secret.encode(), head), (secret,))
        assert isinstance(error, VendorError)
        typed_error(error)
        assert secret not in str(error)


@EXAMPLES
@given(content=st.binary(max_size=80) | json_like.map(lambda b: json.dumps(b).encode()))
@example(content=DEEP_JSON.encode())
@example(content=b"\xff\xfe{\x00")
def test_json_or_none_never_raises(content):
    json_or_none(fake_response(200, content))


# --- the clients end to end, against any answer ---------------------------------------------------------------

@EXAMPLES
@given(status=statuses, content=answer_bytes(VIDU_ANSWER | VIDU_ERROR), head=headers)
@example(status=200, content=DEEP_JSON.encode(), head={})
def test_vidu_client_meets_any_answer_with_a_typed_error(status, content, head):
    client = vidu.ViduClient("VDA_PROPERTY_KEY", base_url="https://vidu.example",
                             transport=Recording(fake_response(status, content, head)))
    for call, args in ((client.create, (Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": "rain"})),
                       (client.query, ("task-1", Endpoint.VIDU_TEXT2VIDEO)), (client.query, ("task-1",)),
                       (client.cancel, ("task-1",)), (client.credits, ())):
        result = only_typed_errors(call, *args)
        if isinstance(result, Task):
            well_formed(result)
        assert "VDA_PROPERTY_KEY" not in repr(result)


@EXAMPLES
@given(status=statuses, content=answer_bytes(KLING_ANSWER), head=headers)
@example(status=200, content=DEEP_JSON.encode(), head={})
@example(status=200, content=b'{"code": 0, "data": [{"task_info": "x"}, {"task_info": ["y"]}]}', head={})
def test_kling_client_meets_any_answer_with_a_typed_error(status, content, head):
    transport = Recording(fake_response(status, content, head))
    client = kling.KlingClient(access_key="AK_PROPERTY", secret_key="SK_PROPERTY_SECRET_KEY_0123456789abcdef",
                               base_url="https://kling.example", transport=transport)
    for call, kwargs in ((client.create, {"body": {"prompt": "rain", "duration": 5}}),
                         (client.query, {"task_id": "t1"}), (client.query, {"external_id": "cue-1"}),
                         (client.list, {})):
        try:
            result = call(**kwargs)
        except StudioError as error:
            typed_error(error)
            assert "SK_PROPERTY_SECRET_KEY" not in str(error)
            continue
        for task in result if isinstance(result, list) else [result]:
            well_formed(task)


# --- no invalid request is ever sent ------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", list(Endpoint))
def created_answer(endpoint: Endpoint) -> requests.Response:
    body = ({"code": 0, "data": {"task_id": "t1", "task_status": "submitted"}} if endpoint.provider.value == "kling"
            else {"task_id": "t1", "state": "created"})
    return fake_response(200, json.dumps(body).encode())


def clients(endpoint: Endpoint, transport: Recording) -> studio.Vendors:
    return studio.Vendors(vidu.ViduClient("VDA_KEY", base_url="https://vidu.example", transport=transport),
                          kling.KlingClient(api_key="KL_KEY", base_url="https://kling.example", transport=transport),
                          vidu_live=True, kling_live=True)


def check_sent(endpoint: Endpoint, body, transport: Recording) -> None:
    """What went out: exactly one request, whose body validates, is JSON, and is the body that was checked."""
    assert len(transport.calls) == 1, "a create is sent exactly once"
    sent = transport.calls[0]["json"]
    assert VALIDATORS[endpoint](sent) == [], "the body that went out does not validate"
    json.dumps(sent, allow_nan=False)  # and is JSON a vendor can read
    # The ids the studio adds to find a task again: Kling's external id, Vidu's payload tag (when payload was empty).
    added = {"external_task_id"} | ({"payload"} if vidu.is_payload_tag(sent.get("payload")) and not body.get("payload")
                                    else set())
    assert {k: v for k, v in sent.items() if k not in added} == \
           {k: v for k, v in body.items() if k not in added}, "the request was changed after checking"


@pytest.mark.parametrize("endpoint", list(Endpoint))
def test_no_invalid_request_is_ever_sent_by_a_client(endpoint):
    sent = []

    @EXAMPLES
    @given(BODIES[endpoint])
    def check(body):
        transport = Recording(created_answer(endpoint))
        vendors = clients(endpoint, transport)
        snapshot = json.dumps(body, sort_keys=True, default=repr)
        try:
            task = (vendors.kling.create(body) if endpoint.provider.value == "kling"
                    else vendors.vidu.create(endpoint, body))
        except InvalidRequest as error:
            assert transport.calls == [], "an invalid request was sent"
            assert error.problems
            plain_problems(error.problems)
            return
        check_sent(endpoint, body, transport)
        assert json.dumps(body, sort_keys=True, default=repr) == snapshot, "the caller's body was modified"
        well_formed(task)
        sent.append(body)

    check()
    assert sent, "no valid body was generated, so the property was only half tested"


@pytest.mark.parametrize("endpoint", list(Endpoint))
def test_no_invalid_request_is_ever_sent_or_stored_by_the_studio(endpoint, tmp_path):
    """The path the pages take: `studio.submit` records the task, then sends it, or refuses before either."""
    store, sent = Store(tmp_path / "studio.db"), []

    @FEW
    @given(BODIES[endpoint])
    def check(body):
        transport = Recording(created_answer(endpoint))
        before = store.count("prop")
        try:
            task, new = studio.submit(store, clients(endpoint, transport), endpoint, body, "prop")
        except InvalidRequest as error:
            assert transport.calls == [] and store.count("prop") == before, "an invalid request went out or in"
            plain_problems(error.problems)
            return
        if not new:  # the same request moments ago: nothing sent again
            assert transport.calls == []
            return
        check_sent(endpoint, body, transport)
        assert store.get(task.id).vendor_id == "t1"
        sent.append(body)

    check()
    assert sent, "no valid body was generated, so the property was only half tested"


# --- media downloads ----------------------------------------------------------------------------------------

def _offline_getaddrinfo(host, port, *args, **kwargs):
    """Like socket.getaddrinfo without the network: IP literals resolve to themselves, names fail to resolve.
    Encodes the name first, as CPython does, so names it cannot encode raise the same UnicodeError."""
    if isinstance(host, str):
        try:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (str(ipaddress.ip_address(host)), 0))]
        except ValueError:
            host.encode("idna")
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@FEW
@given(url=st.text(max_size=40) | urls | st.builds(lambda s, h: f"{s}://{h}/x", st.sampled_from(
    ["http", "https", "ftp", "file", "javascript", "data", "HTTP", ""]), st.text(max_size=20)),
       allow_private=st.booleans())
@example(url="http://[::1", allow_private=False)
@example(url="http://a..b/", allow_private=False)
@example(url="http://" + "a" * 64 + "/", allow_private=False)
def test_check_url_raises_only_archive_errors_and_refuses_other_schemes(url, allow_private):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", _offline_getaddrinfo)
        try:
            archive.check_url(url, allow_private=allow_private)
        except archive.ArchiveError as error:
            assert str(error).strip()
            return
    assert url.split(":", 1)[0].lower() in ("http", "https"), f"{url!r} was accepted"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.mp3", "javascript:alert(1)",
                                 "data:audio/mp3;base64,AAAA", "gopher://example.com/", "//example.com/a.mp3",
                                 "example.com/a.mp3", "http:///a.mp3", ""])
@pytest.mark.parametrize("allow_private", [True, False])
def test_check_url_refuses_everything_but_http(url, allow_private):
    with pytest.raises(archive.ArchiveError):
        archive.check_url(url, allow_private=allow_private)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/a.mp3", "http://localhost/a.mp3", "http://10.1.2.3/a",
                                 "http://192.168.0.7/a", "http://[::1]/a", "http://169.254.169.254/latest/meta-data",
                                 "http://0.0.0.0/a", "http://[::ffff:127.0.0.1]/a", "http://2130706433/a"])
def test_hosted_instance_refuses_private_and_loopback_addresses(url):
    with pytest.raises(archive.ArchiveError):
        archive.check_url(url, allow_private=False)
    archive.check_url(url, allow_private=True)  # a laptop may fetch from its own network


def test_the_demo_simulator_is_the_one_private_exception():
    simulator = "http://127.0.0.1:8765"
    archive.check_url(f"{simulator}/_sim/media/a.mp3", allow_private=False, trusted=(f"{simulator}/",))
    with pytest.raises(archive.ArchiveError):  # a prefix match on the host alone would let this one through
        archive.check_url("http://127.0.0.1:87651/a.mp3", allow_private=False, trusted=(f"{simulator}/",))


class FakeDownload:
    """What `Transport.request(..., stream=True)` returns for a media file: status, headers, body in chunks."""

    def __init__(self, status: int, head: dict, chunks: list[bytes], pause: float = 0.0):
        self.status_code, self.chunks, self.pause = status, chunks, pause
        self.headers = requests.structures.CaseInsensitiveDict(head)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def iter_content(self, chunk_size=1):
        for chunk in self.chunks:
            time.sleep(self.pause)
            yield chunk


class MediaServer:
    def __init__(self, answer: FakeDownload):
        self.answer, self.calls = answer, []

    def request(self, method, url, **kwargs):
        self.calls.append(url)
        return self.answer


def media_task(kind: str = "audio") -> Task:
    media = Media(kind, "https://cdn.example/a.mp3" if kind == "audio" else "https://cdn.example/v.mp4",
                  "mp3" if kind == "audio" else "mp4")
    return Task(Endpoint.VIDU_TEXT2AUDIO if kind == "audio" else Endpoint.VIDU_TEXT2VIDEO, {}, media=(media,),
                state=State.SUCCEEDED)


def leftovers(folder) -> list:
    return [p for p in folder.rglob("*.part")] if folder.exists() else []


@FEW
@given(status=st.sampled_from([200, 200, 200, 206, 301, 403, 404, 500]),
       content_type=st.sampled_from(["audio/mpeg", "audio/wav; charset=x", "application/octet-stream",
                                     "text/html", "", "AUDIO/MPEG"]) | st.text(max_size=15),
       length=st.none() | st.sampled_from(["0", "10", "999999999999", "-1", "abc", "1e3", " 12 ", ""])
       | st.text(max_size=8),
       chunks=st.lists(st.binary(min_size=1, max_size=40), max_size=6))
@example(status=200, content_type="audio/mpeg", length="abc", chunks=[b"x"])
def test_archiving_any_download_ends_in_a_file_or_a_typed_error(status, content_type, length, chunks):
    head = {"Content-Type": content_type} | ({} if length is None else {"Content-Length": length})
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        # allow_private: the address check has tests of its own, and would look cdn.example up in the DNS
        archiver = archive.Archiver(folder, MediaServer(FakeDownload(status, head, chunks)), max_bytes=100,
                                    allow_private=True)
        try:
            task = archiver.archive(media_task())
        except StudioError as error:
            assert str(error).strip()
            assert not [p for p in folder.rglob("*") if p.is_file()]  # no partial file left behind
            return
        (saved,) = task.media
        assert status == 200 and saved.archived
        assert archiver.path(saved.archived).read_bytes() == b"".join(chunks)
        assert len(b"".join(chunks)) <= 100


def test_a_download_past_the_size_cap_is_refused_without_a_trace(tmp_path):
    archiver = archive.Archiver(tmp_path, MediaServer(FakeDownload(200, {"Content-Type": "audio/mpeg"},
                                                                   [b"x" * 60] * 3)), max_bytes=100,
                                allow_private=True)
    with pytest.raises(archive.ArchiveError, match="larger"):
        archiver.archive(media_task())
    assert leftovers(tmp_path) == []
    declared = archive.Archiver(tmp_path, MediaServer(FakeDownload(200, {"Content-Type": "audio/mpeg",
                                                                         "Content-Length": "101"}, [b"x"])),
                                max_bytes=100, allow_private=True)
    with pytest.raises(archive.ArchiveError, match="larger"):  # refused on the declared size, before reading
        declared.archive(media_task())


def test_a_download_past_the_time_cap_is_given_up(tmp_path):
    archiver = archive.Archiver(tmp_path, MediaServer(FakeDownload(200, {"Content-Type": "video/mp4"},
                                                                   [b"x"] * 20, pause=0.02)), max_seconds=0.1,
                                allow_private=True)
    with pytest.raises(archive.ArchiveError, match="too long"):
        archiver.archive(media_task("video"))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://cdn.example/a.mp3", "http://127.0.0.1/a.mp3",
                                 "http://169.254.169.254/latest/meta-data"])
def test_a_hosted_archive_sends_nothing_to_a_refused_address(tmp_path, url):
    server = MediaServer(FakeDownload(200, {"Content-Type": "audio/mpeg"}, [b"x"]))
    task = media_task()
    task = task.replace(media=(Media("audio", url, "mp3"),))
    with pytest.raises(archive.ArchiveError):
        archive.Archiver(tmp_path, server, allow_private=False).archive(task)
    assert server.calls == []
