"""Who is using the studio. The first that is configured decides the mode:

- "oidc": OpenID Connect (`st.login`), when secrets have an `[auth]` section; the owner is the e-mail address.
- "users": personal accounts, the `[users]` table of secrets (name = argon2 hash); the owner is the account's
  normalised name, so look-alike spellings of a name are one account.
- "team": a team password only (`STUDIO_PASSWORD`). Nobody can be told apart, so the studio is honestly one
  team library that everyone signed in sees; the typed name only labels the tasks one makes, and own vendor
  keys are not offered (there is no account to bind them to).
- "local": nothing configured: one local user, for a laptop.

Password sign-ins are throttled per client and per account (`lib.service.accounts.Throttle`).
"""
from __future__ import annotations

import hmac
import logging
import threading

import streamlit as st

from lib.service import accounts
from lib.ui.runtime import services

LOCAL_USER = "local"
SESSION_USER = "studio_user"  # the owner key (users mode) or the typed label (team mode)
SESSION_NAME = "studio_user_name"  # the name as shown
TEAM_LIBRARY = "Team library: everyone with the team password sees these tasks."
TEAM_ACCOUNT = "the team password"  # what is being guessed in team mode, for the throttle and the log
log = logging.getLogger(__name__)


def _oidc_configured() -> bool:
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets


def mode() -> str:
    if _oidc_configured():
        return "oidc"
    settings = services().settings
    return "users" if settings.users else "team" if settings.password else "local"


def owner() -> str | None:
    """The owner recorded on the tasks this person makes, or None when nobody is signed in yet."""
    current = mode()
    if current == "oidc":
        if not st.user.get("is_logged_in"):
            return None
        email = st.user.get("email")
        return accounts.normalise(email) if email else st.user.get("sub")
    if current == "local":
        return LOCAL_USER
    return st.session_state.get(SESSION_USER)


def team_library() -> bool:
    """Whether everyone signed in shares one library (team password only)."""
    return mode() == "team"


def scope() -> str | None:
    """Whose tasks lists and links show: this person's, or everyone's (None) in the team library."""
    return None if team_library() else owner()


def key_owner() -> str | None:
    """The account this person's own vendor keys are bound to; None where there are no accounts."""
    return None if team_library() else owner()


def display_name() -> str:
    if mode() == "oidc":
        return st.user.get("name") or owner() or ""
    return st.session_state.get(SESSION_NAME) or owner() or ""


@st.cache_resource(show_spinner=False)
def _guard() -> tuple[accounts.Throttle, threading.Lock]:
    """One throttle for the whole server process: every session's attempts count together."""
    return accounts.Throttle(), threading.Lock()


def _client() -> str:
    """Who is knocking: the connection's address; through a proxy on this machine, the address it forwarded."""
    if address := st.context.ip_address:
        return address
    headers = st.context.headers
    # The last X-Forwarded-For entry is the one the proxy added itself; earlier ones come from the client.
    forwarded = (headers.get("X-Forwarded-For") or "").split(",")[-1].strip() or headers.get("X-Real-Ip")
    return forwarded or "localhost"


def _sign_in(name: str, password: str) -> str | None:
    """Check one attempt; None when it signed the person in, else what to tell them."""
    users = services().settings.users
    account = accounts.normalise(name)[:60] if users else TEAM_ACCOUNT
    keys = (("client", _client()), ("account", account))
    throttle, lock = _guard()
    with lock:  # counted before the check, so attempts racing each other cannot slip past the count
        wait = throttle.wait(keys)
        run = throttle.fail(keys)
        if wait > 0:  # refused unchecked; counting it may just have brought on the lockout
            wait = throttle.wait(keys)
    if wait > 0:
        log.warning("sign-in refused for account %r from client %s: too many attempts (%s in a row)",
                    account, keys[0][1], accounts.ordinal(run))
        return accounts.wait_message(wait)
    if users:
        known = users.get(account)
        right = accounts.verify(known.password_hash if known else None, password)
    else:
        known, right = None, hmac.compare_digest(password.encode(), (services().settings.password or "").encode())
    if not right:
        log.warning("sign-in failed for account %r from client %s, %s in a row", account, keys[0][1],
                    accounts.ordinal(run))
        with lock:
            throttle.settle(keys)
            wait = throttle.wait(keys)
        wrong = "That name or password is not right." if users else "That password is not right."
        return f"{wrong} {accounts.wait_message(wait)}" if wait > 0 else wrong
    with lock:
        throttle.succeed(keys)
    st.session_state[SESSION_USER] = known.key if known else accounts.clean(name)
    st.session_state[SESSION_NAME] = known.name if known else accounts.clean(name)
    return None


def login_page() -> None:
    """The sign-in form. Its URL is the page that was asked for (see `streamlit_app.py`), so after signing in
    that page opens, with its query (a task link) intact."""
    st.title("Cue Studio")
    if mode() == "oidc":
        st.button("Sign in", type="primary", on_click=st.login, icon=":material/login:")
        return
    users = mode() == "users"
    with st.form("login"):
        name = st.text_input("Your name", max_chars=60,
                             help="Your account's name." if users else "Shown on the tasks you make. " + TEAM_LIBRARY)
        password = st.text_input("Password" if users else "Team password", type="password")
        if st.form_submit_button("Sign in", type="primary"):
            if not accounts.clean(name):
                st.error("Please enter your name.")
            elif problem := _sign_in(name, password):
                st.error(problem)
            else:
                st.rerun()


def logout() -> None:
    if _oidc_configured():
        st.logout()
    st.session_state.pop(SESSION_USER, None)
    st.session_state.pop(SESSION_NAME, None)
