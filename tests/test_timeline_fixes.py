"""Issue 10, "The timeline editor, fixed": the lane layout, times past the clip reported (never clamped), the
count of events to be sent, and Undo after an example replaced what was typed."""

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib.core import endpoints, timeline
from lib.core.forms import key
from lib.core.plain import plain
from lib.core.tasks import Endpoint
from lib.core.validation import TIMING_EVENTS_MAX, validate_vidu_timing2audio
from tests.apptest import open_page

TIMED, SOUND = Endpoint.VIDU_TIMING2AUDIO, Endpoint.VIDU_TEXT2AUDIO
EVENTS = key(TIMED, "timing_prompts")


def event(start, end, prompt="birds") -> dict:
    return {"from": start, "to": end, "prompt": prompt}


# --- the lane layout ------------------------------------------------------------------------------------------

def test_one_event_is_one_ok_lane():
    (lane,) = timeline.lane_layout([event(0.0, 3.0, "Birds chirping")], 10)
    assert (lane.lane, lane.label, lane.status, lane.draw, lane.problems) == (
        0, "1. Birds chirping", "ok", (0.0, 3.0), ())


def test_three_events_overlapping_reversed_and_outside_are_told_apart():
    layout = timeline.lane_layout([event(0, 3), event(2, 5), event(6, 4), event(8, 12), event(-1, 1)], 10)
    assert [lane.status for lane in layout] == ["overlapping", "overlapping", "invalid", "invalid", "invalid"]
    assert layout[2].problems == ("Event 3 ends before it starts (4 s ≤ 6 s).",)
    assert layout[3].problems == ("Event 4 ends after the clip (12 s > 10 s).",)
    assert layout[4].problems == ("Event 5 starts before the clip begins (-1 s < 0 s).",)
    # Only the drawing is clamped (and put in time order); the event's own numbers stay as typed.
    assert [lane.draw for lane in layout[2:]] == [(4.0, 6.0), (8.0, 10.0), (0.0, 1.0)]
    assert (layout[3].start, layout[3].end) == (8.0, 12.0)


def test_an_event_wholly_past_the_end_or_of_no_length_still_shows_a_sliver():
    past, instant = timeline.lane_layout([event(12, 14), event(5, 5)], 10)
    assert past.status == instant.status == "invalid"
    assert past.draw[1] == 10.0 and past.draw[0] < 10.0
    assert instant.draw[0] == 5.0 and instant.draw[1] > 5.0


def test_an_event_missing_a_time_keeps_its_lane_and_label_but_draws_no_bar():
    layout = timeline.lane_layout([event(None, 2.0, ""), event(1.0, 2.0)], 10)
    assert layout[0].label == "1. (no prompt)" and layout[0].draw is None and layout[0].status == "invalid"
    spec = timeline.lanes([event(None, 2.0, ""), event(1.0, 2.0)], 10)
    assert spec["encoding"]["y"]["scale"]["domain"] == ["1. (no prompt)", "2. birds"]
    assert [row["lane"] for row in spec["data"]["values"]] == ["2. birds"]


def test_twenty_events_have_twenty_distinct_short_labels_and_a_taller_picture():
    long = "Rain on a tin roof with distant thunder rolling over the hills"
    layout = timeline.lane_layout([event(n % 9, n % 9 + 1, f"{long} {n}") for n in range(TIMING_EVENTS_MAX)], 10)
    labels = [lane.label for lane in layout]
    assert [lane.lane for lane in layout] == list(range(TIMING_EVENTS_MAX)) and len(set(labels)) == len(labels)
    assert labels[0] == "1. Rain on a tin roof with dis…"
    assert all(len(label.split(". ", 1)[1]) <= timeline.LABEL_MAX for label in labels)
    assert layout[0].prompt == f"{long} 0"  # the full prompt, for the tooltip
    heights = [timeline.lanes([event(0, 1)] * count, 10)["height"] for count in (1, 3, TIMING_EVENTS_MAX)]
    assert heights == sorted(set(heights))  # grows with the lanes
    assert len(timeline.lane_layout([event(0, 1)] * 50, 10)) == TIMING_EVENTS_MAX


def test_the_picture_draws_invalid_events_in_red_with_a_legend_and_as_svg():
    spec = timeline.lanes([event(0, 3), event(6, 4, "bell")], 10)
    rows = spec["data"]["values"]
    assert [row["status"] for row in rows] == [timeline.STATUS_LEGEND["ok"], timeline.STATUS_LEGEND["invalid"]]
    colour = spec["encoding"]["color"]["scale"]
    assert dict(zip(colour["domain"], colour["range"], strict=True))[rows[1]["status"]] == "#DC2626"
    assert timeline.STATUS_LEGEND["invalid"].startswith("red:")
    assert rows[1]["problem"] == "Event 2 ends before it starts (4 s ≤ 6 s)." and rows[1]["from"] == 6
    assert spec["usermeta"]["embedOptions"]["renderer"] == "svg"
    assert "clamp" not in spec["encoding"]["x"]["scale"]


# --- a time past the clip is reported, not clamped ------------------------------------------------------------

def test_a_time_past_the_clip_survives_the_table_and_is_reported_with_the_event_number():
    found = timeline.events(timeline.frame([event(0.0, 3.0), event(4.0, 12.5, "rain")]))
    assert found[1]["to"] == 12.5
    body = {"model": "audio1.0", "duration": 10, "timing_prompts": found}
    assert [p.message for p in validate_vidu_timing2audio(body)] == ["Event 2 ends after the clip (12.5 s > 10 s)."]
    edits = {"added_rows": [], "edited_rows": {0: {"to": 25.0}}, "deleted_rows": []}
    assert timeline.edits_problem(edits, rows=1) is None  # the browser's edit is taken as typed


# --- how many events will be sent -----------------------------------------------------------------------------

@pytest.mark.parametrize("sent, blank, note", [
    (0, [], "No events yet: add one below."),
    (1, [], "1 event will be sent."),
    (3, [4], "3 events will be sent. Row 4 is empty, so it is left out."),
    (2, [1, 3, 5], "2 events will be sent. Rows 1, 3 and 5 are empty, so they are left out."),
])
def test_the_count_note(sent, blank, note):
    assert timeline.count_note(sent, blank) == note


def test_blank_rows_are_the_ones_events_leaves_out():
    table = pd.DataFrame({"from": [0.0, None, 4.0, None], "to": [3.0, None, None, None],
                          "prompt": ["birds", "  ", "rain", None]})
    assert len(timeline.events(table)) == 2 and timeline.blank_rows(table) == [2, 4]


# --- the pages ------------------------------------------------------------------------------------------------


def undo_buttons(at: AppTest) -> list:
    return [b for b in at.button if b.label.startswith("Undo: bring back my")]


def test_the_timed_page_says_how_many_events_will_be_sent(demo):
    at = open_page("timed")
    at.session_state[EVENTS] = [event(0.0, 3.0), event(2.0, 5.0, "rain"), event(6.0, 9.0, "bell")]
    at.session_state[key(TIMED, "revision")] = 1
    at.run()
    assert "3 events will be sent." in [c.value for c in at.caption]


def test_an_event_added_past_the_clip_is_kept_and_reported(demo):
    at = open_page("timed")
    at.number_input(key="tim_new_from").set_value(8.0)
    at.number_input(key="tim_new_to").set_value(12.0)
    at.text_input(key="tim_new_prompt").input("A car horn")
    next(b for b in at.button if b.label == "Add event").click()
    at.run()
    assert at.session_state[EVENTS] == [event(8.0, 12.0, "A car horn")]
    assert plain("Event 1 ends after the clip (12 s > 10 s).") in [w.value for w in at.warning]


def test_an_example_over_typed_events_can_be_undone(demo):
    at = open_page("timed")
    mine = [event(1.0, 2.0, "my door"), event(4.0, 6.0, "my steps")]
    at.session_state[EVENTS] = mine
    at.session_state[key(TIMED, "revision")] = 1
    at.run()
    assert not undo_buttons(at)
    at.button(key=key(TIMED, "example_0")).click()
    at.run()
    example = endpoints.spec(TIMED).examples[0]
    assert at.session_state[EVENTS] == example["timing_prompts"]
    (undo,) = undo_buttons(at)
    assert undo.label == "Undo: bring back my events"
    undo.click()
    at.run()
    assert at.session_state[EVENTS] == mine and not undo_buttons(at)
    assert at.slider(key=key(TIMED, "duration")).value == 10.0


def test_a_prompt_typed_on_another_page_comes_back_too(demo):
    at = open_page("sound")
    at.text_area(key=key(SOUND, "prompt")).input("my own rain").run()
    at.button(key=key(SOUND, "example_1")).click()
    at.run()
    assert at.text_area(key=key(SOUND, "prompt")).value == "Birds chirping in the morning"
    (undo,) = undo_buttons(at)
    assert undo.label == "Undo: bring back my prompt"
    undo.click()
    at.run()
    assert at.text_area(key=key(SOUND, "prompt")).value == "my own rain"


def test_no_undo_when_nothing_was_typed_or_once_the_example_is_edited(demo):
    at = open_page("sound")
    at.button(key=key(SOUND, "example_0")).click()
    at.run()
    assert not undo_buttons(at)  # nothing typed: nothing to bring back
    at.text_area(key=key(SOUND, "prompt")).input("my own rain").run()
    at.button(key=key(SOUND, "example_1")).click()
    at.run()
    assert undo_buttons(at)
    at.text_area(key=key(SOUND, "prompt")).input("Birds chirping in the morning, and a dog").run()
    assert not undo_buttons(at)  # undoing now would throw the edit away
