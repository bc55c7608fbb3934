"""Callback delivery from worker threads, in order per task, with retries for the final state.

Vidu documents that success/failed callbacks are retried three times when sending fails; Kling documents no
retries, and the simulator treats it the same way. Any 2xx answer counts as delivered.
"""
from __future__ import annotations

import http.client
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

RETRY_DELAYS = (1, 5, 30)  # seconds before each retry, divided by the simulator's speed
TIMEOUT = 10


@dataclass(frozen=True)
class Delivery:
    task_id: str  # deliveries for one task go out one after another, in the order they were made
    url: str
    body: bytes
    headers: Callable[[], dict[str, str]]  # built per attempt: signatures carry the sending time
    retry: bool


class Dispatcher:
    def __init__(self, speed: float):
        self._speed = speed
        self._lock = threading.Lock()
        self._pending: dict[str, deque[Delivery]] = {}
        self._stopped = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sim-callback")

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
        delays = RETRY_DELAYS if delivery.retry else ()
        for delay in (0, *delays):
            if self._stopped.wait(delay / self._speed):
                return
            if self._post(delivery):
                return

    @staticmethod
    def _post(delivery: Delivery) -> bool:
        """http.client rather than urllib, which would re-case the documented header names (X-HMAC-SIGNATURE)."""
        url = urlsplit(delivery.url)
        connection_type = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        connection = connection_type(url.netloc, timeout=TIMEOUT)
        try:
            connection.request("POST", (url.path or "/") + (f"?{url.query}" if url.query else ""), delivery.body,
                               delivery.headers())
            return 200 <= connection.getresponse().status < 300
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()
