"""Takes in a real browser: four takes are four creates with four seeds in one group, a double click is one group,
"Another take" is another, Vidu against Kling is one group of two, and a request past the budget sends nothing.

One studio for the module, its vendors "live" against a simulator of its own, so the simulator's request log
counts exactly the creates this studio sent.
"""
import time

import pytest
import requests
from playwright.sync_api import Page, expect

from lib.core.tasks import Endpoint, Task
from lib.store.sqlite import Store
from tests.e2e.conftest import (
    start_simulator,
    start_studio,
    stop,
    vendors_at,
    wait_until_idle,
)

CREATES = {"/ent/v2/text2audio": Endpoint.VIDU_TEXT2AUDIO, "/v1/audio/text-to-audio": Endpoint.KLING_TEXT2AUDIO}
KLING_BUDGET_UNITS = "0.5"  # two Kling takes a month: the compare test fits, four takes never do


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("takes")
    simulator, simulator_url = start_simulator(folder / "sim.log", "--speed", "20")
    process, url = start_studio(folder / "data", folder / "server.log",
                                {**vendors_at(simulator_url), "STUDIO_BUDGET_KLING_UNITS": KLING_BUDGET_UNITS})
    yield url, simulator_url, Store(folder / "data" / "studio.db")
    stop(process)
    stop(simulator)


def creates(simulator_url: str) -> dict[Endpoint, int]:
    log = requests.get(f"{simulator_url}/_sim/requests", timeout=10).json()
    return {endpoint: sum(1 for r in log if r["method"] == "POST" and r["path"] == path)
            for path, endpoint in CREATES.items()}


def tasks_with(store: Store, prompt: str, count: int, seconds: float = 30) -> list[Task]:
    """The stored tasks whose prompt starts with `prompt`, once there are `count` of them and the vendor has
    answered each one's create (or time runs out): they are recorded before their creates are sent."""
    deadline = time.monotonic() + seconds
    while True:
        found = [t for t in store.find(None, limit=100) if str(t.params.get("prompt", "")).startswith(prompt)]
        answered = all(t.vendor_id or t.error_message for t in found)
        if (len(found) >= count and answered) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)  # polling the store for a condition, with a deadline


def open_form(page: Page, url: str, path: str, prefix: str, prompt: str) -> None:
    page.goto(f"{url}/{path}")
    wait_until_idle(page)
    page.locator(f".st-key-{prefix}_prompt textarea").fill(prompt)
    page.locator(f".st-key-{prefix}_prompt textarea").blur()
    wait_until_idle(page)


def choose_takes(page: Page, prefix: str, count: int) -> None:
    page.locator(f".st-key-{prefix}_takes").get_by_role("radio", name=str(count), exact=True).click()
    wait_until_idle(page)


def test_four_takes_are_four_creates_with_four_seeds_in_one_group(page, studio):
    url, simulator_url, store = studio
    before = creates(simulator_url)
    open_form(page, url, "", "t2a", "four takes of rain")
    choose_takes(page, "t2a", 4)
    expect(page.get_by_text("Estimated cost: 80 credits (≈ $0.40) for 4 takes")).to_be_visible()
    page.locator(".st-key-t2a_submit button").click()
    wait_until_idle(page)
    takes = tasks_with(store, "four takes of rain", 4)
    assert len(takes) == 4 and len({t.group_id for t in takes}) == 1 and takes[0].group_id
    assert len({t.seed for t in takes}) == 4 and all(t.seed and t.params["seed"] == t.seed for t in takes)
    assert creates(simulator_url)[Endpoint.VIDU_TEXT2AUDIO] - before[Endpoint.VIDU_TEXT2AUDIO] == 4


def test_a_double_click_is_one_group_and_another_take_is_a_second(page, studio):
    url, simulator_url, store = studio
    before = creates(simulator_url)[Endpoint.VIDU_TEXT2AUDIO]
    page.goto(url)
    wait_until_idle(page)
    # Typed and double-clicked at once: the prompt reaches the server with the first click.
    page.locator(".st-key-t2a_prompt textarea").fill("a double click on a bell")
    page.locator(".st-key-t2a_submit button").dblclick()
    wait_until_idle(page)
    another = page.get_by_role("button", name="Another take")
    expect(another).to_be_visible()
    first = tasks_with(store, "a double click on a bell", 1)
    assert len(first) == 1 and first[0].seed  # the seed Vidu chose, kept
    assert creates(simulator_url)[Endpoint.VIDU_TEXT2AUDIO] - before == 1
    another.click()
    wait_until_idle(page)
    both = tasks_with(store, "a double click on a bell", 2)
    assert len(both) == 2 and len({t.group_id for t in both}) == 2
    assert creates(simulator_url)[Endpoint.VIDU_TEXT2AUDIO] - before == 2


def test_vidu_against_kling_is_one_group_of_two_and_says_what_was_changed(page, studio):
    url, simulator_url, store = studio
    before = creates(simulator_url)
    prompt = "vidu against kling: " + "gentle waves on pebbles " * 10  # 260 characters
    open_form(page, url, "", "t2a", prompt)
    page.locator(".st-key-t2a_duration input[type='range']").press("Home")  # 2 s: below Kling's 3 s
    wait_until_idle(page)
    page.get_by_text("Also try with Kling").click()
    wait_until_idle(page)
    expect(page.get_by_text("For Kling the description was shortened to 200 characters and the length set to 3 s."
                            )).to_be_visible()
    page.locator(".st-key-t2a_submit button").click()
    wait_until_idle(page)
    group = tasks_with(store, "vidu against kling", 2)
    assert sorted(t.endpoint.value for t in group) == ["kling.text2audio", "vidu.text2audio"]
    assert len({t.group_id for t in group}) == 1
    kling = next(t for t in group if t.endpoint is Endpoint.KLING_TEXT2AUDIO)
    assert len(kling.params["prompt"]) <= 200 and kling.params["duration"] == 3.0
    after = creates(simulator_url)
    assert [after[e] - before[e] for e in CREATES.values()] == [1, 1]


def test_a_request_past_the_monthly_budget_is_refused_and_nothing_is_sent(page, studio):
    url, simulator_url, store = studio
    before = creates(simulator_url)
    open_form(page, url, "kling", "kt2a", "over budget fireworks")
    expect(page.get_by_text("This month's Kling budget:")).to_be_visible()
    choose_takes(page, "kt2a", 4)
    page.locator(".st-key-kt2a_submit button").click()
    wait_until_idle(page)
    expect(page.get_by_text("This would cost 1 units with Kling, but only")).to_be_visible()
    assert tasks_with(store, "over budget fireworks", 1, seconds=0) == []
    assert creates(simulator_url) == before
