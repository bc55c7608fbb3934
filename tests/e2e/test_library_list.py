"""History's list mode as one component, in Chromium (demo mode, one studio for the module): a page of groups
and takes drawn from the component's data, untrusted prompts shown as text, mini waveforms from the stored
peaks, one shared player whose row's cursor moves, the star toggle stored, the chosen takes hidden and undone."""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from lib.core.tasks import Endpoint, State, Task
from lib.media import analysis
from lib.media.archive import peaks_name
from lib.sim import media as sim_media
from lib.store.sqlite import Store
from tests.e2e.conftest import screenshot, start_studio, stop, wait_until_idle
from tests.e2e.test_library import _archived, _history
from tests.e2e.test_waveform import wait_until

LIST = "[data-testid='cue-library-list']"
HOSTILE = "<img src=x onerror=\"window.__pwned=1\"> a crow"
PROMPT = "List test: wind in the pines"


def _measured(data, task: Task) -> Task:
    """`task` with a peaks file beside its archived copy, as the archiver writes it."""
    media = task.media[0]
    samples = sim_media.render_sound(task.params["prompt"], media.duration, task.seed or 1)
    peaks = peaks_name(media.archived)
    (data / "media" / peaks).write_text(f'{{"duration": {media.duration}, "peaks": {analysis.peaks(samples)}}}')
    return task.replace(media=(media.__class__(**{**media.__dict__, "peaks": peaks}),))


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("library-list")
    data = folder / "data"
    store = Store(data / "studio.db")
    now = time.time()
    takes = []
    for number, seed in enumerate((11, 22, 33)):
        task = Task(Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": PROMPT, "duration": 3}, owner="local",
                    state=State.SUCCEEDED, raw_state="success", group_id="e2e-list-group", seed=seed,
                    created_at=now - 60 + number, finished_at=now - 50, progress=100)
        takes.append(_measured(data, _archived(data, task, ("mp3",), 3.0)))
        store.add(takes[-1])
    hostile = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": HOSTILE, "duration": 3}, owner="local",
                   state=State.FAILED, raw_state="failed", created_at=now - 300, error_message="refused")
    store.add(hostile)
    process, url = start_studio(data, folder / "server.log")
    yield url, data, takes, hostile
    stop(process)


def test_the_page_is_one_component_with_a_row_per_take(studio, page: Page):
    url, _, takes, hostile = studio
    _history(page, url, "List")
    rows = page.locator(f"{LIST} .cue-list-row")
    expect(rows).to_have_count(4)
    assert page.get_by_test_id("stAudio").count() == 0 and page.locator("[data-testid='cue-waveform']").count() == 0
    expect(page.locator(f"{LIST} .cue-list-header").first).to_contain_text("Sound from text")
    expect(page.locator(f"{LIST} .cue-list-header").first).to_contain_text("3 takes")
    row = page.locator(f"{LIST} [data-take='{takes[2].id}']")
    expect(row.get_by_role("checkbox", name=f"{PROMPT} · Vidu · seed 33 · 3 s · −18.2 LUFS · Done")).to_be_enabled()
    expect(row.locator("canvas[data-drawn='1']")).to_have_count(1)  # drawn from the stored peaks
    bad = page.locator(f"{LIST} [data-take='{hostile.id}']")
    expect(bad.locator(".cue-list-prompt")).to_have_text(HOSTILE)  # shown as text, never parsed
    expect(bad.get_by_role("checkbox")).to_be_disabled()
    expect(bad.get_by_role("button", name="Play")).to_have_count(0)
    assert page.locator(f"{LIST} img").count() == 0 and not page.evaluate("window.__pwned")
    screenshot(page, "library-list-component")


def test_one_shared_player_plays_the_row_pressed_and_moves_its_cursor(studio, page: Page):
    url, _, takes, _ = studio
    _history(page, url, "List")
    row = page.locator(f"{LIST} [data-take='{takes[1].id}']")
    row.get_by_role("button", name="Play").click()
    expect(row.get_by_role("button", name="Pause")).to_be_visible()
    wait_until(row, "(line) => Number(line.dataset.currentTime) > 0.2 && parseFloat("
                    "line.querySelector('.cue-list-cursor').style.left) > 0")
    players = page.locator("audio")
    assert players.count() == 1 and "-1.mp3?" in players.first.get_attribute("src")
    other = page.locator(f"{LIST} [data-take='{takes[0].id}']")
    other.get_by_role("button", name="Play").click()  # the same player switches to the other row
    expect(other.get_by_role("button", name="Pause")).to_be_visible()
    expect(row.get_by_role("button", name="Play")).to_be_visible()
    assert takes[0].id in players.first.get_attribute("src") and players.count() == 1


def test_the_star_toggle_is_stored(studio, page: Page):
    url, data, takes, _ = studio
    _history(page, url, "List")
    row = page.locator(f"{LIST} [data-take='{takes[0].id}']")
    row.get_by_role("button", name="Star").click()
    wait_until_idle(page)
    expect(row.get_by_role("button", name="Unstar")).to_have_attribute("aria-pressed", "true")
    assert Store(data / "studio.db").get(takes[0].id).starred
    row.get_by_role("button", name="Unstar").click()
    wait_until_idle(page)
    expect(row.get_by_role("button", name="Star")).to_be_visible()
    assert not Store(data / "studio.db").get(takes[0].id).starred


def test_chosen_takes_are_hidden_and_the_undo_brings_them_back(studio, page: Page):
    url, data, takes, _ = studio
    _history(page, url, "List")
    for take in takes[:2]:
        page.locator(f"{LIST} [data-take='{take.id}']").get_by_role("checkbox").check()
        wait_until_idle(page)
    expect(page.locator(".st-key-hist_actions").get_by_text("2 chosen")).to_be_visible()
    page.get_by_role("button", name="Hide").click()
    wait_until_idle(page)
    expect(page.locator(f"{LIST} .cue-list-row")).to_have_count(2)
    expect(page.locator(".st-key-hist_actions").get_by_text("2 chosen")).to_have_count(0)
    assert Store(data / "studio.db").get(takes[0].id).hidden
    page.locator(f"{LIST} [data-take='{takes[2].id}']").get_by_role("checkbox").check()  # a fresh choice
    wait_until_idle(page)
    expect(page.locator(".st-key-hist_actions").get_by_text("1 chosen")).to_be_visible()
    page.get_by_role("button", name="Undo").click()
    wait_until_idle(page)
    expect(page.locator(f"{LIST} .cue-list-row")).to_have_count(4)
    assert not Store(data / "studio.db").get(takes[0].id).hidden
