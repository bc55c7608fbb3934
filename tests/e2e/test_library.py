"""History as a sound library in a real browser (demo mode, one studio for the module, its history prepared
before it starts): a group's four takes side by side, Keep surviving a reload, the kept take's seed reused and
sent, the chosen takes as one ZIP, Kling's one player with a format switch, and the running badge."""
from __future__ import annotations

import io
import re
import sqlite3
import time
import zipfile
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from lib.core.history import summary
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import media_name
from lib.media.naming import download_name
from lib.sim import media as sim_media
from lib.store.sqlite import Store, _to_row
from tests.e2e.conftest import screenshot, start_studio, stop, wait_until_idle

GROUP = "e2e-rain-group"
PROMPT = "Library test: rain on a tin roof"
SEEDS = (111, 222, 333, 444)
KLING_PROMPT = "Library test: a ship's horn"


def _archived(data: Path, task: Task, formats: tuple[str, ...], seconds: float) -> Task:
    """`task` with real, playable copies in the archive, as the archiver would have written them."""
    samples = sim_media.render_sound(task.params["prompt"], seconds, task.seed or 1)
    found = []
    for number, fmt in enumerate(formats, start=1):
        name = media_name(task.owner, task.id, number, fmt)
        (data / "media" / name).parent.mkdir(parents=True, exist_ok=True)
        (data / "media" / name).write_bytes(sim_media.encode_mp3(samples) if fmt == "mp3"
                                            else sim_media.encode_wav(samples))
        found.append(Media("audio", f"https://cdn.example.com/{task.id}.{fmt}", fmt, seconds, archived=name,
                           loudness=-18.25))
    return task.replace(media=tuple(found))


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("library")
    data = folder / "data"
    store = Store(data / "studio.db")
    now = time.time()
    takes = []
    for number, seed in enumerate(SEEDS):
        task = Task(Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": PROMPT, "duration": 3}, owner="local",
                    state=State.SUCCEEDED, raw_state="success", group_id=GROUP, seed=seed, created_at=now - 60 + number,
                    started_at=now - 55, finished_at=now - 50, progress=100)
        takes.append(_archived(data, task, ("mp3",), 3.0))
        store.add(takes[-1])
    kling = Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": KLING_PROMPT, "duration": 3}, owner="local",
                 state=State.SUCCEEDED, raw_state="succeed", created_at=now - 120, finished_at=now - 100)
    store.add(_archived(data, kling, ("mp3", "wav"), 3.0))
    process, url = start_studio(data, folder / "server.log")
    # The worker measures copies it finds unmeasured when it starts: wait for their peaks, so pages draw waveforms.
    deadline = time.monotonic() + 60
    while not all(m.peaks for t in store.find("local") for m in t.media):
        assert time.monotonic() < deadline, "the worker did not measure the copies"
        time.sleep(0.1)
    takes = [store.get(take.id) for take in takes]
    yield url, data, takes
    stop(process)


def _history(page: Page, url: str, view: str = "Cards") -> None:
    page.goto(f"{url}/history")
    wait_until_idle(page)
    page.locator(".st-key-hist_view").get_by_role("radio", name=view).click()
    wait_until_idle(page)


def test_a_group_of_four_takes_shows_four_players_side_by_side(studio, page: Page):
    url, _, takes = studio
    _history(page, url)
    group = page.locator(f".st-key-group_{GROUP}")
    players = group.locator("[data-testid='cue-waveform'][data-ready='1']")  # a waveform player each
    expect(players).to_have_count(4)
    boxes = [players.nth(n).bounding_box() for n in range(4)]
    assert len({round(box["y"]) for box in boxes}) == 1, boxes  # one row
    assert [box["x"] for box in boxes] == sorted(box["x"] for box in boxes)
    for take in takes:
        measured = f"{take.media[0].loudness:.1f}".replace("-", "−")
        expect(group.get_by_text(f"seed {take.seed} · 3 s · {measured} LUFS")).to_be_visible()
    screenshot(page, "library-group")


def test_keep_survives_a_reload(studio, page: Page):
    url, _, takes = studio
    _history(page, url)
    take = page.locator(f".st-key-task_{takes[1].id}")
    take.get_by_role("button", name="Keep").click()
    wait_until_idle(page)
    expect(take.get_by_role("button", name="Kept")).to_be_visible()
    page.reload()
    wait_until_idle(page)
    expect(page.locator(f".st-key-task_{takes[1].id}").get_by_role("button", name="Kept")).to_be_visible()
    expect(page.locator(f".st-key-task_{takes[0].id}").get_by_role("button", name="Keep")).to_be_visible()
    page.locator(f".st-key-task_{takes[1].id}").get_by_role("button", name="Kept").click()  # undone for the rest
    wait_until_idle(page)
    expect(page.locator(f".st-key-task_{takes[1].id}").get_by_role("button", name="Keep")).to_be_visible()


def test_use_these_settings_again_sends_the_kept_takes_seed(studio, page: Page):
    url, data, takes = studio
    _history(page, url)
    page.locator(f".st-key-task_{takes[2].id}").get_by_role("button", name="Keep").click()
    wait_until_idle(page)
    page.get_by_role("button", name="Use these settings again (the kept take)").click()
    wait_until_idle(page)
    expect(page.get_by_role("heading", name="Sound from text")).to_be_visible()
    expect(page.locator(".st-key-t2a_seed input")).to_have_value("333")
    expect(page.locator(".st-key-t2a_prompt textarea")).to_have_value(PROMPT)
    page.locator(".st-key-t2a_submit button").click()
    wait_until_idle(page)
    store, deadline = Store(data / "studio.db"), time.monotonic() + 60
    while not (sent := [t for t in store.find("local", endpoints=(Endpoint.VIDU_TEXT2AUDIO,)) if t.group_id != GROUP
                        and t.vendor_id]):
        assert time.monotonic() < deadline, "the new task never reached the vendor"
        page.wait_for_timeout(200)  # the studio writes the store; the browser is idle meanwhile
    assert sent[0].params["seed"] == 333 and sent[0].params["prompt"] == PROMPT
    while not (done := store.get(sent[0].id)).media:
        assert time.monotonic() < deadline, "the new task never succeeded"
        page.wait_for_timeout(200)
    simulator = done.media[0].url.split("/_sim/")[0]  # the embedded simulator's address
    log = requests.get(f"{simulator}/_sim/requests", timeout=10).json()
    assert [r["path"] for r in log if r["method"] == "POST"] == ["/ent/v2/text2audio"]  # one create, that one


def test_the_chosen_takes_download_as_one_zip(studio, page: Page):
    url, data, takes = studio
    _history(page, url, "List")
    for take in (takes[0], takes[3]):
        page.locator(f"[data-testid='cue-library-list'] [data-take='{take.id}']").get_by_role("checkbox").check()
        wait_until_idle(page)
    expect(page.locator(".st-key-hist_actions").get_by_text("2 chosen")).to_be_visible()
    screenshot(page, "library-list")
    page.get_by_role("button", name="Download as ZIP").click()
    link = page.get_by_role("link", name="Download the chosen takes")
    expect(link).to_be_visible()
    answer = requests.get(link.get_attribute("href"), timeout=30)
    assert answer.ok and answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].startswith("attachment")
    with zipfile.ZipFile(io.BytesIO(answer.content)) as bundle:
        assert {name: bundle.read(name) for name in bundle.namelist()} == {
            f"0{number}-{download_name(summary(take), take.media[0].duration, take.seed, 'vidu', 'mp3')}":
                (data / "media" / take.media[0].archived).read_bytes()
            for number, take in ((1, takes[0]), (2, takes[3]))}


def test_kling_shows_one_player_with_a_format_switch(studio, page: Page):
    url, _, _ = studio
    _history(page, url)
    card = page.locator("[class*='st-key-task_']").filter(has_text=KLING_PROMPT)
    player = card.locator("audio")
    expect(player).to_have_count(1)
    expect(player).to_have_attribute("src", re.compile(r"-1\.mp3\?"))
    card.get_by_role("radio", name="WAV").click()
    wait_until_idle(page)
    expect(player).to_have_count(1)
    expect(player).to_have_attribute("src", re.compile(r"-2\.wav\?"))
    expect(card.get_by_role("link", name="Download MP3")).to_be_visible()
    expect(card.get_by_role("link", name="Download WAV")).to_be_visible()


def test_the_running_badge_shows_my_running_tasks_on_every_page(studio, page: Page):
    url, data, _ = studio
    page.goto(f"{url}/kling")
    wait_until_idle(page)
    badge = page.locator(".st-key-running_badge")
    expect(badge).to_have_text("Nothing running")
    parked = [Task(Endpoint.VIDU_TEXT2VIDEO, {"prompt": f"parked {n}"}, owner="local", vendor_id=f"parked-{n}",
                   state=State.RUNNING, raw_state="processing") for n in range(2)]
    with sqlite3.connect(data / "studio.db") as db:  # in flight, and never due for a poll
        for task in parked:
            row = _to_row(task) | {"next_poll_at": time.time() + 3600}
            db.execute(f"INSERT INTO tasks ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                       list(row.values()))
    expect(badge).to_contain_text("2 running")  # the badge's own refresh, without touching the page
    page.goto(f"{url}/settings")
    wait_until_idle(page)
    expect(page.locator(".st-key-running_badge")).to_contain_text("2 running")
    with sqlite3.connect(data / "studio.db") as db:
        db.execute("UPDATE tasks SET state = 'cancelled' WHERE vendor_id LIKE 'parked-%'")
    expect(page.locator(".st-key-running_badge")).to_have_text("Nothing running")
