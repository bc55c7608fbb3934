"""Faults on demand, for testing how the studio copes with a misbehaving vendor.

Two ways in:
- prompt markers in a create request: `[fail:CODE]` (the task fails with that Vidu err_code / Kling
  task_status_msg), `[http:503]` (the create call answers that status) and `[slow:2.5]` (the answer comes
  2.5 real seconds late);
- rules set through `POST /_sim/faults` or `Simulator.add_fault()`, applied to the next requests whose path
  contains `match` (see `Fault`), e.g. `{"match": "/_sim/media/", "redirect": "http://10.0.0.5/"}`.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, fields
from http import HTTPStatus

_MARKER = re.compile(r"\[(fail|http|slow):([^\]]+)\]")


@dataclass(frozen=True)
class Markers:
    fail: str | None = None
    http: int | None = None
    slow: float = 0.0


def markers(prompts: list[str]) -> Markers:
    found = {kind: value.strip() for prompt in prompts for kind, value in _MARKER.findall(prompt)}
    try:
        return Markers(fail=found.get("fail"), http=int(found["http"]) if "http" in found else None,
                       slow=max(0.0, float(found.get("slow", 0))))
    except ValueError:  # a malformed marker such as [http:abc] is just prompt text
        return Markers(fail=found.get("fail"))


@dataclass(frozen=True)
class Fault:
    match: str = ""  # substring of the request path; "" matches every vendor and media request
    method: str | None = None  # only this HTTP method, e.g. "POST"
    times: int | None = None  # how many requests it applies to; None = until cleared
    delay: float = 0.0  # real seconds to wait before answering (never scaled by speed: it is for timeouts)
    status: int | None = None  # answer with this status and the vendor's error body for it
    code: str | int | None = None  # the Vidu reason or Kling code to put in that body instead of the default
    message: str | None = None  # the message to put in that body instead of the default (a vendor echoing input)
    retry_after: float | None = None  # adds a Retry-After header
    body: str | None = None  # "malformed": the real answer cut short; "html": a proxy's HTML error page
    drop: bool = False  # close the connection without answering
    kling_code_in_200: int | None = None  # HTTP 200 carrying this Kling error code, as some gateways do
    redirect: str | None = None  # answer 302 with this Location (a CDN bouncing a media download elsewhere)

    def __post_init__(self):
        if self.status is not None:
            HTTPStatus(self.status)  # ValueError for a status HTTP does not define
        if self.body not in (None, "malformed", "html"):
            raise ValueError('body must be "malformed" or "html"')
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1")

    @classmethod
    def from_json(cls, rule: dict) -> Fault:
        unknown = set(rule) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        return cls(**rule)

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class FaultTable:
    """Rules in the order they were added; the first live match wins, so a test can script a sequence."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules: list[list] = []  # [fault, uses left or None]

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._rules.append([fault, fault.times])

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return [fault for fault, _ in self._rules]

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                fault, left = rule
                if fault.match in path and (fault.method or method).upper() == method:
                    if left is not None:
                        rule[1] -= 1
                        if rule[1] == 0:
                            self._rules.remove(rule)
                    return fault
        return None
