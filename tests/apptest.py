"""The studio's pages in AppTest, each opened as a new browser session (or a refresh) opens it."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

# The studio's router without a `pages/` folder beside it, so History and Settings run as the server runs them
# (why: bench/app.py's docstring).
APP = str(Path(__file__).resolve().parents[1] / "bench" / "app.py")


def open_page(name: str | None = None, user: str | None = None, state: dict | None = None) -> AppTest:
    """A new session on page `name` (the first page when None), signed in as `user` (team or users mode), with
    `state` in its session before the first run, as another page leaves it."""
    at = AppTest.from_file(APP, default_timeout=30)
    if user:
        at.session_state["studio_user"] = user
    for key, value in (state or {}).items():
        at.session_state[key] = value
    if name:
        at.session_state["open_page"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return at.run()
