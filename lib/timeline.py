"""The timing-to-audio timeline: table rows to events, overlaps, and the lanes picture (a Vega-Lite spec)."""
from __future__ import annotations

import math

import pandas as pd

from lib.validation import as_number

COLUMNS = ("from", "to", "prompt")


def frame(events: list[dict]) -> pd.DataFrame:
    """An editor table for `events`, with explicit types so an empty table still edits as numbers and text."""
    return pd.DataFrame({
        "from": pd.Series([as_number(e.get("from")) for e in events], dtype="float64"),
        "to": pd.Series([as_number(e.get("to")) for e in events], dtype="float64"),
        "prompt": pd.Series([str(e.get("prompt") or "") for e in events], dtype="object"),
    })


def events(table: pd.DataFrame) -> list[dict]:
    """Events from the edited table; rows left completely empty are dropped, half-filled ones kept for checking."""
    result = []
    for row in table.to_dict("records"):
        start, end = (None if _blank(row.get(c)) else float(row[c]) for c in ("from", "to"))
        prompt = "" if _blank(row.get("prompt")) else str(row["prompt"])
        if start is None and end is None and not prompt.strip():
            continue
        result.append({"from": start, "to": end, "prompt": prompt})
    return result


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def overlaps(events: list[dict]) -> set[int]:
    """Indexes of events that share time with another event (allowed, but worth seeing)."""
    spans = [(i, e["from"], e["to"]) for i, e in enumerate(events)
             if isinstance(e.get("from"), (int, float)) and isinstance(e.get("to"), (int, float))]
    return {i for i, start, end in spans for j, s, t in spans if i != j and start < t and s < end}


def lanes(events: list[dict], duration: float) -> dict:
    """A Vega-Lite spec: one lane per event on a 0…duration axis, overlapping events highlighted."""
    shared = overlaps(events)
    rows = [{"lane": f"{i + 1}. {e['prompt'][:40] or '(no prompt)'}", "from": e["from"], "to": e["to"],
             "overlap": "overlaps another" if i in shared else "alone"}
            for i, e in enumerate(events) if e["from"] is not None and e["to"] is not None]
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
