"""No developer words on the pages: every page, every state of a task card, walked with AppTest in demo mode; every
text a person reads (titles, labels, captions, Markdown, help, placeholders, options, table cells) is checked
against words only a developer would use. Placeholders read as hints ("e.g. …"), never as text already typed."""
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.tasks import Endpoint, Media, State, Task
from lib.ui.chrome import PLACEHOLDER_STYLE
from lib.ui.runtime import services
from tests.apptest import open_page

PAGES = ["sound", "timed", "video", "kling", "score", "history", "settings"]
# Words of the code and the wire: a person who does not write code should meet none of them on a page.
DEVELOPER_WORDS = [r"\bendpoints?\b", r"\bpayload\b", r"\bcallbacks?\b", r"\bowners?\b", r"\bvendor[ _]id\b",
                   r"\btrace[ _]id\b", r"\bexternal[ _]id\b", r"\bbase url\b", r"\bjson\b", r"\bposts?\b",
                   r"\bprofile\b", r"\bstate\b", r"\bState\.", r"\bid\b", r"\bnone\b", r"\bnull\b", r"_",
                   r"(?-i:\b(SUBMITTED|QUEUED|RUNNING|SUCCEEDED|FAILED|CANCELLED)\b)",
                   r"(?-i:\b[A-Z][a-z]+[A-Z]\w*\b)"]  # the vendors' error codes: UserCancelled, CreditInsufficient
# Where a technical word is the point: the section for developers says so in its own label.
FOR_DEVELOPERS = "For developers"
TEXT_FIELDS = {"body", "caption", "captions", "help", "label", "message", "options", "placeholder", "text", "title",
               "value", "default", "tooltip"}


def _strings(message, inside_developers: bool) -> list[tuple[str, str, bool]]:
    """(field, text, under the developers' section) for every text field of a protobuf message, nested ones too."""
    found = []
    for descriptor, value in message.ListFields():
        values = value if descriptor.is_repeated else [value]
        if descriptor.message_type is not None:
            for one in values:
                found += _strings(one, inside_developers)
        elif descriptor.name in TEXT_FIELDS and descriptor.type == descriptor.TYPE_STRING:
            found += [(descriptor.name, one, inside_developers) for one in values]
    return found


def rendered(at: AppTest) -> list[tuple[str, str, bool]]:
    """Every text on the page as (field, text, under "For developers"), tables' headers and cells included."""
    found = []

    def visit(node, inside: bool) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            inside = inside or (type(node).__name__ == "Expander" and FOR_DEVELOPERS in node.label)
            found.extend(_strings(proto, inside))
        if getattr(node, "type", None) == "dataframe":
            frame = node.value
            found.extend(("table", str(text), inside) for text in [*frame.columns, *frame.to_numpy().ravel()])
        for child in getattr(node, "children", {}).values():
            visit(child, inside)

    visit(at._tree, False)
    return found


def rendered_text(at: AppTest) -> list[str]:
    return [text for _, text, _ in rendered(at)]


def developer_words(at: AppTest) -> list[str]:
    """The texts outside "For developers" that hold a developer word (icons' :material/…: names aside)."""
    hits = []
    for field, text, inside in rendered(at):
        # Icons' names, badges' Markdown, a task's link and a folder's path are not words.
        readable = re.sub(r":material/\w+:|:[a-z]+-badge\[|\]\(history\?task=\w+\)|/\S+", " ", text)
        if not inside and any(re.search(word, readable, re.IGNORECASE) for word in DEVELOPER_WORDS):
            hits.append(f"{field}: {text}")
    return hits


def seed_every_state() -> list[Task]:
    """One task in every state (and one with a state word the studio does not know) in the local person's history."""
    now = time.time()
    rain = {"prompt": "rain on a roof", "duration": 5.0}
    found = [
        Task(Endpoint.VIDU_TEXT2AUDIO, rain, state=State.SUBMITTED, created_at=now - 1),
        Task(Endpoint.VIDU_TEXT2AUDIO, rain, vendor_id="v-queued", state=State.QUEUED, raw_state="queueing",
             created_at=now - 5),
        Task(Endpoint.VIDU_TIMING2AUDIO,
             {"duration": 8.0, "timing_prompts": [{"from": 0, "to": 2, "prompt": "a door"}]},
             vendor_id="v-running", state=State.RUNNING, raw_state="processing", progress=40, created_at=now - 20,
             started_at=now - 10),
        Task(Endpoint.KLING_TEXT2AUDIO, rain, vendor_id="k-odd", state=State.RUNNING, raw_state="warming_up",
             created_at=now - 30, started_at=now - 25),
        Task(Endpoint.VIDU_TEXT2AUDIO, rain, vendor_id="v-done", state=State.SUCCEEDED, credits=10,
             media=(Media("audio", "http://127.0.0.1:9/done.mp3", "mp3", 5.0),), created_at=now - 60,
             finished_at=now - 50),
        Task(Endpoint.VIDU_TEXT2VIDEO, {"model": "viduq2", "prompt": "a boat", "duration": 5}, vendor_id="v-failed",
             state=State.FAILED, error_code="CreditInsufficient", trace_id="trace-123", created_at=now - 90),
        Task(Endpoint.KLING_TEXT2AUDIO, rain, external_id="cue-abc", state=State.FAILED, error_code="1102",
             error_message="Account balance not enough", created_at=now - 100),
        Task(Endpoint.VIDU_TEXT2AUDIO, rain, vendor_id="v-cancelled", state=State.CANCELLED, error_code="UserCancelled",
             created_at=now - 120),
    ]
    for task in found:
        services().store.add(task)
    return found


@pytest.fixture(autouse=True)
def demo_studio(demo):
    """Every page here runs in demo mode (tests/conftest.py)."""


@pytest.mark.parametrize("name", PAGES)
def test_no_page_shows_developer_words(name):
    seed_every_state()
    at = open_page(name)
    assert len(rendered_text(at)) > 5  # the walk reads the page
    assert developer_words(at) == []


def _cards() -> None:
    """Every state of a task card, drawn by the cards' own code (the worker cannot move them on meanwhile)."""
    import time as clock

    from lib.ui import tasks
    from lib.ui.runtime import services as running
    from tests.test_words import seed_every_state as seeded

    for task in seeded():
        tasks.card(running().store.get(task.id) or task, clock.time())


def test_no_task_card_shows_developer_words():
    at = AppTest.from_function(_cards, default_timeout=30).run()
    assert not at.exception, at.exception
    texts = rendered_text(at)
    assert any("Failed" in text for text in texts) and any("Cancelled" in text for text in texts)
    assert developer_words(at) == []


def test_the_walk_finds_a_developer_word():
    at = AppTest.from_string('import streamlit as st\nst.multiselect("Endpoint", ["Sound"])\n'
                             'with st.expander("For developers"):\n    st.text_input("Callback address")').run()
    assert developer_words(at) == ["label: Endpoint"]


@pytest.mark.parametrize("name", PAGES)
def test_every_placeholder_is_a_hint(name):
    at = open_page(name)
    placeholders = [text for field, text, _ in rendered(at) if field == "placeholder" and text]
    assert all(text.startswith("e.g. ") for text in placeholders), placeholders
    assert PLACEHOLDER_STYLE in rendered_text(at)  # and drawn lighter than typed text (lib/ui/chrome.py)
