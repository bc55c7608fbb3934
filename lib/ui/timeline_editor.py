"""The timed-sound timeline editor: the events table, the "Add event" form, and the checks around them.

The browser's raw edits are checked before Streamlit applies them, and a loaded timeline past the limit gets no
editor at all (only a way out), so no per-event work is ever done on an unbounded list.
"""
from __future__ import annotations

import streamlit as st

from lib.core import timeline
from lib.core.forms import key
from lib.core.plain import plain
from lib.core.tasks import Endpoint
from lib.core.validation import TIMING_EVENTS_MAX, event_problems, too_many_events
from lib.ui import form

ENDPOINT = Endpoint.VIDU_TIMING2AUDIO
EVENTS = key(ENDPOINT, "timing_prompts")
REFUSED = "tim_refused"  # a message for this run about edits or an added event the studio did not take


def _editor_table() -> list[dict]:
    """The editable events table. Its starting frame stays fixed between reruns (edits are kept as deltas on
    top of it) and is rebuilt from the saved events only when the page is opened afresh or a form is loaded.

    The browser's raw edits are checked before Streamlit applies them; edits the studio cannot take are
    dropped by starting the table afresh from the last good events, with a message saying why.
    """
    revision = st.session_state[key(ENDPOINT, "revision")]
    editor = f"tim_editor_{revision}"
    base = st.session_state.get("tim_base", (None,))
    if base[0] == revision and editor in st.session_state:
        if refused := timeline.edits_problem(st.session_state[editor], len(base[1])):
            st.session_state[REFUSED] = refused
            st.session_state[key(ENDPOINT, "revision")] += 1
            return _editor_table()
    if editor not in st.session_state or base[0] != revision:
        st.session_state["tim_base"] = (revision, timeline.frame(st.session_state[EVENTS]))
    # No `required`, `max_chars`, `min_value` nor `max_value`: the editor would silently hold back a half-filled
    # row, cut a long prompt and clamp a time past the clip; the studio's own checks name all of them instead.
    edited = st.data_editor(
        st.session_state["tim_base"][1], key=editor, num_rows="dynamic", hide_index=True, width="stretch",
        on_change=form.forget_example_undo, args=(ENDPOINT,),
        column_config={
            "from": st.column_config.NumberColumn("From (s)", step=0.1, format="%.1f"),
            "to": st.column_config.NumberColumn("To (s)", step=0.1, format="%.1f"),
            "prompt": st.column_config.TextColumn("Sound", width="large"),
        })
    st.session_state[EVENTS] = timeline.events(edited)  # kept for page switches and "settings again"
    st.caption(timeline.count_note(len(st.session_state[EVENTS]), timeline.blank_rows(edited)))
    return st.session_state[EVENTS]


def _too_many(events: list[dict]) -> None:
    """A loaded timeline (an import, "settings again") longer than allowed: no editor, and a way out."""
    st.error(plain(too_many_events(len(events)).message), icon=":material/error:")
    st.button(f"Keep the first {TIMING_EVENTS_MAX} events", on_click=_keep_first, icon=":material/content_cut:")


def _keep_first() -> None:
    st.session_state[EVENTS] = st.session_state[EVENTS][:TIMING_EVENTS_MAX]
    st.session_state[key(ENDPOINT, "revision")] += 1


def _add_event() -> None:
    """Append the small form's event to the timeline and start the table afresh from the full list."""
    if len(st.session_state[EVENTS]) >= TIMING_EVENTS_MAX:
        st.session_state[REFUSED] = (f"A timeline has at most {TIMING_EVENTS_MAX} events; remove one before "
                                     "adding another.")
        return
    event = {field: st.session_state[f"tim_new_{field}"] for field in ("from", "to", "prompt")}
    st.session_state[EVENTS] = [*st.session_state[EVENTS], event]
    st.session_state[key(ENDPOINT, "revision")] += 1


def _add_event_form(duration: float) -> None:
    """No bounds on the times: a box would clamp a time past the clip without a word; the checks report it."""
    with st.form("tim_add", clear_on_submit=True, border=False):
        start, end, sound, add = st.columns([1, 1, 3, 1.5], vertical_alignment="bottom")
        start.number_input("From (s)", value=0.0, step=0.1, format="%.1f", key="tim_new_from")
        end.number_input("To (s)", value=min(3.0, duration), step=0.1, format="%.1f", key="tim_new_to")
        sound.text_input("Sound", key="tim_new_prompt", placeholder="A door creaks open")
        add.form_submit_button("Add event", on_click=_add_event, icon=":material/add:")


def editor(duration: float) -> list[dict]:
    """The table and the "Add event" form (or, past the limit, the way out); the events as they now stand."""
    events = st.session_state[EVENTS]
    if too_many_events(len(events)):
        _too_many(events)
    else:
        events = _editor_table()
        _add_event_form(duration)
    if refused := st.session_state.pop(REFUSED, None):
        st.error(plain(refused), icon=":material/block:")
    return events


def warnings(events: list[dict], duration: float) -> None:
    """Each event's problems, checked only on a list within the limit."""
    if too_many_events(len(events)):
        return
    for problem in (p for number, event in enumerate(events, start=1) for p in event_problems(number, event, duration)):
        st.warning(plain(problem.message), icon=":material/warning:")
