"""History: every task of the signed-in person (or, with a team password only, of the team), newest first,
with playback and filters."""
import time

import streamlit as st

from lib.core.endpoints import SPECS
from lib.core.history import STATE_LABELS
from lib.core.tasks import Endpoint, Provider, State
from lib.ui import auth, tasks
from lib.ui.runtime import services

PAGE_SIZE = 10


def _linked_task(owner: str | None, task_id: str) -> None:
    """A task's own link (`?task=<id>`): that one task, for its owner only (anyone, in the team library)."""
    task = services().store.get(task_id, owner)
    if task is None:
        st.warning("None of your tasks has this link. It may belong to someone else or have been mistyped."
                   if owner is not None else "No task has this link. It may have been mistyped.")
    else:
        tasks.card(task, time.time())
    st.button("Show all my tasks" if owner is not None else "Show all tasks", on_click=st.query_params.clear,
              icon=":material/list:")


def page() -> None:
    st.title("History")
    owner = auth.scope()  # None: the whole team library
    if owner is None:
        st.caption(auth.TEAM_LIBRARY)
    store = services().store
    if task_id := st.query_params.get("task"):
        _linked_task(owner, task_id)
        return
    columns = st.columns(3)
    endpoints = columns[0].multiselect("Endpoint", list(Endpoint), format_func=lambda e: SPECS[e].label,
                                       key="hist_endpoints", persist_state="session")
    vendors = columns[1].multiselect("Vendor", list(Provider), format_func=lambda p: p.value.capitalize(),
                                     key="hist_vendors", persist_state="session")
    states = columns[2].multiselect("State", list(State), format_func=lambda s: STATE_LABELS[s][0],
                                    key="hist_states", persist_state="session")
    chosen = tuple(e for e in (endpoints or list(Endpoint)) if not vendors or e.provider in vendors)
    if not chosen:
        st.info("No endpoint matches these filters.")
        return
    in_flight = (State.SUBMITTED, State.QUEUED, State.RUNNING)
    if not states or set(states) & set(in_flight):
        tasks.live_tasks(owner, chosen)
    finished = tuple(s for s in (states or list(State)) if s not in in_flight)
    number = max(1, int(st.session_state.get("hist_page", 1)))  # the page widget comes later, once the count is known
    found, total = store.find_counted(owner, endpoints=chosen, states=finished, limit=PAGE_SIZE,
                                      offset=(number - 1) * PAGE_SIZE) if finished else ([], 0)
    if total == 0:
        if not store.count(owner):
            st.info("Nothing here yet. Generate something on one of the pages on the left.")
        return
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    if number > pages:  # the filters shrank the list under the page that was open: show its last page
        number = st.session_state["hist_page"] = pages
        found = store.find(owner, endpoints=chosen, states=finished, limit=PAGE_SIZE,
                           offset=(number - 1) * PAGE_SIZE)
    if pages > 1:
        # A float box: Streamlit's whole-number box turns a forged NaN into an error in every later run.
        st.number_input(f"Page (of {pages})", 1.0, float(pages), step=1.0, format="%.0f", key="hist_page")
    now = time.time()
    for task in found:  # only this page's tasks are read and drawn, however long the history
        tasks.card(task, now)
    st.caption(f"{total} finished task{'s' * (total != 1)}")
