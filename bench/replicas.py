"""Replicas: the load benchmark (bench/load.py: 200 tasks, the vendor answering after 0.3 s, one result trickling)
on one and on three engines sharing one PostgreSQL and one data folder, side by side.

Each engine is a whole studio engine (store, vendor clients, archive, worker) in a process of its own, as real
replicas are, so each has its own interpreter and CPU time and adding engines can add throughput; on a machine
with fewer cores than engines they still compete for the CPU. Tasks are submitted and watched through a studio
in this process whose own worker never starts. Each engine reports what its worker did (polls and copies), so
the work is seen shared. The one-engine round is the baseline: the three-engine figures are also given as
ratios against it, measured in the same run. Throughput shows as the mean time between two queries of one task:
one engine's 32 queries in flight per vendor, each answered after 0.3 s, cannot see 200 tasks every second.

The database is a fresh one per round, dropped afterwards, in the PostgreSQL at STUDIO_BENCH_DATABASE_URL (or the
test run's STUDIO_TEST_DATABASE_URL: `source scripts/postgres.sh` starts a throwaway one).
"""
from __future__ import annotations

import math
import multiprocessing
import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from bench import load
from lib.service.app import Studio, build
from lib.service.config import load_settings
from lib.service.poller import FIRST_INTERVAL, LEASE_SECONDS

ENGINES = (1, 3)
START_SECONDS = 120  # how long an engine process may take to start before the round gives up


@dataclass(frozen=True)
class Work:
    """What one engine's worker did in a round."""
    polls: int
    copies: int


@dataclass(frozen=True)
class Result:
    engines: int
    round: load.Round
    work: list[Work]  # per engine process


@contextmanager
def fresh_database():
    """The address of a new, empty database on the benchmark's PostgreSQL, dropped afterwards."""
    import psycopg

    base = os.environ.get("STUDIO_BENCH_DATABASE_URL") or os.environ.get("STUDIO_TEST_DATABASE_URL")
    if not base:
        raise RuntimeError("The replicas benchmark needs PostgreSQL: set STUDIO_BENCH_DATABASE_URL, or run it after "
                           "`source scripts/postgres.sh` (a throwaway one).")
    name = f"bench_{uuid.uuid4().hex}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _engine(environ: dict[str, str], ready, stop, done) -> None:
    """One replica's engine, in a process of its own: works until `stop`, then says what its worker did."""
    engine = build(load_settings(environ, {}))
    counts, lock = Counter(), threading.Lock()

    def counted(name: str, step: Callable):
        def run(task):
            with lock:
                counts[name] += 1
            return step(task)
        return run
    engine.worker.poll = counted("polls", engine.worker.poll)
    engine.worker.on_success = counted("copies", engine.worker.on_success)
    engine.start()
    ready.put(os.getpid())
    stop.wait()
    engine.close()
    done.put(Work(counts["polls"], counts["copies"]))


def engine_processes(count: int, work: list[Work]):
    """For `load.run_round`: `count` engine processes doing the round's work, and a studio of this process to
    submit and watch through (built first, so it is the one that migrates the fresh database); what each
    engine did is added to `work` when the round ends."""
    @contextmanager
    def engines(environ: dict[str, str]) -> Iterator[Studio]:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter each, as a replica has
        ready, stop, done = context.Queue(), context.Event(), context.Queue()
        submitter = build(load_settings(environ, {}))
        processes = [context.Process(target=_engine, args=(environ, ready, stop, done), name=f"cue-engine-{number}")
                     for number in range(1, count + 1)]
        try:
            for process in processes:
                process.start()
            for _ in processes:
                ready.get(timeout=START_SECONDS)
            yield submitter
            stop.set()
            work.extend(done.get(timeout=START_SECONDS) for _ in processes)
        finally:
            stop.set()
            for process in processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
            submitter.close()
    return engines


def run(count: int = 200, latency: float = load.LATENCY, trickle: float = load.TRICKLE, speed: float = 1.0,
        engines: tuple[int, ...] = ENGINES) -> list[Result]:
    results = []
    for number in engines:
        work: list[Work] = []
        with fresh_database() as url:
            one = load.run_round(count, latency, trickle, speed, database_url=url,
                                 engines=engine_processes(number, work))
        results.append(Result(number, one, work))
    return results


def _ratio(value: float, baseline: float) -> str:
    """`value` against `baseline`; a dash where there is nothing to compare (no task was queried twice)."""
    ratio = value / baseline if baseline else math.inf
    return f"{ratio:.2f}" if math.isfinite(ratio) else "–"


def markdown(results: list[Result]) -> list[str]:
    base = results[0]
    first = base.round
    lines = [f"### Replicas ({first.tasks} tasks, stand-in vendor answering after {first.latency:g} s, one result "
             f"trickling for {first.trickle:g} s, PostgreSQL)", "",
             "The load round on one and on several engines, each a process of its own, sharing one PostgreSQL and "
             f"one data folder: polls, copies and mixes leased to one engine at a time ({LEASE_SECONDS:g} s leases, "
             f"renewed while they run). Ratios are against the {base.engines}-engine round of the same run.", "",
             "| engines | p50 (s) | p95 (s) | max (s) | trickled task (s) | most queries per task per interval | "
             "shortest gap between queries (s) | mean gap between queries (s) | polls per engine | copies per "
             "engine | kept no copy | round took (s) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|"]
    for result in results:
        one = result.round
        trickled = "–" if one.trickled is None else f"{one.trickled:.1f}"
        polls = " / ".join(str(work.polls) for work in result.work)
        copies = " / ".join(str(work.copies) for work in result.work)
        lines.append(f"| {result.engines} | {one.p50:.2f} | {one.p95:.2f} | {one.max:.2f} | {trickled} | "
                     f"{one.queries_per_interval} | {one.shortest_gap:.2f} | {one.mean_gap:.2f} | {polls} | "
                     f"{copies} | {one.uncopied} | {one.wall:.0f} |")
    for result in results[1:]:
        one = result.round
        lines.append(f"| {result.engines}: × {base.engines} | {_ratio(one.p50, first.p50)} | "
                     f"{_ratio(one.p95, first.p95)} | {_ratio(one.max, first.max)} | | "
                     f"{_ratio(one.queries_per_interval, first.queries_per_interval)} | | "
                     f"{_ratio(one.mean_gap, first.mean_gap)} | | | | |")
    worst = max(result.round.queries_per_interval for result in results)
    lines += ["", f"- At most one query per task per polling interval ({FIRST_INTERVAL:g} s) with every number of "
                  f"engines: {'met' if worst <= 1 else '**not met**'} (most seen: {worst})."]
    for result in results[1:]:
        one = result.round
        sooner = one.p95 < first.p95
        # Polls are paced by each task's interval, so a faster pace is not the measure: the work done after a
        # success (copies, shared between the engines) finishing sooner is.
        lines.append(f"- {result.engines} engines: p95 from success to stored {one.p95:.1f} s against "
                     f"{first.p95:.1f} s on {base.engines} ({_ratio(one.p95, first.p95)}×), so more engines "
                     f"{'added' if sooner else '**did not add**'} throughput; each task was queried at the pace its "
                     f"polling interval allows either way (mean gap {_ratio(one.mean_gap, first.mean_gap)}×).")
    return lines
