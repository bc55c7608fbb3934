"""Typed errors. Every message here is meant to be shown to a person, so none may carry a key or token."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lib.core.tasks import Task


class StudioError(Exception):
    """Base for everything the studio shows to a user as a plain-language message."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request. `kind` lets the simulator answer in each vendor's own codes."""

    field: str
    message: str
    kind: str = "invalid"  # "missing" | "invalid" | "unwanted" | "count"


class InvalidRequest(StudioError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


class VendorError(StudioError):
    """An error answer from a vendor (or from whatever proxy stands in front of it)."""

    def __init__(self, vendor: str, http_status: int | None, code: str, message: str,
                 trace_id: str | None = None, retryable: bool = False, retry_after: float | None = None):
        self.vendor, self.http_status, self.code = vendor, http_status, code
        self.message, self.trace_id = message, trace_id
        self.retryable, self.retry_after = retryable, retry_after
        ref = f" (reference {trace_id})" if trace_id else ""
        super().__init__(f"{message}{ref}")


class NotSupported(StudioError):
    """The vendor has no such call (Kling cannot cancel a task)."""


class NetworkError(StudioError):
    """The vendor could not be reached or did not answer in time.

    When a create call fails this way, `task` is the task as it was sent (Kling's includes the external id it
    can later be found by), so the studio can record it and check on it instead of sending it twice.
    """

    def __init__(self, message: str, *, may_have_reached_server: bool, task: Task | None = None):
        self.may_have_reached_server = may_have_reached_server
        self.task = task
        super().__init__(message)


class ConfigError(StudioError):
    """A setting is missing or has a value the studio cannot use."""


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced, for vendor messages that might echo what they were sent."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[hidden]")
    return text
