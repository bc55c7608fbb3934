"""History as a library: rerun time of History in list mode over 1,000 requests of 4 takes each, against the
one-line page, timed the way bench/script_time.py times every page (AppTest reruns, medians, taken in turn)."""
from __future__ import annotations

import json
import os
import random
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from streamlit.testing.v1 import AppTest

from bench import history_data, script_time
from lib.core.endpoints import spec
from lib.core.tasks import Endpoint, State, Task
from lib.store.sqlite import Store
from lib.ui.runtime import services

TARGET = 3.0
TAKES = 4
ENDPOINTS = (Endpoint.VIDU_TEXT2AUDIO, Endpoint.VIDU_TIMING2AUDIO, Endpoint.KLING_TEXT2AUDIO)


@dataclass(frozen=True)
class Result:
    groups: int
    ms: dict[str, float]  # median per script: the baseline and History in list mode
    rows: int  # take rows History drew, to be sure the timing covers a real page
    players: int  # rows with a sound to play (one shared player plays them)

    @property
    def ratio(self) -> float:
        return self.ms["history"] / self.ms[script_time.BASELINE]


def seed(data_dir: Path, groups: int) -> None:
    """`groups` finished requests of TAKES takes each for the local user, with archived, measured sounds."""
    store = Store(data_dir / "studio.db")
    archive = data_dir / "media"
    pool = history_data._pool(archive / history_data.FOLDER / "pool")
    rng, now = random.Random(1), time.time()
    for number in range(groups):
        endpoint = ENDPOINTS[number % len(ENDPOINTS)]
        examples = spec(endpoint).examples
        params = {**spec(endpoint).fixed, **examples[number % len(examples)]}
        created = now - 60 - number * 3600
        for take in range(TAKES):
            task = Task(endpoint, params, owner=history_data.OWNER, state=State.SUCCEEDED, raw_state="success",
                        created_at=created + take, updated_at=created + 30, started_at=created + 5,
                        finished_at=created + 30, credits=10.0, progress=100, group_id=f"bench-{number}",
                        seed=None if endpoint is Endpoint.KLING_TEXT2AUDIO else rng.randrange(1, 2**31),
                        starred=rng.random() < 0.1, verdict="kept" if take == 1 and number % 3 == 0 else "")
            media = history_data._media(endpoint, task.id, rng.choice(pool[endpoint]), archive)
            store.add(task.replace(media=tuple(replace(m, loudness=round(rng.uniform(-30, -12), 1)) for m in media)))


def _history() -> AppTest:
    at = AppTest.from_file(str(script_time.HERE / "app.py"), default_timeout=60).run()
    at.session_state["hist_view"] = "List"
    at.session_state["open_page"] = "history"
    return script_time._checked(at.run(), "history")


def run(groups: int = 1000, rounds: int = 15, warmup: int = 3) -> Result:
    for name in script_time.CREDENTIALS:
        os.environ.pop(name, None)
    os.environ.setdefault("STUDIO_SIM_SPEED", "50")
    # The studio's background measuring of the seeded sounds may still be writing when the folder goes.
    with tempfile.TemporaryDirectory(prefix="cue-bench-library-", ignore_cleanup_errors=True) as folder:
        data_dir = Path(folder) / "data"
        seed(data_dir, groups)
        os.environ["STUDIO_DATA_DIR"] = str(data_dir)
        services.clear()
        try:
            apps = {script_time.BASELINE: AppTest.from_file(str(script_time.HERE / "baseline.py"), default_timeout=60),
                    "history": _history()}
            ms = script_time._time(apps, rounds, warmup)
            takes = [take for group in _drawn(apps["history"]) for take in group["takes"]]
            return Result(groups, ms, len(takes), sum(1 for take in takes if take["sound"]))
        finally:
            services.clear()


def _drawn(at: AppTest) -> list[dict]:
    """The groups History's list component was given (lib/ui/tasks.library_rows)."""
    shown = [e for e in at.get("bidi_component") if e.proto.component_name.endswith("cue_library_list")]
    return json.loads(shown[0].proto.json)["groups"] if shown else []


def markdown(result: Result, rounds: int) -> list[str]:
    baseline, history = result.ms[script_time.BASELINE], result.ms["history"]
    verdict = "met" if result.ratio <= TARGET else "**not met**"
    return [f"### History as a library (list mode, AppTest, median of {rounds} reruns)", "",
            "| script | ms | × baseline |", "|---|---:|---:|",
            f"| one-line page (baseline) | {baseline:.1f} | 1.00 |",
            f"| History, list mode, {result.groups:,} requests × {TAKES} takes | {history:.1f} | {result.ratio:.2f} |",
            "", (f"History drew {result.rows} take rows ({result.players} with a sound), one page of requests. "
                 f"Target ≤ {TARGET:g}× the one-line page: {verdict}.")]
