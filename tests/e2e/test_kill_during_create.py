"""A studio killed (SIGKILL) while its create requests are still on their way: after a restart on the same data
directory each task is found at the vendor (Vidu through its task list, Kling by its external id), linked and
finished with its media, and no create is ever sent twice. A create with no match says what to look for."""
import signal
import time

import requests
from playwright.sync_api import expect

from lib.core.tasks import Endpoint, State, Task
from lib.sim import DEMO_VIDU_KEY
from lib.store.sqlite import Store
from lib.vendors.vidu import payload_tag
from tests.e2e.conftest import (
    start_simulator,
    start_studio,
    stop,
    vendors_at,
    wait_until_idle,
)

SLOW = 8  # seconds the simulator holds each create before making the task and answering
PROMPTS = {"t2v": f"A lighthouse beam sweeping the fog [slow:{SLOW}]", "kt2a": f"A ship's horn far away [slow:{SLOW}]"}
PAGES = {"t2v": "video", "kt2a": "kling"}
NEVER_MADE = "A violin tuning up in an empty hall"


def creates(simulator_url: str) -> list[dict]:
    log = requests.get(f"{simulator_url}/_sim/requests", timeout=5).json()
    return [r for r in log if r["method"] == "POST" and not r["path"].endswith("/cancel")]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return value


def test_creates_in_flight_at_a_kill_are_found_after_restart_and_never_sent_twice(browser, tmp_path):
    simulator, simulator_url = start_simulator(tmp_path / "sim.log", "--speed", "10")
    studio, url = start_studio(tmp_path / "data", tmp_path / "studio.log", vendors_at(simulator_url))
    store = Store(tmp_path / "data" / "studio.db")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        for prefix, prompt in PROMPTS.items():
            page = context.new_page()  # one tab each: a slow create holds its own tab's script run
            page.goto(f"{url}/{PAGES[prefix]}")
            wait_until_idle(page)
            page.locator(f".st-key-{prefix}_prompt textarea").fill(prompt)
            page.locator(f".st-key-{prefix}_submit button").click()
        wait_for(lambda: len(creates(simulator_url)) == 2, SLOW - 1, "both creates reached the vendor in time")

        studio.send_signal(signal.SIGKILL)
        studio.wait()
        context.close()
        unanswered = store.find("local")
        assert len(unanswered) == 2 and all(t.state is State.SUBMITTED and not t.vendor_id for t in unanswered)
        # A create from long ago that Vidu never made: nothing will match it.
        stale = Task(Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": NEVER_MADE, "duration": 8},
                     created_at=time.time() - 600)
        store.add(stale)

        studio, url = start_studio(tmp_path / "data", tmp_path / "studio2.log", vendors_at(simulator_url))
        wait_for(lambda: all(store.get(t.id).state.terminal and not store.get(t.id).copying
                             for t in unanswered), 120, store.find("local"))
        done = {t.endpoint: t for t in (store.get(t.id) for t in unanswered)}
        assert all(t.state is State.SUCCEEDED and t.media for t in done.values()), done
        archive = tmp_path / "data" / "media"
        assert all(m.archived and (archive / m.archived).stat().st_size > 1000 for t in done.values() for m in t.media)
        assert len(creates(simulator_url)) == 2  # nothing was sent twice

        listed = requests.get(f"{simulator_url}/ent/v2/tasks", headers={"Authorization": f"Token {DEMO_VIDU_KEY}"},
                              timeout=5).json()["tasks"]
        (video,) = listed
        video_task = done[Endpoint.VIDU_TEXT2VIDEO]
        assert video["id"] == video_task.vendor_id and video["payload"] == payload_tag(video_task.id)

        stale = wait_for(lambda: (t := store.get(stale.id)).error_message and t, 30, "the stale task was looked up")
        assert stale.state is State.SUBMITTED and stale.vendor_id is None

        page = browser.new_page()
        page.goto(f"{url}/history")
        wait_until_idle(page)
        card = page.locator("[class*='st-key-task_']").filter(has_text=NEVER_MADE)
        expect(card).to_contain_text("never confirmed this request")
        expect(card).to_contain_text("estimated cost 20 credits")
        expect(page.get_by_test_id("stVideo")).to_have_count(1)
        page.close()
    finally:
        stop(studio)
        stop(simulator)
