"""The studio's web server: Streamlit's ASGI app plus what runs once per process at start-up."""
from __future__ import annotations

from contextlib import asynccontextmanager

from streamlit.runtime.pages_manager import PagesManager

from lib.ui.runtime import services


@asynccontextmanager
async def lifespan(app):
    # Our `pages/` folder holds functions for st.navigation, not legacy page scripts; without this a fresh
    # server treats the first request for a page URL the legacy way and shows "Page not found".
    PagesManager.uses_pages_directory = False
    # Start the poller (and, in demo mode, the simulator) now, so tasks still in flight before a restart are
    # followed again even before anyone opens the studio.
    services()
    yield
