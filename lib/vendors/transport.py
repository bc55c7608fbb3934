"""HTTP for the vendor clients: one session, split timeouts, and retries only where repeating is safe.

Queries, lists, credit checks and downloads are retried on 408/429/5xx and on network failures. Creates are
sent exactly once: a retried create could start (and bill) a second task, so after a timeout the person decides.
"""
from __future__ import annotations

import itertools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from lib.core.errors import NetworkError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRIES = 4
MAX_WAIT = 30.0  # seconds; also caps a vendor's Retry-After
BASE_WAIT = 0.5
POOL_SIZE = 64  # connections kept per host: as many as the worker's largest pool (STUDIO_POLL_CONCURRENCY ≤ 64)
# Failures where the request may never have been fully sent or answered, so an idempotent call can try again.
TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_this_thread = threading.local()


@contextmanager
def single_attempt() -> Iterator[None]:
    """Within this block, on this thread, every request is sent once, even where retrying is allowed.

    The poller works this way: a poll must never sleep, so it turns a failure (and its Retry-After) into the
    task's next poll time instead of waiting inside the call, whichever client and transport it goes through.
    """
    before = getattr(_this_thread, "single", False)
    _this_thread.single = True
    try:
        yield
    finally:
        _this_thread.single = before


def should_retry(status: int) -> bool:
    return status in RETRY_STATUSES


def retry_after_seconds(header: str | None, now: float | None = None) -> float | None:
    """A Retry-After header (delay in seconds or an HTTP date) as seconds from now; None if absent or unreadable."""
    if not header or not header.strip():
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def retry_delay(attempt: int, retry_after_header: str | None = None, *, base: float = BASE_WAIT,
                cap: float = MAX_WAIT, now: float | None = None, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `attempt` (0 = first retry).

    The vendor's Retry-After wins; otherwise exponential backoff with jitter (between half and all of the step),
    so many clients that failed together do not all come back at the same instant.
    """
    asked = retry_after_seconds(retry_after_header, now)
    if asked is not None:
        return min(cap, asked)
    step = min(cap, base * 2 ** attempt)
    return step * (0.5 + rand() / 2)


def json_or_none(resp: requests.Response):
    """The decoded JSON body, or None when there is none (an HTML page from a proxy, an empty or cut-off answer)."""
    try:
        return resp.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the decoder goes
        return None


def _host(url: str) -> str:
    return urlsplit(url).hostname or "the vendor"


def _reached_server(exc: requests.RequestException) -> bool:
    """False only when the request surely never left: refused, unresolvable, TLS or proxy failure, connect timeout."""
    if isinstance(exc, (requests.ConnectTimeout, requests.exceptions.SSLError, requests.exceptions.ProxyError)):
        return False
    # requests wraps urllib3's MaxRetryError, whose `reason` tells a failed connect from a dropped answer.
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, NewConnectionError)


def _session() -> requests.Session:
    """A session that keeps up to POOL_SIZE connections per host: the worker has that many requests in flight."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Transport:
    """One `requests.Session` with connect/read timeouts and the retry policy above."""

    def __init__(self, *, vendor: str = "The vendor", connect_timeout: float = 5.0, read_timeout: float = 30.0,
                 max_retries: int = MAX_RETRIES, max_wait: float = MAX_WAIT,
                 sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None):
        self.vendor = vendor  # names the vendor in network-failure messages
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries, self.max_wait, self.sleep = max_retries, max_wait, sleep
        self.session = session or _session()

    def request(self, method: str, url: str, *, headers: dict | None = None, json=None, params: dict | None = None,
                retry: bool, stream: bool = False, allow_redirects: bool = True) -> requests.Response:
        """Send one request; with `retry=True` repeat it on transient failures.

        Any HTTP answer is returned as is (after retries are used up), for the vendor module to read. Only
        failures without an answer raise, as `NetworkError`. `stream=True` leaves the body unread (downloads);
        `allow_redirects=False` returns a redirect as it is, for a caller that checks each hop itself.
        """
        retries = 0 if getattr(_this_thread, "single", False) else self.max_retries
        for attempt in itertools.count():
            last = not retry or attempt >= retries
            try:
                resp = self.session.request(method, url, headers=headers, json=json, params=params,
                                            timeout=self.timeout, stream=stream, allow_redirects=allow_redirects)
            except TRANSIENT as exc:
                if last:
                    raise self._network_error(url, exc, retry, attempt + 1) from None  # exc holds the auth header
                self._wait(attempt, None, method, url, type(exc).__name__)
                continue
            except requests.RequestException:
                # Malformed URL or header: never transient, and header errors quote the header value (the key).
                raise NetworkError(f"Could not send the request to {_host(url)}: the address or settings are "
                                   "not valid.", may_have_reached_server=False) from None
            if last or not should_retry(resp.status_code):
                return resp
            self._wait(attempt, resp.headers.get("Retry-After"), method, url, f"HTTP {resp.status_code}")
            resp.close()

    def _wait(self, attempt: int, retry_after: str | None, method: str, url: str, why: str) -> None:
        delay = retry_delay(attempt, retry_after, cap=self.max_wait)
        log.warning("%s %s%s failed (%s); retrying in %.1f s", method, _host(url), urlsplit(url).path, why, delay)
        self.sleep(delay)

    def _network_error(self, url: str, exc: requests.RequestException, retried: bool, attempts: int) -> NetworkError:
        host, reached = _host(url), _reached_server(exc)
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if not reached:
            message = f"Could not connect to {host}{tries}, so nothing was sent. Check the internet connection " \
                      "and try again."
        elif retried:
            message = f"{host} did not answer{tries}. Try again in a moment."
        else:
            message = f"{self.vendor} did not answer in time; the task may still have been created — check the " \
                      "history before trying again."
        return NetworkError(message, may_have_reached_server=reached)
