"""End to end in a real browser: fill each form, submit, wait for success, and play what came back."""
import re
from urllib.parse import urljoin

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot, wait_until_idle

RESULT_TIMEOUT = 90_000
PAGES = ["", "timed", "video", "kling", "history", "settings"]


def open_page(page: Page, url: str, path: str) -> None:
    page.goto(f"{url}/{path}")
    wait_until_idle(page)


def submit(page: Page, prefix: str) -> None:
    page.locator(f".st-key-{prefix}_submit button").click()
    wait_until_idle(page)


def check_media(page: Page, url: str, element, kinds: tuple[str, ...], seconds: float) -> None:
    """The element's source answers 200 with a media type, and the browser reads the right duration from it."""
    source = urljoin(url + "/", element.get_attribute("src"))
    answer = requests.get(source, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].split("/")[0] in kinds, answer.headers["Content-Type"]
    duration = element.evaluate("""media => new Promise((resolve, reject) => {
        if (media.readyState >= 1) return resolve(media.duration);
        media.addEventListener('loadedmetadata', () => resolve(media.duration), {once: true});
        media.addEventListener('error', () => reject(new Error('the browser could not load the media')));
        media.preload = 'metadata'; media.load();
    })""")
    assert duration == pytest.approx(seconds, abs=0.2)


def results(page: Page, prompt: str, test_id: str, count: int = 1):
    """The media elements of the task card showing `prompt`, once that task has succeeded."""
    card = page.locator("[class*='st-key-task_']").filter(has_text=prompt)
    # A sound plays in st.audio until its copy is measured, then in the waveform player's own <audio>.
    found = card.locator("audio") if test_id == "stAudio" else card.get_by_test_id(test_id)
    expect(found).to_have_count(count, timeout=RESULT_TIMEOUT)
    return [found.nth(n) for n in range(count)]


def once_copied(card) -> None:
    """Wait until the worker has made the studio's own copy (the card's note about it is gone): a card drawn while
    the copy is made keeps the vendor's links, and no downloads, until it is drawn again."""
    expect(card.get_by_text("Making the studio's own copy of the result")).to_have_count(0, timeout=RESULT_TIMEOUT)


def test_sound_from_text(page, studio_url):
    open_page(page, studio_url, "")  # the default page lives at the root
    page.locator(".st-key-t2a_prompt textarea").fill("Rain on a tin roof with distant thunder")
    submit(page, "t2a")
    (audio,) = results(page, "Rain on a tin roof with distant thunder", "stAudio")
    check_media(page, studio_url, audio, ("audio",), 10.0)
    screenshot(page, "sound-done")


def test_kling_sound_gives_mp3_and_wav(page, studio_url):
    open_page(page, studio_url, "kling")
    page.locator(".st-key-kt2a_prompt textarea").fill("Fireworks during a New Year celebration")
    submit(page, "kt2a")
    (audio,) = results(page, "Fireworks during a New Year celebration", "stAudio")  # one player, a format switch
    check_media(page, studio_url, audio, ("audio",), 5.0)
    card = page.locator("[class*='st-key-task_']").filter(has_text="Fireworks during a New Year celebration")
    once_copied(card)
    card.get_by_role("radio", name="WAV").click()  # drawn again: from the studio's copies now
    expect(card.locator("audio")).to_have_attribute("src", re.compile(r"\.wav\?"))
    check_media(page, studio_url, card.locator("audio"), ("audio",), 5.0)
    expect(card.get_by_role("link", name="Download MP3")).to_be_visible()
    expect(card.get_by_role("link", name="Download WAV")).to_be_visible()
    screenshot(page, "kling-done")


def test_video_from_text(page, studio_url):
    open_page(page, studio_url, "video")
    page.locator(".st-key-t2v_prompt textarea").fill("A paper boat drifting down a rainy street")
    submit(page, "t2v")
    (video,) = results(page, "A paper boat drifting down a rainy street", "stVideo")
    check_media(page, studio_url, video, ("video",), 5.0)
    screenshot(page, "video-done")


@pytest.mark.parametrize("path", PAGES)
def test_screenshot_of_every_page(page, studio_url, path):
    open_page(page, studio_url, path)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, path or "sound")


def test_timed_sound_with_three_events_two_overlapping(page, studio_url):
    open_page(page, studio_url, "timed")
    for start, end, sound in (("0", "3", "Birds chirping"), ("2", "5", "Rain on a roof"), ("6", "9", "A bell")):
        page.locator(".st-key-tim_new_from input").fill(start)
        page.locator(".st-key-tim_new_to input").fill(end)
        page.locator(".st-key-tim_new_prompt input").fill(sound)
        page.get_by_role("button", name="Add event").click()
        wait_until_idle(page)
    expect(page.get_by_test_id("stAlert").filter(has_text="ends")).to_have_count(0)
    screenshot(page, "timed-three-events")
    submit(page, "tim")
    (audio,) = results(page, "3 timed events: Birds chirping; Rain on a roof; A bell", "stAudio")
    check_media(page, studio_url, audio, ("audio",), 10.0)
    expect(page.get_by_text("3 timed events: Birds chirping; Rain on a roof; A bell")).to_be_visible()


def test_use_these_settings_again_opens_the_filled_form(page, studio_url):
    open_page(page, studio_url, "video")
    page.locator(".st-key-t2v_prompt textarea").fill("A lighthouse in a storm at night")
    submit(page, "t2v")
    results(page, "A lighthouse in a storm at night", "stVideo")
    open_page(page, studio_url, "history")
    card = page.locator("[class*='st-key-task_']").filter(has_text="A lighthouse in a storm at night")
    card.get_by_role("button", name="Use these settings again").click()
    wait_until_idle(page)
    expect(page.get_by_role("heading", name="Video from text")).to_be_visible()
    expect(page.locator(".st-key-t2v_prompt textarea")).to_have_value("A lighthouse in a storm at night")


def test_a_task_link_opens_just_that_task(page, studio_url):
    open_page(page, studio_url, "kling")
    page.locator(".st-key-kt2a_prompt textarea").fill("A cat purring on a sofa")
    submit(page, "kt2a")
    results(page, "A cat purring on a sofa", "stAudio")
    card = page.locator("[class*='st-key-task_']").filter(has_text="A cat purring on a sofa")
    link = card.get_by_role("link", name="link to this task")
    page.goto(urljoin(page.url, link.get_attribute("href")))
    wait_until_idle(page)
    expect(page.locator("[class*='st-key-task_']")).to_have_count(1)
    expect(page.get_by_text("A cat purring on a sofa")).to_be_visible()


def test_what_was_typed_survives_a_trip_to_another_page(page, studio_url):
    open_page(page, studio_url, "video")
    page.locator(".st-key-t2v_prompt textarea").fill("Half-written idea about a foggy harbour")
    page.locator(".st-key-t2v_prompt textarea").blur()
    wait_until_idle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="History").click()
    wait_until_idle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Video from text").click()
    wait_until_idle(page)
    expect(page.locator(".st-key-t2v_prompt textarea")).to_have_value("Half-written idea about a foggy harbour")
