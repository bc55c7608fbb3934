"""Form fields per endpoint: defaults, widget keys, and the two-way mapping between a form and a request body.

Kept free of Streamlit so that "Use these settings again" (body -> form) and submitting (form -> body) are plain,
tested functions.
"""
from __future__ import annotations

from lib.tasks import Endpoint
from lib.validation import VIDEO_MODELS, VIDU_AUDIO_DEFAULT_SECONDS, is_q3, video_rules
from lib.vidu import is_payload_tag

# field -> default. A default of "" or 0 for an optional field means "not sent".
FIELDS: dict[Endpoint, dict[str, object]] = {
    Endpoint.VIDU_TEXT2AUDIO: {"prompt": "", "duration": float(VIDU_AUDIO_DEFAULT_SECONDS), "seed": 0,
                               "callback_url": ""},
    Endpoint.VIDU_TIMING2AUDIO: {"timing_prompts": [], "duration": float(VIDU_AUDIO_DEFAULT_SECONDS), "seed": 0,
                                 "callback_url": ""},
    Endpoint.VIDU_TEXT2VIDEO: {"model": "viduq2", "prompt": "", "duration": 5, "resolution": "720p",
                               "aspect_ratio": "16:9", "style": "general", "movement_amplitude": "auto",
                               "bgm": False, "audio": False, "off_peak": False, "seed": 0, "watermark": False, "wm_position": 3, "wm_url": "",
                               "meta_data": "", "payload": "", "callback_url": ""},
    Endpoint.KLING_TEXT2AUDIO: {"prompt": "", "duration": 5.0, "external_task_id": "", "callback_url": ""},
}
FIXED = {Endpoint.VIDU_TEXT2AUDIO: {"model": "audio1.0"}, Endpoint.VIDU_TIMING2AUDIO: {"model": "audio1.0"}}
PREFIX = {Endpoint.VIDU_TEXT2AUDIO: "t2a", Endpoint.VIDU_TIMING2AUDIO: "tim",
          Endpoint.VIDU_TEXT2VIDEO: "t2v", Endpoint.KLING_TEXT2AUDIO: "kt2a"}
# Sent even when equal to their default, because the vendor requires them or they change the result.
ALWAYS_SENT = {"prompt", "duration", "timing_prompts", "model"}
# Fields that only mean something together with the watermark switch.
WATERMARK_FIELDS = ("wm_position", "wm_url")

EXAMPLES: dict[Endpoint, list[dict]] = {
    Endpoint.VIDU_TEXT2AUDIO: [
        {"prompt": "The sound of raindrops falling on a window, accompanied by soft thunder.", "duration": 5.0},
        {"prompt": "Birds chirping in the morning", "duration": 10.0},
        {"prompt": "A crackling campfire at night with a gentle breeze", "duration": 8.0},
        {"prompt": "Calm ambient piano music for a product demo", "duration": 10.0},
    ],
    Endpoint.VIDU_TIMING2AUDIO: [
        {"duration": 10.0, "timing_prompts": [
            {"from": 0.0, "to": 3.0, "prompt": "Birds chirping in the morning"},
            {"from": 3.0, "to": 6.0, "prompt": "A distant train passing by"},
            {"from": 5.0, "to": 9.5, "prompt": "Waves gently lapping the beach"}]},
        {"duration": 8.0, "timing_prompts": [
            {"from": 0.0, "to": 8.0, "prompt": "Steady rain on a roof"},
            {"from": 2.5, "to": 4.5, "prompt": "A loud thunder clap"},
            {"from": 5.0, "to": 7.0, "prompt": "Footsteps running on wet pavement"}]},
    ],
    Endpoint.VIDU_TEXT2VIDEO: [
        {"model": "viduq2", "prompt": "A cute cat is running on the grass under bright sunshine, "
                                      "creating a warm and cozy scene."},
        {"model": "viduq3-turbo", "prompt": "Slow aerial shot over a misty forest at sunrise", "duration": 8},
        {"model": "viduq1", "prompt": "A paper boat drifting down a rainy street gutter", "duration": 5,
         "resolution": "1080p"},
    ],
    Endpoint.KLING_TEXT2AUDIO: [
        {"prompt": "Fireworks sound during Chinese New Year celebration", "duration": 3.0},
        {"prompt": "Ocean waves crashing on rocks", "duration": 6.0},
        {"prompt": "A busy cafe with chatter and clinking cups", "duration": 10.0},
    ],
}


def key(endpoint: Endpoint, field: str) -> str:
    """The widget key of a field; also its CSS class `st-key-<key>` in the browser."""
    return f"{PREFIX[endpoint]}_{field}"


def defaults(endpoint: Endpoint) -> dict[str, object]:
    return dict(FIELDS[endpoint])


def to_body(endpoint: Endpoint, values: dict) -> dict:
    """The request body for the form's values: required fields always, optional ones only when set."""
    body = dict(FIXED.get(endpoint, {}))
    for field, default in FIELDS[endpoint].items():
        value = values.get(field, default)
        if isinstance(value, str):
            value = value.strip()
        if field in WATERMARK_FIELDS and not values.get("watermark"):
            continue
        if field in ("style", "movement_amplitude") and not _honours_style(values):
            continue  # documented as having no effect on these models, so not sent
        if endpoint is Endpoint.VIDU_TEXT2VIDEO and _q3(values) and field in ("audio", "bgm"):
            if field == "audio":
                body["audio"] = bool(value)  # Vidu's q3 default is audio on, so "off" must be said
            continue  # q3 offers no background music
        if field in ALWAYS_SENT or (value not in ("", None, 0, False) and value != default) or (
                field == "wm_position" and value):
            body[field] = value
    return body


def _q3(values: dict) -> bool:
    return isinstance(values.get("model"), str) and is_q3(values["model"])


def _honours_style(values: dict) -> bool:
    model = values.get("model")
    return model in VIDEO_MODELS and video_rules(model)["honours_style"]


def to_values(endpoint: Endpoint, body: dict) -> dict:
    """Form values that reproduce `body`: every field, with defaults where the body is silent."""
    values = defaults(endpoint)
    for field in values:
        if field in body and body[field] is not None:
            values[field] = body[field]
    if is_payload_tag(values.get("payload")):
        values["payload"] = ""  # the studio's own tag for finding the task, not something the person typed
    if endpoint is Endpoint.VIDU_TEXT2VIDEO and values["model"] in VIDEO_MODELS:
        # An absent duration or resolution means the model's own default, which differs per model.
        rules = video_rules(values["model"])
        if "duration" not in body:
            values["duration"] = rules["default_seconds"]
        if "resolution" not in body:
            values["resolution"] = rules["default_resolution"]
    return values
