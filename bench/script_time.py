"""Script time of every page, with 0 and with 1,000 tasks, against a one-line page, all in one process.

A sample is the wall time of one `AppTest.run()` rerun of a page that is already open: the script plus
AppTest's own fixed cost per run, which the one-line baseline pays too. Pages and the baseline are timed in
turn, round after round, so a slower moment of the machine hits all of them alike; medians are reported.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from streamlit.testing.v1 import AppTest

from bench import history_data
from lib.ui.runtime import services

HERE = Path(__file__).resolve().parent
PAGES = {"sound": "Sound from text", "timed": "Timed sound", "video": "Video from text", "kling": "Kling sound",
         "history": "History", "settings": "Settings and status"}
BASELINE = "one-line page"
CREDENTIALS = ("VIDU_API_KEY", "KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "STUDIO_PASSWORD")


@dataclass(frozen=True)
class Timings:
    ms: dict[str, float]  # median per page, BASELINE included
    history_cards: int  # what History showed, to be sure the timing covers real cards
    history_players: int

    def ratio(self, page: str) -> float:
        return self.ms[page] / self.ms[BASELINE]


def _open(page: str) -> AppTest:
    at = AppTest.from_file(str(HERE / "app.py"), default_timeout=60).run()
    at.session_state["open_page"] = page
    return _checked(at.run(), page)


def _checked(at: AppTest, page: str) -> AppTest:
    if at.exception or [t.value for t in at.title] != [PAGES[page]]:
        raise RuntimeError(f"the {page} page did not render: {at.exception or at.title}")
    return at


def _time(apps: dict[str, AppTest], rounds: int, warmup: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for number in range(warmup + rounds):
        for name, at in apps.items():
            start = time.perf_counter()
            at.run()
            if number >= warmup:
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def _measure(data_dir: Path, rounds: int, warmup: int) -> Timings:
    os.environ["STUDIO_DATA_DIR"] = str(data_dir)
    services.clear()  # the per-process services (store, poller, simulator) follow the new data directory
    current = services()
    simulated = not (current.vendors.vidu_live or current.vendors.kling_live)
    if not simulated or Path(current.settings.data_dir) != data_dir or current.settings.password:
        raise SystemExit("The bench needs demo mode in its own data directory; a .streamlit/secrets.toml with "
                         "keys, a password or STUDIO_DATA_DIR overrides that. Move it aside and run again.")
    apps = {BASELINE: AppTest.from_file(str(HERE / "baseline.py"), default_timeout=60)}
    apps |= {page: _open(page) for page in PAGES}
    ms = _time(apps, rounds, warmup)
    history = _checked(apps["history"], "history")
    cards = sum(1 for block in history.main.children.values() for _ in _cards(block))
    return Timings(ms, cards, len(history.get("audio")) + len(history.get("video")))


def _cards(block):
    """Task cards anywhere in the tree: containers keyed task_<id>."""
    if getattr(block, "key", None) and str(block.key).startswith("task_"):
        yield block
        return
    for child in getattr(block, "children", {}).values():
        yield from _cards(child)


def run(tasks: int = 1000, rounds: int = 15, warmup: int = 3) -> dict[int, Timings]:
    """{number of tasks: timings} for an empty history and one of `tasks` tasks."""
    for name in CREDENTIALS:
        os.environ.pop(name, None)
    os.environ.setdefault("STUDIO_SIM_SPEED", "50")
    os.environ.setdefault("STUDIO_SIM_QUEUE_SECONDS", "0")
    results = {}
    with tempfile.TemporaryDirectory(prefix="cue-bench-") as folder:
        for count in (0, tasks):
            data_dir = Path(folder) / f"data-{count}"
            if count:
                history_data.seed(data_dir, count)
            results[count] = _measure(data_dir, rounds, warmup)
        services.clear()
    return results
