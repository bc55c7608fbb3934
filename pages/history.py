"""History: every task of the signed-in person (or, with a team password only, of the team) as a sound library:
requests newest first with their takes, as a compact list or as cards, searched and filtered."""
import time

import streamlit as st

from lib.core.endpoints import SPECS
from lib.core.history import STATE_LABELS
from lib.core.tasks import IN_FLIGHT, Endpoint, Provider, State
from lib.ui import auth, library, tasks
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
    endpoints = columns[0].multiselect("Made on", list(Endpoint), format_func=lambda e: SPECS[e].label,
                                       key="hist_endpoints", persist_state="session", placeholder="e.g. Timed sound",
                                       help="The page each task was made on: what it makes.")
    vendors = columns[1].multiselect("Vendor", list(Provider), format_func=lambda p: p.value.capitalize(),
                                     key="hist_vendors", persist_state="session", placeholder="e.g. Vidu")
    states = columns[2].multiselect("Status", list(State), format_func=lambda s: STATE_LABELS[s][0],
                                    key="hist_states", persist_state="session", placeholder="e.g. Done")
    chosen = tuple(e for e in (endpoints or list(Endpoint)) if not vendors or e.provider in vendors)
    if not chosen:
        st.info("None of the pages chosen is made by the vendors chosen: widen one of the two filters.")
        return
    shown = library.filters()
    live = tasks.live_tasks(owner, chosen) if not states or set(states) & set(IN_FLIGHT) else set()
    finished = tuple(s for s in (states or list(State)) if s not in IN_FLIGHT)
    number = library.page_number()
    query = {"search": shown.search, "kept": shown.kept, "starred": shown.starred, "show_hidden": shown.show_hidden,
             "endpoints": chosen, "states": finished, "skip_groups": tuple(live), "limit": PAGE_SIZE}
    # Only this page's groups are read and drawn, however long the history.
    groups, total = store.library(owner, **query, offset=(number - 1) * PAGE_SIZE) if finished else ([], 0)
    if total == 0:
        if not store.count(owner):
            st.info("Nothing here yet. Generate something on one of the pages on the left.")
        elif finished and not live:
            st.info("No take matches this search and these filters.")
        return
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    if number > pages:  # the filters shrank the list under the page that was open: show its last page
        number = pages
        st.session_state[library.PAGE_KEY] = float(pages)
        groups, _ = store.library(owner, **query, offset=(number - 1) * PAGE_SIZE)
    if pages > 1:
        library.top_pager(pages)
    if shown.view == "List":
        library.actions(groups)
    library.draw(groups, shown.view)
    library.bottom_pager(number, pages, total)
