"""Who is using the studio. The first that is configured decides the mode:

- "oidc": OpenID Connect (`st.login`), when secrets have an `[auth]` section; the owner is the e-mail address.
- "users": personal accounts, the `[users]` table of secrets (name = argon2 hash); the owner is the account's
  normalised name, so look-alike spellings of a name are one account.
- "team": a team password only (`STUDIO_PASSWORD`). Nobody can be told apart, so the studio is honestly one
  team library that everyone signed in sees; the typed name only labels the tasks one makes, and own vendor
  keys are not offered (there is no account to bind them to).
- "local": nothing configured: one local user, for a laptop.

Password sign-ins are throttled per client and per account (`lib.service.accounts.Throttle`). A password
sign-in is also kept in a cookie the studio signs itself (`lib.service.sessions`), so a reload, a restart or
another replica after a failover finds the person still signed in; signing out ends it.
"""
from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from pathlib import Path

import streamlit as st

from lib.media.links import server_secret
from lib.service import accounts, sessions
from lib.ui.runtime import services

LOCAL_USER = "local"
SESSION_USER = "studio_user"  # the owner key (users mode) or the typed label (team mode)
SESSION_NAME = "studio_user_name"  # the name as shown
TEAM_LIBRARY = "Team library: everyone with the team password sees these tasks."
TEAM_ACCOUNT = "the team password"  # what is being guessed in team mode, for the throttle and the log
SESSION_TICKET = "studio_session_ticket"  # (ticket, its expiry) until the browser has swapped it for the cookie
SIGNED_OUT = "studio_signed_out"  # this session signed out: the cookie its connection was opened with is stale
COOKIE_REFUSED = "studio_cookie_refused"  # logged once per session, not on every rerun
START_ROUTE, END_ROUTE = "/session/start", "/session/end"  # lib.ui.server
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
    if SESSION_USER not in st.session_state and not st.session_state.get(SIGNED_OUT):
        _resume()
    return st.session_state.get(SESSION_USER)


@st.cache_resource(show_spinner=False)
def signer() -> sessions.Sessions:
    """Signs sign-in cookies with a key derived from the media-link secret every replica already shares (the one
    data directory), so a cookie one replica made is valid on all of them and across restarts."""
    return sessions.Sessions(server_secret(Path(services().settings.data_dir)))


def _binding(kind: str, key: str) -> str | None:
    """What a cookie of this mode and account is bound to now: the account's password hash, or the team
    password; None when that account or mode is not configured (any more)."""
    settings = services().settings
    if kind != mode():
        return None
    if kind == "users":
        account = settings.users.get(key)
        return account.password_hash if account else None
    return settings.password if kind == "team" else None


def _resume() -> None:
    """Sign the session in from the browser's cookie, when it carries a valid one; anything else is ignored."""
    value = st.context.cookies.get(sessions.COOKIE)
    if value is None or st.session_state.get(COOKIE_REFUSED):
        return
    found = signer().read(value, _binding)
    if found is None:
        st.session_state[COOKIE_REFUSED] = True
        log.warning("ignored a sign-in cookie from client %s: expired, altered, made elsewhere, or its "
                    "password has changed", _client())
        return
    st.session_state[SESSION_USER] = found.key
    st.session_state[SESSION_NAME] = found.name


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
    signed_in = owner()  # first: it may sign the session in from its cookie
    return st.session_state.get(SESSION_NAME) or signed_in or ""


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
    key, shown = (known.key, known.name) if known else (accounts.clean(name), accounts.clean(name))
    st.session_state[SESSION_USER], st.session_state[SESSION_NAME] = key, shown
    st.session_state.pop(SIGNED_OUT, None)
    binding = _binding(mode(), key) or ""
    st.session_state[SESSION_TICKET] = (signer().ticket(mode(), key, shown, binding),
                                        time.time() + sessions.TICKET_SECONDS)
    return None


# The browser swaps a ticket for the cookie (or ends it) with a same-origin request of its own: Streamlit cannot
# set a cookie, and the page's Content-Security-Policy runs only the studio's own scripts (components v2: blob:).
_cookie_keeper = st.components.v2.component(
    "cue_session", js=(Path(__file__).parent / "static" / "session.js").read_text())


def keep_signed_in() -> None:
    """In the signed-in page: hands the browser its fresh sign-in ticket until it expires."""
    ticket, expires = st.session_state.get(SESSION_TICKET) or (None, 0)
    if ticket is None or expires < time.time():
        st.session_state.pop(SESSION_TICKET, None)
        return
    _cookie_keeper(key="cue_session_start", data={"route": START_ROUTE, "ticket": ticket, "once": ticket})


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
    if st.session_state.get(SIGNED_OUT):  # the browser still holds the cookie until it is told to drop it
        _cookie_keeper(key="cue_session_end", data={"route": END_ROUTE, "once": st.session_state[SIGNED_OUT]})


def logout() -> None:
    if _oidc_configured():
        st.logout()
    for name in (SESSION_USER, SESSION_NAME, SESSION_TICKET, COOKIE_REFUSED):
        st.session_state.pop(name, None)
    if mode() in ("users", "team"):
        st.session_state[SIGNED_OUT] = secrets.token_hex(8)  # also names this sign-out for the page's script
