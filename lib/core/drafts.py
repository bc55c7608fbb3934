"""Drafts: what a person has typed on a form and not yet sent, kept on the server so that a browser refresh (a new
session) loses none of it.

A draft is a form's values by widget key, as JSON, holding only what differs from the form's defaults. It comes
back from the store untrusted: `decode` takes a draft only when every key is one the form knows and every value
is of the kind its widget holds, within the widget's bounds; anything else drops the whole draft.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lib.core import forms
from lib.core.endpoints import spec
from lib.core.takes import COMPARE, TAKES
from lib.core.tasks import Endpoint
from lib.core.validation import (
    KLING_REFERENCE_MAX,
    KLING_SECONDS,
    MOVEMENTS,
    SEED_MAX,
    STYLES,
    TIMING_EVENTS_MAX,
    VIDEO_MODELS,
    VIDU_AUDIO_SECONDS,
    WATERMARK_POSITIONS,
)

DRAFT_MAX_BYTES = 64 * 1024  # far more than every limit of every form allows together
EVENT_FIELDS = {"from", "to", "prompt"}


@dataclass(frozen=True)
class Field:
    """One widget of a form: its value when untouched, and whether a stored value is one it can hold."""

    default: object
    fits: Callable[[object], bool]


Shape = Mapping[str, Field]  # widget key -> field


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def text(value) -> bool:
    return isinstance(value, str)


def flag(value) -> bool:
    return isinstance(value, bool)


def number(low: float, high: float, kind: type | tuple[type, ...] = (int, float)) -> Callable[[object], bool]:
    """A finite number within bounds; a slider's must be a float (Streamlit stops on a whole number there)."""
    return lambda value: _is_number(value) and isinstance(value, kind) and low <= value <= high


def choice(options) -> Callable[[object], bool]:
    """One of `options`, of the same type too (JSON would let `true` pass for 1)."""
    known = tuple(options)
    return lambda value: any(type(value) is type(option) and value == option for option in known)


def events(value) -> bool:
    """A timeline as the editor keeps it: at most a timeline's worth of events, each its from, to and prompt."""
    return isinstance(value, list) and len(value) <= TIMING_EVENTS_MAX and all(
        isinstance(event, dict) and set(event) == EVENT_FIELDS and isinstance(event["prompt"], str)
        and all(event[end] is None or _is_number(event[end]) for end in ("from", "to")) for event in value)


def encode(values: Mapping[str, object], shape: Shape) -> str | None:
    """The draft of `values` (the form's widgets as they stand): "" when nothing differs from the defaults, None
    when it cannot be kept (past DRAFT_MAX_BYTES, or not plain data)."""
    typed = {name: values[name] for name, field in shape.items() if name in values and values[name] != field.default}
    if not typed:
        return ""
    try:
        body = json.dumps(typed, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return body if len(body.encode()) <= DRAFT_MAX_BYTES else None


def decode(body: object, shape: Shape) -> dict | None:
    """The values of a stored draft, or None when it is not one `shape`'s widgets can hold (too big, not JSON,
    a key the form does not have, a value of the wrong kind or out of bounds)."""
    if not isinstance(body, str) or len(body.encode()) > DRAFT_MAX_BYTES:
        return None
    try:
        values = json.loads(body)
    except ValueError:
        return None
    if not isinstance(values, dict) or not all(name in shape and shape[name].fits(value)
                                               for name, value in values.items()):
        return None
    return values


def _all_of(position: int) -> set:
    """Every value any video model offers at `position` of its rules (lib.core.validation.VIDEO_MODELS)."""
    return {value for rules in VIDEO_MODELS.values() for value in rules[position]}


def form_shape(endpoint: Endpoint) -> Shape:
    """The draft shape of an endpoint's form: its fields (lib.core.endpoints) by widget key, with the takes
    control and, where offered, the other-vendor toggle."""
    defaults = forms.defaults(endpoint)
    checks = {"prompt": text, "callback_url": text, "seed": number(0, SEED_MAX), "timing_prompts": events,
              "external_task_id": lambda value: text(value) and len(value) <= KLING_REFERENCE_MAX,
              "model": choice(VIDEO_MODELS), "duration": number(*VIDU_AUDIO_SECONDS, float),
              # a video model's own rules are fitted on the page after the model is restored
              "resolution": choice(_all_of(2)), "aspect_ratio": choice(_all_of(4)), "style": choice(STYLES),
              "movement_amplitude": choice(MOVEMENTS), "wm_position": choice(WATERMARK_POSITIONS),
              "bgm": flag, "audio": flag, "off_peak": flag, "watermark": flag,
              "wm_url": text, "meta_data": text, "payload": text}
    if endpoint is Endpoint.KLING_TEXT2AUDIO:
        checks["duration"] = number(*KLING_SECONDS, float)
    elif endpoint is Endpoint.VIDU_TEXT2VIDEO:
        checks["duration"] = choice(_all_of(0))
    shape = {forms.key(endpoint, field): Field(default, checks[field]) for field, default in defaults.items()}
    shape[forms.key(endpoint, "takes")] = Field(1, choice(TAKES))
    if endpoint in COMPARE:
        shape[forms.key(endpoint, "compare")] = Field(False, flag)
    return shape


def form_name(endpoint: Endpoint) -> str:
    """The name a form's draft is kept under: its widgets' prefix."""
    return spec(endpoint).prefix
