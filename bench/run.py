"""Run every benchmark, print the figures and write them as Markdown to bench/RESULTS.md.

    .venv/bin/python -m bench.run            # from the project folder; about fifteen minutes
    .venv/bin/python -m bench.run --quick    # small numbers, a few minutes: figures only indicative

Benchmarks: script time per page (bench/script_time.py), success to playable (bench/playable.py), load
(bench/load.py), media size (bench/media_size.py), History as a library (bench/library.py) and a score's
mixdown, last part to playable MP4 (bench/score.py); the load round on one and three engines over PostgreSQL
(bench/replicas.py: needs STUDIO_BENCH_DATABASE_URL, or `source scripts/postgres.sh` first). Every ratio is against a baseline measured in the same
run; nothing here is a test, and the goals are only printed against.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import shlex
import sys
import time
import traceback
from pathlib import Path

import streamlit

from bench import library, load, media_size, playable, replicas, score, script_time
from lib.service import poller
from lib.ui import tasks

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HISTORY_TARGET = 1.5
BENCHES = ("load", "media", "playable", "script", "library", "score", "replicas")  # issue 9's figures first
# (full run, --quick) for every option left unset.
DEFAULTS = {"tasks": (1000, 200), "groups": (1000, 200), "rounds": (25, 5), "runs": (10, 3), "load_tasks": ("40,200", "10,40"),
            "replica_tasks": (200, 40),
            "trickle": (load.TRICKLE, 10.0), "vendor_speed": (1.0, 1.0), "sessions": (5, 2), "results": (100, 20),
            "result_mb": (10.0, 10.0), "score_runs": (5, 3), "score_seconds": (16.0, 16.0),
            "score_resolution": ("1080p", "1080p")}


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _script_section(results: dict[int, script_time.Timings], rounds: int) -> list[str]:
    (_, empty), (count, full) = results.items()
    lines = [f"### Script time per rerun (AppTest, median of {rounds} reruns)", "",
             f"| page | 0 tasks (ms) | × baseline | {count:,} tasks (ms) | × baseline |", "|---|---:|---:|---:|---:|"]
    for page in (script_time.BASELINE, *script_time.PAGES):
        name = "one-line page (baseline)" if page == script_time.BASELINE else script_time.PAGES[page]
        lines.append(f"| {name} | {empty.ms[page]:.1f} | {empty.ratio(page):.2f} | {full.ms[page]:.1f} | "
                     f"{full.ratio(page):.2f} |")
    ratio = full.ratio("history")
    lines += ["", f"History with {count:,} tasks drew {full.history_cards} task cards ({full.history_players} "
                  f"players): {ratio:.2f}× the one-line page, {full.ms['history'] / empty.ms['history']:.2f}× "
                  f"History with no tasks. Target ≤ {HISTORY_TARGET}× the one-line page: "
                  f"{_verdict(ratio <= HISTORY_TARGET)}."]
    return lines


def _playable_section(result: playable.Result) -> list[str]:
    interval = poller.FIRST_INTERVAL
    in_effect = ", ".join(sorted({f"{run.poll_interval:g} s" for run in result.runs}))
    return [f"### Success to playable (Chromium, Sound from text, {len(result.runs)} runs)", "",
            "| from the simulator reporting success to … | median (s) | max (s) |", "|---|---:|---:|",
            f"| the studio having stored it (poller + archive) | {result.median('stored'):.2f} | "
            f"{result.worst('stored'):.2f} |",
            f"| the `<audio>` being playable (readyState ≥ 1) | {result.median():.2f} | {result.worst():.2f} |",
            f"| *of which the page's share: stored → playable* | {result.median('page'):.2f} | "
            f"{result.worst('page'):.2f} |", "",
            f"Polling: the poller checks a task every {interval:g} s while it progresses, backing off to "
            f"{poller.MAX_INTERVAL:g} s while nothing changes (in effect at success: {in_effect}); the page "
            f"rereads the store every {tasks.LIVE_REFRESH_SECONDS:g} s while something is in flight. "
            f"Target ≤ one polling interval ({interval:g} s): median {_verdict(result.median() <= interval)}, "
            f"max {_verdict(result.worst() <= interval)}."]


def _media_section(options: argparse.Namespace) -> list[str]:
    reruns = media_size.reruns(options.rounds)
    held = media_size.memory(options.sessions, options.results, round(options.result_mb * media_size.MB))
    return media_size.markdown(reruns, options.rounds, held)


SECTIONS = {
    "script": lambda o: _script_section(script_time.run(o.tasks, o.rounds), o.rounds),
    "playable": lambda o: _playable_section(playable.run(o.runs)),
    "load": lambda o: load.markdown(load.run(o.load_tasks, trickle=o.trickle, speed=o.vendor_speed)),
    "media": _media_section,
    "library": lambda o: library.markdown(library.run(o.groups, o.rounds), o.rounds),
    "score": lambda o: score.markdown(score.run(o.score_runs, o.score_seconds, o.score_resolution)),
    "replicas": lambda o: replicas.markdown(replicas.run(o.replica_tasks, trickle=o.trickle, speed=o.vendor_speed)),
}
STARTING = {
    "script": lambda o: f"Script times: {o.rounds} reruns per page, 0 and {o.tasks:,} tasks",
    "playable": lambda o: f"Success to playable: {o.runs} runs in Chromium",
    "load": lambda o: f"Load: {', '.join(map(str, o.load_tasks))} tasks in flight, baseline then under load",
    "media": lambda o: f"Media size: History reruns, then {o.sessions} sessions × {o.results} results",
    "library": lambda o: f"History as a library: list mode over {o.groups:,} requests of {library.TAKES} takes",
    "score": lambda o: f"Score mixdown: {o.score_runs} runs on a {o.score_seconds:g} s {o.score_resolution} video",
    "replicas": lambda o: f"Replicas: {o.replica_tasks} tasks in flight on 1 and 3 engines over PostgreSQL",
}
TITLES = {"script": "Script time per rerun", "playable": "Success to playable", "load": "Load",
          "media": "Media size", "library": "History as a library", "score": "Score mixdown", "replicas": "Replicas"}


def _options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small numbers for every option left unset")
    parser.add_argument("--only", action="append", choices=BENCHES, help="run only this benchmark (repeatable)")
    parser.add_argument("--tasks", type=int, help="script time: tasks in the full history (1000)")
    parser.add_argument("--rounds", type=int, help="script time and media size: timed reruns per page (25)")
    parser.add_argument("--groups", type=int, help="library: requests of 4 takes in the history (1000)")
    parser.add_argument("--runs", type=int, help="success to playable: runs (10)")
    parser.add_argument("--load-tasks", help="load: tasks in flight per round, comma-separated (40,200)")
    parser.add_argument("--trickle", type=float, help="load: seconds the trickled result takes (40)")
    parser.add_argument("--vendor-speed", type=float, help="load: vendors' pace, 1 = real (1)")
    parser.add_argument("--sessions", type=int, help="media size: Chromium sessions (5)")
    parser.add_argument("--results", type=int, help="media size: archived results per session (100)")
    parser.add_argument("--result-mb", type=float, help="media size: size of each of those results, MB (10)")
    parser.add_argument("--replica-tasks", type=int, help="replicas: tasks in flight per round (200)")
    parser.add_argument("--score-runs", type=int, help="score mixdown: runs (5)")
    parser.add_argument("--score-seconds", type=float, help="score mixdown: the video's seconds (16)")
    parser.add_argument("--score-resolution", choices=("360p", "540p", "720p", "1080p"),
                        help="score mixdown: the video's resolution (1080p)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the Markdown")
    options = parser.parse_args(argv)
    for name, (full, quick) in DEFAULTS.items():
        if getattr(options, name) is None:
            setattr(options, name, quick if options.quick else full)
    options.load_tasks = tuple(int(count) for count in str(options.load_tasks).split(","))
    options.only = [name for name in BENCHES if name in (options.only or BENCHES)]
    return options


def main(argv: list[str] | None = None) -> None:
    options = _options(argv)
    # The bench calls services() outside any script run, which Streamlit notes on every call: noise here.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(lambda record: False)
    os.chdir(Path(__file__).resolve().parents[1])  # AppTest and the studio read .streamlit/ from here
    load_average = os.getloadavg()[0]  # other work on the machine slows everything; ratios suffer less than times
    command = " ".join(["python -m bench.run", *map(shlex.quote, argv if argv is not None else sys.argv[1:])])
    sections = []
    for name in options.only:
        print(f"{STARTING[name](options)}…", flush=True)
        try:
            sections += [*SECTIONS[name](options), ""]
        except Exception as error:  # one benchmark breaking (a busy machine, a timeout) must not lose the others
            traceback.print_exc()
            sections += [f"### {TITLES[name]}", "", f"**Failed** this run: {type(error).__name__}: {str(error).splitlines()[0]}", ""]
    lines = ["## Performance", "",
             f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPUs (load average {load_average:.1f} at "
             f"the start), Python {platform.python_version()}, Streamlit {streamlit.__version__}, with "
             f"`{command}`. Reproduce with `.venv/bin/python -m bench.run` (`--quick` for small numbers, `--help` "
             f"for every option); how each figure is taken is described in `bench/script_time.py`, "
             f"`bench/playable.py`, `bench/load.py`, `bench/media_size.py`, `bench/library.py`, `bench/score.py` and "
             f"`bench/replicas.py`.", "", *sections]
    options.output.write_text("\n".join(lines), encoding="utf-8")
    print("\n" + "\n".join(lines))
    print(f"Written to {options.output}")


if __name__ == "__main__":
    main()
