"""Run every benchmark, print the figures and write them as Markdown to bench/RESULTS.md.

    .venv/bin/python -m bench.run            # from the project folder; about two minutes

Targets (from the issue): History with 1,000 tasks at most 1.5x the one-line page; success to playable at most
one polling interval. Ratios are against a baseline measured in the same run; nothing here is a test.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from pathlib import Path

import streamlit

from bench import playable, script_time
from lib import poller
from lib.ui import tasks

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HISTORY_TARGET = 1.5


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000, help="tasks in the full history (default 1000)")
    parser.add_argument("--rounds", type=int, default=25, help="timed reruns per page (default 25)")
    parser.add_argument("--runs", type=int, default=10, help="success-to-playable runs (default 10)")
    args = parser.parse_args()
    # The bench calls services() outside any script run, which Streamlit notes on every call: noise here.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(lambda record: False)
    os.chdir(Path(__file__).resolve().parents[1])  # AppTest and the studio read .streamlit/ from here

    load = os.getloadavg()[0]  # other work on the machine slows everything; ratios suffer less than times
    print(f"Script times: {args.rounds} reruns per page, 0 and {args.tasks:,} tasks…", flush=True)
    scripts = script_time.run(args.tasks, args.rounds)
    print(f"Success to playable: {args.runs} runs in Chromium…", flush=True)
    result = playable.run(args.runs)

    lines = ["## Performance", "",
             f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPUs (load average {load:.1f} at the start), "
             f"Python {platform.python_version()}, Streamlit {streamlit.__version__}. Reproduce with `.venv/bin/python -m bench.run` "
             f"(options: `--tasks`, `--rounds`, `--runs`); how each figure is taken is described in "
             f"`bench/script_time.py` and `bench/playable.py`.", "",
             *_script_section(scripts, args.rounds), "", *_playable_section(result), ""]
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n" + "\n".join(lines))
    print(f"Written to {RESULTS.relative_to(Path.cwd())}")


if __name__ == "__main__":
    main()
