"""The timing-to-audio timeline: table rows to events, overlaps, the lane layout, and the lanes picture (a
Vega-Lite spec)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from lib.core.errors import InvalidRequest
from lib.core.validation import (
    TIMING_EVENTS_MAX,
    as_number,
    event_problems,
    too_many_events,
)

COLUMNS = ("from", "to", "prompt")
UNUSABLE_EDIT = "The table sent changes the studio cannot use, so they were undone. Edit the table again."


def frame(events: list[dict]) -> pd.DataFrame:
    """An editor table for `events`, with explicit types so an empty table still edits as numbers and text."""
    return pd.DataFrame({
        "from": pd.Series([as_number(e.get("from")) for e in events], dtype="float64"),
        "to": pd.Series([as_number(e.get("to")) for e in events], dtype="float64"),
        "prompt": pd.Series([str(e.get("prompt") or "") for e in events], dtype="object"),
    })


def events(table: pd.DataFrame) -> list[dict]:
    """Events from the edited table; rows left completely empty are dropped, half-filled ones kept for checking,
    and a cell that is not a usable number is kept as it is so the checks can name it.

    Raises InvalidRequest for more rows than a timeline may have, before reading any of them.
    """
    if problem := too_many_events(len(table)):
        raise InvalidRequest([problem])
    return [event for event in map(_row_event, table.to_dict("records")) if event is not None]


def blank_rows(table: pd.DataFrame) -> list[int]:
    """Row numbers (from 1) of the rows `events` leaves out because nothing was typed in them; none are looked
    at in a table longer than a timeline may be."""
    if too_many_events(len(table)):
        return []
    return [number for number, row in enumerate(table.to_dict("records"), start=1) if _row_event(row) is None]


def _row_event(row: dict) -> dict | None:
    """One table row as an event, or None for a row left completely empty."""
    start, end = (_seconds(row.get(c)) for c in ("from", "to"))
    prompt = "" if _blank(row.get("prompt")) else str(row["prompt"])
    if start is None and end is None and not prompt.strip():
        return None
    return {"from": start, "to": end, "prompt": prompt}


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _seconds(value):
    if _blank(value):
        return None
    number = as_number(value)
    return value if number is None else number


def edits_problem(edits, rows: int) -> str | None:
    """What is wrong with a data_editor's raw edits (as the browser sent them) on a table of `rows` rows.

    Checked before Streamlit applies them: it adds rows one by one (slow for thousands) and stops the whole
    script on a cell it cannot store. Only edits a real editor can make pass: at most a timeline's worth of
    rows, known columns, finite numbers of seconds, text prompts.
    """
    try:
        added, edited, deleted = edits["added_rows"], edits["edited_rows"], edits["deleted_rows"]
        count = rows + len(added) - len(set(deleted))
    except (KeyError, TypeError):
        return UNUSABLE_EDIT
    if problem := too_many_events(max(count, len(added))):
        return problem.message
    if not (isinstance(added, list) and isinstance(edited, Mapping) and isinstance(deleted, list)
            and len(edited) <= rows + len(added)):
        return UNUSABLE_EDIT
    positions = [*edited, *deleted]
    if not all(isinstance(p, int) and 0 <= p < rows + len(added) for p in positions):
        return UNUSABLE_EDIT
    cells = [cell for row in [*added, *edited.values()]
             for cell in (row.items() if isinstance(row, Mapping) else [None])]
    if not all(cell is not None and _usable_cell(*cell) for cell in cells):
        return UNUSABLE_EDIT
    return None


def _usable_cell(column, value) -> bool:
    if value is None:
        return column in COLUMNS
    if column == "prompt":
        return isinstance(value, str)
    return column in ("from", "to") and as_number(value) is not None and not isinstance(value, str)


def overlaps(events: list[dict]) -> set[int]:
    """Indexes of events that share time with another event (allowed, but worth seeing); pairwise, so only for
    a list within a timeline's limit."""
    if len(events) > TIMING_EVENTS_MAX:
        return set()
    spans = [(i, e["from"], e["to"]) for i, e in enumerate(events) if _finite(e.get("from")) and _finite(e.get("to"))]
    return {i for i, start, end in spans for j, s, t in spans if i != j and start < t and s < end}


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


LABEL_MAX = 28  # characters of a prompt in a lane's label; the full prompt is in the tooltip
LANE_PIXELS = 30  # height of one lane: labels one line apart at the chart's font size
LABEL_PIXELS = 190  # the labels' column at its widest, left of the lanes: room for LABEL_MAX characters
CHARACTER_PIXELS = 6  # a label character at the chart's font, with room to spare (the widest ones are ~5.5)
FRAMES_PIXELS = 72  # height of the strip of frames over the lanes (lib.media.video.frames_strip's default)
FRAMES_GAP = 6
STATUS_COLOURS = {"ok": "#4F46E5", "overlapping": "#F59E0B", "invalid": "#DC2626"}
STATUS_LEGEND = {"ok": "fits the clip", "overlapping": "overlaps another",
                 "invalid": "red: ends before it starts, or outside the clip"}


@dataclass(frozen=True)
class Lane:
    """How one event is drawn: its own lane (`lane` = its index), a short label, and a colour status.

    `start`/`end` are the event's own numbers (None when not a finite number); `draw` is the span to paint,
    clamped into the clip and widened to stay visible, or None when the event has no two numbers to place.
    """

    lane: int
    label: str
    prompt: str
    start: float | None
    end: float | None
    draw: tuple[float, float] | None
    status: str  # "ok" | "overlapping" | "invalid" (reversed, outside the clip, or a time missing)
    problems: tuple[str, ...]  # the timing problems in the words the page's warnings use


def lane_layout(events: list[dict], duration: float) -> list[Lane]:
    """One lane per event (at most a timeline's worth), for the editor's picture and the waveform's lanes.

    Only the drawing is clamped: an event past the clip stays as typed and is flagged "invalid" by the same
    timing rules the request is checked with.
    """
    shown = [e if isinstance(e, dict) else {} for e in events[:TIMING_EVENTS_MAX]]  # stored: read, not trusted
    shared = overlaps(shown)
    lanes = []
    for index, event in enumerate(shown):
        start, end = (_number(event.get(edge)) for edge in ("from", "to"))
        problems = tuple(p.message for p in event_problems(index + 1, event, duration)
                         if p.field.endswith((".from", ".to")))
        status = "invalid" if problems else "overlapping" if index in shared else "ok"
        prompt = str(event.get("prompt") or "").strip()
        short = prompt if len(prompt) <= LABEL_MAX else prompt[:LABEL_MAX - 1].rstrip() + "…"
        lanes.append(Lane(index, f"{index + 1}. {short or '(no prompt)'}", prompt, start, end,
                          _drawn(start, end, duration), status, problems))
    return lanes


def _number(value) -> float | None:
    return float(value) if _finite(value) else None


def _drawn(start: float | None, end: float | None, duration: float) -> tuple[float, float] | None:
    """The span to paint: in time order, inside 0…duration, and at least a sliver wide so it shows."""
    if start is None or end is None:
        return None
    duration = float(duration)
    sliver = duration / 60
    low, high = (min(max(edge, 0.0), duration) for edge in sorted((start, end)))
    if high - low < sliver:
        low = min(low, duration - sliver)
        high = low + sliver
    return low, high


def lanes(events: list[dict], duration: float, frames: str | None = None) -> dict:
    """A Vega-Lite spec of `lane_layout`: every lane labelled on a 0…duration axis, coloured by status, drawn
    as SVG so its text can be read back. With `frames` (the address of a video's strip of frames, frame k taken
    at (k + 0.5) · duration / count), the strip is drawn above the lanes, stretched over the same 0…duration
    axis, so each frame stands over the moment it shows."""
    layout = lane_layout(events, duration)
    height = LANE_PIXELS * max(len(layout), 1)
    labels = min(LABEL_PIXELS, 12 + CHARACTER_PIXELS * max((len(lane.label) for lane in layout), default=0))
    rows = [{"lane": lane.label, "prompt": lane.prompt or "(no prompt)", "from": lane.start, "to": lane.end,
             "draw_from": lane.draw[0], "draw_to": lane.draw[1], "status": STATUS_LEGEND[lane.status],
             "problem": " ".join(lane.problems) or "none"}
            for lane in layout if lane.draw]
    picture = {
        "mark": {"type": "bar", "cornerRadius": 4, "height": {"band": 0.7}},
        "encoding": {
            "y": {"field": "lane", "type": "nominal", "sort": None, "title": None,
                  "scale": {"domain": [lane.label for lane in layout]},  # lanes with nothing to draw too
                  "axis": {"labelAlign": "left", "labelPadding": labels, "labelLimit": labels - 8,
                           "labelOverlap": False, "ticks": False}},
            "x": {"field": "draw_from", "type": "quantitative", "title": "seconds",
                  "scale": {"domain": [0, duration]}},
            "x2": {"field": "draw_to"},
            "color": {"field": "status", "type": "nominal", "title": None,
                      # under the x axis, from the labels' left edge: as wide as the whole picture
                      "legend": {"orient": "none", "legendX": -labels, "legendY": height + 40,
                                 "direction": "vertical", "labelLimit": 0},
                      "scale": {"domain": list(STATUS_LEGEND.values()), "range": list(STATUS_COLOURS.values())}},
            "tooltip": [{"field": "prompt", "title": "sound"}, {"field": "from", "title": "from (s)"},
                        {"field": "to", "title": "to (s)"}, {"field": "problem"}],
        },
    }
    top = 5
    if frames:
        top += FRAMES_PIXELS + FRAMES_GAP
        strip = {"data": {"values": [{"frames": frames}]},
                 "mark": {"type": "image", "aspect": False, "align": "left", "baseline": "top"},
                 # above the lanes (negative pixels are above the plot), from 0 to the video's end on their axis
                 "encoding": {"url": {"field": "frames", "type": "nominal"},
                              "x": {"datum": 0, "type": "quantitative"}, "x2": {"datum": duration},
                              "y": {"value": -(FRAMES_PIXELS + FRAMES_GAP)}, "y2": {"value": -FRAMES_GAP}}}
        picture = {"layer": [strip, picture]}
    return {
        "usermeta": {"embedOptions": {"renderer": "svg"}},
        "autosize": {"type": "fit-x", "contains": "padding"},  # the height is the lanes'; axis and legend add to it
        "padding": {"top": top, "left": 5, "right": 5, "bottom": 80},  # room for the legend, which sizes nothing
        "data": {"values": rows},
        **picture,
        "height": height,
    }


def count_note(sent: int, blank: list[int]) -> str:
    """"3 events will be sent. Row 4 is empty, so it is left out." for the page under the table."""
    note = "No events yet: add one below." if not sent else (
        f"{sent} event{'s' if sent != 1 else ''} will be sent.")
    if blank:
        rows = ", ".join(str(n) for n in blank[:-1]) + (" and " if len(blank) > 1 else "") + str(blank[-1])
        note += (f" Row {rows} is empty, so it is left out." if len(blank) == 1
                 else f" Rows {rows} are empty, so they are left out.")
    return note
