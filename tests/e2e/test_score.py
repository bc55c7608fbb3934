"""Scoring a video in Chromium: a finished demo video from History gets three sound events and a music bed, the
muxed MP4 plays with sound and is as long as the picture; a re-mix sends nothing to the vendor; and a studio
stopped while a score's parts wait in the vendor's queue finishes the score after a restart, each part created
exactly once.

The studios' vendors are "live" against simulators of their own, so each simulator's request log counts exactly
the creates its studio sent. The video is written straight into the store and the archive, as a finished video
task would leave it (no video task is waited for).
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from lib.core import score
from lib.core.score import Score, ScoreState
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media import video
from lib.media.archive import media_name
from lib.sim.media import render_video
from lib.store.sqlite import Store
from tests.e2e.conftest import (
    screenshot,
    start_simulator,
    start_studio,
    stop,
    vendors_at,
    wait_until_idle,
)

PROMPT = "A fox trots across a snowy field at dawn"
SECONDS = 12.0  # two effects requests: longer than one request's 10 s
EVENTS = ((0.5, 2.5, "Footsteps crunching in snow"), (4.0, 6.0, "A crow calls twice"), (8.5, 11.0, "Wind gusts"))
MUSIC = "Calm piano with soft strings"
CREATES = ("/ent/v2/timing2audio", "/ent/v2/text2audio")
PLAYER = ".cue-player[data-ready='1']"


def seed_video(data: Path, prompt: str = PROMPT, seconds: float = SECONDS, own_sound: bool = False) -> Path:
    """A finished, archived demo video in the store, as a text-to-video task leaves it (with a sound track of its
    own when `own_sound`, as Vidu q3's native audio gives); its file's path."""
    task = Task(Endpoint.VIDU_TEXT2VIDEO, {"model": "viduq1", "prompt": prompt, "duration": seconds},
                state=State.SUCCEEDED, vendor_id="seeded", created_at=time.time(), finished_at=time.time())
    name = media_name("local", task.id, 1, "mp4")
    path = data / "media" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_video(prompt, seconds, 320, 180, seed=7, ambience=own_sound)[0])
    Store(data / "studio.db").add(task.replace(media=(Media("video", "https://cdn.example.com/fox.mp4", "mp4",
                                                            seconds, archived=name),)))
    return path


def creates(simulator_url: str) -> list[dict]:
    log = requests.get(f"{simulator_url}/_sim/requests", timeout=10).json()
    return [entry for entry in log if entry["method"] == "POST" and entry["path"] in CREATES]


def score_when(store: Store, done, seconds: float = 180) -> Score:
    """The newest score once `done(score)` holds (or time runs out, then the assertion says where it stands)."""
    deadline = time.monotonic() + seconds
    while True:
        found = store.recent_scores(None, limit=1)
        if found and done(found[0]):
            return found[0]
        assert time.monotonic() < deadline, found and (found[0].state, found[0].error_message)
        time.sleep(0.2)  # polling the store for a condition, with a deadline


def set_up_score(page: Page, url: str) -> None:
    """From History's "Score this video" to a score with three events and a music bed, then Generate."""
    page.goto(f"{url}/history")
    wait_until_idle(page)
    page.get_by_role("button", name="Score this video").first.click()
    wait_until_idle(page)
    expect(page.get_by_role("heading", name="Score a video")).to_be_visible()
    expect(page.get_by_text(f"{PROMPT} · {SECONDS:g} s · 320×180")).to_be_visible()
    for start, end, sound in EVENTS:
        page.locator(".st-key-score_new_from input").fill(str(start))
        page.locator(".st-key-score_new_to input").fill(str(end))
        page.locator(".st-key-score_new_prompt input").fill(sound)
        page.get_by_role("button", name="Add event").click()
        wait_until_idle(page)
    expect(page.get_by_text("3 events will be sent.")).to_be_visible()
    page.locator(".st-key-score_music textarea").fill(MUSIC)
    page.locator(".st-key-score_music textarea").blur()
    wait_until_idle(page)
    expect(page.get_by_text("3 requests: sound effects for")).to_be_visible()
    page.locator(".st-key-score_submit button").click()
    # the score is recorded once its card shows: before that, closing the page could cut the submitting run short
    expect(page.locator("[class*='st-key-score_group_']").first).to_be_visible(timeout=60_000)
    wait_until_idle(page)


# First: its studio is stopped before the module's own studio starts (one studio at a time).
def test_a_restart_while_the_parts_are_queued_loses_nothing(page, tmp_path):
    simulator, simulator_url = start_simulator(tmp_path / "sim.log", "--speed", "20", "--queue-seconds", "8")
    seed_video(tmp_path / "data")
    studio, url = start_studio(tmp_path / "data", tmp_path / "studio.log", vendors_at(simulator_url))
    store = Store(tmp_path / "data" / "studio.db")
    try:
        set_up_score(page, url)
        # while the parts wait in the vendor's queue, the card says which stretch each covers and where it stands
        expect(page.get_by_text(re.compile(r"Sound effects, 0–[0-9.]+ s: waiting"))).to_be_visible()
        expect(page.get_by_text("Music bed, the whole video: waiting")).to_be_visible()
        made = score_when(store, lambda one: len(store.score_parts(one.id)) == len(one.parts) and all(
            task.vendor_id and task.state is State.QUEUED for task in store.score_parts(one.id)), seconds=60)
        stop(studio)
        studio, url = start_studio(tmp_path / "data", tmp_path / "studio2.log", vendors_at(simulator_url))
        done = score_when(store, lambda one: one.state.terminal)
        assert done.id == made.id and done.state is ScoreState.DONE, done.error_message
        parts = store.score_parts(done.id)
        sent = creates(simulator_url)
        assert len(sent) == len(parts) == len(done.parts) == 3  # every part created exactly once
        assert len({task.vendor_id for task in parts}) == 3 and all(t.state is State.SUCCEEDED for t in parts)
        page.goto(f"{url}/score")
        wait_until_idle(page)
        expect(page.locator(f".st-key-score_{done.id} {PLAYER}")).to_be_visible()
    finally:
        stop(studio)
        stop(simulator)


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("score")
    simulator, simulator_url = start_simulator(folder / "sim.log", "--speed", "20")
    source = seed_video(folder / "data", own_sound=True)  # the score is mixed under the video's own sound
    process, url = start_studio(folder / "data", folder / "studio.log", vendors_at(simulator_url))
    yield url, simulator_url, Store(folder / "data" / "studio.db"), source
    stop(process)
    stop(simulator)


@pytest.fixture(scope="module")
def scored(browser, studio) -> Score:
    """The score made through the page, once mixed."""
    url, _, store, _ = studio
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    set_up_score(page, url)
    page.close()
    return score_when(store, lambda one: one.state is ScoreState.DONE)


def test_the_scored_video_plays_with_sound_and_is_as_long_as_the_picture(page, studio, scored):
    url, simulator_url, _, source = studio
    assert len(creates(simulator_url)) == len(scored.parts) == 3  # two effects windows and the music bed
    page.goto(f"{url}/score")
    wait_until_idle(page)
    card = page.locator(f".st-key-score_{scored.id}")
    expect(card.locator(PLAYER)).to_be_visible()
    expect(card.locator(".cue-lanes .cue-event")).to_have_count(len(EVENTS))  # the lanes under the picture
    screenshot(page, "score-done")
    player = card.locator(f"{PLAYER} video")
    player.evaluate("video => video.play()")
    page.wait_for_function("video => video.currentTime > 1 && video.webkitAudioDecodedByteCount > 0",
                           arg=player.element_handle(), timeout=30_000)
    facts = video.probe(source)
    duration = player.evaluate("video => video.duration")
    assert abs(duration - facts.duration) <= 1 / facts.fps, (duration, facts.duration)
    assert "Layers: the video's own sound 0 dB, the effects 0 dB, the music −6.0 dB" in " ".join(
        score.receipt_lines(scored))  # mixed under the picture's own sound
    download = card.get_by_role("link", name="Download MP4").get_attribute("href")
    assert "-1.mp4" in download and "dl=" in download


def test_a_new_effects_gain_remixes_without_a_vendor_request(page, studio, scored):
    url, simulator_url, store, _ = studio
    before = len(creates(simulator_url))
    page.goto(f"{url}/score")
    wait_until_idle(page)
    card = page.locator(f".st-key-score_{scored.id}")
    expect(card.get_by_role("link", name="Download MP4")).to_have_attribute("href", re.compile(r"-1\.mp4\?"))
    card.get_by_text("Re-mix", exact=True).click()
    page.locator(f".st-key-remix_{scored.id}_effects input[type='range']").press("ArrowLeft")  # 0.5 dB quieter
    wait_until_idle(page)
    remixed = score_when(store, lambda one: one.mixed_version == 2 and one.state is ScoreState.DONE, seconds=60)
    assert remixed.id == scored.id and remixed.mix.effects_db == scored.mix.effects_db - 0.5
    link = card.get_by_role("link", name="Download MP4")
    expect(link).to_have_attribute("href", re.compile(r"-2\.mp4\?"))
    expect(card.locator(f"{PLAYER}")).to_be_visible()
    assert len(creates(simulator_url)) == before


def test_an_upload_is_refused_in_plain_words_or_read_with_its_length(page, studio, tmp_path):
    url, simulator_url, _, source = studio
    not_a_video = tmp_path / "holiday.mp4"
    not_a_video.write_bytes(b"these are not the frames you are looking for" * 100)
    page.goto(f"{url}/score")
    wait_until_idle(page)
    page.locator(".st-key-score_from").get_by_role("radio", name="Upload a video").click()
    wait_until_idle(page)
    expect(page.get_by_text("MP4, MOV or WebM, up to 60 s and 200 MB.")).to_be_visible()
    page.locator(".st-key-score_upload input[type='file']").set_input_files(str(not_a_video))
    wait_until_idle(page)
    expect(page.get_by_text("This file is not a video the studio can read.")).to_be_visible()
    page.locator(".st-key-score_upload input[type='file']").set_input_files(str(source))
    wait_until_idle(page)
    expect(page.get_by_text(re.compile(rf" · {SECONDS:g} s · 320×180$"))).to_be_visible()
    expect(page.locator("[data-testid='stVegaLiteChart'] svg image")).to_have_count(1)  # its frames over the lanes
