"""What a shared instance promises: archived copies outlive vendor links, open tabs do not multiply vendor
traffic, and no page can be reached around the sign-in gate."""
import time

import pytest
import requests
from playwright.sync_api import expect

from lib.core.tasks import State
from lib.service.poller import FIRST_INTERVAL
from lib.store.sqlite import Store
from tests.e2e.conftest import (
    start_simulator,
    start_studio,
    stop,
    vendors_at,
    wait_until_idle,
)


@pytest.fixture
def studio_and_simulator(tmp_path):
    started = []

    def launch(*simulator_options, **studio_env):
        simulator, simulator_url = start_simulator(tmp_path / "sim.log", *simulator_options)
        started.append(simulator)
        studio, url = start_studio(tmp_path / "data", tmp_path / "studio.log",
                                   {**vendors_at(simulator_url), **studio_env})
        started.append(studio)
        return url, simulator_url, Store(tmp_path / "data" / "studio.db")

    yield launch
    for process in started:
        stop(process)


def submit_sound(page, url: str, prompt: str) -> None:
    page.goto(url)
    wait_until_idle(page)
    page.locator(".st-key-t2a_prompt textarea").fill(prompt)
    page.locator(".st-key-t2a_submit button").click()
    wait_until_idle(page)


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_archived_copy_plays_after_the_vendor_link_expired(page, studio_and_simulator):
    url, _, store = studio_and_simulator("--speed", "4", "--url-ttl", "2")
    submit_sound(page, url, "A church bell at noon")
    # Succeeded and copied: a success is saved at once and its copy is made in the background.
    wait_for(lambda: store.find("local") and store.find("local")[0].state is State.SUCCEEDED
             and not store.find("local")[0].copying)
    task = store.find("local")[0]
    assert task.media[0].archived, task.error_message
    wait_for(lambda: requests.get(task.media[0].url, timeout=5).status_code == 403, seconds=15)  # link gone
    page.goto(f"{url}/history")
    wait_until_idle(page)
    audio = page.locator("audio")  # st.audio, or the waveform player's own element once the copy is measured
    expect(audio).to_have_count(1)
    duration = audio.evaluate("""media => new Promise((resolve, reject) => {
        if (media.readyState >= 1) return resolve(media.duration);
        media.addEventListener('loadedmetadata', () => resolve(media.duration), {once: true});
        media.addEventListener('error', () => reject(new Error('not playable')));
    })""")
    assert duration == pytest.approx(10.0, abs=0.2)


def test_open_tabs_do_not_multiply_vendor_queries(browser, studio_and_simulator):
    url, simulator_url, store = studio_and_simulator("--speed", "0.7")
    tabs = [browser.new_context().new_page() for _ in range(4)]
    submit_sound(tabs[0], url, "Wind through pine trees")
    for tab in tabs[1:]:
        tab.goto(f"{url}/history", timeout=90_000)  # four sessions at once on 2 cores
    wait_for(lambda: store.find("local")[0].state is State.SUCCEEDED, seconds=120)
    task = store.find("local")[0]
    log = requests.get(f"{simulator_url}/_sim/requests", timeout=5).json()
    queries = [r["time"] for r in log if r["method"] == "GET" and task.vendor_id in r["path"]]
    span = queries[-1] - queries[0]
    assert len(queries) >= 2
    assert len(queries) <= span / FIRST_INTERVAL + 1, (len(queries), span)
    for tab in tabs:
        tab.context.close()


@pytest.mark.parametrize("path", ["history", "settings", "video", "kling", "timed", "", "sound_from_text"])
def test_no_page_is_reachable_around_the_gate_on_a_fresh_server(page, tmp_path, path):
    studio, url = start_studio(tmp_path / "data", tmp_path / "studio.log", {"STUDIO_PASSWORD": "s3cret-team"})
    try:
        page.goto(f"{url}/{path}")  # the very first request this server sees
        wait_until_idle(page)
        expect(page.get_by_label("Team password")).to_be_visible()
        expect(page.get_by_text("Demo mode")).to_have_count(0)
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
        expect(page.get_by_test_id("stTextArea")).to_have_count(0)
    finally:
        stop(studio)


def test_a_queued_vidu_task_can_be_cancelled(page, studio_and_simulator):
    url, _, store = studio_and_simulator("--speed", "0.5", "--concurrency", "1")
    submit_sound(page, url, "A long drone of an old organ")
    submit_sound(page, url, "Second in line: a kettle whistling")
    wait_for(lambda: any(t.raw_state == "queueing" for t in store.find("local")), seconds=120)
    card = page.locator("[class*='st-key-task_']").filter(has_text="Second in line: a kettle whistling")
    card.get_by_role("button", name="Cancel").click()
    wait_until_idle(page)
    wait_for(lambda: any(t.state is State.CANCELLED for t in store.find("local")), seconds=30)
    page.goto(f"{url}/history")
    wait_until_idle(page)
    cancelled = page.locator("[class*='st-key-task_']").filter(has_text="Second in line: a kettle whistling")
    expect(cancelled.get_by_text("Cancelled", exact=True)).to_be_visible()
    expect(cancelled.get_by_text("The task was cancelled.")).to_be_visible()
