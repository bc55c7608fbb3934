"""Durability: a studio killed with SIGKILL while tasks are in flight loses nothing and duplicates nothing."""
import signal
import time

import requests
from playwright.sync_api import expect

from lib.core.tasks import State
from lib.store.sqlite import Store
from tests.e2e.conftest import (
    start_simulator,
    start_studio,
    stop,
    vendors_at,
    wait_until_idle,
)

PROMPTS = {"t2a": "Waves on a pebble beach", "kt2a": "A squeaky door opening"}


def test_tasks_in_flight_survive_a_kill_and_are_archived_after_restart(page, tmp_path):
    simulator, simulator_url = start_simulator(tmp_path / "sim.log", "--speed", "1.5")
    studio, url = start_studio(tmp_path / "data", tmp_path / "studio.log", vendors_at(simulator_url))
    store = Store(tmp_path / "data" / "studio.db")
    try:
        for prefix, path in (("t2a", ""), ("kt2a", "kling")):
            page.goto(f"{url}/{path}")
            wait_until_idle(page)
            page.locator(f".st-key-{prefix}_prompt textarea").fill(PROMPTS[prefix])
            page.locator(f".st-key-{prefix}_submit button").click()
            wait_until_idle(page)
        deadline = time.monotonic() + 30  # the page can look idle a moment before the submission runs
        while not (len(store.in_flight()) == 2 and all(t.vendor_id for t in store.in_flight())):
            assert time.monotonic() < deadline, store.find("local")
            time.sleep(0.2)

        studio.send_signal(signal.SIGKILL)
        studio.wait()
        studio, url = start_studio(tmp_path / "data", tmp_path / "studio2.log", vendors_at(simulator_url))

        deadline = time.monotonic() + 90
        # Done means ended and copied: a success is saved at once and its copy is made in the background.
        while (store.in_flight() or any(t.copying for t in store.find("local"))) and time.monotonic() < deadline:
            time.sleep(0.5)
        tasks = store.find("local")
        assert sorted(t.params["prompt"] for t in tasks) == sorted(PROMPTS.values())
        assert all(t.state is State.SUCCEEDED for t in tasks), [(t.state, t.error_message) for t in tasks]
        archive = tmp_path / "data" / "media"
        assert all(m.archived and (archive / m.archived).stat().st_size > 1000 for t in tasks for m in t.media)

        log = requests.get(f"{simulator_url}/_sim/requests", timeout=5).json()
        creates = [r for r in log if r["method"] == "POST" and not r["path"].endswith("/cancel")]
        assert len(creates) == 2  # nothing was sent twice

        page.goto(f"{url}/history")
        wait_until_idle(page)
        # Vidu's, and Kling's one player for MP3 and WAV (st.audio, or the waveform player's own <audio> once
        # measured)
        expect(page.locator("audio")).to_have_count(2)
    finally:
        stop(studio)
        stop(simulator)
