"""The timing-to-audio timeline: table rows to events, overlaps, and the lanes picture (a Vega-Lite spec)."""
from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from lib.core.errors import InvalidRequest
from lib.core.validation import TIMING_EVENTS_MAX, as_number, too_many_events

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
    result = []
    for row in table.to_dict("records"):
        start, end = (_seconds(row.get(c)) for c in ("from", "to"))
        prompt = "" if _blank(row.get("prompt")) else str(row["prompt"])
        if start is None and end is None and not prompt.strip():
            continue
        result.append({"from": start, "to": end, "prompt": prompt})
    return result


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


def lanes(events: list[dict], duration: float) -> dict:
    """A Vega-Lite spec: one lane per event on a 0…duration axis, overlapping events highlighted."""
    shared = overlaps(events)
    rows = [{"lane": f"{i + 1}. {e['prompt'][:40] or '(no prompt)'}", "from": e["from"], "to": e["to"],
             "overlap": "overlaps another" if i in shared else "alone"}
            for i, e in enumerate(events[:TIMING_EVENTS_MAX]) if _finite(e["from"]) and _finite(e["to"])]
    return {
        "data": {"values": rows},
        "mark": {"type": "bar", "cornerRadius": 4, "height": {"band": 0.7}},
        "encoding": {
            "y": {"field": "lane", "type": "nominal", "sort": None, "title": None},
            "x": {"field": "from", "type": "quantitative", "title": "seconds",
                  "scale": {"domain": [0, duration], "clamp": True}},
            "x2": {"field": "to"},
            "color": {"field": "overlap", "type": "nominal", "title": None, "legend": {"orient": "bottom"},
                      "scale": {"domain": ["alone", "overlaps another"], "range": ["#4F46E5", "#F59E0B"]}},
            "tooltip": [{"field": "lane"}, {"field": "from"}, {"field": "to"}],
        },
        "height": 60 + 36 * len(rows),
    }
