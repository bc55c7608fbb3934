"""What surrounds every page: the demo banner, and in the sidebar how many of my tasks are running, the signed-in
person and whose tasks show."""
from __future__ import annotations

import streamlit as st

from lib.core.plain import plain
from lib.ui import auth
from lib.ui.runtime import services

DEMO_BANNER = "Demo mode: simulated vendors, no credits spent"
# The running badge rereads one indexed count this often, in a fragment of its own: it follows tasks sent from
# any page without rerunning the page.
BADGE_REFRESH_SECONDS = 2.0
# Streamlit draws placeholders at 70 % of the text's colour, close enough to pass for text already typed: lighter
# and slanted, they read as the hints they are (each also starts with "e.g.").
PLACEHOLDER_STYLE = "<style>input::placeholder, textarea::placeholder { opacity: 0.6; font-style: italic; }</style>"


@st.fragment(run_every=BADGE_REFRESH_SECONDS)
def running_badge(owner: str) -> None:
    running = services().store.running_count(owner)
    with st.container(key="running_badge"):
        st.markdown(f":orange-badge[:material/hourglass_top: {running} running]" if running
                    else ":gray-badge[Nothing running]")


def frame() -> None:
    st.html(PLACEHOLDER_STYLE)  # style only: Streamlit puts it in the event container, taking no room on the page
    vendors = services().vendors
    simulated = [name for name, live in (("Vidu", vendors.vidu_live), ("Kling", vendors.kling_live)) if not live]
    if len(simulated) == 2:
        st.info(DEMO_BANNER, icon=":material/science:")
    elif simulated:
        st.info(f"{simulated[0]} is simulated (demo mode, no credits spent); the other vendor is live.",
                icon=":material/science:")
    with st.sidebar:
        running_badge(auth.owner())  # the person's own tasks, in a team library too
        if auth.mode() != "local":
            st.caption(f"Signed in as {plain(auth.display_name())}")
            if auth.team_library():
                st.caption(auth.TEAM_LIBRARY)
            st.button("Sign out", on_click=auth.logout, type="tertiary", icon=":material/logout:")
            auth.keep_signed_in()
