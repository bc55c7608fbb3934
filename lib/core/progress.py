"""A remaining-time estimate that never goes up and never jumps, kept per task across the page's reruns.

The vendors' progress is coarse and uneven (a jump from 10 % to 90 %, then a long wait), and the estimate made
from it swings. What is shown counts down with the clock, and moves towards each new estimate only gradually,
never upwards and never by more than the time gone by plus MAX_EXTRA_DROP. Pure: the caller keeps `Remaining`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from lib.core.history import seconds as duration

BLEND_SECONDS = 3.0  # how quickly the shown figure moves towards a lower estimate (about 63 % in this time)
MAX_EXTRA_DROP = 5.0  # seconds the shown figure may fall beyond the time gone by, at one update
ALMOST_DONE = 3.0  # below this (or once overdue), a number of seconds would be wrong more often than right


@dataclass(frozen=True)
class Remaining:
    seconds: float  # what was shown
    at: float  # when


def smooth(previous: Remaining | None, estimate: float, now: float) -> Remaining:
    """What to show now, given what was shown before (None: first time) and the fresh `estimate` of seconds left.

    The figure counted down from the previous one is an upper bound (it never goes up); a lower estimate pulls it
    down, blended by the time gone by and bounded by MAX_EXTRA_DROP (it never jumps)."""
    fresh = max(0.0, estimate) if math.isfinite(estimate) else 0.0
    if previous is None:
        return Remaining(fresh, now)
    elapsed = max(0.0, now - previous.at)  # a clock that went backwards counts as no time
    counted = max(0.0, previous.seconds - elapsed)
    if fresh >= counted:
        return Remaining(counted, now)
    weight = 1 - math.exp(-elapsed / BLEND_SECONDS)
    return Remaining(max(counted - (counted - fresh) * weight, counted - MAX_EXTRA_DROP, 0.0), now)


def words(seconds: float) -> str:
    """"about 1 min 05 s left", or "almost done" near the end and once overdue."""
    return "almost done" if seconds < ALMOST_DONE else f"about {duration(seconds)} left"
