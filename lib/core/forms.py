"""Form fields (from each endpoint's spec, lib.core.endpoints): defaults, widget keys, and the two-way mapping between
a form and a request body.

Kept free of Streamlit so that "Use these settings again" (body -> form) and submitting (form -> body) are plain,
tested functions.
"""
from __future__ import annotations

from lib.core.endpoints import spec
from lib.core.tasks import Endpoint
from lib.core.validation import VIDEO_MODELS, is_q3, video_rules
from lib.vendors.vidu import is_payload_tag

# Sent even when equal to their default, because the vendor requires them or they change the result.
ALWAYS_SENT = {"prompt", "duration", "timing_prompts", "model"}
# Fields that only mean something together with the watermark switch.
WATERMARK_FIELDS = ("wm_position", "wm_url")


def key(endpoint: Endpoint, field: str) -> str:
    """The widget key of a field; also its CSS class `st-key-<key>` in the browser."""
    return f"{spec(endpoint).prefix}_{field}"


def defaults(endpoint: Endpoint) -> dict[str, object]:
    return dict(spec(endpoint).fields)


def to_body(endpoint: Endpoint, values: dict) -> dict:
    """The request body for the form's values: required fields always, optional ones only when set."""
    body = dict(spec(endpoint).fixed)
    for field, default in spec(endpoint).fields.items():
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
