"""Demo mode as a visitor sees it: a new task waits in the simulated queue long enough to press Cancel."""
import time

import pytest
from playwright.sync_api import expect

from lib.core.tasks import State
from lib.store.sqlite import Store
from tests.e2e.conftest import start_studio, stop, wait_until_idle

QUEUE_SECONDS = "8"  # the demo's own setting is 4 s; more here so a loaded machine still finds the task waiting


@pytest.fixture(scope="module")
def demo_studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo-queue")
    studio, url = start_studio(folder / "data", folder / "studio.log", {"STUDIO_SIM_QUEUE_SECONDS": QUEUE_SECONDS})
    yield url, Store(folder / "data" / "studio.db")
    stop(studio)


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_demo_task_waits_in_the_queue_and_can_be_cancelled(page, demo_studio):
    url, store = demo_studio
    page.goto(url)
    wait_until_idle(page)
    page.locator(".st-key-t2a_prompt textarea").fill("A dog barking at the mail carrier")
    page.locator(".st-key-t2a_submit button").click()
    card = page.locator("[class*='st-key-task_']").filter(has_text="A dog barking at the mail carrier")
    card.get_by_role("button", name="Cancel").click()
    wait_for(lambda: any(task.state is State.CANCELLED for task in store.find("local")))
    expect(card.get_by_text("Cancelled", exact=True)).to_be_visible(timeout=30_000)
