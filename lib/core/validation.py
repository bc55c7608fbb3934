"""Every documented request limit, checked before anything is sent.

Validators take the request body exactly as it would go on the wire and return every problem at once, each in
words a non-developer understands. The simulator runs the same checks and answers in each vendor's own error
codes (via `Problem.kind`), so the limits live in one place.
"""
from __future__ import annotations

import json
import math
from urllib.parse import urlparse

from lib.core.errors import Problem

SEED_MAX = 2_147_483_647
PAYLOAD_MAX = 1_048_576

VIDU_AUDIO_MODEL = "audio1.0"
VIDU_AUDIO_PROMPT_MAX = 1500
VIDU_AUDIO_SECONDS = (2, 10)
VIDU_AUDIO_DEFAULT_SECONDS = 10
TIMING_EVENTS_MAX = 20

VIDU_VIDEO_PROMPT_MAX = 2000
VIDEO_MODELS = {
    # model: (allowed seconds, default seconds, resolutions, default resolution, aspect ratios, honours style/movement)
    "viduq3-turbo": (range(1, 17), 5, ("540p", "720p", "1080p"), "720p", ("16:9", "9:16", "3:4", "4:3", "1:1"),
                     False),
    "viduq3-pro": (range(1, 17), 5, ("540p", "720p", "1080p"), "720p", ("16:9", "9:16", "3:4", "4:3", "1:1"),
                   False),
    "viduq2": (range(1, 11), 5, ("540p", "720p", "1080p"), "720p", ("16:9", "9:16", "3:4", "4:3", "1:1"), False),
    "viduq1": (range(5, 6), 5, ("1080p",), "1080p", ("16:9", "9:16", "1:1"), True),
}
STYLES = ("general", "anime")
MOVEMENTS = ("auto", "small", "medium", "large")
WATERMARK_POSITIONS = {1: "top left", 2: "top right", 3: "bottom right", 4: "bottom left"}

KLING_PROMPT_MAX = 200
KLING_SECONDS = (3.0, 10.0)

VIDU_FIELDS = {
    "text2audio": {"model", "prompt", "duration", "seed", "callback_url"},
    "timing2audio": {"model", "duration", "timing_prompts", "seed", "callback_url"},
    "text2video": {"model", "style", "prompt", "duration", "seed", "aspect_ratio", "resolution",
                   "movement_amplitude", "bgm", "audio", "off_peak", "payload", "watermark", "wm_position",
                   "wm_url", "meta_data", "callback_url"},
}
KLING_FIELDS = {"prompt", "duration", "external_task_id", "callback_url"}
KLING_REFERENCE_MAX = 64  # the studio's bound on one's own Kling task reference (Kling documents none)


def as_number(value) -> float | None:
    """A JSON number or a numeric string (the vendors' own examples send both); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):  # OverflowError: an integer too large for a float
        return None
    return number if math.isfinite(number) else None


def as_bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _web_address(value) -> bool:
    """An http(s) address with a host, one Python can take apart (port included)."""
    if not isinstance(value, str):
        return False
    try:
        parsed = urlparse(value)
        parsed.port  # noqa: B018 - reading it checks it: ValueError past 65535
    except ValueError:  # also "http://[::1": an unclosed or invalid IPv6 host
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _fmt(number: float) -> str:
    return f"{number:g}"


def too_long(text: str, limit: int) -> str | None:
    """"1,734 of 1,500 characters — shorten it by 234" for text over `limit`; None when it fits."""
    if len(text) <= limit:
        return None
    return f"{len(text):,} of {limit:,} characters — shorten it by {len(text) - limit:,}"


def too_many_events(count: int) -> Problem | None:
    """The timeline's size problem, checked before any per-event work (a forged table can hold thousands)."""
    if count <= TIMING_EVENTS_MAX:
        return None
    return Problem("timing_prompts", f"A timeline has at most {TIMING_EVENTS_MAX} events; this one has {count}.",
                   "count")


class _Checker:
    """Collects problems for one request body."""

    def __init__(self, body):
        self.body = body if isinstance(body, dict) else {}
        self.problems: list[Problem] = []

    def add(self, field: str, message: str, kind: str = "invalid") -> None:
        self.problems.append(Problem(field, message, kind))

    def present(self, field: str) -> bool:
        value = self.body.get(field)
        return value is not None and value != ""

    def only(self, allowed: set[str]) -> None:
        for name in sorted(set(self.body) - allowed):
            self.add(name, f"“{name}” is not a setting this endpoint accepts.", "unwanted")

    def text(self, field: str, label: str, limit: int, required: bool = True) -> str | None:
        value = self.body.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(field, f"{label} is required.", "missing")
            return None
        if not isinstance(value, str):
            self.add(field, f"{label} must be text.")
            return None
        if len(value) > limit:
            self.add(field, f"{label} is {too_long(value, limit)}.")
        return value

    def choice(self, field: str, label: str, options, default=None, required=False):
        if not self.present(field):
            if required:
                self.add(field, f"{label} is required.", "missing")
            return default
        value = self.body[field]
        if value not in options:
            self.add(field, f"{label} must be one of: {', '.join(str(o) for o in options)}.")
            return None
        return value

    def number(self, field: str, label: str, low: float, high: float, default=None, required=False,
               unit: str = "", whole: bool = False, decimals: int | None = None) -> float | None:
        if not self.present(field):
            if required:
                self.add(field, f"{label} is required.", "missing")
            return default
        number = as_number(self.body[field])
        if number is None:
            self.add(field, f"{label} must be a number.")
            return None
        between = f"{label} must be between {_fmt(low)} and {_fmt(high)}{unit}"
        if not low <= number <= high:
            self.add(field, f"{between}.")
            return None
        if whole and number != int(number):
            self.add(field, f"{label} must be a whole number.")
            return None
        if decimals is not None and round(number, decimals) != number:
            self.add(field, f"{label} can have at most {decimals} decimal place.")
            return None
        return number

    def seed(self) -> None:
        self.number("seed", "Seed", 0, SEED_MAX, whole=True)

    def flag(self, field: str, label: str) -> bool:
        if not self.present(field):
            return False
        value = as_bool(self.body[field])
        if value is None:
            self.add(field, f"{label} must be true or false.")
        return bool(value)

    def url(self, field: str, label: str) -> None:
        if not self.present(field):
            return
        value = self.body[field]
        if not _web_address(value):
            self.add(field, f"{label} must be a web address starting with http:// or https://.")


def validate_vidu_text2audio(body) -> list[Problem]:
    check = _Checker(body)
    check.only(VIDU_FIELDS["text2audio"])
    check.choice("model", "Model", (VIDU_AUDIO_MODEL,), required=True)
    check.text("prompt", "The prompt", VIDU_AUDIO_PROMPT_MAX)
    check.number("duration", "Duration", *VIDU_AUDIO_SECONDS, unit=" seconds")
    check.seed()
    check.url("callback_url", "The callback address")
    return check.problems


def validate_vidu_timing2audio(body) -> list[Problem]:
    check = _Checker(body)
    check.only(VIDU_FIELDS["timing2audio"])
    check.choice("model", "Model", (VIDU_AUDIO_MODEL,), required=True)
    clip = check.number("duration", "Duration", *VIDU_AUDIO_SECONDS, default=VIDU_AUDIO_DEFAULT_SECONDS,
                        unit=" seconds")
    check.seed()
    check.url("callback_url", "The callback address")
    events = check.body.get("timing_prompts")
    if not events:
        check.add("timing_prompts", "Add at least one sound event to the timeline.", "missing")
    elif not isinstance(events, list):
        check.add("timing_prompts", "The timeline must be a list of events.")
    elif too_many := too_many_events(len(events)):
        check.problems.append(too_many)  # and nothing per event: the list is not bounded
    else:
        for number, event in enumerate(events, start=1):
            check.problems += event_problems(number, event, clip)
    return check.problems


def event_problems(number: int, event, clip: float | None) -> list[Problem]:
    """Problems with one timeline event, phrased for the row a person sees ("Event 3 ...")."""
    name, field = f"Event {number}", f"timing_prompts[{number - 1}]"
    if not isinstance(event, dict):
        return [Problem(field, f"{name} must have a start, an end and a prompt.")]
    problems = [Problem(f"{field}.{key}", f"{name}: “{key}” is not part of an event.", "unwanted")
                for key in sorted(set(event) - {"from", "to", "prompt"})]
    prompt = event.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        problems.append(Problem(f"{field}.prompt", f"{name} needs a prompt.", "missing"))
    elif len(prompt) > VIDU_AUDIO_PROMPT_MAX:
        problems.append(Problem(f"{field}.prompt",
                                f"{name}'s prompt is {too_long(prompt, VIDU_AUDIO_PROMPT_MAX)}."))
    start, end = (as_number(event.get(key)) for key in ("from", "to"))
    for key, value, article, word in (("from", start, "a", "start"), ("to", end, "an", "end")):
        if event.get(key) is None or event.get(key) == "":
            problems.append(Problem(f"{field}.{key}", f"{name} needs {article} {word} time.", "missing"))
        elif value is None:
            problems.append(Problem(f"{field}.{key}", f"{name}'s {word} time must be a number of seconds."))
    if start is not None and start < 0:
        problems.append(Problem(f"{field}.from", f"{name} starts before the clip begins ({_fmt(start)} s < 0 s)."))
    if end is not None and clip is not None and end > clip:
        problems.append(Problem(f"{field}.to",
                                f"{name} ends after the clip ({_fmt(end)} s > {_fmt(clip)} s)."))
    if start is not None and clip is not None and start > clip:
        problems.append(Problem(f"{field}.from",
                                f"{name} starts after the clip ends ({_fmt(start)} s > {_fmt(clip)} s)."))
    if start is not None and end is not None and end <= start:
        problems.append(Problem(f"{field}.to", f"{name} ends before it starts ({_fmt(end)} s ≤ {_fmt(start)} s)."))
    return problems


def video_rules(model: str) -> dict:
    seconds, default_seconds, resolutions, default_resolution, ratios, honours_style = VIDEO_MODELS[model]
    return {"seconds": seconds, "default_seconds": default_seconds, "resolutions": resolutions,
            "default_resolution": default_resolution, "aspect_ratios": ratios, "honours_style": honours_style}


def is_q3(model: str) -> bool:
    """The viduq3 models: native audio (on by default at Vidu), no background music."""
    return model.startswith("viduq3")


def validate_vidu_text2video(body) -> list[Problem]:
    check = _Checker(body)
    check.only(VIDU_FIELDS["text2video"])
    model = check.choice("model", "Model", tuple(VIDEO_MODELS), required=True)
    check.text("prompt", "The prompt", VIDU_VIDEO_PROMPT_MAX)
    check.choice("style", "Style", STYLES)
    check.choice("movement_amplitude", "Movement", MOVEMENTS)
    check.seed()
    if model:
        rules = video_rules(model)
        low, high = rules["seconds"][0], rules["seconds"][-1]
        if low == high:
            if check.present("duration") and as_number(body["duration"]) != low:
                check.add("duration", f"{model} makes {low}-second videos only.")
        else:
            check.number("duration", "Duration", low, high, unit=f" seconds for {model}", whole=True)
        if check.present("resolution") and body["resolution"] not in rules["resolutions"]:
            check.add("resolution", f"{model} offers these resolutions: {', '.join(rules['resolutions'])}.")
        if check.present("aspect_ratio") and body["aspect_ratio"] not in rules["aspect_ratios"]:
            check.add("aspect_ratio", f"{model} offers these aspect ratios: {', '.join(rules['aspect_ratios'])}.")
    if check.flag("bgm", "Background music") and model and is_q3(model):
        check.add("bgm", "Background music is not offered by the viduq3 models; their native audio replaces it.")
    check.flag("off_peak", "Off-peak")
    if check.flag("audio", "Native audio") and model and not is_q3(model):
        check.add("audio", "Native audio (speech and sound effects) is offered by the viduq3 models only.")
    check.flag("watermark", "Watermark")
    check.number("wm_position", "Watermark position", 1, 4, whole=True)
    check.url("wm_url", "The watermark image address")
    check.text("payload", "The payload", PAYLOAD_MAX, required=False)
    meta = check.text("meta_data", "Metadata", PAYLOAD_MAX, required=False)
    if meta is not None:
        try:
            json.loads(meta)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the decoder goes
            check.add("meta_data", "Metadata must be valid JSON text, for example {\"Label\": \"my label\"}.")
    check.url("callback_url", "The callback address")
    return check.problems


def validate_kling_text2audio(body) -> list[Problem]:
    check = _Checker(body)
    check.only(KLING_FIELDS)
    check.text("prompt", "The prompt", KLING_PROMPT_MAX)
    check.number("duration", "Duration", *KLING_SECONDS, required=True, unit=" seconds", decimals=1)
    external = check.body.get("external_task_id")
    if external is not None and not isinstance(external, str):
        check.add("external_task_id", "The task reference must be text.")
    elif external and len(external) > KLING_REFERENCE_MAX:
        check.add("external_task_id", f"The task reference can be at most {KLING_REFERENCE_MAX} characters long; "
                                      f"this one has {len(external)}.")
    check.url("callback_url", "The callback address")
    return check.problems


def validate(endpoint, body) -> list[Problem]:
    """The validator of `endpoint`'s spec (lib.core.endpoints), given an `Endpoint` or its value."""
    from lib.core.endpoints import spec  # the specs point at the validators above

    return spec(endpoint).validator(body)
