"""Success to playable: from the simulator reporting success to the result being playable in the browser.

The real studio (`streamlit run`, demo mode) is driven by Playwright in Chromium, on the Sound from text page:

- "success" is when the simulator's own success callback reaches the bench. The task is submitted with the
  page's Callback address pointing at a tiny receiver here; the simulator POSTs it the moment the task
  succeeds. The studio never reads callbacks (it polls), so this changes nothing it does.
- "stored" is when the task's row in the studio's SQLite store reads succeeded (the poller has seen the
  success and archived the file); the bench reads the store every 5 ms.
- "playable" is when the new card's `<audio>` reaches readyState 1 (HAVE_METADATA), stamped inside the page
  by a `loadedmetadata` listener with the same clock.

Each run's create call is answered after a different delay of 0-1 s (the simulator's `[slow:x]` prompt marker,
like a vendor's varying latency), which puts the success at a different point of the poller's 1 s cycle, so the
runs sample the whole cycle rather than one fixed phase.
"""
from __future__ import annotations

import json
import random
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from lib.core.tasks import State, Task
from lib.store.sqlite import Store
from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    start_studio,
    stop,
    wait_until_idle,
)

TIMEOUT = 60
# Runs before any page script: the first time each task card's media has its metadata, keyed by the card.
STAMP_PLAYABLE = """
window.playableAt = {};
document.addEventListener('loadedmetadata', event => {
  const card = event.target.closest("[class*='st-key-task_']");
  const key = card && [...card.classList].find(name => name.startsWith('st-key-task_'));
  if (key && !(key in window.playableAt)) window.playableAt[key] = Date.now();
}, true);
"""


@dataclass(frozen=True)
class Run:
    stored: float  # seconds from success to the store reading succeeded
    playable: float  # seconds from success to the audio having its metadata
    poll_interval: float  # the poller's interval for the task when it succeeded

    @property
    def page(self) -> float:
        """The page's share: from the stored success to the playable audio."""
        return self.playable - self.stored


@dataclass(frozen=True)
class Result:
    runs: list[Run]

    def median(self, field: str = "playable") -> float:
        return statistics.median(getattr(run, field) for run in self.runs)

    def worst(self, field: str = "playable") -> float:
        return max(getattr(run, field) for run in self.runs)


class _Callbacks(BaseHTTPRequestHandler):
    """Notes when each vendor task id's success callback arrives (in `server.success`)."""

    def do_POST(self) -> None:
        arrived = time.time()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if body.get("state") == "success":
            self.server.success.setdefault(str(body.get("id")), arrived)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass


def _until(check, what: str, timeout: float = TIMEOUT, every: float = 0.005):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(every)
    return value


def _submitted(store: Store, prompt: str) -> Task | None:
    return next((t for t in store.find("local", limit=5) if t.params.get("prompt") == prompt and t.vendor_id), None)


def _one(page: Page, url: str, store: Store, callbacks: ThreadingHTTPServer, slow: float) -> Run:
    page.goto(url)  # a fresh session each run; the default page is Sound from text
    wait_until_idle(page)
    prompt = f"Rain on a tin roof, run {len(callbacks.success) + 1} [slow:{slow:.2f}]"
    page.locator(".st-key-t2a_prompt textarea").fill(prompt)
    page.get_by_test_id("stExpander").get_by_text("For developers").click()
    page.locator(".st-key-t2a_callback_url input").fill(f"http://127.0.0.1:{callbacks.server_port}/")
    page.locator(".st-key-t2a_submit button").click()
    task = _until(lambda: _submitted(store, prompt), "the task in the store")
    succeeded = _until(lambda: callbacks.success.get(task.vendor_id), "the simulator's success callback")
    stored = _until(lambda: store.get(task.id).state is State.SUCCEEDED and time.time(), "the stored success")
    interval = store.poll_plan(task.id)[0]
    card = f"st-key-task_{task.id}"
    playable = page.wait_for_function(f"() => window.playableAt['{card}']", timeout=TIMEOUT * 1000).json_value()
    ready = page.locator(f".{card} audio").first.evaluate("audio => audio.readyState")
    if ready < 1:
        raise RuntimeError(f"the audio of {task.id} lost its metadata (readyState {ready})")
    return Run(stored - succeeded, playable / 1000 - succeeded, interval)


def run(runs: int = 10, speed: str = "20") -> Result:
    callbacks = ThreadingHTTPServer(("127.0.0.1", 0), _Callbacks)
    callbacks.success = {}
    threading.Thread(target=callbacks.serve_forever, daemon=True).start()
    # Stratified: one delay in each 1/runs slice of the 1 s polling cycle, in random order.
    delays = random.sample([(n + random.random()) / runs for n in range(runs)], runs)
    with tempfile.TemporaryDirectory(prefix="cue-bench-") as folder:
        data = Path(folder) / "data"
        process, url = start_studio(data, Path(folder) / "server.log", {"STUDIO_SIM_SPEED": speed})
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.add_init_script(STAMP_PLAYABLE)
                store = Store(data / "studio.db")
                _one(page, url, store, callbacks, 0.0)  # warm-up: first render, imports, browser caches
                results = [_one(page, url, store, callbacks, slow) for slow in delays]
                browser.close()
        finally:
            stop(process)
            callbacks.shutdown()
    return Result(results)
