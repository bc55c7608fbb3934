"""What the Vidu and Kling modules share: turning a vendor's words (task states, error codes) into the studio's.

Each vendor module declares one `Dialect` (its state words, a plain-language message per documented error code,
the codes worth retrying) and reads its own error body shape; everything else happens here, once.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from lib.core.errors import VendorError, redact
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.vendors.transport import should_retry

log = logging.getLogger(__name__)
DETAIL_MAX = 300  # characters of the vendor's own message worth showing
# For an error code the vendor does not document: what its HTTP status says, in plain words.
STATUS_WORDS = {
    500: "had an internal problem",
    502: "could not be reached through its gateway",
    503: "is temporarily unavailable",
    504: "did not answer its gateway in time",
}
_REPORTED_MAX = 10_000  # (vendor, task, word) already logged; bounded so a chatty vendor cannot grow it forever
_reported: set[tuple[str, str | None, str]] = set()


@runtime_checkable
class VendorClient(Protocol):
    """What the studio asks of any vendor, so nothing outside the vendor modules branches on which one it is."""

    base_url: str
    supports_cancel: bool

    def traceable(self, endpoint: Endpoint, body: dict, studio_id: str) -> dict:
        """`body` with a mark the vendor keeps and lists, naming the studio's task, so a create whose answer is
        lost can still be found."""

    def create_task(self, task: Task) -> Task:
        """Send `task`'s create request once (its endpoint and params); the task as the vendor's answer has it."""

    def query_task(self, task: Task) -> Task:
        """The vendor's current view of `task`."""

    def cancel_task(self, task: Task) -> None:
        """Ask the vendor to cancel `task`; raises NotSupported where the vendor has no cancel."""

    def find_created(self, task: Task, taken: Callable[[str], bool] = lambda vendor_id: False) -> str | None:
        """The vendor's id for a create whose answer never arrived, from its task list; None if not found (or
        the vendor has no such list)."""


def text(value) -> str | None:
    """An id, reference or address from a vendor answer as text; None when absent, empty or not a string or
    number (a list or object there would otherwise reach the store, which cannot hold it)."""
    if not value or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value)


@dataclass(frozen=True)
class Dialect:
    provider: Provider
    name: str  # as people know it: "Vidu"
    states: Mapping[str, State]
    messages: Mapping[str, str]  # documented error code -> what it means, in plain words
    retryable_codes: frozenset[str]

    def knows(self, word: str) -> bool:
        return word in self.states

    def state(self, word: str, vendor_id: str | None = None) -> State:
        """The studio state for a vendor state word.

        A word the studio does not know yet (the vendor added a state) is not an end: the task may still finish
        and be billed, so it stays in progress and keeps being followed, its card shows the vendor's word, and
        the word is logged once per task. Only an answer with no state at all is unreadable.
        """
        if word in self.states:
            return self.states[word]
        if not word:
            raise self.unexpected("no task state")
        seen = (self.name, vendor_id, word)
        if seen not in _reported:
            if len(_reported) >= _REPORTED_MAX:
                _reported.clear()
            _reported.add(seen)
            log.warning("%s reports a task state the studio does not know yet: %r (task %s); still following it",
                        self.name, word[:50], vendor_id)
        return State.RUNNING

    def error(self, http_status: int | None, code: str, detail: str | None = None, trace_id: str | None = None,
              retry_after: float | None = None, secrets: Iterable[str | None] = ()) -> VendorError:
        """The error for a vendor error body: plain words for the code, plus the vendor's own detail if any.

        Everything the vendor sent (code, detail, trace id) is redacted: a vendor or proxy may echo the key.
        """
        secrets = tuple(secrets)
        code, trace_id = redact(code, secrets)[:DETAIL_MAX], text(trace_id) and redact(text(trace_id), secrets)
        message = self.messages.get(code) or (
            f"{self.name} {STATUS_WORDS[http_status]} (HTTP {http_status}). Try again later."
            if http_status in STATUS_WORDS else f"{self.name} returned an error ({code or f'HTTP {http_status}'}).")
        if detail and detail.strip():
            message += f" {self.name} says: “{redact(detail.strip(), secrets)[:DETAIL_MAX]}”."
        retryable = (http_status is not None and should_retry(http_status)) or code in self.retryable_codes
        return VendorError(self.provider.value, http_status, code, message, text(trace_id), retryable, retry_after)

    def error_page(self, http_status: int, body: bytes) -> VendorError:
        """The error for an answer that is not JSON, typically a proxy's HTML page."""
        what = "an error page" if body.strip() else "an empty answer"
        return VendorError(self.provider.value, http_status, "non_json",
                           f"{self.name}'s server answered with {what} (HTTP {http_status}) instead of data.",
                           retryable=should_retry(http_status))

    def unexpected(self, what: str) -> VendorError:
        """The error for a well-formed answer the studio cannot use (the vendor's API may have changed)."""
        return VendorError(self.provider.value, None, "unexpected_answer",
                           f"{self.name} answered with {what}, so the studio cannot read it.")
