"""History as a sound library: its search and filters, the list or cards of groups of takes, what can be done
with the takes chosen in the list (download as one ZIP, hide with undo, delete after a confirmation), and the
pager shown above and below."""
from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from lib.core.errors import StudioError
from lib.core.plain import plain
from lib.core.tasks import State, Task
from lib.store.base import MAX_SEARCH_CHARS
from lib.ui import auth, links, tasks
from lib.ui.runtime import services

VIEWS = ("List", "Cards")
PAGE_KEY = "hist_page"
ZIP_NAME = "cue-studio-takes.zip"
MAX_CHOSEN = 1000  # far more than a page shows: a bound on what the browser may send


@dataclass(frozen=True)
class Filters:
    search: str
    kept: bool
    starred: bool
    show_hidden: bool
    view: str


def filters() -> Filters:
    """The library's own filters, remembered for the session: search by prompt, kept / starred, hidden."""
    search, kept, starred, hidden, view = st.columns((4, 1, 1, 1.3, 1.6), vertical_alignment="bottom")
    return Filters(
        search.text_input("Search by prompt", max_chars=MAX_SEARCH_CHARS, key="hist_search", persist_state="session",
                          placeholder="e.g. rain on a tin roof"),
        kept.checkbox("Kept", key="hist_kept", persist_state="session"),
        starred.checkbox("Starred", key="hist_starred", persist_state="session"),
        hidden.checkbox("Show hidden", key="hist_hidden", persist_state="session"),
        view.segmented_control("View", VIEWS, default="Cards", required=True, key="hist_view",
                               persist_state="session") or "Cards")


def page_number() -> int:
    """The page asked for; the widgets come later, once the count is known. A forged value reads as page 1."""
    try:
        return max(1, int(st.session_state.get(PAGE_KEY, 1)))
    except (TypeError, ValueError, OverflowError):
        return 1


def top_pager(pages: int) -> None:
    # A float box: Streamlit's whole-number box turns a forged NaN into an error in every later run.
    st.number_input(f"Page (of {pages})", 1.0, float(pages), step=1.0, format="%.0f", key=PAGE_KEY)


def _turn(number: int) -> None:
    st.session_state[PAGE_KEY] = float(number)


def bottom_pager(number: int, pages: int, total: int) -> None:
    """The same pager at the bottom, where a person who has scrolled through the page is."""
    with st.container(horizontal=True, vertical_alignment="center", key="hist_pager_bottom"):
        if pages > 1:
            st.button("Previous page", on_click=_turn, args=(number - 1,), disabled=number <= 1,
                      icon=":material/chevron_left:")
            st.caption(f"Page {number} of {pages}")
            st.button("Next page", on_click=_turn, args=(number + 1,), disabled=number >= pages,
                      icon=":material/chevron_right:", icon_position="right")
        st.caption(f"{total} request{'s' * (total != 1)}")


def draw(groups: list[list[Task]], view: str) -> None:
    if view == "List":
        tasks.library_rows(groups, [task.id for task in chosen(groups)], _keep_chosen, _star_toggle(groups))
        return
    now = time.time()
    for takes in groups:
        tasks.group_card(takes, now)


# ---- the takes chosen in the list ----

def _choosable(groups: list[list[Task]]) -> dict[str, Task]:
    return {task.id: task for takes in groups for task in takes if task.state is State.SUCCEEDED}


def chosen(groups: list[list[Task]]) -> list[Task]:
    """The takes ticked in the list component, in the page's order: what the browser sent is only believed for
    this page's finished takes (anything else is left out), so there are at most as many as the page shows."""
    sent = (st.session_state.get(tasks.LIST_KEY) or {}).get("chosen")
    if not isinstance(sent, list):
        return []
    wanted = {studio_id for studio_id in sent[:MAX_CHOSEN] if isinstance(studio_id, str)}
    return [task for studio_id, task in _choosable(groups).items() if studio_id in wanted]


def _keep_chosen() -> None:
    """The component's "chosen" state changed: nothing to do now, it is read (and checked) by `chosen`."""


def _star_toggle(groups: list[list[Task]]):
    """The callback of a row's star: flips the star of the take named, if it is one of this page's."""
    page = _choosable(groups)

    def toggle() -> None:
        named = (st.session_state.get(tasks.LIST_KEY) or {}).get("star")
        if isinstance(named, str) and (task := page.get(named)) is not None:
            services().store.choose(task.id, auth.scope(), starred=not task.starred)
    return toggle


def _unpick(ids) -> None:
    state, gone = st.session_state.get(tasks.LIST_KEY), set(ids)
    if isinstance(state, dict) and isinstance(state.get("chosen"), list):
        state["chosen"] = [studio_id for studio_id in state["chosen"] if isinstance(studio_id, str)
                           and studio_id not in gone]


def _hide(ids: list[str], hidden: bool) -> None:
    for studio_id in ids:
        services().store.choose(studio_id, auth.scope(), hidden=hidden)
    _unpick(ids)
    st.session_state["hist_undo"] = ids if hidden else None


def _star(ids: list[str], starred: bool) -> None:
    for studio_id in ids:
        services().store.choose(studio_id, auth.scope(), starred=starred)


def _ask_delete(ids: list[str]) -> None:
    st.session_state["hist_delete"] = ids


def _delete(ids: list[str]) -> None:
    """Delete the takes and their archived files: only the person's own, in a team library too (hiding is
    for everyone's; deleting cannot be undone)."""
    current, kept = services(), 0
    for studio_id in ids:
        if gone := current.store.delete(studio_id, auth.owner()):
            current.archive.remove(gone)
        else:
            kept += 1
    _unpick(ids)
    st.session_state["hist_delete"] = None
    st.session_state["hist_not_deleted"] = kept


def _zip(picked: list[Task]) -> None:
    current, owner = services(), auth.owner()
    try:
        name = current.exports.write_takes(current.archive, owner, picked)
    except StudioError as error:
        st.session_state["hist_zip"] = None
        st.session_state["hist_zip_problem"] = str(error)
        return
    st.session_state["hist_zip"] = links.export_link(name, owner, ZIP_NAME)
    st.session_state["hist_zip_problem"] = None


def actions(groups: list[list[Task]]) -> None:
    """What can be done with the chosen takes, and the undo or confirmation the last action asks for."""
    picked = chosen(groups)
    ids = [task.id for task in picked]
    with st.container(horizontal=True, vertical_alignment="center", key="hist_actions"):
        st.caption(f"{len(picked)} chosen" if picked else
                   "Choose takes with the boxes to download, star, hide or delete them.")
        st.button("Download as ZIP", on_click=_zip, args=(picked,), disabled=not picked, icon=":material/archive:")
        st.button("Star", on_click=_star, args=(ids, True), disabled=not picked, icon=":material/star:")
        st.button("Unstar", on_click=_star, args=(ids, False), disabled=not picked, icon=":material/star_outline:")
        st.button("Hide", on_click=_hide, args=(ids, True), disabled=not picked, icon=":material/visibility_off:")
        st.button("Delete…", on_click=_ask_delete, args=(ids,), disabled=not picked, icon=":material/delete:")
    if problem := st.session_state.get("hist_zip_problem"):
        st.error(plain(problem))
    if link := st.session_state.get("hist_zip"):
        st.link_button("Download the chosen takes", link, icon=":material/download:")
    if undo := st.session_state.get("hist_undo"):
        with st.container(horizontal=True, vertical_alignment="center"):
            st.caption(f"{len(undo)} take{'s' * (len(undo) != 1)} hidden.")
            st.button("Undo", on_click=_hide, args=(undo, False), icon=":material/undo:")
    if kept := st.session_state.pop("hist_not_deleted", 0):
        st.info(f"{kept} of the chosen takes {'was' if kept == 1 else 'were'} not deleted: only the person who "
                "made a take can delete it.")
    if doomed := st.session_state.get("hist_delete"):
        st.warning(f"Delete {len(doomed)} take{'s' * (len(doomed) != 1)} and {'their' if len(doomed) > 1 else 'its'}"
                   " files for good? This cannot be undone.")
        with st.container(horizontal=True):
            st.button("Delete for good", on_click=_delete, args=(doomed,), type="primary", icon=":material/delete:")
            st.button("Keep them", on_click=st.session_state.__setitem__, args=("hist_delete", None))
