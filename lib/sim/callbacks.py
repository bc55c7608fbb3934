"""Callback delivery from worker threads, in order per task, with retries for the final state.

Vidu documents that success/failed callbacks are retried three times when sending fails; Kling documents no
retries, and the simulator treats it the same way. Any 2xx answer counts as delivered.

Callbacks go where a create request says, so they are kept from turning into requests the sender could not make
itself: every delivery carries a mark the simulator refuses on its own requests (a callback aimed at the
simulator, `/_sim/reset` say, reaches nothing), and with `public_only` (a hosted studio's simulator) a
callback address that is not public, or is the simulator's own, is refused at create and the address actually
connected to is checked again before anything is sent.
"""
from __future__ import annotations

import http.client
import ipaddress
import secrets
import socket
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from lib.vendors import fetch

RETRY_DELAYS = (1, 5, 30)  # seconds before each retry, divided by the simulator's speed
TIMEOUT = 10
MARK_HEADER = "X-Sim-Callback"  # on every delivery; the simulator refuses any request that carries its own mark


@dataclass(frozen=True)
class Delivery:
    task_id: str  # deliveries for one task go out one after another, in the order they were made
    url: str
    body: bytes
    headers: Callable[[], dict[str, str]]  # built per attempt: signatures carry the sending time
    retry: bool


class _Refused(Exception):
    """The address connected to is not one callbacks may go to: give up, do not retry."""


class Dispatcher:
    def __init__(self, speed: float, public_only: bool = False):
        self._speed, self.public_only = speed, public_only
        self.mark = secrets.token_hex(16)
        self.own: tuple[str, int] | None = None  # the simulator's listening address, once it has one
        self._lock = threading.Lock()
        self._pending: dict[str, deque[Delivery]] = {}
        self._stopped = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sim-callback")

    def address_allowed(self, url: str | None) -> bool:
        """Whether callbacks may be sent to `url` (no address: nothing is sent, so yes)."""
        if not url or not self.public_only:
            return True
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not host or host.rstrip(".").lower() == "localhost":
            return False
        return not fetch.host_is_private(host) and not self._is_own(fetch.resolve(host), port)

    def _is_own(self, addresses: list[str], port: int) -> bool:
        if self.own is None or port != self.own[1]:
            return False
        own_host = self.own[0]
        anywhere = own_host in ("", "0.0.0.0", "::")
        return any(anywhere or ipaddress.ip_address(a.split("%")[0]) == ipaddress.ip_address(own_host)
                   for a in addresses)

    def send(self, delivery: Delivery) -> None:
        with self._lock:
            queue = self._pending.setdefault(delivery.task_id, deque())
            queue.append(delivery)
            if len(queue) == 1:
                self._pool.submit(self._drain, delivery.task_id)

    def stop(self) -> None:
        self._stopped.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _drain(self, task_id: str) -> None:
        while True:
            with self._lock:
                delivery = self._pending[task_id][0]
            self._deliver(delivery)
            with self._lock:
                queue = self._pending[task_id]
                queue.popleft()
                if not queue:
                    del self._pending[task_id]
                    return

    def _deliver(self, delivery: Delivery) -> None:
        if not self.address_allowed(delivery.url):
            return
        delays = RETRY_DELAYS if delivery.retry else ()
        for delay in (0, *delays):
            if self._stopped.wait(delay / self._speed):
                return
            try:
                if self._post(delivery):
                    return
            except _Refused:
                return

    def _connect(self, address, timeout, source_address=None) -> socket.socket:
        """socket.create_connection, then the connected address checked before a byte is sent (DNS rebinding)."""
        sock = socket.create_connection(address, timeout, source_address)
        peer = sock.getpeername()
        if self.public_only and (not fetch.is_public(peer[0]) or self._is_own([peer[0]], peer[1])):
            sock.close()
            raise _Refused
        return sock

    def _post(self, delivery: Delivery) -> bool:
        """http.client rather than urllib, which would re-case the documented header names (X-HMAC-SIGNATURE)."""
        url = urlsplit(delivery.url)
        connection_type = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        connection = connection_type(url.netloc, timeout=TIMEOUT)
        connection._create_connection = self._connect  # the hook http.client connects through (TLS comes after)
        try:
            connection.request("POST", (url.path or "/") + (f"?{url.query}" if url.query else ""), delivery.body,
                               {**delivery.headers(), MARK_HEADER: self.mark})
            return 200 <= connection.getresponse().status < 300
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()
