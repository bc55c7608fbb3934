"""Kling: JWT and API-key auth, every documented example and error code, and what the client sends."""
import re

import jwt
import pytest

from lib.core.errors import ConfigError, InvalidRequest, NetworkError, VendorError
from lib.core.tasks import Endpoint, Media, State
from lib.vendors import kling
from lib.vendors.kling import (
    KlingClient,
    KlingToken,
    error_from_response,
    parse_created,
    parse_query,
    parse_task,
)
from tests.http_fakes import ScriptedHTTP, examples, response

EXAMPLES = examples("kling")
AK = "AK_FAKE_recognisable_0a1b2c3d"
SK = "SK_FAKE_recognisable_0123456789abcdef"  # 32+ bytes, as real secret keys are
API_KEY = "KLING_API_FAKE_recognisable_77aa"
NOW = 1_773_367_500.6
FIREWORKS = {"prompt": "Fireworks sound during Chinese New Year celebration", "duration": 3}
CREATED = EXAMPLES["responses"]["create_reference"]
SUCCEEDED = EXAMPLES["responses"]["query_succeed_reference"]


class Clock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


def client(*answers, **options) -> tuple[KlingClient, ScriptedHTTP]:
    transport = ScriptedHTTP(*answers)
    options = options or {"access_key": AK, "secret_key": SK, "clock": Clock()}
    return KlingClient(transport=transport, **options), transport


def claims(token: str) -> dict:
    return jwt.decode(token, SK, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False})


# --- auth ----------------------------------------------------------------------------------------------------

def test_jwt_has_exactly_the_documented_claims_and_header():
    token = KlingToken(AK, SK, Clock()).value()
    assert claims(token) == {"iss": AK, "exp": int(NOW) + 1800, "nbf": int(NOW) - 5}
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}


def test_jwt_is_signed_with_the_secret_key():
    token = KlingToken(AK, SK, Clock()).value()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-key-of-enough-length!", algorithms=["HS256"],
                   options={"verify_exp": False, "verify_nbf": False})


def test_jwt_is_valid_now_with_a_real_clock():
    token = KlingToken(AK, SK).value()
    assert jwt.decode(token, SK, algorithms=["HS256"], options={"require": ["exp", "nbf", "iss"]})["iss"] == AK


def test_jwt_is_reused_then_renewed_before_it_expires():
    clock = Clock()
    token = KlingToken(AK, SK, clock)
    first = token.value()
    clock.now = NOW + 1800 - 301  # 301 s left: still good
    assert token.value() == first
    clock.now = NOW + 1800 - 299  # under five minutes left: renewed
    renewed = token.value()
    assert renewed != first and claims(renewed)["exp"] == int(clock.now) + 1800


def test_client_sends_the_jwt_as_bearer():
    kling_client, transport = client(response(200, CREATED))
    kling_client.create(FIREWORKS)
    scheme, token = transport.calls[0]["headers"]["Authorization"].split(" ")
    assert scheme == "Bearer" and claims(token)["iss"] == AK
    assert transport.calls[0]["headers"]["Content-Type"] == "application/json"


def test_api_key_mode_sends_the_key_as_bearer():
    kling_client, transport = client(response(200, CREATED), api_key=API_KEY, access_key=AK, secret_key=SK)
    kling_client.create(FIREWORKS)
    assert transport.calls[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("options, base", [
    ({}, "https://api-singapore.klingai.com"),
    ({"region": "beijing"}, "https://api-beijing.klingai.com"),
    ({"region": "beijing", "base_url": "http://127.0.0.1:8001/"}, "http://127.0.0.1:8001"),
])
def test_regions_and_base_url_override(options, base):
    kling_client, transport = client(response(200, CREATED), api_key=API_KEY, **options)
    kling_client.create(FIREWORKS)
    assert transport.calls[0]["url"] == f"{base}/v1/audio/text-to-audio"


@pytest.mark.parametrize("options, words", [
    ({}, "KLING_ACCESS_KEY and KLING_SECRET_KEY"),
    ({"access_key": AK}, "KLING_ACCESS_KEY and KLING_SECRET_KEY"),
    ({"api_key": API_KEY, "region": "tokyo"}, "KLING_REGION must be one of: singapore, beijing"),
])
def test_settings_problems(options, words):
    with pytest.raises(ConfigError, match=words):
        KlingClient(**options)


# --- every documented response parses ----------------------------------------------------------------------

def test_every_fixture_response_is_covered():
    # The signature vector's body is the new-design dialect, which /v1/audio never sends (test_signatures uses it).
    parsed_here = {"create_doc", "create_reference", "create_without_external_id", "query_doc",
                   "query_succeed_reference", "query_failed", "list_doc", "callback_legacy",
                   "callback_new_dialect_signature_vector"}
    assert set(EXAMPLES["responses"]) == parsed_here


@pytest.mark.parametrize("name", ["create_doc", "create_reference", "create_without_external_id"])
def test_create_responses_parse(name):
    body = EXAMPLES["responses"][name]
    sent = {**FIREWORKS, "external_task_id": "cue-sent"}
    task = parse_created(body, sent)
    assert (task.vendor_id, task.state, task.raw_state) == (body["data"]["task_id"], State.QUEUED, "submitted")
    assert task.params == sent and task.trace_id == body["request_id"]
    assert task.external_id == (body["data"]["task_info"].get("external_task_id") or "cue-sent")
    assert task.created_at == body["data"]["created_at"] / 1000


def test_query_success_gives_mp3_and_wav():
    task = parse_query(SUCCEEDED)
    base = "https://p1.a.kwimgs.com/bs2/upload-ylab-stunt/ai_audio/861254119619698760/output"
    assert (task.vendor_id, task.external_id, task.state, task.credits) == ("861254119619698760", "studio-0001",
                                                                          State.SUCCEEDED, 0.25)
    assert task.media == (Media("audio", f"{base}.mp3", "mp3", 5.0), Media("audio", f"{base}.wav", "wav", 5.0))
    assert task.error_message is None and task.updated_at == 1773367519.871


def test_query_doc_template_with_placeholder_values():
    task = parse_query(EXAMPLES["responses"]["query_doc"])
    assert task.state is State.SUCCEEDED and task.credits is None
    assert [(m.format, m.duration) for m in task.media] == [("mp3", None), ("wav", None)]


def test_failed_task_passes_the_reason_through():
    task = parse_query(EXAMPLES["responses"]["query_failed"])
    assert task.state is State.FAILED and task.media == ()
    assert task.error_message == "Kling could not finish the task: triggering the platform's content risk control"


def test_legacy_callback_body_parses():
    task = parse_task(EXAMPLES["responses"]["callback_legacy"])
    assert (task.vendor_id, task.state, task.media) == ("string", State.SUCCEEDED, ())


@pytest.mark.parametrize("word, state", [
    ("submitted", State.QUEUED), ("processing", State.RUNNING), ("succeed", State.SUCCEEDED),
    ("succeeded", State.SUCCEEDED), ("failed", State.FAILED),
])
def test_state_map(word, state):
    assert parse_task({"task_id": "1", "task_status": word}).state is state


@pytest.mark.parametrize("word", ["queued", "SUCCEED", "string"])
def test_a_state_word_not_known_yet_keeps_the_task_in_progress(word):
    task = parse_task({"task_id": "1", "task_status": word})
    assert (task.state, task.raw_state) == (State.RUNNING, word)


def test_an_answer_without_a_state_is_an_error():
    with pytest.raises(VendorError) as raised:
        parse_task({"task_id": "1", "task_status": ""})
    assert raised.value.code == "unexpected_answer" and "Kling" in raised.value.message


@pytest.mark.parametrize("message, words", [
    ("", "Kling could not finish the task and gave no reason."),
    (None, "Kling could not finish the task and gave no reason."),
    ("  audio generation failed ", "Kling could not finish the task: audio generation failed"),
])
def test_describe_failure(message, words):
    assert kling.describe_failure(message) == words


def test_missing_optional_fields_are_fine():
    task = parse_task({"task_id": "9", "task_status": "succeed", "task_result": {"audios": [{"url_mp3": "u.mp3"}]}})
    assert task.media == (Media("audio", "u.mp3", "mp3"),) and task.external_id is None


# --- errors ------------------------------------------------------------------------------------------------

DOCUMENTED = [  # kling_api.md §9, the official table
    (401, 1000), (401, 1001), (401, 1002), (401, 1003), (401, 1004), (429, 1100), (429, 1101), (429, 1102),
    (403, 1103), (400, 1200), (400, 1201), (404, 1202), (404, 1203), (400, 1300), (400, 1301), (429, 1302),
    (429, 1303), (429, 1304), (500, 5000), (503, 5001), (504, 5002),
]
RETRYABLE_CODES = {1302, 1303, 5000, 5001, 5002}


@pytest.mark.parametrize("status, code", DOCUMENTED)
def test_every_documented_code_reads_plainly(status, code):
    error = error_from_response(response(status, {"code": code, "message": "", "request_id": "req-1"}))
    assert error.message == kling.MESSAGES[str(code)] and "returned an error" not in error.message
    assert (error.vendor, error.http_status, error.code, error.trace_id) == ("kling", status, str(code), "req-1")
    assert error.retryable is (status in (429, 500, 503, 504) or code in RETRYABLE_CODES)


def test_the_messages_table_holds_exactly_the_documented_codes():
    assert set(kling.MESSAGES) == {str(code) for _, code in DOCUMENTED}


@pytest.mark.parametrize("name, words", [
    ("concurrency_limit", "as many tasks as its resource pack allows. Wait for one to finish. Kling says: “parallel "
                          "task over resource pack limit”."),
    ("invalid_parameter", "Kling does not accept one of the settings. Kling says: “Element id not found: "
                          "315187972322559”."),
    ("balance_not_enough", "Your Kling resource pack is used up or has expired. Kling says: “Account balance not "
                           "enough”."),
])
def test_fixture_errors(name, words):
    example = EXAMPLES["errors"][name]
    error = error_from_response(response(example["status"], example["body"]))
    assert error.message.endswith(words) and error.trace_id == example["body"]["request_id"]


def test_unknown_code_gives_a_generic_message_and_the_vendors_words():
    error = error_from_response(response(400, {"code": 1299, "message": "new rule", "request_id": "r"}))
    assert error.message == "Kling returned an error (1299). Kling says: “new rule”."


def test_html_body_is_an_error_page():
    error = error_from_response(response(504, text="<html><h1>504 Gateway Time-out</h1></html>"))
    assert error.code == "non_json" and error.retryable
    assert error.message == "Kling's server answered with an error page (HTTP 504) instead of data."


def test_non_zero_code_in_an_http_200_body_is_an_error():
    kling_client, _ = client(response(200, {"code": 1102, "message": "Account balance not enough",
                                            "request_id": "r-200"}))
    with pytest.raises(VendorError) as raised:
        kling_client.query(task_id="1")
    assert (raised.value.code, raised.value.http_status, raised.value.trace_id) == ("1102", 200, "r-200")


def test_html_with_http_200_is_an_error():
    kling_client, _ = client(response(200, text="<html>login</html>"))
    with pytest.raises(VendorError, match="error page"):
        kling_client.list()


def test_keys_and_token_never_appear_in_errors():
    token = KlingToken(AK, SK, Clock()).value()  # the same clock gives the client the same token
    kling_client, _ = client(response(401, {"code": 1002, "request_id": "r",
                                            "message": f"access key not found: {AK} {SK} {token}"}))
    with pytest.raises(VendorError) as raised:
        kling_client.query(task_id="1")
    text = f"{raised.value} {raised.value.message!r}"
    assert not any(secret in text for secret in (AK, SK, token)) and "access key not found" in text


# --- the client ----------------------------------------------------------------------------------------------

def test_create_always_sends_an_external_id_and_returns_it():
    kling_client, transport = client(response(200, EXAMPLES["responses"]["create_without_external_id"]))
    task = kling_client.create(FIREWORKS)
    call = transport.calls[0]
    assert (call["method"], call["retry"]) == ("POST", False)
    assert call["url"] == "https://api-singapore.klingai.com/v1/audio/text-to-audio"
    assert re.fullmatch(r"cue-[0-9a-f]{32}", call["json"]["external_task_id"])
    assert task.external_id == call["json"]["external_task_id"] and task.params == call["json"]
    assert task.vendor_id == "861254119619698760" and task.endpoint is Endpoint.KLING_TEXT2AUDIO


def test_an_empty_external_id_is_replaced_and_a_given_one_kept():
    kling_client, transport = client(response(200, CREATED), response(200, CREATED))
    kling_client.create(EXAMPLES["requests"]["official_text2audio"]["body"])
    kling_client.create({**FIREWORKS, "external_task_id": "studio-0001"})
    assert transport.calls[0]["json"]["external_task_id"].startswith("cue-")
    assert transport.calls[1]["json"]["external_task_id"] == "studio-0001"


def test_a_lost_create_answer_leaves_the_external_id_to_find_the_task_by():
    kling_client, transport = client(NetworkError("slow", may_have_reached_server=True))
    with pytest.raises(NetworkError) as raised:
        kling_client.create(FIREWORKS)
    sent = transport.calls[0]["json"]["external_task_id"]
    assert raised.value.task.external_id == sent and raised.value.task.params["external_task_id"] == sent


@pytest.mark.parametrize("body", [
    {"prompt": "x" * 201, "duration": 3}, {"prompt": "rain", "duration": 2.9}, {"prompt": "rain"},
    {"prompt": "rain", "duration": 3.25}, {"duration": 3},
])
def test_invalid_input_never_reaches_the_network(body):
    kling_client, transport = client()
    with pytest.raises(InvalidRequest):
        kling_client.create(body)
    assert transport.calls == []


def test_query_by_task_id():
    kling_client, transport = client(response(200, SUCCEEDED))
    task = kling_client.query(task_id="861254119619698760")
    call = transport.calls[0]
    assert (call["method"], call["retry"], call["params"]) == ("GET", True, None)
    assert call["url"] == "https://api-singapore.klingai.com/v1/audio/text-to-audio/861254119619698760"
    assert task.state is State.SUCCEEDED


def test_query_by_external_id_puts_it_in_the_path():
    kling_client, transport = client(response(200, SUCCEEDED))
    assert kling_client.query(external_id="studio-0001").vendor_id == "861254119619698760"
    call = transport.calls[0]
    assert call["url"] == "https://api-singapore.klingai.com/v1/audio/text-to-audio/studio-0001"
    assert call["params"] is None and call["retry"] is True


def test_query_by_external_id_refuses_another_tasks_answer():
    other = {**SUCCEEDED["data"], "task_id": "1", "task_info": {"external_task_id": "x"}}
    kling_client, _ = client(response(200, {"code": 0, "message": "SUCCEED", "data": other}))
    with pytest.raises(VendorError) as raised:
        kling_client.query(external_id="cue-missing")
    assert raised.value.code == "1203" and "cue-missing" in raised.value.message


@pytest.mark.parametrize("ids", [{}, {"task_id": "1", "external_id": "x"}])
def test_query_needs_exactly_one_id(ids):
    with pytest.raises(ValueError):
        client()[0].query(**ids)


def test_list_sends_the_page_and_parses_every_task():
    kling_client, transport = client(response(200, EXAMPLES["responses"]["list_doc"]))
    tasks = kling_client.list()
    assert transport.calls[0]["params"] == {"pageNum": 1, "pageSize": 30} and transport.calls[0]["retry"] is True
    assert [(t.vendor_id, t.state) for t in tasks] == [("string", State.RUNNING)]


@pytest.mark.parametrize("page, size", [(1, 1), (1000, 500)])
def test_list_page_edges_are_accepted(page, size):
    kling_client, transport = client(response(200, {"code": 0, "message": "SUCCEED", "data": []}))
    assert kling_client.list(page, size) == []
    assert transport.calls[0]["params"] == {"pageNum": page, "pageSize": size}


@pytest.mark.parametrize("page, size, field", [
    (0, 30, "pageNum"), (1001, 30, "pageNum"), (1, 0, "pageSize"), (1, 501, "pageSize"), (1.5, 30, "pageNum"),
    (True, 30, "pageNum"),
])
def test_list_page_limits_are_checked_before_sending(page, size, field):
    kling_client, transport = client()
    with pytest.raises(InvalidRequest) as raised:
        kling_client.list(page, size)
    assert [p.field for p in raised.value.problems] == [field] and transport.calls == []
    assert "must be a whole number between" in str(raised.value)
