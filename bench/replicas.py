"""Replicas: the load benchmark (bench/load.py: 200 tasks, the vendor answering after 0.3 s, one result trickling)
on one and on three engines sharing one PostgreSQL and one data folder, side by side.

The database is a fresh one, dropped afterwards, in the PostgreSQL at STUDIO_BENCH_DATABASE_URL (or the test
run's STUDIO_TEST_DATABASE_URL: `source scripts/postgres.sh` starts a throwaway one). The engines run in this one
process (one Python interpreter, so they share its CPU time): the figures show the work shared without harm,
p95 and queries per task per interval, not the throughput separate machines would add.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from bench import load
from lib.service.poller import FIRST_INTERVAL, LEASE_SECONDS

ENGINES = (1, 3)


@dataclass(frozen=True)
class Result:
    engines: int
    round: load.Round


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


def run(count: int = 200, latency: float = load.LATENCY, trickle: float = load.TRICKLE, speed: float = 1.0,
        engines: tuple[int, ...] = ENGINES) -> list[Result]:
    results = []
    for number in engines:
        with fresh_database() as url:
            results.append(Result(number, load.run_round(count, latency, trickle, speed, engines=number,
                                                         database_url=url)))
    return results


def markdown(results: list[Result]) -> list[str]:
    first = results[0].round
    lines = [f"### Replicas ({first.tasks} tasks, stand-in vendor answering after {first.latency:g} s, one result "
             f"trickling for {first.trickle:g} s, PostgreSQL)", "",
             "The load round on one and on several engines in one process, sharing one PostgreSQL and one data "
             f"folder: polls, copies and mixes leased to one engine at a time ({LEASE_SECONDS:g} s leases, renewed "
             "while they run).", "",
             "| engines | p50 (s) | p95 (s) | max (s) | trickled task (s) | most queries per task per interval | "
             "shortest gap between queries (s) | kept no copy | round took (s) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for result in results:
        one = result.round
        trickled = "–" if one.trickled is None else f"{one.trickled:.1f}"
        lines.append(f"| {result.engines} | {one.p50:.2f} | {one.p95:.2f} | {one.max:.2f} | {trickled} | "
                     f"{one.queries_per_interval} | {one.shortest_gap:.2f} | {one.uncopied} | {one.wall:.0f} |")
    worst = max(result.round.queries_per_interval for result in results)
    lines += ["", f"- At most one query per task per polling interval ({FIRST_INTERVAL:g} s) with every number of "
                  f"engines: {'met' if worst <= 1 else '**not met**'} (most seen: {worst})."]
    return lines
