"""A stand-in vendor for the load benchmark: the simulator, slowed down and watched.

It is `lib.sim` with three additions that only a benchmark wants:
- every request (vendor and media) is answered after `latency` seconds (the simulator's own `delay` fault);
- chosen media files trickle: their bytes are spread evenly over `seconds` (see `trickle`);
- every query is logged with its arrival time, without the simulator's 10,000-entry cap, so the bench can count
  queries per task per polling interval.

The moment a task turned success is the simulator's own record of it (`finished` of the engine's task).
Media is one canned short sound per format, rendered once: the bench measures the studio, and rendering a
distinct sound for each of 200 tasks would take the machine's two cores away from it.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from functools import partial

from lib.sim import kling, vidu
from lib.sim.assets import MEDIA_PREFIX, Recipe
from lib.sim.engine import Phase
from lib.sim.options import Options
from lib.sim.server import Simulator, _Handler

_VIDU_QUERY = re.compile(r"/ent/v2/tasks/([^/]+)/creations")
_KLING_QUERY = re.compile(r"/v1/audio/text-to-audio(?:/([^/]+))?")
CHUNKS_PER_SECOND = 10


@dataclass(frozen=True)
class Query:
    vendor: str
    ref: str  # the vendor's task id, or Kling's external_task_id when the query names that
    time: float


class _TricklingHandler(_Handler):
    """Sends the body of a trickled file in small pieces, evenly over its set time."""

    def do_GET(self) -> None:
        raw = self.wfile
        try:
            super().do_GET()
        finally:
            self.wfile = raw  # the next answer on this kept-alive connection goes at full speed

    def end_headers(self) -> None:
        super().end_headers()
        name = self.path.split("?")[0][len(MEDIA_PREFIX):] if self.path.startswith(MEDIA_PREFIX) else ""
        seconds = self.server.simulator.trickled.get(name)
        if seconds and self.command == "GET":
            self.wfile = _SlowWriter(self.wfile, seconds)


class _SlowWriter:
    def __init__(self, raw, seconds: float):
        self.raw, self.seconds = raw, seconds

    def write(self, data: bytes) -> int:
        pieces = max(1, round(self.seconds * CHUNKS_PER_SECOND))
        size = -(-len(data) // pieces)
        for start in range(0, len(data), size):
            time.sleep(self.seconds / pieces)
            self.raw.write(data[start:start + size])
            self.raw.flush()
        return len(data)

    def __getattr__(self, name):
        return getattr(self.raw, name)


class StandIn(Simulator):
    def __init__(self, latency: float = 0.0, **options):
        super().__init__("127.0.0.1", 0, Options(**options))
        self.trickled: dict[str, float] = {}  # media file name -> seconds its download takes
        self.queries: list[Query] = []
        self._log_lock = threading.Lock()
        self._canned: dict[tuple, dict[str, bytes]] = {}
        self._http.RequestHandlerClass = _TricklingHandler
        add = self.assets.add
        self.assets.add = lambda recipe: add(Recipe(partial(self._canned_render, recipe), recipe.formats))
        if latency:
            self.add_fault(delay=latency)

    def _canned_render(self, recipe: Recipe) -> dict[str, bytes]:
        key = tuple(sorted(recipe.formats.items()))
        if key not in self._canned:  # two renders racing here only waste a little time
            self._canned[key] = recipe.render()
        return self._canned[key]

    def handle(self, request):
        if request.method == "GET":
            vendor, match = ((vidu.NAME, _VIDU_QUERY.fullmatch(request.path)) if request.path.startswith("/ent/")
                             else (kling.NAME, _KLING_QUERY.fullmatch(request.path)))
            ref = match and (match.group(1) or request.query.get("external_task_id"))
            if ref:
                with self._log_lock:
                    self.queries.append(Query(vendor, ref, time.time()))
        return super().handle(request)

    def trickle(self, vendor: str, task_id: str, seconds: float) -> None:
        """Make every file of that task take `seconds` to download (call before the studio fetches it)."""
        task = self.engine.get(vendor, task_id)
        self.trickled.update((name, seconds) for name in task.bundle.names.values())

    def succeeded_at(self, vendor: str, task_id: str) -> float | None:
        """When the vendor turned the task to success (None if it has not)."""
        task = self.engine.get(vendor, task_id)
        return task.finished if task and task.phase is Phase.SUCCEEDED else None
