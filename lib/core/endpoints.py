"""One spec per endpoint: everything the studio knows about an endpoint, in one place.

Forms, pages, history labels, pricing, the vendor clients' paths and the simulator's routes all read `SPECS`;
nothing else keeps a per-endpoint table. Adding an endpoint is one spec here plus its page in `pages/`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lib.core.errors import Problem
from lib.core.tasks import Endpoint, Provider
from lib.core.validation import (
    VIDU_AUDIO_DEFAULT_SECONDS,
    validate_kling_text2audio,
    validate_vidu_text2audio,
    validate_vidu_text2video,
    validate_vidu_timing2audio,
)
from lib.vendors import pricing


@dataclass(frozen=True)
class EndpointSpec:
    endpoint: Endpoint
    provider: Provider
    path: str  # the vendor's create path
    media_kind: str  # "audio" | "video"
    label: str  # the page title and the history label
    page: str  # the page's url_path
    icon: str
    module: str  # the module in pages/ whose page() draws the form
    prefix: str  # widget keys: f"{prefix}_{field}"
    fields: Mapping[str, object]  # form field -> default; a default of "" or 0 for an optional field: not sent
    validator: Callable[[dict], list[Problem]]  # the limit checks themselves live in lib.core.validation
    price: Callable[[dict], float | None]  # what a request body should cost, in `unit`; None if it cannot be told
    unit: str  # "credits" | "units"
    typical_seconds: float  # processing time, for the estimate shown before the vendor reports progress
    examples: tuple[dict, ...] = ()
    fixed: Mapping[str, object] = ()  # always sent as is
    price_note: str = ""  # said after the estimate, e.g. how the vendor bills

    def __post_init__(self):
        object.__setattr__(self, "fixed", dict(self.fixed))


_VIDU_AUDIO = {"model": "audio1.0"}
SPECS: dict[Endpoint, EndpointSpec] = {spec.endpoint: spec for spec in (
    EndpointSpec(
        Endpoint.VIDU_TEXT2AUDIO, Provider.VIDU, "/ent/v2/text2audio", "audio", "Sound from text", "sound",
        ":material/music_note:", "pages.sound_from_text", "t2a",
        {"prompt": "", "duration": float(VIDU_AUDIO_DEFAULT_SECONDS), "seed": 0, "callback_url": ""},
        validate_vidu_text2audio, pricing.vidu_audio_price, "credits", 10, fixed=_VIDU_AUDIO, examples=(
            {"prompt": "The sound of raindrops falling on a window, accompanied by soft thunder.", "duration": 5.0},
            {"prompt": "Birds chirping in the morning", "duration": 10.0},
            {"prompt": "A crackling campfire at night with a gentle breeze", "duration": 8.0},
            {"prompt": "Calm ambient piano music for a product demo", "duration": 10.0},
        )),
    EndpointSpec(
        Endpoint.VIDU_TIMING2AUDIO, Provider.VIDU, "/ent/v2/timing2audio", "audio", "Timed sound", "timed",
        ":material/timeline:", "pages.timed_sound", "tim",
        {"timing_prompts": [], "duration": float(VIDU_AUDIO_DEFAULT_SECONDS), "seed": 0, "callback_url": ""},
        validate_vidu_timing2audio, pricing.vidu_audio_price, "credits", 12, fixed=_VIDU_AUDIO, examples=(
            {"duration": 10.0, "timing_prompts": [
                {"from": 0.0, "to": 3.0, "prompt": "Birds chirping in the morning"},
                {"from": 3.0, "to": 6.0, "prompt": "A distant train passing by"},
                {"from": 5.0, "to": 9.5, "prompt": "Waves gently lapping the beach"}]},
            {"duration": 8.0, "timing_prompts": [
                {"from": 0.0, "to": 8.0, "prompt": "Steady rain on a roof"},
                {"from": 2.5, "to": 4.5, "prompt": "A loud thunder clap"},
                {"from": 5.0, "to": 7.0, "prompt": "Footsteps running on wet pavement"}]},
        )),
    EndpointSpec(
        Endpoint.VIDU_TEXT2VIDEO, Provider.VIDU, "/ent/v2/text2video", "video", "Video from text", "video",
        ":material/movie:", "pages.video_from_text", "t2v",
        {"model": "viduq2", "prompt": "", "duration": 5, "resolution": "720p", "aspect_ratio": "16:9",
         "style": "general", "movement_amplitude": "auto", "bgm": False, "audio": False, "off_peak": False, "seed": 0,
         "watermark": False, "wm_position": 3, "wm_url": "", "meta_data": "", "payload": "", "callback_url": ""},
        validate_vidu_text2video, pricing.vidu_video_price, "credits", 60, examples=(
            {"model": "viduq2", "prompt": "A cute cat is running on the grass under bright sunshine, "
                                          "creating a warm and cozy scene."},
            {"model": "viduq3-turbo", "prompt": "Slow aerial shot over a misty forest at sunrise", "duration": 8},
            {"model": "viduq1", "prompt": "A paper boat drifting down a rainy street gutter", "duration": 5,
             "resolution": "1080p"},
        )),
    EndpointSpec(
        Endpoint.KLING_TEXT2AUDIO, Provider.KLING, "/v1/audio/text-to-audio", "audio", "Kling sound", "kling",
        ":material/graphic_eq:", "pages.kling_sound", "kt2a",
        {"prompt": "", "duration": 5.0, "external_task_id": "", "callback_url": ""},
        validate_kling_text2audio, pricing.kling_price, "units", 10, price_note="Kling bills per task", examples=(
            {"prompt": "Fireworks sound during Chinese New Year celebration", "duration": 3.0},
            {"prompt": "Ocean waves crashing on rocks", "duration": 6.0},
            {"prompt": "A busy cafe with chatter and clinking cups", "duration": 10.0},
        )),
)}


def spec(endpoint: Endpoint | str) -> EndpointSpec:
    return SPECS[Endpoint(endpoint)]


def of(provider: Provider) -> list[EndpointSpec]:
    """The specs of one vendor's endpoints, in registry order."""
    return [s for s in SPECS.values() if s.provider is provider]


def cost(endpoint: Endpoint, body: dict) -> str | None:
    """"35 credits" / "0.25 units" by the published prices, or None if it cannot be told."""
    found = spec(endpoint)
    price = found.price(body)
    return None if price is None else f"{price:g} {found.unit}"
