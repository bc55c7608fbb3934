"""Issue 8, inputs: bounded timelines, numbers no browser can break a session with, untrusted text shown as
written, vendor echoes of the key redacted, long prompts kept and explained, half-filled rows checked."""
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from lib.core import timeline
from lib.core.errors import InvalidRequest
from lib.core.forms import key
from lib.core.plain import JOINER, plain
from lib.core.tasks import Endpoint
from lib.core.validation import (
    TIMING_EVENTS_MAX,
    event_problems,
    too_long,
    too_many_events,
    validate_kling_text2audio,
    validate_vidu_text2audio,
    validate_vidu_timing2audio,
)
from lib.ui.runtime import services
from lib.vendors import kling, vidu

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
KEY = "vda_secret_key_0123456789"
# CommonMark plus what Streamlit's renderer adds that matters here: tables, strikethrough, bare links.
MARKDOWN = MarkdownIt("commonmark", {"linkify": True}).enable(["linkify", "table", "strikethrough"])
HOSTILE = [
    "![x](https://evil.example/pixel.png)",
    "[click](https://evil.example) and <https://evil.example>",
    "visit www.evil.example or https://evil.example or mail me@evil.example",
    "<img src=x onerror=alert(1)> <a href='https://evil.example'>a</a> &amp; &lt;",
    "**bold** _em_ `code` ~~gone~~ :red[red] :material/home: :smile: $x^2$ $$y$$",
    "WWW.EVIL.EXAMPLE ftp://evil.example mailto:me@evil.example",
    "# heading\n> quote\n- item\n1. item\n    indented code\n---\n| a | b |\n|---|---|\n| 1 | 2 |",
    "back\\slash\\\\ and trailing backslash\\",
]


def _text_of(html: str) -> str:
    """The visible text of rendered HTML (our escaping yields only paragraphs and line breaks)."""
    import html as entities

    text = entities.unescape(re.sub(r"<[^>]+>", "", html.replace("<br />\n", "\n"))).strip()
    return text.replace(JOINER, "")


# --- plain text -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", HOSTILE)
def test_plain_renders_as_the_same_text_and_nothing_else(text):
    html = MARKDOWN.render(plain(text))
    assert set(re.findall(r"<(\w+)", html)) <= {"p", "br"}, html
    assert _text_of(html) == "\n".join(line.lstrip() for line in text.splitlines())


@pytest.mark.parametrize("directive", [":red[red]", ":material/home:", ":smile:", "$x$", ":blue-badge[b]"])
def test_plain_escapes_every_streamlit_directive_opener(directive):
    escaped = plain(directive)
    assert all(escaped[i - 1] == "\\" for i, c in enumerate(escaped) if c in ":$[") and escaped[0] == "\\"
    # shortcodes and bare links are matched after escapes are gone: a word joiner follows every colon
    assert all(escaped[i + 1] == JOINER for i, c in enumerate(escaped) if c == ":")


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=60))
def test_plain_never_yields_a_link_image_or_markup(text):
    html = MARKDOWN.render(plain(text))
    assert set(re.findall(r"<(\w+)", html)) <= {"p", "br"}, html


# --- bounded timeline -------------------------------------------------------------------------------------------

def test_the_count_comes_first_and_is_said_plainly():
    assert too_many_events(TIMING_EVENTS_MAX) is None
    assert too_many_events(10_000).message == "A timeline has at most 20 events; this one has 10000."


def test_a_huge_timeline_is_one_problem_without_per_event_work():
    rows = [object()] * 10_000  # per-event checks would report each of these
    problems = validate_vidu_timing2audio({"model": "audio1.0", "timing_prompts": rows})
    assert [p.message for p in problems] == ["A timeline has at most 20 events; this one has 10000."]


def test_table_to_events_counts_first():
    table = pd.DataFrame({"from": [0.0] * 10_000, "to": [1.0] * 10_000, "prompt": ["x"] * 10_000})
    with pytest.raises(InvalidRequest) as raised:
        timeline.events(table)
    assert raised.value.problems[0].message == "A timeline has at most 20 events; this one has 10000."
    assert len(timeline.events(table.head(TIMING_EVENTS_MAX))) == TIMING_EVENTS_MAX


def test_overlaps_and_lanes_only_on_a_bounded_list():
    many = [{"from": 0.0, "to": 1.0, "prompt": "x"}] * 10_000
    assert timeline.overlaps(many) == set()
    assert len(timeline.lanes(many, 10)["data"]["values"]) == TIMING_EVENTS_MAX


def test_edits_within_bounds_pass():
    edits = {"added_rows": [{"from": 1.0, "to": 2.0, "prompt": "rain"}, {"prompt": "half"}],
             "edited_rows": {0: {"to": 4.5}, 1: {"prompt": None}}, "deleted_rows": [2]}
    assert timeline.edits_problem(edits, rows=3) is None


@pytest.mark.parametrize("edits, rows, message", [
    ({"added_rows": [{"prompt": "x"}] * 10_000, "edited_rows": {}, "deleted_rows": []}, 0,
     "A timeline has at most 20 events; this one has 10000."),
    ({"added_rows": [{"prompt": "x"}] * 5, "edited_rows": {}, "deleted_rows": []}, 18,
     "A timeline has at most 20 events; this one has 23."),
    ({"added_rows": [{"prompt": "x"}] * 30, "edited_rows": {}, "deleted_rows": list(range(30))}, 0,
     "A timeline has at most 20 events; this one has 30."),
    ({"added_rows": [{"from": math.nan}], "edited_rows": {}, "deleted_rows": []}, 0, timeline.UNUSABLE_EDIT),
    ({"added_rows": [{"from": math.inf}], "edited_rows": {}, "deleted_rows": []}, 0, timeline.UNUSABLE_EDIT),
    ({"added_rows": [], "edited_rows": {0: {"to": 1e400}}, "deleted_rows": []}, 1, timeline.UNUSABLE_EDIT),
    ({"added_rows": [], "edited_rows": {0: {"to": "5"}}, "deleted_rows": []}, 1, timeline.UNUSABLE_EDIT),
    ({"added_rows": [], "edited_rows": {0: {"prompt": 5}}, "deleted_rows": []}, 1, timeline.UNUSABLE_EDIT),
    ({"added_rows": [{"volume": 3}], "edited_rows": {}, "deleted_rows": []}, 0, timeline.UNUSABLE_EDIT),
    ({"added_rows": [], "edited_rows": {7: {"to": 1.0}}, "deleted_rows": []}, 1, timeline.UNUSABLE_EDIT),
    ({"added_rows": ["row"], "edited_rows": {}, "deleted_rows": []}, 0, timeline.UNUSABLE_EDIT),
    ({"added_rows": []}, 0, timeline.UNUSABLE_EDIT),
    ("not edits", 0, timeline.UNUSABLE_EDIT),
])
def test_edits_a_real_editor_cannot_make_are_refused(edits, rows, message):
    assert timeline.edits_problem(edits, rows) == message


# --- numbers --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e308, 10**400, "nan", "Infinity"])
def test_no_number_from_the_browser_gets_through(value):
    for problems in (validate_vidu_text2audio({"model": "audio1.0", "prompt": "x", "duration": value, "seed": value}),
                     validate_kling_text2audio({"prompt": "x", "duration": value})):
        assert problems and all(p.message.endswith(".") for p in problems)
    assert event_problems(1, {"from": value, "to": 2, "prompt": "x"}, 10)


def test_a_cell_that_is_not_a_number_is_kept_and_named():
    table = pd.DataFrame({"from": [math.inf, 1.0], "to": [2.0, None], "prompt": ["a", None]})
    found = timeline.events(table)
    assert found[0]["from"] == math.inf and found[1] == {"from": 1.0, "to": None, "prompt": ""}
    messages = [p.message for n, e in enumerate(found, 1) for p in event_problems(n, e, 10)]
    assert "Event 1's start time must be a number of seconds." in messages
    assert {"Event 2 needs a prompt.", "Event 2 needs an end time."} <= set(messages)
    assert timeline.lanes(found, 10)["data"]["values"] == []  # JSON for the chart holds no Infinity


# --- long prompts ---------------------------------------------------------------------------------------------

def test_too_long_says_by_how_much():
    assert too_long("x" * 1500, 1500) is None
    assert too_long("x" * 1734, 1500) == "1,734 of 1,500 characters — shorten it by 234"
    problems = validate_vidu_text2audio({"model": "audio1.0", "prompt": "x" * 1734})
    assert [p.message for p in problems] == ["The prompt is 1,734 of 1,500 characters — shorten it by 234."]


# --- vendor echoes of the key -----------------------------------------------------------------------------------

@pytest.mark.parametrize("client", [vidu, kling])
def test_vendor_error_redacts_code_detail_and_reference(client):
    error = client.DIALECT.error(400, f"Bad{KEY}", f"you sent {KEY}", trace_id=f"t-{KEY}", secrets=(KEY,))
    assert KEY not in error.message and KEY not in error.code and KEY not in (error.trace_id or "")
    assert KEY not in str(error) and "[hidden]" in error.message


# --- the pages (AppTest) --------------------------------------------------------------------------------------

def _open(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.session_state["open_page"] = name
    return at.run()


@pytest.mark.parametrize("page, endpoint, limit", [("sound", Endpoint.VIDU_TEXT2AUDIO, 1500),
                                                   ("kling", Endpoint.KLING_TEXT2AUDIO, 200)])
def test_a_long_prompt_is_kept_explained_and_blocked(demo, page, endpoint, limit):
    at = _open(page)
    long = "y" * (limit + 234)
    at.text_area(key=key(endpoint, "prompt")).input(long).run()
    assert at.text_area(key=key(endpoint, "prompt")).value == long
    note = f"{limit + 234:,} of {limit:,} characters — shorten it by 234."
    assert note in [w.value for w in at.warning]
    next(b for b in at.button if b.label == "Generate").click()
    at.run()
    assert any(plain(note) in e.value for e in at.error) and services().store.count("local") == 0


def test_a_loaded_timeline_past_the_limit_has_no_editor_and_a_way_out(demo):
    at = _open("timed")
    events = key(Endpoint.VIDU_TIMING2AUDIO, "timing_prompts")
    at.session_state[events] = [{"from": 0.0, "to": 1.0, "prompt": f"p{i}"} for i in range(500)]
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [plain("A timeline has at most 20 events; this one has 500.")]
    next(b for b in at.button if b.label.startswith("Keep the first")).click()
    at.run()
    assert len(at.session_state[events]) == TIMING_EVENTS_MAX and not at.error


def test_adding_past_the_limit_is_refused_with_a_message(demo):
    at = _open("timed")
    events = key(Endpoint.VIDU_TIMING2AUDIO, "timing_prompts")
    at.session_state[events] = [{"from": 0.0, "to": 1.0, "prompt": f"p{i}"} for i in range(TIMING_EVENTS_MAX)]
    at.session_state[key(Endpoint.VIDU_TIMING2AUDIO, "revision")] = 1
    at.run()
    at.text_input(key="tim_new_prompt").input("one more").run()
    next(b for b in at.button if b.label == "Add event").click()
    at.run()
    assert len(at.session_state[events]) == TIMING_EVENTS_MAX
    assert any("at most 20 events" in e.value for e in at.error)


def test_an_added_event_without_a_prompt_gets_a_message(demo):
    at = _open("timed")
    next(b for b in at.button if b.label == "Add event").click()
    at.run()
    assert at.session_state[key(Endpoint.VIDU_TIMING2AUDIO, "timing_prompts")] == [
        {"from": 0.0, "to": 3.0, "prompt": ""}]
    assert plain("Event 1 needs a prompt.") in [w.value for w in at.warning]


def test_a_whole_number_seed_goes_on_the_wire_as_one(demo):
    at = _open("sound")
    at.text_area(key=key(Endpoint.VIDU_TEXT2AUDIO, "prompt")).input("rain").run()
    at.number_input(key=key(Endpoint.VIDU_TEXT2AUDIO, "seed")).set_value(7.0).run()
    next(b for b in at.button if b.label == "Generate").click()
    at.run()
    [task] = services().store.find("local")
    assert task.params["seed"] == 7 and isinstance(task.params["seed"], int)

