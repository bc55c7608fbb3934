"""Scripted vendor clients for the studio and poller tests.

Reconstructed from those tests' use after the original file was overwritten by mistake (see the client
engineer's report): answers are dicts of Task fields or exceptions, taken in order, the last one repeating.
"""
from __future__ import annotations

from lib.core.tasks import Endpoint, Provider, State, Task
from lib.service.studio import Vendors
from lib.vendors.kling import KlingClient
from lib.vendors.vidu import ViduClient


class ScriptedClient:
    """Stands in for ViduClient / KlingClient; records what was created and which ids were queried."""

    def __init__(self, creates: list | None = None, queries: list | None = None, found: list | None = None):
        self.creates, self.queries = list(creates or []), list(queries or [])
        self.found = list(found or [None])  # what find_created answers: a Vidu id, None or an exception
        self.searched: list[str] = []
        self.created: list[dict] = []
        self.queried: list[str] = []
        self.cancelled: list[str] = []

    @staticmethod
    def _next(script: list):
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def create(self, *args) -> Task:
        # ViduClient.create(endpoint, body) / KlingClient.create(body)
        endpoint, body = (args[0], args[1]) if len(args) == 2 else (Endpoint.KLING_TEXT2AUDIO, args[0])
        self.created.append(body)
        fields = self._next(self.creates)
        return Task(endpoint, params=body, **{"state": State.QUEUED, "raw_state": "created", **fields})

    def query(self, vendor_id=None, endpoint=None, *, external_id=None) -> Task:
        self.queried.append(vendor_id or external_id)
        fields = self._next(self.queries)
        return Task(endpoint or Endpoint.KLING_TEXT2AUDIO, params={}, **fields)

    def cancel(self, vendor_id) -> None:
        self.cancelled.append(vendor_id)

    # The VendorClient interface, as the real clients map it onto their own calls.
    supports_cancel = True

    def traceable(self, endpoint: Endpoint, body: dict, studio_id: str) -> dict:
        real = KlingClient if endpoint.provider is Provider.KLING else ViduClient
        return real.traceable(self, endpoint, body, studio_id)

    def create_task(self, task: Task) -> Task:
        return (self.create(task.params) if task.provider is Provider.KLING
                else self.create(task.endpoint, task.params))

    def query_task(self, task: Task) -> Task:
        if task.provider is Provider.KLING:
            return self.query(task.vendor_id, external_id=None if task.vendor_id else task.external_id)
        return self.query(task.vendor_id, task.endpoint)

    def cancel_task(self, task: Task) -> None:
        self.cancel(task.vendor_id)

    def find_created(self, task: Task, taken=lambda vendor_id: False) -> str | None:
        self.searched.append(task.id)
        found = self._next(self.found)
        return None if found is None or taken(found) else found


def vendors(vidu: ScriptedClient | None = None, kling: ScriptedClient | None = None) -> Vendors:
    return Vendors(vidu=vidu or ScriptedClient(), kling=kling or ScriptedClient(), vidu_live=False,
                   kling_live=False)


def settled(store, vendor_id: str, seconds: float = 15) -> Task:
    """The stored task once its copy, if it is a success, is no longer in progress (copies are made in the
    background); the task as it stands when `seconds` run out."""
    import time

    deadline = time.monotonic() + seconds
    while (task := store.get(vendor_id)).copying and time.monotonic() < deadline:
        time.sleep(0.02)
    return task
