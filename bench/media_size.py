"""Media size: does the studio's cost grow with the size of the results it shows?

Two figures, from histories of finished Vidu videos written straight into a data directory (rows in the store,
files in the archive folder). Each file is a real, playable MP4 padded to its size with an MP4 `free` box: sparse
on disk, so 100 files of 10 MB take no room, and unique in its last bytes, so no two share a cache entry.

- Rerun time (AppTest, like `bench/script_time.py`): one history whose first page of History holds only 10 MB
  results and whose second page holds only 0.1 MB ones. Both pages and a one-line page are rerun in turn, round
  after round, in one process; medians are reported, and the ratio of the two History pages.
- Server memory: a real `streamlit run` (demo mode, with a team password) and Chromium sessions, each signed
  in as its own person with a history of its own, opening History and paging through every result, all kept
  open to the end. The server's resident memory (VmRSS) is read after a warm-up
  session and again after the last page of the last session; `/_stcore/metrics` gives the bytes held by
  Streamlit's in-memory media store at both moments.
"""
from __future__ import annotations

import os
import re
import struct
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
from playwright.sync_api import Page, sync_playwright
from streamlit.testing.v1 import AppTest

from bench import script_time
from lib.core.endpoints import spec
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import copy_name
from lib.service import accounts
from lib.sim import media
from lib.store.sqlite import Store
from lib.ui.runtime import services
from pages.history import PAGE_SIZE
from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    start_studio,
    stop,
    wait_until_idle,
)

MB = 1 << 20
BIG, SMALL = 10 * MB, MB // 10
OWNER = "local"
FOLDER = "bench"  # inside the archive folder
RERUN_GOAL, MEMORY_GOAL_MB = 1.1, 30
PASSWORD = "bench-team-password"
_MEDIA_BYTES = re.compile(r'cache_memory_bytes\{cache_type="st_memory_media_file_storage"[^}]*\} (\d+)')


def _padded(video: bytes, size: int, tag: bytes) -> tuple[bytes, int]:
    """(the file's head, its size): the video, then a `free` box up to `size` that ends with `tag`."""
    pad = size - len(video)
    return video + struct.pack(">I", pad) + b"free", size - len(tag)


def seed(data_dir: Path, sizes: list[int], owner: str = OWNER) -> list[Task]:
    """One finished video task of `owner` (an owner key) per size, newest first, each with its own archived MP4
    and cover under the names the archiver gives its copies."""
    store = Store(data_dir / "studio.db")
    archive = data_dir / "media"
    (archive / FOLDER).mkdir(parents=True, exist_ok=True)
    video, cover = media.render_video(spec(Endpoint.VIDU_TEXT2VIDEO).examples[0]["prompt"], 1, 320, 180, 1)
    if not (archive / FOLDER / "cover.jpg").exists():
        (archive / FOLDER / "cover.jpg").write_bytes(cover)
    now, tasks = time.time(), []
    for number, size in enumerate(sizes):
        studio_id = uuid.uuid5(uuid.NAMESPACE_URL, f"cue-bench/{owner}/{number}").hex
        names = {copy: copy_name(owner, studio_id, 1, copy, "mp4") for copy in ("archived", "archived_cover")}
        (archive / names["archived"]).parent.mkdir(parents=True, exist_ok=True)
        tag = f"cue-bench-{studio_id}".encode()
        head, tail_at = _padded(video, size, tag)
        with (archive / names["archived"]).open("wb") as file:
            file.write(head)
            file.seek(tail_at)  # the gap stays a hole: zeros when read, no room on disk
            file.write(tag)
        os.link(archive / FOLDER / "cover.jpg", archive / names["archived_cover"])
        created = now - 60 - number * 600
        url = f"https://cdn.vendor.invalid/{studio_id}"
        task = Task(Endpoint.VIDU_TEXT2VIDEO, dict(spec(Endpoint.VIDU_TEXT2VIDEO).examples[0]), id=studio_id, owner=owner,
                    vendor_id=str(10**17 + number), state=State.SUCCEEDED, raw_state="success", progress=100,
                    credits=35.0, created_at=created, updated_at=created + 30, started_at=created + 5,
                    finished_at=created + 30,
                    media=(Media("video", f"{url}.mp4", "mp4", 1.0, cover_url=f"{url}.jpg", **names),))
        store.add(task)
        tasks.append(task)
    return tasks


# --- rerun time -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reruns:
    ms: dict[str, float]  # median per page: "big", "small" and script_time.BASELINE
    players: dict[str, int]  # videos each History page drew

    @property
    def ratio(self) -> float:
        return self.ms["big"] / self.ms["small"]


def _history(page_number: int) -> AppTest:
    at = AppTest.from_file(str(script_time.HERE / "app.py"), default_timeout=60).run()
    at.session_state["open_page"] = "history"
    at.session_state["hist_page"] = page_number
    return script_time._checked(at.run(), "history")


def reruns(rounds: int = 25, warmup: int = 3) -> Reruns:
    for name in script_time.CREDENTIALS:
        os.environ.pop(name, None)
    os.environ.setdefault("STUDIO_SIM_SPEED", "50")
    os.environ.setdefault("STUDIO_SIM_QUEUE_SECONDS", "0")
    with tempfile.TemporaryDirectory(prefix="cue-bench-media-") as folder:
        data_dir = Path(folder) / "data"
        seed(data_dir, [BIG] * PAGE_SIZE + [SMALL] * PAGE_SIZE)  # page 1: the big ones, page 2: the small ones
        os.environ["STUDIO_DATA_DIR"] = str(data_dir)
        services.clear()
        if Path(services().settings.data_dir) != data_dir:
            raise SystemExit("The bench needs its own data directory; STUDIO_DATA_DIR in .streamlit/secrets.toml "
                             "overrides that. Move it aside and run again.")
        apps = {script_time.BASELINE: AppTest.from_file(str(script_time.HERE / "baseline.py"), default_timeout=60),
                "big": _history(1), "small": _history(2)}
        ms = script_time._time(apps, rounds, warmup)
        players = {name: len(apps[name].get("video")) for name in ("big", "small")}
        services.clear()
    if players != {"big": PAGE_SIZE, "small": PAGE_SIZE}:
        raise RuntimeError(f"History drew {players} videos, not {PAGE_SIZE} per page")
    return Reruns(ms, players)


# --- server memory ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Memory:
    sessions: int
    results: int
    size: int
    rss_before: int  # bytes
    rss_after: int
    rss_peak: int  # the most the server held at any moment of the run (VmHWM)
    media_before: int | None  # bytes in Streamlit's media store, None if /_stcore/metrics does not say
    media_after: int | None

    @property
    def growth_mb(self) -> float:
        return (self.rss_after - self.rss_before) / MB


def _status(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE).group(1)) * 1024


def media_store_bytes(url: str) -> int | None:
    """What Streamlit's in-memory media store holds, from its metrics endpoint; 0 when it holds nothing."""
    answer = requests.get(f"{url}/_stcore/metrics", timeout=10)
    if not answer.ok:
        return None
    return sum(int(found) for found in _MEDIA_BYTES.findall(answer.text))


def _sign_in(page: Page, url: str, name: str) -> None:
    page.goto(url)
    wait_until_idle(page)
    page.get_by_role("textbox", name="Your name").fill(name)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("stSidebarNav").wait_for(timeout=60_000)
    wait_until_idle(page)
    # Through the sidebar: loading /history afresh would start a new session, signed out.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="History").click()
    page.get_by_role("heading", name="History").wait_for(timeout=60_000)
    wait_until_idle(page)


def _page_through(page: Page, tasks: list[Task]) -> None:
    """Show every page of History, waiting each time for that page's first card."""
    for number in range(0, len(tasks), PAGE_SIZE):
        if number:
            field = page.locator(".st-key-hist_page input")
            field.fill(str(number // PAGE_SIZE + 1))
            field.press("Enter")
        page.locator(f".st-key-task_{tasks[number].id}").wait_for(timeout=60_000)
        wait_until_idle(page, timeout=60_000)
        shown = page.locator("[class*='st-key-task_'] video").count()
        if shown != min(PAGE_SIZE, len(tasks) - number):
            raise RuntimeError(f"History page {number // PAGE_SIZE + 1} showed {shown} videos")


def memory(sessions: int = 5, results: int = 100, size: int = BIG) -> Memory:
    with tempfile.TemporaryDirectory(prefix="cue-bench-memory-") as folder:
        data_dir = Path(folder) / "data"
        people = [f"Tester {number + 1}" for number in range(sessions)]
        histories = {name: seed(data_dir, [size] * results, accounts.normalise(name)) for name in people}
        # Personal accounts, so each person's History holds their own 100 results (a team password would show
        # one shared library).
        accounts_file = Path(folder) / "secrets.toml"
        accounts_file.write_text("[users]\n" + "".join(
            accounts.users_line(name, accounts.hash_password(PASSWORD)) + "\n" for name in ["Warm-up", *people]))
        process, url = start_studio(data_dir, Path(folder) / "server.log",
                                    {"STREAMLIT_SECRETS_FILES": str(accounts_file)})
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                warm = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                _sign_in(warm, url, "Warm-up")  # imports, the simulator, caches; an empty History
                warm.context.close()
                before, media_before = _status(process.pid, "VmRSS"), media_store_bytes(url)
                for name in people:  # each stays open: a team with History open in their tabs
                    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                    _sign_in(page, url, name)
                    _page_through(page, histories[name])
                after, media_after = _status(process.pid, "VmRSS"), media_store_bytes(url)
                peak = _status(process.pid, "VmHWM")
                browser.close()
        finally:
            stop(process)
    return Memory(sessions, results, size, before, after, peak, media_before, media_after)


# --- report -----------------------------------------------------------------------------------------------------

def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def markdown(timed: Reruns, rounds: int, held: Memory) -> list[str]:
    def shown(value: int | None) -> str:
        return "not exposed" if value is None else f"{value / MB:.1f}"

    base = timed.ms[script_time.BASELINE]
    return [f"### Media size: History's rerun time (AppTest, median of {rounds} reruns)", "",
            "| page | results on the page | rerun (ms) | × one-line page |", "|---|---|---:|---:|",
            f"| one-line page (baseline) | – | {base:.1f} | 1.00 |",
            f"| History, page of 0.1 MB results | {timed.players['small']} videos of {SMALL / MB:.1f} MB | "
            f"{timed.ms['small']:.1f} | {timed.ms['small'] / base:.2f} |",
            f"| History, page of 10 MB results | {timed.players['big']} videos of {BIG / MB:.0f} MB | "
            f"{timed.ms['big']:.1f} | {timed.ms['big'] / base:.2f} |", "",
            f"10 MB results / 0.1 MB results: {timed.ratio:.2f}×. Goal ≤ {RERUN_GOAL}×: "
            f"{_verdict(timed.ratio <= RERUN_GOAL)}.", "",
            f"### Media size: server memory ({held.sessions} Chromium sessions of different people, each "
            f"paging through their own {held.results} archived results of {held.size / MB:.0f} MB)", "",
            "| server (`streamlit run`) | after a warm-up session | after every session showed every result | "
            "growth |", "|---|---:|---:|---:|",
            f"| resident memory, VmRSS (MB) | {held.rss_before / MB:.0f} | {held.rss_after / MB:.0f} | "
            f"{held.growth_mb:+.0f} |",
            f"| Streamlit's media store, `/_stcore/metrics` (MB) | {shown(held.media_before)} | "
            f"{shown(held.media_after)} | |", "",
            f"Peak resident memory during the run (VmHWM): {held.rss_peak / MB:.0f} MB. Goal: growth ≤ "
            f"{MEMORY_GOAL_MB} MB: {_verdict(held.growth_mb <= MEMORY_GOAL_MB)}."]
