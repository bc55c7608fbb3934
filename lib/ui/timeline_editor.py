"""The timeline editor of Timed sound and of the Score page: the events table, the "Add event" form, and the
checks around them. Each page keeps its own events under its own keys (`Keys`).

The browser's raw edits are checked before Streamlit applies them, and a loaded timeline past the limit gets no
editor at all (only a way out), so no per-event work is ever done on an unbounded list.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lib.core import timeline
from lib.core.forms import key
from lib.core.plain import plain
from lib.core.tasks import Endpoint
from lib.core.validation import TIMING_EVENTS_MAX, event_problems, too_many_events
from lib.ui import form


@dataclass(frozen=True)
class Keys:
    """Where one page's timeline lives in the session: its widgets' prefix, its events and the revision of its
    table, and the endpoint whose loaded example an edit makes stale (None: the page has no examples)."""

    prefix: str
    events: str
    revision: str
    examples: Endpoint | None = None

    def __getitem__(self, name: str) -> str:
        """A key of the editor's own: `keys["base"]` is "tim_base" on Timed sound."""
        return f"{self.prefix}_{name}"


ENDPOINT = Endpoint.VIDU_TIMING2AUDIO
TIMED = Keys("tim", key(ENDPOINT, "timing_prompts"), key(ENDPOINT, "revision"), ENDPOINT)


def init(keys: Keys) -> None:
    """An empty timeline for a page that has no form defaults of its own (Timed sound's come from lib.ui.form)."""
    st.session_state.setdefault(keys.events, [])
    st.session_state.setdefault(keys.revision, 0)


def _edited(keys: Keys) -> None:
    if keys.examples is not None:
        form.forget_example_undo(keys.examples)


def _editor_table(keys: Keys) -> list[dict]:
    """The editable events table. Its starting frame stays fixed between reruns (edits are kept as deltas on
    top of it) and is rebuilt from the saved events only when the page is opened afresh or a form is loaded.

    The browser's raw edits are checked before Streamlit applies them; edits the studio cannot take are
    dropped by starting the table afresh from the last good events, with a message saying why.
    """
    revision = st.session_state[keys.revision]
    editor = keys[f"editor_{revision}"]
    base = st.session_state.get(keys["base"], (None,))
    if base[0] == revision and editor in st.session_state:
        if refused := timeline.edits_problem(st.session_state[editor], len(base[1])):
            st.session_state[keys["refused"]] = refused
            st.session_state[keys.revision] += 1
            return _editor_table(keys)
    if editor not in st.session_state or base[0] != revision:
        st.session_state[keys["base"]] = (revision, timeline.frame(st.session_state[keys.events]))
    # No `required`, `max_chars`, `min_value` nor `max_value`: the editor would silently hold back a half-filled
    # row, cut a long prompt and clamp a time past the clip; the studio's own checks name all of them instead.
    edited = st.data_editor(
        st.session_state[keys["base"]][1], key=editor, num_rows="dynamic", hide_index=True, width="stretch",
        on_change=_edited, args=(keys,),
        column_config={
            "from": st.column_config.NumberColumn("From (s)", step=0.1, format="%.1f"),
            "to": st.column_config.NumberColumn("To (s)", step=0.1, format="%.1f"),
            "prompt": st.column_config.TextColumn("Sound", width="large"),
        })
    st.session_state[keys.events] = timeline.events(edited)  # kept for page switches and "settings again"
    st.caption(timeline.count_note(len(st.session_state[keys.events]), timeline.blank_rows(edited)))
    return st.session_state[keys.events]


def _too_many(events: list[dict], keys: Keys) -> None:
    """A loaded timeline (an import, "settings again") longer than allowed: no editor, and a way out."""
    st.error(plain(too_many_events(len(events)).message), icon=":material/error:")
    st.button(f"Keep the first {TIMING_EVENTS_MAX} events", on_click=_keep_first, args=(keys,),
              icon=":material/content_cut:")


def _keep_first(keys: Keys) -> None:
    st.session_state[keys.events] = st.session_state[keys.events][:TIMING_EVENTS_MAX]
    st.session_state[keys.revision] += 1


def _add_event(keys: Keys) -> None:
    """Append the small form's event to the timeline and start the table afresh from the full list."""
    if len(st.session_state[keys.events]) >= TIMING_EVENTS_MAX:
        st.session_state[keys["refused"]] = (f"A timeline has at most {TIMING_EVENTS_MAX} events; remove one "
                                             "before adding another.")
        return
    event = {field: st.session_state[keys[f"new_{field}"]] for field in ("from", "to", "prompt")}
    st.session_state[keys.events] = [*st.session_state[keys.events], event]
    st.session_state[keys.revision] += 1


def _add_event_form(duration: float, keys: Keys) -> None:
    """No bounds on the times: a box would clamp a time past the clip without a word; the checks report it."""
    with st.form(keys["add"], clear_on_submit=True, border=False):
        start, end, sound, add = st.columns([1, 1, 3, 1.5], vertical_alignment="bottom")
        start.number_input("From (s)", value=0.0, step=0.1, format="%.1f", key=keys["new_from"])
        end.number_input("To (s)", value=min(3.0, duration), step=0.1, format="%.1f", key=keys["new_to"])
        sound.text_input("Sound", key=keys["new_prompt"], placeholder="e.g. a door creaks open")
        add.form_submit_button("Add event", on_click=_add_event, args=(keys,), icon=":material/add:")


def editor(duration: float, keys: Keys = TIMED) -> list[dict]:
    """The table and the "Add event" form (or, past the limit, the way out); the events as they now stand."""
    events = st.session_state[keys.events]
    if too_many_events(len(events)):
        _too_many(events, keys)
    else:
        events = _editor_table(keys)
        _add_event_form(duration, keys)
    if refused := st.session_state.pop(keys["refused"], None):
        st.error(plain(refused), icon=":material/block:")
    return events


def warnings(events: list[dict], duration: float) -> None:
    """Each event's problems, checked only on a list within the limit."""
    if too_many_events(len(events)):
        return
    for problem in (p for number, event in enumerate(events, start=1) for p in event_problems(number, event, duration)):
        st.warning(plain(problem.message), icon=":material/warning:")
