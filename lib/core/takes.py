"""Takes: one request made several times (distinct seeds for Vidu, separate requests for Kling), and the same
sound description tried with the other vendor, adapted to its rules with plain words for what was changed.

Pure: the form builds a `Plan` from what the person typed, the studio sends its requests as one group.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from lib.core import endpoints
from lib.core.tasks import Endpoint, Provider
from lib.core.validation import (
    KLING_PROMPT_MAX,
    KLING_SECONDS,
    SEED_MAX,
    VIDU_AUDIO_MODEL,
    VIDU_AUDIO_PROMPT_MAX,
    VIDU_AUDIO_SECONDS,
    as_number,
)

TAKES = (1, 2, 3, 4)
# The sound endpoints that can be tried with the other vendor as well ("Also try with Kling").
COMPARE = {Endpoint.VIDU_TEXT2AUDIO: Endpoint.KLING_TEXT2AUDIO, Endpoint.KLING_TEXT2AUDIO: Endpoint.VIDU_TEXT2AUDIO}
_LIMITS = {  # (prompt limit, shortest and longest length, decimals of the length or None)
    Endpoint.KLING_TEXT2AUDIO: (KLING_PROMPT_MAX, KLING_SECONDS, 1),
    Endpoint.VIDU_TEXT2AUDIO: (VIDU_AUDIO_PROMPT_MAX, VIDU_AUDIO_SECONDS, None),
}


@dataclass(frozen=True)
class Plan:
    """The requests one press of Generate sends, in order, and what was changed for the other vendor."""

    requests: tuple[tuple[Endpoint, dict], ...]
    changes: tuple[str, ...] = ()

    def count(self, provider: Provider) -> int:
        return sum(1 for endpoint, _ in self.requests if endpoint.provider is provider)


def vendor_name(provider: Provider) -> str:
    """"Vidu", "Kling": the vendor as people know it."""
    return provider.value.capitalize()


def take_count(value) -> int:
    """The Takes control's value as a number of takes; anything else a forged browser sends counts as one."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value in TAKES else 1


def seeds(typed: int, count: int, rng: random.Random | None = None) -> list[int]:
    """The seeds of `count` takes: the typed one first, the others distinct ones chosen by the studio.

    One take with seed 0 keeps 0, so Vidu picks it (and echoes it); several takes with 0 get chosen seeds, so
    every take is known and different before it is sent."""
    rng = rng or random.SystemRandom()
    if count == 1:
        return [typed]
    chosen = [typed] if typed else []
    while len(chosen) < count:
        seed = rng.randint(1, SEED_MAX)
        if seed not in chosen:
            chosen.append(seed)
    return chosen


def has_seed(endpoint: Endpoint) -> bool:
    return "seed" in endpoints.spec(endpoint).fields


def takes(endpoint: Endpoint, body: dict, count: int, rng: random.Random | None = None) -> list[dict]:
    """`count` request bodies for one form: with distinct seeds where the endpoint has one, else identical
    (Kling: each is its own task; a reference the person typed gets "-2", "-3", … so each stays unique)."""
    if has_seed(endpoint):
        typed = int(as_number(body.get("seed")) or 0)
        return [_with_seed(body, seed) for seed in seeds(typed, count, rng)]
    reference = body.get("external_task_id")
    if not reference or not isinstance(reference, str):
        return [dict(body) for _ in range(count)]
    return [dict(body) if number == 1 else {**body, "external_task_id": f"{reference[:60]}-{number}"}
            for number in range(1, count + 1)]


def _with_seed(body: dict, seed: int) -> dict:
    found = dict(body)
    found.pop("seed", None)
    return found | ({"seed": seed} if seed else {})


def adapt(body: dict, target: Endpoint) -> tuple[dict, list[str]]:
    """The same sound description as a request for `target` (Kling or Vidu text-to-audio), and plain words for
    each thing its rules made the studio change. Settings only one vendor has are left out; the callback address
    too (it names one vendor's route, and the studio follows every task itself)."""
    limit, (low, high), decimals = _LIMITS[target]
    name = vendor_name(target.provider)
    prompt = body.get("prompt") if isinstance(body.get("prompt"), str) else ""
    changes = []
    if len(prompt) > limit:
        prompt = prompt[:limit].rstrip()
        changes.append(f"the description was shortened to {limit} characters")
    asked = as_number(body.get("duration"))
    seconds = min(max(asked if asked is not None else high, low), high)
    if decimals is not None:
        seconds = round(seconds, decimals)
    if asked is not None and seconds != asked:
        changes.append(f"the length set to {seconds:g} s")
    adapted = {"prompt": prompt, "duration": float(seconds)}
    if target is Endpoint.VIDU_TEXT2AUDIO:
        adapted = {"model": VIDU_AUDIO_MODEL, **adapted}
    return adapted, ([f"For {name} " + " and ".join(changes) + "."] if changes else [])


def plan(endpoint: Endpoint, body: dict, count: int, compare: bool = False,
         rng: random.Random | None = None) -> Plan:
    """What pressing Generate sends: `count` takes of `body`, plus as many with the other vendor when `compare`
    is on (for the endpoints in COMPARE)."""
    requests = [(endpoint, one) for one in takes(endpoint, body, count, rng)]
    changes: list[str] = []
    if compare and endpoint in COMPARE:
        other = COMPARE[endpoint]
        adapted, changes = adapt(body, other)
        requests += [(other, one) for one in takes(other, adapted, count, rng)]
    return Plan(tuple(requests), tuple(changes))
