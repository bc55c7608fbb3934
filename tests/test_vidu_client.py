"""Vidu: every documented example parses, every documented error reads plainly, and the client sends what the
docs say (and nothing when the input is invalid)."""
import pytest

from lib.core.errors import ConfigError, InvalidRequest, NetworkError, VendorError
from lib.core.tasks import Endpoint, Media, State
from lib.vendors import vidu
from lib.vendors.vidu import (
    ViduClient,
    describe_failure,
    error_from_response,
    parse_created,
    parse_query,
)
from tests.http_fakes import ScriptedHTTP, examples, response

EXAMPLES = examples("vidu")
KEY = "vda_FAKE_KEY_recognisable_31c7"
RAIN = {"model": "audio1.0", "prompt": "rain on a tin roof", "duration": 5}
CREATED = EXAMPLES["responses"]["text2audio_created_kkiai"]


def client(*answers, **options) -> tuple[ViduClient, ScriptedHTTP]:
    transport = ScriptedHTTP(*answers)
    return ViduClient(KEY, transport=transport, **options), transport


# --- every documented response parses ----------------------------------------------------------------------

CREATE_RESPONSES = {name: body for name, body in EXAMPLES["responses"].items() if "_created_" in name}
QUERY_RESPONSES = {name: body for name, body in EXAMPLES["responses"].items() if name.startswith("query_")}


def test_every_fixture_response_is_covered():
    others = {"cancel_success", "credits"}  # read by the client tests below
    assert set(EXAMPLES["responses"]) == set(CREATE_RESPONSES) | set(QUERY_RESPONSES) | others


@pytest.mark.parametrize("name", sorted(CREATE_RESPONSES))
def test_create_responses_parse(name):
    endpoint = Endpoint(f"vidu.{name.split('_created_')[0]}")
    body = CREATE_RESPONSES[name]
    task = parse_created(endpoint, body, {"sent": True})
    assert (task.endpoint, task.vendor_id, task.params) == (endpoint, body["task_id"], {"sent": True})
    assert (task.state, task.raw_state) == (State.QUEUED, "created")
    assert task.credits == body["credits"] and task.media == () and task.error_message is None


def test_query_success_parses():
    task = parse_query(QUERY_RESPONSES["query_success"], Endpoint.VIDU_TEXT2VIDEO)
    assert (task.vendor_id, task.state, task.credits) == ("your_task_id", State.SUCCEEDED, 4)
    assert task.media == (Media("video", "your_generated_results_url", "mp4",
                                cover_url="your_generated_results_cover_url",
                                watermarked_url="your_generated_results_watermarked_url"),)


@pytest.mark.parametrize("name, state, code, message", [
    ("query_failed", State.FAILED, "CreationPolicyViolation", "Vidu's content policy blocked the result."),
    ("query_cancelled", State.CANCELLED, "UserCancelled", "The task was cancelled."),
])
def test_query_failures_parse(name, state, code, message):
    task = parse_query(QUERY_RESPONSES[name], Endpoint.VIDU_TEXT2AUDIO)
    assert (task.state, task.raw_state, task.error_code) == (state, "failed", code)
    assert task.error_message.startswith(message) and task.media == ()


def test_create_without_a_task_id_is_an_error():
    with pytest.raises(VendorError, match="no task ID"):
        parse_created(Endpoint.VIDU_TEXT2AUDIO, {"state": "created"}, RAIN)


# --- states ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("word, err_code, state", [
    ("created", "", State.QUEUED), ("queueing", "", State.QUEUED), ("processing", "", State.RUNNING),
    ("success", "", State.SUCCEEDED), ("failed", "InternalServiceFailure", State.FAILED),
    ("failed", "UserCancelled", State.CANCELLED), ("failed", "", State.FAILED),
])
def test_state_map(word, err_code, state):
    assert parse_query({"state": word, "err_code": err_code}).state is state


@pytest.mark.parametrize("word", ["scheduled", "canceled", "SUCCESS"])
def test_a_state_word_not_known_yet_keeps_the_task_in_progress(word):
    task = parse_query({"id": "v1", "state": word})
    assert (task.state, task.raw_state) == (State.RUNNING, word)


def test_an_answer_without_a_state_is_an_error():
    with pytest.raises(VendorError) as raised:
        parse_query({})
    assert raised.value.code == "unexpected_answer" and "no task state" in raised.value.message


def test_progress_and_unknown_fields():
    task = parse_query({"state": "processing", "progress": 40, "brand_new_field": {"x": 1}})
    assert (task.state, task.progress, task.credits, task.media) == (State.RUNNING, 40, None, ())


# --- media -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, fmt", [
    ("https://cdn.vidu.com/a/audio.wav?Expires=1&Signature=x", "wav"),
    ("https://cdn.vidu.com/a/audio.mp3?Expires=1", "mp3"),
    ("https://cdn.vidu.com/a/AUDIO.WAV", "wav"),
    ("https://cdn.vidu.com/a/audio", "mp3"),
    ("https://cdn.vidu.com/a/audio.ogg", "mp3"),
])
def test_audio_format_from_the_url(url, fmt):
    body = {"state": "success", "creations": [{"id": "c1", "url": url, "cover_url": ""}]}
    for endpoint in (Endpoint.VIDU_TEXT2AUDIO, Endpoint.VIDU_TIMING2AUDIO):
        assert parse_query(body, endpoint).media == (Media("audio", url, fmt),)


def test_video_media_with_duration_cover_and_watermark():
    creation = {"id": "c1", "url": "https://cdn.vidu.com/v/video.mp4?Expires=1", "cover_url": "https://c/cover.jpg",
                "watermarked_url": "https://c/wm.mp4", "video": {"duration": 5.041667, "fps": 24,
                                                                 "resolution": {"width": 1280, "height": 720}}}
    task = parse_query({"state": "success", "creations": [creation]}, Endpoint.VIDU_TEXT2VIDEO)
    assert task.media == (Media("video", creation["url"], "mp4", 5.041667, "https://c/cover.jpg",
                                "https://c/wm.mp4"),)


def test_video_without_details_and_creations_without_url():
    body = {"state": "success", "creations": [{"url": "https://c/v.mp4", "cover_url": ""}, {"id": "no-url"}]}
    assert parse_query(body, Endpoint.VIDU_TEXT2VIDEO).media == (Media("video", "https://c/v.mp4", "mp4"),)


def test_media_kind_is_read_from_the_answer_when_the_endpoint_is_not_given():
    video = {"state": "success", "creations": [{"url": "https://c/result", "video": {"duration": 4.0}}]}
    audio = {"state": "success", "creations": [{"url": "https://c/result.wav"}]}
    assert parse_query(video).media[0].kind == "video" and parse_query(audio).media[0].kind == "audio"


# --- errors ------------------------------------------------------------------------------------------------

DOCUMENTED = [  # vidu_api.md §9.2: every reason in the .com and .cn tables
    (400, "BadRequest"), (400, "FieldLacking"), (400, "FieldUnwanted"), (400, "FieldItemCountOutOfRange"),
    (400, "PageSizeOutOfRange"), (400, "ImageDownloadFailure"), (400, "OperationInProcess"),
    (400, "TaskPromptPolicyViolation"), (400, "ImageFormatInvalid"), (400, "AuditSubmitIllegal"),
    (400, "CreditInsufficient"), (400, "CreationPolicyViolation"), (400, "ModelUnavailable"), (400, "UserCancelled"),
    (400, "FieldInvalid"), (400, "ImageCheckBodyJointsFailed"), (400, "ImageCheckFaceFailed"),
    (400, "ImageObjectsUndetected"), (401, "Unauthorized"), (403, "Forbidden"), (404, "TaskNotFound"),
    (404, "CreationNotFound"), (404, "NotFound"), (409, "Conflict"), (429, "QuotaExceeded"),
    (429, "TooManyRequests"), (429, "SystemThrottling"), (499, "Canceled"), (500, "InternalServiceFailure"),
]
RETRYABLE = {"QuotaExceeded", "TooManyRequests", "SystemThrottling", "OperationInProcess", "InternalServiceFailure"}


def kratos(status, reason, message="", trace="04e5c2fe159ff7c574acd0424e78c35f", **metadata):
    return response(status, {"code": status, "reason": reason, "message": message,
                             "metadata": {"trace_id": trace, **metadata}})


@pytest.mark.parametrize("status, reason", DOCUMENTED)
def test_every_documented_reason_reads_plainly(status, reason):
    error = error_from_response(kratos(status, reason))
    assert error.message == vidu.MESSAGES[reason] and "returned an error" not in error.message
    assert (error.vendor, error.http_status, error.code) == ("vidu", status, reason)
    assert error.trace_id == "04e5c2fe159ff7c574acd0424e78c35f"
    assert error.retryable is (reason in RETRYABLE or status in (429, 500))


def test_the_messages_table_holds_exactly_the_documented_reasons():
    assert set(vidu.MESSAGES) == {reason for _, reason in DOCUMENTED}


@pytest.mark.parametrize("reason, words", [
    ("Unauthorized", "Vidu rejected the API key. Check VIDU_API_KEY in Settings."),
    ("CreditInsufficient", "Your Vidu account has run out of credits."),
])
def test_key_messages(reason, words):
    assert error_from_response(kratos(400, reason)).message == words


def test_fixture_errors_carry_the_vendor_detail():
    invalid = EXAMPLES["errors"]["field_invalid"]
    error = error_from_response(response(invalid["status"], invalid["body"]))
    assert error.message == ("Vidu does not accept the value of one of the settings. Vidu says: “invalid field: "
                             "duration”.")
    assert str(error).endswith("(reference 04e5c2fe159ff7c574acd0424e78c35f)")
    cancel = EXAMPLES["errors"]["cancel_not_allowed"]
    assert "task state is scheduled, can not cancel" in error_from_response(
        response(cancel["status"], cancel["body"])).message


def test_third_party_402_shape():
    mock = EXAMPLES["errors"]["credit_insufficient_402"]
    error = error_from_response(response(mock["status"], mock["body"]))
    assert (error.code, error.message) == ("CreditInsufficient", "Your Vidu account has run out of credits.")


def test_metadata_fields_are_added_when_the_message_lacks_them():
    error = error_from_response(kratos(400, "FieldLacking", "field is missing or empty", fields="prompt"))
    assert "field is missing or empty (prompt)" in error.message


def test_unknown_reason_gives_a_generic_message_and_the_vendors_words():
    error = error_from_response(kratos(400, "BrandNewReason", "something new happened"))
    assert error.message == "Vidu returned an error (BrandNewReason). Vidu says: “something new happened”."


def test_reseller_error_wrapper():
    error = error_from_response(response(401, {"error": {"message": "invalid token", "type": "auth", "code": "x"}}))
    assert error.code == "x" and "invalid token" in error.message


@pytest.mark.parametrize("status, text, words", [
    (502, "<html><body>Bad Gateway</body></html>", "Vidu's server answered with an error page (HTTP 502) instead "
                                                  "of data."),
    (503, "", "Vidu's server answered with an empty answer (HTTP 503) instead of data."),
    (200, "<html>captive portal</html>", "Vidu's server answered with an error page (HTTP 200) instead of data."),
])
def test_non_json_answers(status, text, words):
    error = error_from_response(response(status, text=text))
    assert (error.code, error.message, error.retryable) == ("non_json", words, status in (502, 503))


def test_retry_after_is_kept():
    resp = response(429, {"code": 429, "reason": "TooManyRequests", "message": ""}, headers={"Retry-After": "12"})
    assert error_from_response(resp).retry_after == 12


@pytest.mark.parametrize("code, words", [
    ("CreationPolicyViolation", "Vidu's content policy blocked the result."),
    ("TaskPromptPolicyViolation", "Vidu's content policy rejected the prompt."),
    ("AuditSubmitIllegal", "Vidu's safety review rejected the request."),
    ("InternalServiceFailure", "Vidu had an internal problem."),
    ("UserCancelled", "The task was cancelled."),
    ("SomethingNew", "The Vidu task failed (code SomethingNew)."),
    ("", "The Vidu task failed without giving a reason."),
    (None, "The Vidu task failed without giving a reason."),
])
def test_describe_failure(code, words):
    assert describe_failure(code).startswith(words)


# --- the client ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile, base, scheme", [
    ("vidu-global", "https://api.vidu.com", "Token"),
    ("vidu-cn", "https://api.vidu.cn", "Token"),
    ("kkiai", "https://www.kkiai.com", "Bearer"),
])
def test_profiles_choose_host_and_auth_scheme(profile, base, scheme):
    vidu_client, transport = client(response(200, CREATED), profile=profile)
    vidu_client.create(Endpoint.VIDU_TEXT2AUDIO, RAIN)
    call = transport.calls[0]
    assert call["url"] == f"{base}/ent/v2/text2audio"
    assert call["headers"] == {"Authorization": f"{scheme} {KEY}", "Content-Type": "application/json"}


def test_base_url_override_keeps_the_profiles_auth_scheme():
    vidu_client, transport = client(response(200, CREATED), profile="kkiai", base_url="http://127.0.0.1:8000/")
    vidu_client.create(Endpoint.VIDU_TEXT2AUDIO, RAIN)
    assert transport.calls[0]["url"] == "http://127.0.0.1:8000/ent/v2/text2audio"
    assert transport.calls[0]["headers"]["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("endpoint, path", [
    (Endpoint.VIDU_TEXT2AUDIO, "text2audio"), (Endpoint.VIDU_TIMING2AUDIO, "timing2audio"),
    (Endpoint.VIDU_TEXT2VIDEO, "text2video"),
])
def test_create_sends_the_body_once_without_retries(endpoint, path):
    name = {"text2audio": "kkiai_text2audio", "timing2audio": "official_timing2audio",
            "text2video": "kkiai_text2video"}[path]
    body = EXAMPLES["requests"][name]["body"]
    vidu_client, transport = client(response(200, {**CREATED, "task_id": "42"}))
    task = vidu_client.create(endpoint, body)
    assert transport.calls == [{"method": "POST", "url": f"https://api.vidu.com/ent/v2/{path}", "json": body,
                                "params": None, "retry": False, "headers": transport.calls[0]["headers"]}]
    assert (task.vendor_id, task.endpoint, task.params) == ("42", endpoint, body)


@pytest.mark.parametrize("endpoint, body", [
    (Endpoint.VIDU_TEXT2AUDIO, {**RAIN, "duration": 11}),
    (Endpoint.VIDU_TIMING2AUDIO, {"model": "audio1.0", "timing_prompts": []}),
    (Endpoint.VIDU_TEXT2VIDEO, {"model": "viduq1", "prompt": "cat", "duration": 8}),
])
def test_invalid_input_never_reaches_the_network(endpoint, body):
    vidu_client, transport = client()
    with pytest.raises(InvalidRequest) as raised:
        vidu_client.create(endpoint, body)
    assert raised.value.problems and transport.calls == []


def test_a_kling_endpoint_is_refused():
    with pytest.raises(ValueError):
        client()[0].create(Endpoint.KLING_TEXT2AUDIO, {"prompt": "x", "duration": 3})


def test_query_is_retried_and_returns_an_update():
    vidu_client, transport = client(response(200, EXAMPLES["responses"]["query_failed"]))
    task = vidu_client.query("812841849562607616", Endpoint.VIDU_TEXT2AUDIO)
    assert transport.calls[0]["method"] == "GET" and transport.calls[0]["retry"] is True
    assert transport.calls[0]["url"] == "https://api.vidu.com/ent/v2/tasks/812841849562607616/creations"
    assert task.state is State.FAILED and task.error_code == "CreationPolicyViolation"


def test_query_answer_without_an_id_keeps_the_asked_id():
    vidu_client, _ = client(response(200, {"state": "processing", "progress": 10, "creations": []}))
    assert vidu_client.query("123").vendor_id == "123"


def test_task_ids_cannot_escape_the_path():
    vidu_client, transport = client(response(200, {"state": "created"}))
    vidu_client.query("../credits")
    assert transport.calls[0]["url"] == "https://api.vidu.com/ent/v2/tasks/..%2Fcredits/creations"


def test_unknown_task_is_a_plain_404():
    vidu_client, _ = client(kratos(404, "TaskNotFound", "task not found"))
    with pytest.raises(VendorError) as raised:
        vidu_client.query("1")
    assert raised.value.code == "TaskNotFound" and raised.value.message.startswith("Vidu has no record of this task.")


@pytest.mark.parametrize("answer", [response(200, {}), response(200, text=""), response(200, text="null")])
def test_cancel_sends_the_id_once(answer):
    vidu_client, transport = client(answer)
    assert vidu_client.cancel("911") is None
    assert transport.calls[0]["url"] == "https://api.vidu.com/ent/v2/tasks/911/cancel"
    assert (transport.calls[0]["json"], transport.calls[0]["retry"]) == ({"id": "911"}, False)


def test_cancel_refused():
    refused = EXAMPLES["errors"]["cancel_not_allowed"]
    vidu_client, _ = client(response(refused["status"], refused["body"]))
    with pytest.raises(VendorError, match="Too late: Vidu has already started making it; it will finish and be charged"):
        vidu_client.cancel("911")


def test_cancel_without_an_answer_says_so():
    vidu_client, _ = client(NetworkError("slow", may_have_reached_server=True))
    with pytest.raises(NetworkError, match="may or may not have been cancelled"):
        vidu_client.cancel("911")


def test_credits():
    body = EXAMPLES["responses"]["credits"]
    vidu_client, transport = client(response(200, body))
    assert vidu_client.credits() == {"remains": body["remains"], "packages": body["packages"]}
    call = transport.calls[0]
    assert (call["url"], call["params"], call["retry"]) == ("https://api.vidu.com/ent/v2/credits",
                                                            {"show_detail": "true"}, True)


def test_a_code_in_an_http_200_body_is_an_error():
    vidu_client, _ = client(response(200, {"code": 401, "reason": "Unauthorized", "message": "unauthorized"}))
    with pytest.raises(VendorError) as raised:
        vidu_client.query("1")
    assert raised.value.code == "Unauthorized" and raised.value.http_status == 200


def test_html_instead_of_json_is_an_error():
    vidu_client, _ = client(response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(VendorError) as raised:
        vidu_client.create(Endpoint.VIDU_TEXT2AUDIO, RAIN)
    assert raised.value.code == "non_json" and raised.value.retryable


def test_a_create_without_an_answer_hands_back_the_task_as_sent():
    vidu_client, _ = client(NetworkError("slow", may_have_reached_server=True))
    with pytest.raises(NetworkError) as raised:
        vidu_client.create(Endpoint.VIDU_TEXT2AUDIO, RAIN)
    assert raised.value.task.params == RAIN and raised.value.task.state is State.SUBMITTED


def test_the_key_never_appears_in_errors():
    echo = response(401, {"code": 401, "reason": "Unauthorized", "message": f"bad key Token {KEY}"})
    vidu_client, _ = client(echo)
    with pytest.raises(VendorError) as raised:
        vidu_client.query("1")
    assert KEY not in str(raised.value) and KEY not in raised.value.message and "[hidden]" in str(raised.value)


def test_settings_problems():
    with pytest.raises(ConfigError, match="VIDU_API_KEY"):
        ViduClient("")
    with pytest.raises(ConfigError, match="VIDU_PROFILE must be one of: vidu-global, vidu-cn, kkiai"):
        ViduClient(KEY, profile="vidu-eu")
