"""Drafts in a real browser: a prompt typed on Sound from text and three events added on Timed sound are still
there after the page is reloaded (a new session), and gone once Generate has sent them (issue 13, "Nothing typed
is lost")."""
import pytest
from playwright.sync_api import Page, expect

from lib.store.sqlite import Store
from tests.e2e.conftest import add_events, start_studio, stop, wait_until_idle

EVENTS = [("0", "3", "Birds chirping"), ("2.5", "6", "A distant train"), ("5", "9.5", "Waves on the beach")]
# The events table's cells as Glide Data Grid lays them out for assistive technology, row by row.
TABLE_CELLS = """() => [...document.querySelectorAll("[data-testid='stDataFrame'] table tbody tr")]
    .map(row => [...row.querySelectorAll("td")].map(cell => cell.textContent))"""


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """One demo studio for this module, and its store."""
    folder = tmp_path_factory.mktemp("drafts")
    process, url = start_studio(folder / "data", folder / "server.log")
    yield url, Store(folder / "data" / "studio.db")
    stop(process)


def reload(page: Page) -> None:
    page.reload()
    wait_until_idle(page)


def type_prompt(page: Page, url: str, prompt: str) -> None:
    page.goto(url)  # the default page: Sound from text
    wait_until_idle(page)
    page.locator(".st-key-t2a_prompt textarea").fill(prompt)
    page.locator(".st-key-t2a_prompt textarea").blur()
    wait_until_idle(page)


def test_a_typed_prompt_is_still_there_after_a_reload(page, studio):
    url, _ = studio
    type_prompt(page, url, "Rain on a tin roof, kept over a reload")
    reload(page)
    expect(page.locator(".st-key-t2a_prompt textarea")).to_have_value("Rain on a tin roof, kept over a reload")


def rows(page: Page, count: int) -> list[list[str]]:
    """The events table's rows once it has `count` of them."""
    page.wait_for_function(f"() => ({TABLE_CELLS})().length === {count}")
    return page.evaluate(TABLE_CELLS)


def generate(page: Page, prefix: str) -> None:
    page.locator(f".st-key-{prefix}_submit button").click()
    wait_until_idle(page)
    expect(page.locator(f".st-key-{prefix}_submit").get_by_role("button", name="Another take")).to_be_visible()


def test_three_events_are_still_there_after_a_reload(page, studio):
    url, _ = studio
    add_events(page, url, EVENTS)
    reload(page)
    expect(page.get_by_text("3 events will be sent.")).to_be_visible()
    assert rows(page, 3) == [list(event) for event in EVENTS]


def test_after_generate_a_reload_shows_the_forms_empty(page, studio):
    url, store = studio
    type_prompt(page, url, "Thunder, sent and then forgotten")
    generate(page, "t2a")
    reload(page)
    expect(page.locator(".st-key-t2a_prompt textarea")).to_have_value("")
    add_events(page, url, EVENTS)
    generate(page, "tim")
    reload(page)
    expect(page.get_by_text("No events yet: add one below.")).to_be_visible()
    assert rows(page, 0) == []
    assert store.draft("local", "t2a") is None and store.draft("local", "tim") is None
