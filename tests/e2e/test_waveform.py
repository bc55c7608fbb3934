"""The waveform player in Chromium, against one demo studio: a finished sound shows its waveform with a cursor,
a click seeks, the spectrogram opens, a timed sound shows its events as lanes on the waveform's time axis, the
normalised download measures at its target, all under the studio's CSP; and no audio crosses the websocket.
"""
from __future__ import annotations

import base64
import time
from urllib.parse import urljoin

import pytest
import requests
from playwright.sync_api import Page, expect

from lib.core import timeline
from lib.core.endpoints import spec
from lib.core.tasks import Endpoint, Task
from lib.media import analysis
from lib.store.sqlite import Store
from tests.e2e.conftest import screenshot, start_studio, stop, wait_until_idle

SOUND = "Glass breaking in a quiet room"
EXAMPLE = spec(Endpoint.VIDU_TIMING2AUDIO).examples[0]
EVENTS = tuple((e["from"], e["to"], e["prompt"]) for e in EXAMPLE["timing_prompts"])
VIOLATIONS = """window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""
PLAYER = "[data-testid='cue-waveform'][data-ready='1']"


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("waveform")
    process, url = start_studio(folder / "data", folder / "studio.log")
    yield url, folder / "data"
    stop(process)


def measured(data, summary: str, seconds: float = 240) -> Task:
    """The task whose summary starts with `summary`, once its copy is archived and measured."""
    deadline = time.monotonic() + seconds
    while True:
        found = [t for t in Store(data / "studio.db").find(None) if t.media and t.media[0].peaks
                 and (t.params.get("prompt") or " ".join(e["prompt"] for e in t.params.get("timing_prompts", [])))
                 .startswith(summary)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no measured result for {summary!r}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def sound(browser, studio) -> Task:
    url, data = studio
    page = browser.new_page()
    page.goto(f"{url}/")
    wait_until_idle(page)
    page.locator(".st-key-t2a_prompt textarea").fill(SOUND)
    page.locator(".st-key-t2a_submit button").click()
    wait_until_idle(page)
    page.close()
    return measured(data, SOUND)


@pytest.fixture(scope="module")
def timed(browser, studio) -> Task:
    url, data = studio
    page = browser.new_page()
    page.goto(f"{url}/timed")
    wait_until_idle(page)
    page.get_by_role("button", name="Examples").click()
    page.locator(".st-key-tim_example_0 button").click()  # the first example: three events, two overlapping
    wait_until_idle(page, 60_000)
    page.locator(".st-key-tim_submit button").click()
    wait_until_idle(page, 60_000)
    card = page.locator("[class*='st-key-task_']").filter(has_text=f"{len(EVENTS)} timed events: {EVENTS[0][2]}")
    try:
        expect(card.first).to_be_visible(timeout=60_000)  # sent: its card is on the page
    except AssertionError:
        screenshot(page, "waveform-timed-not-sent")
        raise
    page.close()
    return measured(data, EVENTS[0][2])


def open_task(page: Page, url: str, task: Task):
    page.add_init_script(VIOLATIONS)
    page.goto(f"{url}/history?task={task.id}")
    wait_until_idle(page)
    player = page.locator(PLAYER)
    expect(player).to_have_count(1, timeout=30_000)
    player.scroll_into_view_if_needed()
    return player


def wait_until(locator, condition: str, argument=None, timeout: float = 15_000) -> None:
    """Wait until the JS `condition(element, argument)` holds for the element, checked every frame."""
    locator.evaluate(f"""(element, argument) => new Promise(resolve => {{
        const check = () => ({condition})(element, argument) ? resolve(true) : requestAnimationFrame(check);
        check();
    }})""", argument, timeout=timeout)


def test_a_finished_sound_shows_its_waveform_with_a_cursor_and_a_click_seeks(page, studio, sound):
    url, _ = studio
    player = open_task(page, url, sound)
    expect(player.locator("[part='cursor']")).to_have_count(1)
    expect(player.locator("canvas").first).to_be_visible()
    wave = player.locator(".cue-wave")
    box = wave.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    duration = sound.media[0].duration or 10.0
    wait_until(player, "(el, target) => Math.abs(Number(el.dataset.currentTime) - target) < 0.3", duration * 0.75)
    expect(player.locator(".cue-time")).to_contain_text(f"0:{duration * 0.75:04.1f}")
    player.get_by_role("button", name="Play").click()
    expect(player.get_by_role("button", name="Pause")).to_be_visible()  # the media element plays the signed link
    player.get_by_role("button", name="Pause").click()
    assert page.evaluate("window.__csp") == []


def test_the_spectrogram_opens_on_one_click(page, studio, sound):
    url, _ = studio
    player = open_task(page, url, sound)
    expect(player.locator(".cue-spectrogram")).to_have_count(0)
    player.get_by_role("button", name="Spectrogram").click()
    spectrogram = player.locator(".cue-spectrogram[data-ready='1']")
    expect(spectrogram).to_have_count(1, timeout=30_000)
    expect(spectrogram.locator("canvas").first).to_be_visible()
    assert spectrogram.bounding_box()["height"] > 100  # the frequency picture, not just the thin waveform
    assert page.evaluate("window.__csp") == []


def test_no_audio_crosses_the_websocket(page, studio, sound):
    url, data = studio
    frames = []
    def watch(socket):
        socket.on("framereceived", lambda payload: frames.append(payload))
        socket.on("framesent", lambda payload: frames.append(payload))

    page.on("websocket", watch)
    player = open_task(page, url, sound)
    player.get_by_role("button", name="Play").click()
    expect(player.get_by_role("button", name="Pause")).to_be_visible()
    player.get_by_role("button", name="Spectrogram").click()
    expect(player.locator(".cue-spectrogram[data-ready='1']")).to_have_count(1, timeout=30_000)
    audio = (data / "media" / sound.media[0].archived).read_bytes()
    # Pieces from all through the file, raw and as base64 (aligned so the encoding matches wherever it starts).
    pieces = [audio[start:start + 48] for start in range(0, len(audio) - 48, max(1, len(audio) // 40))]
    encoded = [base64.b64encode(piece).decode()[4:-4] for piece in pieces]
    assert frames, "no websocket frames were seen"
    for frame in frames:
        payload = frame if isinstance(frame, bytes) else frame.encode()
        assert not any(piece in payload for piece in pieces), "audio bytes in a websocket frame"
        text = payload.decode("latin-1")
        assert not any(chunk in text for chunk in encoded), "base64 audio in a websocket frame"
        assert "data:audio" not in text


def test_a_timed_sound_shows_its_events_as_lanes_on_the_waveform(page, studio, timed):
    url, _ = studio
    player = open_task(page, url, timed)
    events = player.locator(".cue-event")
    expect(events).to_have_count(len(EVENTS))
    wave = player.locator(".cue-wave").bounding_box()
    duration = timed.params["duration"]
    labels = [lane.label for lane in timeline.lane_layout(list(EXAMPLE["timing_prompts"]), duration)]
    for number, (start, end, prompt) in enumerate(EVENTS):
        expect(events.nth(number)).to_have_text(labels[number])  # as the timeline editor's picture labels it
        assert events.nth(number).get_attribute("title").endswith(prompt)  # the whole prompt on hovering
        box = events.nth(number).bounding_box()
        assert box["x"] - wave["x"] == pytest.approx(float(start) / duration * wave["width"], abs=3)
        assert box["width"] == pytest.approx((float(end) - float(start)) / duration * wave["width"], abs=3)
    assert page.evaluate("window.__csp") == []


def test_the_normalised_download_measures_at_its_target(page, studio, sound, tmp_path):
    url, _ = studio
    open_task(page, url, sound)
    page.get_by_role("button", name="Download at a set loudness").click()
    link = page.get_by_role("link", name="−23 LUFS (broadcast)", exact=True)  # reachable: the sound is louder
    expect(link).to_be_visible()
    answer = requests.get(urljoin(url + "/", link.get_attribute("href")), timeout=60)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("audio/")
    assert "-23lufs." in answer.headers["Content-Disposition"]
    downloaded = tmp_path / f"normalised.{sound.media[0].format}"
    downloaded.write_bytes(answer.content)
    decoded = analysis.decode(downloaded)
    assert analysis.loudness(decoded.samples, decoded.rate) == pytest.approx(-23, abs=0.5)
    assert analysis.true_peak(decoded.samples) <= analysis.PEAK_CEILING + 0.5


def test_a_player_whose_peaks_cannot_be_read_falls_back_to_the_plain_player(page, studio, sound):
    url, _ = studio
    page.route("**/*-peaks.json*", lambda route: route.abort())  # the peaks file does not arrive
    page.goto(f"{url}/history?task={sound.id}")
    wait_until_idle(page)
    fallback = page.locator("[data-testid='cue-waveform'][data-ready='plain']")
    expect(fallback).to_have_count(1, timeout=30_000)
    expect(fallback).to_contain_text("The waveform could not be drawn; it plays here without it.")
    plain = fallback.locator("audio.cue-plain[controls]")
    assert plain.get_attribute("src") == fallback.get_attribute("data-src")  # the same signed link
    plain.evaluate("audio => audio.play()")
    wait_until(plain, "(audio) => audio.currentTime > 0.2")  # and it plays
