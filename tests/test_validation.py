"""Validators: every documented limit at and just past its edge, all problems in one pass, plain messages."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.core.tasks import Endpoint
from lib.core.validation import (
    KLING_FIELDS,
    PAYLOAD_MAX,
    SEED_MAX,
    VIDU_FIELDS,
    validate,
    validate_kling_text2audio,
    validate_vidu_text2audio,
    validate_vidu_text2video,
    validate_vidu_timing2audio,
)
from tests.http_fakes import examples

T2A = {"model": "audio1.0", "prompt": "rain on a tin roof"}
T2V = {"model": "viduq2", "prompt": "a cat on the grass"}
KLING = {"prompt": "fireworks", "duration": 3}


def messages(problems) -> list[str]:
    return [p.message for p in problems]


def timeline(*spans, duration=None) -> dict:
    body = {"model": "audio1.0", "timing_prompts": [{"from": a, "to": b, "prompt": f"sound {i}"}
                                                    for i, (a, b) in enumerate(spans, start=1)]}
    return body if duration is None else {**body, "duration": duration}


# --- every example in the vendor docs is valid -------------------------------------------------------------

FIXTURE_REQUESTS = [(vendor, name, example) for vendor in ("vidu", "kling")
                    for name, example in examples(vendor)["requests"].items()]


@pytest.mark.parametrize("vendor, name, example", FIXTURE_REQUESTS, ids=[f"{v}.{n}" for v, n, _ in FIXTURE_REQUESTS])
def test_every_documented_request_is_valid(vendor, name, example):
    endpoint = example["endpoint"] if vendor == "kling" else f"vidu.{example['endpoint']}"
    assert validate(Endpoint(endpoint), example["body"]) == []


# --- Vidu text2audio ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes", [
    {"duration": 2}, {"duration": 10}, {"duration": 2.0}, {"duration": "10"}, {"duration": 5.5},
    {"prompt": "x" * 1500}, {"seed": 0}, {"seed": SEED_MAX}, {"seed": "0"},
    {"callback_url": "https://example.com/hook"}, {"callback_url": ""},
])
def test_text2audio_accepts_the_edges(changes):
    assert validate_vidu_text2audio({**T2A, **changes}) == []


@pytest.mark.parametrize("changes, message", [
    ({"duration": 1.99}, "Duration must be between 2 and 10 seconds."),
    ({"duration": 10.01}, "Duration must be between 2 and 10 seconds."),
    ({"duration": "ten"}, "Duration must be a number."),
    ({"duration": True}, "Duration must be a number."),
    ({"prompt": "x" * 1501}, "The prompt is 1,501 of 1,500 characters — shorten it by 1."),
    ({"prompt": "   "}, "The prompt is required."),
    ({"prompt": 42}, "The prompt must be text."),
    ({"model": "audio2.0"}, "Model must be one of: audio1.0."),
    ({"seed": -1}, "Seed must be between 0 and 2.14748e+09."),
    ({"seed": SEED_MAX + 1}, "Seed must be between 0 and 2.14748e+09."),
    ({"seed": 1.5}, "Seed must be a whole number."),
    ({"callback_url": "ftp://example.com"}, "The callback address must be a web address starting with http:// or "
                                            "https://."),
    ({"payload": "x"}, "“payload” is not a setting this endpoint accepts."),
])
def test_text2audio_rejects_just_past_the_edges(changes, message):
    assert messages(validate_vidu_text2audio({**T2A, **changes})) == [message]


def test_text2audio_reports_every_problem_at_once():
    problems = validate_vidu_text2audio({"model": "x", "duration": 11, "seed": -1, "style": "anime"})
    assert {p.field for p in problems} == {"model", "prompt", "duration", "seed", "style"}
    assert {p.kind for p in problems} == {"invalid", "missing", "unwanted"}


def test_missing_model_and_non_object_body():
    assert messages(validate_vidu_text2audio({"prompt": "rain"})) == ["Model is required."]
    assert {p.field for p in validate_vidu_text2audio(None)} == {"model", "prompt"}


# --- Vidu timing2audio -------------------------------------------------------------------------------------

def test_timeline_edges_are_accepted():
    assert validate_vidu_timing2audio(timeline((0, 10))) == []  # duration omitted: bounds are checked against 10
    assert validate_vidu_timing2audio(timeline((0, 2), duration=2)) == []
    assert validate_vidu_timing2audio(timeline((0, 5), (3, 8), duration=8)) == []  # overlaps are fine
    assert validate_vidu_timing2audio(timeline(*[(0, 1)] * 20)) == []
    assert validate_vidu_timing2audio(timeline((0.0, 9.5), duration="10")) == []


def test_event_ending_after_the_clip():
    problems = validate_vidu_timing2audio(timeline((0, 3), (3, 6), (5, 9.5), duration=8))
    assert messages(problems) == ["Event 3 ends after the clip (9.5 s > 8 s)."]
    assert problems[0].field == "timing_prompts[2].to"


@pytest.mark.parametrize("spans, duration, message", [
    ([(0, 10.01)], None, "Event 1 ends after the clip (10.01 s > 10 s)."),
    ([(-0.1, 3)], None, "Event 1 starts before the clip begins (-0.1 s < 0 s)."),
    ([(2, 2)], None, "Event 1 ends before it starts (2 s ≤ 2 s)."),
    ([(4, 3)], None, "Event 1 ends before it starts (3 s ≤ 4 s)."),
    ([(0, 1)] * 21, None, "A timeline has at most 20 events; this one has 21."),
    ([(0, 1)], 1.99, "Duration must be between 2 and 10 seconds."),
    ([(0, 1)], 10.01, "Duration must be between 2 and 10 seconds."),
])
def test_timeline_limits(spans, duration, message):
    assert message in messages(validate_vidu_timing2audio(timeline(*spans, duration=duration)))


def test_event_start_after_a_short_clip_is_reported_with_its_end():
    assert messages(validate_vidu_timing2audio(timeline((5, 6), duration=4))) == [
        "Event 1 ends after the clip (6 s > 4 s).", "Event 1 starts after the clip ends (5 s > 4 s)."]


def test_event_prompt_limits_and_missing_parts():
    body = timeline((0, 1), (0, 1), (0, 1))
    body["timing_prompts"][0]["prompt"] = "x" * 1500
    body["timing_prompts"][1]["prompt"] = "x" * 1501
    body["timing_prompts"][2] = {"prompt": " ", "to": "late", "volume": 3}
    assert messages(validate_vidu_timing2audio(body)) == [
        "Event 2's prompt is 1,501 of 1,500 characters — shorten it by 1.",
        "Event 3: “volume” is not part of an event.",
        "Event 3 needs a prompt.",
        "Event 3 needs a start time.",
        "Event 3's end time must be a number of seconds.",
    ]


@pytest.mark.parametrize("events, message", [
    (None, "Add at least one sound event to the timeline."),
    ([], "Add at least one sound event to the timeline."),
    ({"from": 0}, "The timeline must be a list of events."),
    (["rain"], "Event 1 must have a start, an end and a prompt."),
])
def test_timeline_shape(events, message):
    assert messages(validate_vidu_timing2audio({"model": "audio1.0", "timing_prompts": events})) == [message]


def test_timeline_rejects_a_prompt_field():
    problems = validate_vidu_timing2audio({**timeline((0, 1)), "prompt": "rain"})
    assert [p.kind for p in problems] == ["unwanted"]


# --- Vidu text2video: model-dependent rules ----------------------------------------------------------------

@pytest.mark.parametrize("model, good, bad", [
    ("viduq3-turbo", (1, 16), (0, 17)),
    ("viduq3-pro", (1, 16), (0, 17)),
    ("viduq2", (1, 10), (0, 11)),
])
def test_video_duration_range_per_model(model, good, bad):
    for seconds in good:
        assert validate_vidu_text2video({**T2V, "model": model, "duration": seconds}) == []
    for seconds in bad:
        assert messages(validate_vidu_text2video({**T2V, "model": model, "duration": seconds})) == [
            f"Duration must be between {good[0]} and {good[1]} seconds for {model}."]


def test_video_duration_must_be_whole():
    assert messages(validate_vidu_text2video({**T2V, "duration": 5.5})) == ["Duration must be a whole number."]


@pytest.mark.parametrize("seconds, ok", [(5, True), ("5", True), (4, False), (6, False)])
def test_viduq1_makes_five_second_videos_only(seconds, ok):
    problems = messages(validate_vidu_text2video({**T2V, "model": "viduq1", "duration": seconds}))
    assert problems == ([] if ok else ["viduq1 makes 5-second videos only."])


@pytest.mark.parametrize("model, resolution, ok", [
    ("viduq1", "1080p", True), ("viduq1", "720p", False), ("viduq2", "540p", True), ("viduq2", "1080p", True),
    ("viduq3-pro", "720p", True), ("viduq3-turbo", "4K", False), ("viduq2", "360p", False),
])
def test_video_resolution_per_model(model, resolution, ok):
    assert (validate_vidu_text2video({**T2V, "model": model, "resolution": resolution}) == []) is ok


@pytest.mark.parametrize("model, ratio, ok", [
    ("viduq2", "3:4", True), ("viduq2", "4:3", True), ("viduq3-pro", "3:4", True), ("viduq3-turbo", "4:3", True),
    ("viduq1", "4:3", False), ("viduq1", "16:9", True), ("viduq3-pro", "9:16", True), ("viduq2", "1:1", True),
    ("viduq2", "21:9", False),
])
def test_video_aspect_ratio_per_model(model, ratio, ok):
    problems = validate_vidu_text2video({**T2V, "model": model, "aspect_ratio": ratio})
    assert (problems == []) is ok
    if not ok:
        assert messages(problems)[0].startswith(f"{model} offers these aspect ratios:")


@pytest.mark.parametrize("changes", [
    {"prompt": "x" * 2000}, {"style": "anime"}, {"movement_amplitude": "large"}, {"bgm": True}, {"bgm": "false"},
    {"watermark": "true"}, {"wm_position": 1}, {"wm_position": "4"}, {"wm_url": "https://example.com/wm.png"},
    {"payload": "x" * PAYLOAD_MAX}, {"meta_data": '{"Label": "mine"}'}, {"seed": "426802853"},
])
def test_video_accepts_the_edges(changes):
    assert validate_vidu_text2video({**T2V, **changes}) == []


@pytest.mark.parametrize("changes, message", [
    ({"prompt": "x" * 2001}, "The prompt is 2,001 of 2,000 characters — shorten it by 1."),
    ({"model": "vidu2.0"}, "Model must be one of: viduq3-turbo, viduq3-pro, viduq2, viduq1."),
    ({"style": "cartoon"}, "Style must be one of: general, anime."),
    ({"movement_amplitude": "huge"}, "Movement must be one of: auto, small, medium, large."),
    ({"bgm": "yes"}, "Background music must be true or false."),
    ({"watermark": 1}, "Watermark must be true or false."),
    ({"wm_position": 0}, "Watermark position must be between 1 and 4."),
    ({"wm_position": 5}, "Watermark position must be between 1 and 4."),
    ({"wm_url": "wm.png"}, "The watermark image address must be a web address starting with http:// or https://."),
    ({"payload": "x" * (PAYLOAD_MAX + 1)}, f"The payload is {PAYLOAD_MAX + 1:,} of {PAYLOAD_MAX:,} characters — "
                                           "shorten it by 1."),
    ({"meta_data": "Label: mine"}, "Metadata must be valid JSON text, for example {\"Label\": \"my label\"}."),
    ({"images": ["https://example.com/a.png"]}, "“images” is not a setting this endpoint accepts."),
])
def test_video_rejects_just_past_the_edges(changes, message):
    assert messages(validate_vidu_text2video({**T2V, **changes})) == [message]


def test_video_without_a_valid_model_still_reports_the_rest():
    problems = validate_vidu_text2video({"model": "sora", "prompt": "", "style": "x", "duration": 99})
    assert {p.field for p in problems} == {"model", "prompt", "style"}


# --- Kling text2audio --------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes", [
    {"duration": 3}, {"duration": 3.0}, {"duration": 10.0}, {"duration": 5.5}, {"duration": "7.5"},
    {"prompt": "x" * 200}, {"external_task_id": ""}, {"external_task_id": "studio-0001"}, {"callback_url": ""},
])
def test_kling_accepts_the_edges(changes):
    assert validate_kling_text2audio({**KLING, **changes}) == []


@pytest.mark.parametrize("changes, message", [
    ({"duration": 2.9}, "Duration must be between 3 and 10 seconds."),
    ({"duration": 10.1}, "Duration must be between 3 and 10 seconds."),
    ({"duration": 3.15}, "Duration can have at most 1 decimal place."),
    ({"duration": None}, "Duration is required."),
    ({"prompt": "x" * 201}, "The prompt is 201 of 200 characters — shorten it by 1."),
    ({"prompt": ""}, "The prompt is required."),
    ({"external_task_id": 7}, "The task reference must be text."),
    ({"callback_url": "hook"}, "The callback address must be a web address starting with http:// or https://."),
    ({"model_name": "kling-v1"}, "“model_name” is not a setting this endpoint accepts."),
])
def test_kling_rejects_just_past_the_edges(changes, message):
    assert messages(validate_kling_text2audio({**KLING, **changes})) == [message]


# --- no input makes a validator crash ----------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                max_size=4), max_leaves=12)
FIELDS = sorted(set().union(*VIDU_FIELDS.values(), KLING_FIELDS))


@pytest.mark.parametrize("huge", [10**400, "1e400", float("inf"), float("nan")])
def test_numbers_too_large_for_a_float_are_problems_not_crashes(huge):
    assert messages(validate_vidu_text2audio({**T2A, "seed": huge})) == ["Seed must be a number."]


@given(st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=8) | JSON, st.sampled_from(list(Endpoint)))
def test_validators_never_crash(body, endpoint):
    assert all(p.message for p in validate(endpoint, body))


def test_native_audio_only_on_viduq3_and_off_peak_is_a_flag():
    from lib.core.validation import validate_vidu_text2video
    base = {"model": "viduq3-turbo", "prompt": "a storm at sea", "audio": True, "off_peak": "true"}
    assert validate_vidu_text2video(base) == []
    problems = validate_vidu_text2video({**base, "model": "viduq2"})
    assert [p.message for p in problems] == [
        "Native audio (speech and sound effects) is offered by the viduq3 models only."]
    assert [p.field for p in validate_vidu_text2video({**base, "off_peak": "soon"})] == ["off_peak"]


def test_off_peak_costs_about_half():
    from lib.vendors.pricing import vidu_video_credits
    assert vidu_video_credits("viduq1", "1080p", 5, off_peak=True) == 40
    assert vidu_video_credits("viduq2", "720p", 5) == 35 and vidu_video_credits("viduq2", "720p", 5, True) == 18
