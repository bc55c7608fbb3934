"""Load: from the vendor reporting success to the studio having the result, with many tasks in flight.

The studio's engine (store, vendor clients, archive, worker; no Streamlit) runs in this process against a
stand-in vendor (`bench/standin.py`) on loopback. Half the tasks are Vidu sounds, half Kling sounds, all
submitted at once through `lib.service.studio.submit`; the stand-in runs them at the vendors' real pace (about 9 s)
with no concurrency limit, so they are all in flight together.

- "success" is when the stand-in turned the task to success (its own record);
- "stored" is when the studio's store reads the task succeeded with every file archived (read every 20 ms);
- queries are the stand-in's log of status requests, per task: the most that fell within one polling interval
  (less 50 ms, for the jitter of the network and the thread scheduler) and the shortest gap between two.

A round under load answers every request after 0.3 s and lets the first task's result trickle for 40 s; that
task's own figure is reported apart (it cannot beat its download). The baseline round is the same number of
tasks with an instant stand-in and no trickle. Both run in the same process, one after the other.

`run_round` can also hand the work to engines run elsewhere (bench/replicas.py: several processes on one
PostgreSQL); tasks are then submitted and watched through a studio whose own worker is not started.
"""
from __future__ import annotations

import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass

from bench.standin import StandIn
from lib.core.endpoints import spec
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.service import studio
from lib.service.app import Studio, build
from lib.service.config import load_settings
from lib.service.poller import FIRST_INTERVAL
from lib.sim import kling as sim_kling
from lib.sim import vidu as sim_vidu
from lib.sim.options import DEMO_KLING_ACCESS_KEY, DEMO_KLING_SECRET_KEY, DEMO_VIDU_KEY
from lib.store.sqlite import IN_FLIGHT

OWNER = "local"
LATENCY, TRICKLE = 0.3, 40.0
JITTER = 0.05
WATCH_EVERY = 0.02
SUBMITTERS = 16  # people clicking Generate at once
NO_COPY = "no copy could be kept"  # what the worker writes when archiving gave up
# Issue 9's goals, for the first and second number of tasks of a run (40 and 200 by default).
GOALS = ({"p95": 2.0, "max": 4.0}, {"p95": 5.0})


def percentile(values: list[float], share: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * share
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def most_in_window(times: list[float], window: float) -> int:
    """The most of `times` that fall within any span shorter than `window`."""
    ordered, most, first = sorted(times), 0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


@dataclass(frozen=True)
class Round:
    tasks: int
    latency: float
    trickle: float
    seconds: list[float]  # success -> stored with its copy, for every task but the trickled one
    trickled: float | None  # the same for the trickled task
    uncopied: int  # tasks that ended without an archived copy
    queries_per_interval: int  # the most queries one task got within one polling interval
    shortest_gap: float  # the shortest time between two queries of one task
    mean_gap: float  # the mean time between two queries of one task: shorter when the engines keep up better
    wall: float  # seconds the round took, submission to the last result

    @property
    def p50(self) -> float:
        return percentile(self.seconds, 0.5)

    @property
    def p95(self) -> float:
        return percentile(self.seconds, 0.95)

    @property
    def max(self) -> float:
        return max(self.seconds)


def _body(endpoint: Endpoint, number: int) -> dict:
    examples = spec(endpoint).examples
    example = examples[number % len(examples)]
    return {**spec(endpoint).fixed, **example, "prompt": f"{example['prompt']}, take {number + 1}"}


def _submit(engine: Studio, number: int) -> Task:
    endpoint = Endpoint.VIDU_TEXT2AUDIO if number % 2 == 0 else Endpoint.KLING_TEXT2AUDIO
    task, _ = studio.submit(engine.store, engine.vendors, endpoint, _body(endpoint, number), OWNER)
    if task.state is State.FAILED or not task.vendor_id:
        raise RuntimeError(f"the stand-in refused task {number + 1}: {task.error_message}")
    return task


def _archived(task: Task) -> bool:
    return bool(task.media) and all(m.archived and (m.archived_cover or not m.cover_url) for m in task.media)


def _database(engine: Studio, database_url: str | None):
    """A connection of the watcher's own to the engines' database (PostgreSQL's `?` are written `%s`)."""
    if database_url:
        import psycopg

        return psycopg.connect(database_url, autocommit=True), "%s"
    return sqlite3.connect(f"file:{engine.store.path}?mode=ro", uri=True), "?"


def _watch(engine: Studio, tasks: list[Task], timeout: float, database_url: str | None = None
           ) -> tuple[dict[str, float], set[str]]:
    """{task: when the store first had it succeeded with its copy}, and the tasks that ended without one."""
    pending, stored, uncopied = {task.id for task in tasks}, {}, set()
    deadline = time.monotonic() + timeout
    # Straight from the database, ids only: cheap enough to ask 50 times a second without taking the studio's CPU.
    connection, mark = _database(engine, database_url)
    with closing(connection) as db:
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} of {len(tasks)} results never reached the store")
            marks, states = ", ".join([mark] * len(pending)), ", ".join([mark] * len(IN_FLIGHT))
            ended = [row[0] for row in db.execute(f"SELECT id FROM tasks WHERE state NOT IN ({states}) AND id IN "
                                                  f"({marks})", [s.value for s in IN_FLIGHT] + [*pending])]
            now = time.time()
            for task_id in ended:
                task = engine.store.get(task_id)
                if task.state is not State.SUCCEEDED:
                    raise RuntimeError(f"task {task_id} ended {task.state.value}: {task.error_message}")
                if _archived(task):
                    stored[task_id] = now
                elif NO_COPY in (task.error_message or ""):
                    uncopied.add(task_id)
                else:
                    continue  # succeeded, its copy still being made
                pending.discard(task_id)
            time.sleep(WATCH_EVERY)
    return stored, uncopied


def _query_times(standin: StandIn, tasks: list[Task]) -> dict[str, list[float]]:
    names = {}
    for task in tasks:
        vendor = sim_vidu.NAME if task.provider is Provider.VIDU else sim_kling.NAME
        names[vendor, task.vendor_id] = names[vendor, task.external_id] = task.id
    times = defaultdict(list)
    for query in standin.queries:
        if (query.vendor, query.ref) in names:
            times[names[query.vendor, query.ref]].append(query.time)
    return times


@contextmanager
def engine_here(environ: dict[str, str]) -> Iterator[Studio]:
    """The default engine of a round: one studio in this process, its worker started."""
    engine = build(load_settings(environ, {}))
    try:
        yield engine.start()
    finally:
        engine.close()


def run_round(count: int, latency: float, trickle: float, speed: float = 1.0, timeout: float = 900,
              database_url: str | None = None,
              engines: Callable[[dict[str, str]], AbstractContextManager[Studio]] = engine_here) -> Round:
    """One round of `count` tasks; `speed` > 1 runs the vendors' lifecycles faster than the real ones.
    `engines(environ)` runs the studio engines doing the work with these settings (on one data folder and
    `database_url`, PostgreSQL; None: SQLite) and gives the studio tasks are submitted through and watched with."""
    standin = StandIn(latency, concurrency=count, speed=speed)
    try:
        with tempfile.TemporaryDirectory(prefix="cue-bench-load-") as folder:
            environ = {"STUDIO_DATA_DIR": folder, "VIDU_API_KEY": DEMO_VIDU_KEY, "VIDU_BASE_URL": standin.url,
                       "KLING_ACCESS_KEY": DEMO_KLING_ACCESS_KEY, "KLING_SECRET_KEY": DEMO_KLING_SECRET_KEY,
                       "KLING_BASE_URL": standin.url, **({"STUDIO_DATABASE_URL": database_url} if database_url else {})}
            with engines(environ) as engine:
                started = time.monotonic()
                first = _submit(engine, 0)  # a Vidu task: its result is the one that trickles
                if trickle:
                    standin.trickle(sim_vidu.NAME, first.vendor_id, trickle)
                with ThreadPoolExecutor(SUBMITTERS) as pool:
                    tasks = [first, *pool.map(lambda number: _submit(engine, number), range(1, count))]
                stored, uncopied = _watch(engine, tasks, timeout + trickle, database_url)
                wall = time.monotonic() - started
    finally:
        standin.stop()
    seconds = {}
    for task in tasks:
        vendor = sim_vidu.NAME if task.provider is Provider.VIDU else sim_kling.NAME
        if task.id in stored:
            seconds[task.id] = stored[task.id] - standin.succeeded_at(vendor, task.vendor_id)
    trickled = seconds.pop(first.id, None) if trickle else None
    times = _query_times(standin, tasks).values()
    gaps = [later - earlier for series in times for earlier, later in zip(sorted(series), sorted(series)[1:])]
    return Round(count, latency, trickle, list(seconds.values()), trickled, len(uncopied),
                 max(most_in_window(series, FIRST_INTERVAL - JITTER) for series in times),
                 min(gaps, default=float("inf")), sum(gaps) / len(gaps) if gaps else float("inf"), wall)


@dataclass(frozen=True)
class Comparison:
    baseline: Round
    loaded: Round


def run(counts: tuple[int, ...] = (40, 200), latency: float = LATENCY, trickle: float = TRICKLE,
        speed: float = 1.0) -> list[Comparison]:
    return [Comparison(run_round(count, 0.0, 0.0, speed), run_round(count, latency, trickle, speed))
            for count in counts]


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def markdown(results: list[Comparison]) -> list[str]:
    loaded = results[0].loaded
    lines = [f"### Load (stand-in vendor answering after {loaded.latency:g} s, one result trickling for "
             f"{loaded.trickle:g} s)", "",
             "From the vendor reporting success to the studio's store having the task succeeded with its archived "
             "copy, per task (the trickled task apart). Baseline: the same tasks, instant vendor, no trickle.", "",
             "| tasks in flight | round | p50 (s) | p95 (s) | max (s) | trickled task (s) | most queries per task "
             "per interval | shortest gap between queries (s) | round took (s) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for result in results:
        for name, one in (("baseline", result.baseline), ("under load", result.loaded)):
            trickled = "–" if one.trickled is None else f"{one.trickled:.1f}"
            lines.append(f"| {one.tasks} | {name} | {one.p50:.2f} | {one.p95:.2f} | {one.max:.2f} | {trickled} | "
                         f"{one.queries_per_interval} | {one.shortest_gap:.2f} | {one.wall:.0f} |")
        base, load = result.baseline, result.loaded
        lines.append(f"| {load.tasks} | × baseline | {load.p50 / base.p50:.1f} | {load.p95 / base.p95:.1f} | "
                     f"{load.max / base.max:.1f} | | | | |")
    lines.append("")
    if tuple(result.loaded.tasks for result in results) != (40, 200):
        lines += ["Goals are set for 40 and then 200 tasks; with other numbers the verdicts only indicate.", ""]
    for goal, result in zip(GOALS, results):
        load = result.loaded
        checks = [f"p95 ≤ {goal['p95']:g} s: {_verdict(load.p95 <= goal['p95'])}"]
        if "max" in goal:
            checks.append(f"max ≤ {goal['max']:g} s: {_verdict(load.max <= goal['max'])}")
        uncopied = f"; {load.uncopied} task(s) kept no copy" if load.uncopied else ""
        lines.append(f"- {load.tasks} tasks under load: {', '.join(checks)}{uncopied}.")
    worst = max(one.queries_per_interval for result in results for one in (result.baseline, result.loaded))
    lines.append(f"- At most one query per task per polling interval ({FIRST_INTERVAL:g} s): "
                 f"{_verdict(worst <= 1)} (most seen: {worst}).")
    return lines
