"""The studio's pages through Streamlit's AppTest, against the simulator in demo mode."""
import time

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.forms import key
from lib.core.plain import plain
from lib.core.tasks import Endpoint, Media, State, Task
from lib.ui.runtime import services
from tests.apptest import click, open_page

PAGES = ["sound", "timed", "video", "kling", "history", "settings"]


@pytest.fixture(autouse=True)
def demo_studio(demo):
    """Every page here runs in demo mode (tests/conftest.py)."""


@pytest.mark.parametrize("name", PAGES)
def test_every_page_opens_in_demo_mode(name):
    at = open_page(name)
    assert any("Demo mode: simulated vendors, no credits spent" in i.value for i in at.info)
    assert at.title


def test_problems_are_listed_together_before_anything_is_sent():
    at = open_page("video")
    at.selectbox(key=key(Endpoint.VIDU_TEXT2VIDEO, "model")).set_value("viduq2").run()
    at.text_area(key=key(Endpoint.VIDU_TEXT2VIDEO, "meta_data")).input("{not json").run()
    click(at, "Generate")
    message = at.error[0].value
    assert plain("The prompt is required.") in message and plain("Metadata must be valid JSON") in message
    assert services().store.count("local") == 0


def test_timeline_rows_are_checked_one_by_one():
    at = open_page("timed")
    at.session_state[key(Endpoint.VIDU_TIMING2AUDIO, "timing_prompts")] = [
        {"from": 0.0, "to": 3.0, "prompt": "birds"}, {"from": 4.0, "to": 2.0, "prompt": "rain"},
        {"from": 5.0, "to": 9.5, "prompt": ""}]
    at.session_state[key(Endpoint.VIDU_TIMING2AUDIO, "revision")] = 1
    at.slider(key=key(Endpoint.VIDU_TIMING2AUDIO, "duration")).set_value(8.0).run()
    warnings = [w.value for w in at.warning]
    assert plain("Event 2 ends before it starts (2 s ≤ 4 s).") in warnings
    assert plain("Event 3 needs a prompt.") in warnings
    assert plain("Event 3 ends after the clip (9.5 s > 8 s).") in warnings
    click(at, "Generate")
    assert at.error and services().store.count("local") == 0


def test_a_late_second_click_on_the_pressed_button_is_ignored_and_another_take_is_never_refused():
    at = open_page("sound")
    at.text_area(key=key(Endpoint.VIDU_TEXT2AUDIO, "prompt")).input("rain on a tin roof").run()
    pressed = next(b for b in at.button if b.label == "Generate")
    pressed.click()
    at.run()
    pressed.click()  # the same button again (its submission token is spent): nothing more is sent
    at.run()
    tasks = services().store.find("local")
    assert len(tasks) == 1 and tasks[0].vendor_id and tasks[0].params["prompt"] == "rain on a tin roof"
    click(at, "Another take")
    again = services().store.find("local")
    assert len(again) == 2 and len({task.group_id for task in again}) == 2


def test_use_these_settings_again_fills_the_form():
    # AppTest cannot follow a switch between two callable pages, so this starts on the page the task belongs to;
    # the browser tests follow the same button from History to another page.
    done = Task(Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": "a ticking clock", "duration": 4.5,
                                           "seed": 7}, state=State.SUCCEEDED, vendor_id="1", created_at=time.time(),
                media=(Media("audio", "http://127.0.0.1:9/x.mp3", "mp3"),))
    services().store.add(done)
    at = open_page()
    at.text_area(key=key(Endpoint.VIDU_TEXT2AUDIO, "prompt")).input("something else").run()
    click(at, "Use these settings again")
    assert not at.exception
    assert at.text_area(key=key(Endpoint.VIDU_TEXT2AUDIO, "prompt")).value == "a ticking clock"
    assert at.slider(key=key(Endpoint.VIDU_TEXT2AUDIO, "duration")).value == 4.5
    assert at.number_input(key=key(Endpoint.VIDU_TEXT2AUDIO, "seed")).value == 7
