"""Who is using the studio.

In this order: OpenID Connect (`st.login`) when secrets have an `[auth]` section; otherwise a team password
(`STUDIO_PASSWORD` or `app_password`) plus a display name; otherwise one local user, for a laptop.
"""
from __future__ import annotations

import hmac

import streamlit as st

from lib.ui.runtime import services

LOCAL_USER = "local"
SESSION_USER = "studio_user"


def _oidc_configured() -> bool:
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets


def owner() -> str | None:
    """The signed-in person's history owner name, or None when nobody is signed in yet."""
    if _oidc_configured():
        return (st.user.get("email") or st.user.get("sub")) if st.user.get("is_logged_in") else None
    if services().settings.password:
        return st.session_state.get(SESSION_USER)
    return LOCAL_USER


def display_name() -> str:
    return (st.user.get("name") if _oidc_configured() else None) or owner() or ""


def login_page() -> None:
    st.title("Cue Studio")
    if _oidc_configured():
        st.button("Sign in", type="primary", on_click=st.login, icon=":material/login:")
        return
    with st.form("login"):
        name = st.text_input("Your name", max_chars=60, help="Your history is kept under this name.")
        password = st.text_input("Team password", type="password")
        if st.form_submit_button("Sign in", type="primary"):
            expected = services().settings.password or ""
            if not hmac.compare_digest(password.encode(), expected.encode()):
                st.error("That password is not right.")
            elif not name.strip():
                st.error("Please enter your name.")
            else:
                st.session_state[SESSION_USER] = name.strip()
                st.rerun()


def logout() -> None:
    if _oidc_configured():
        st.logout()
    st.session_state.pop(SESSION_USER, None)
