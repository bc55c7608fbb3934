"""Credit prices from the vendors' published tables: the simulator charges them and the forms estimate them.

These are estimates only: what a task is recorded as costing is the `credits` the vendor's own answer reports.
"""
from __future__ import annotations

import math

from lib.core.validation import VIDEO_MODELS, as_number, video_rules

VIDU_AUDIO = {"up_to_5s": 10, "above_5s": 20}
# viduq2: a base price covering the first second plus a price per further second.
VIDU_Q2 = {"540p": (10, 2), "720p": (15, 5), "1080p": (20, 10)}
VIDU_PER_SECOND = {
    # viduq3-pro 720p and 1080p: the newer published prices ($0.15/s and $0.16/s as ComfyUI's Vidu nodes bill them,
    # at $0.005 a credit; vidu_api.md §11). That table has no 540p price, so 540p keeps the older summary's 9.
    "viduq3-pro": {"540p": 9, "720p": 30, "1080p": 32},
    "viduq3-turbo": {"540p": 7, "720p": 11, "1080p": 13},
}
VIDU_Q1_FLAT = 80  # 5 s at 1080p, the only combination viduq1 offers
OFF_PEAK_SHARE = 0.5
KLING_UNITS_PER_TASK = "0.25"  # Kling bills text-to-audio per task, whatever the duration
# Money per credit or unit, the defaults of `[prices]` (lib/service/config.py). Vidu: $0.005 a credit (vidu_api.md
# §11). Kling: no official price of a unit is published (kling_api.md §10 finds only a relay's 0.25 CNY a task,
# not a unit's price), so there is no default: Kling costs show in units only until an administrator sets one.
DOLLARS_PER_VIDU_CREDIT = 0.005
DOLLARS_PER_KLING_UNIT = None


def vidu_audio_credits(duration: float) -> int:
    return VIDU_AUDIO["up_to_5s"] if duration <= 5 else VIDU_AUDIO["above_5s"]


def vidu_video_credits(model: str, resolution: str, duration: int, off_peak: bool = False) -> int:
    if model == "viduq1":
        full = VIDU_Q1_FLAT
    elif model == "viduq2":
        base, per_second = VIDU_Q2[resolution]
        full = base + per_second * (duration - 1)
    else:
        full = VIDU_PER_SECOND[model][resolution] * duration
    # Off-peak runs cost about half (viduq1: 40 instead of 80), rounded up to whole credits.
    return math.ceil(full * (OFF_PEAK_SHARE if off_peak else 1))


# Each endpoint's price function (lib.core.endpoints): what a request body should cost, None when it cannot be told.
def vidu_audio_price(body: dict) -> int:
    return vidu_audio_credits(as_number(body.get("duration")) or 10)


def vidu_video_price(body: dict) -> int | None:
    model = body.get("model")
    if model not in VIDEO_MODELS:
        return None
    rules, seconds = video_rules(model), as_number(body.get("duration"))
    try:
        return vidu_video_credits(model, body.get("resolution") or rules["default_resolution"],
                                  int(seconds or rules["default_seconds"]), bool(body.get("off_peak")))
    except (KeyError, TypeError, ValueError):
        return None


def kling_price(body: dict) -> float:
    return float(KLING_UNITS_PER_TASK)
