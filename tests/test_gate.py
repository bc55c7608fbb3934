"""The sign-in gate in each mode: nothing behind it without signing in; with a team password one team library
with labels and no own keys; with personal accounts each person sees only their own history; guessing ends in
a lockout."""
import time

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.tasks import Endpoint, State, Task
from lib.service import accounts
from lib.service.keyring import NO_ACCOUNT
from lib.ui import auth
from lib.ui.runtime import services
from tests.apptest import APP
from tests.test_app import PAGES

PASSWORD = "correct horse battery"
USERS = {"Alice": accounts.hash_password("alice's own pw"), "Bob": accounts.hash_password("bob's own pw")}


@pytest.fixture(autouse=True)
def gated_studio(tmp_path, monkeypatch):
    for name in ("VIDU_API_KEY", "KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STUDIO_PASSWORD", PASSWORD)
    services.clear()
    auth._guard.clear()  # the throttle lives as long as the server process: start each test afresh
    yield
    services.clear()
    auth._guard.clear()


def sign_in(name: str, password: str = PASSWORD, at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(APP, default_timeout=30).run()
    at.text_input[0].input(name)
    at.text_input[1].input(password)
    at.button[0].click().run()
    return at


def add_task(owner: str, prompt: str) -> Task:
    task = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": prompt}, owner=owner, state=State.FAILED, error_message="x",
                created_at=time.time())
    services().store.add(task)
    return task


def open_history(at: AppTest) -> str:
    at.session_state["open_page"] = "history"
    at.run()
    assert not at.exception
    return " ".join(t.value for t in at.text)


@pytest.mark.parametrize("page", PAGES)
def test_no_page_opens_before_signing_in(page):
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["open_page"] = page
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Cue Studio"] and at.text_input[1].proto.type == 1  # password field
    assert not at.info  # not even the demo banner


def test_wrong_password_is_refused_plainly():
    at = sign_in("ann", "guess")
    assert [e.value for e in at.error] == ["That password is not right."]
    assert [t.value for t in at.title] == ["Cue Studio"]


def test_a_name_is_required():
    at = sign_in("   ")
    assert [e.value for e in at.error] == ["Please enter your name."]


def test_a_team_password_gives_one_team_library_labelled_by_who_made_each_task():
    add_task("Ann", "ann's rain")
    add_task("Bob", "bob's thunder")
    at = sign_in("ann")
    assert not at.exception and at.title[0].value == "Sound from text"
    shown = open_history(at)
    assert "ann's rain" in shown and "bob's thunder" in shown
    captions = [c.value for c in at.caption]
    assert auth.TEAM_LIBRARY in captions and auth.TEAM_LIBRARY in [c.value for c in at.sidebar.caption]
    assert any(c.startswith("by Ann") for c in captions) and any(c.startswith("by Bob") for c in captions)


def test_the_typed_name_is_a_cleaned_label():
    at = sign_in("  Ｃａｒｏｌ \u200b  Lee ")
    assert any(c.value == "Signed in as Carol Lee" for c in at.sidebar.caption)
    assert at.session_state[auth.SESSION_USER] == "Carol Lee"


def test_a_team_password_offers_no_own_keys_and_says_why():
    at = sign_in("ann")
    at.session_state["open_page"] = "settings"
    at.run()
    assert not at.exception
    assert NO_ACCOUNT in [i.value for i in at.info]
    assert not [t for t in at.text_input if "key" in t.label.lower()]


def test_guessing_the_team_password_ends_in_a_lockout_that_the_right_password_does_not_lift():
    at = AppTest.from_file(APP, default_timeout=30).run()
    for attempt in range(1, accounts.LOCKOUT_AFTER + 1):
        sign_in("mallory", f"guess {attempt}", at=at)
        assert [t.value for t in at.title] == ["Cue Studio"]
    assert [e.value for e in at.error] == ["Too many attempts; try again in 15 minutes."]
    sign_in("ann", PASSWORD, at=at)
    assert [e.value for e in at.error] == ["Too many attempts; try again in 15 minutes."]
    assert [t.value for t in at.title] == ["Cue Studio"] and auth.SESSION_USER not in at.session_state


def users_studio() -> AppTest:
    """The sign-in page of a studio with personal accounts (its services are built with these secrets)."""
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["users"] = USERS
    return at.run()


def test_personal_accounts_treat_look_alike_names_as_one_account():
    at = users_studio()
    add_task("alice", "alice's rain")
    add_task("bob", "bob's thunder")
    sign_in("  ＡＬＩＣＥ ", "alice's own pw", at=at)
    assert not at.exception and at.title[0].value == "Sound from text"
    assert any(c.value == "Signed in as Alice" for c in at.sidebar.caption)  # the name as configured
    shown = open_history(at)
    assert "alice's rain" in shown and "bob's thunder" not in shown
    assert auth.TEAM_LIBRARY not in [c.value for c in [*at.caption, *at.sidebar.caption]]


@pytest.mark.parametrize("name, password", [("Ａｌｉｃｅ", "bob's own pw"), ("Alice", PASSWORD),
                                            ("Mallory", "alice's own pw"), ("Alice", "")])
def test_personal_accounts_refuse_a_name_with_another_password(name, password):
    at = sign_in(name, password, at=users_studio())
    assert [e.value for e in at.error] == ["That name or password is not right."]
    assert [t.value for t in at.title] == ["Cue Studio"]
    assert at.text_input[1].label == "Password"  # not "Team password": there is none in this mode


def test_personal_accounts_offer_own_keys():
    at = sign_in("bob", "bob's own pw", at=users_studio())
    at.session_state["open_page"] = "settings"
    at.run()
    assert not at.exception
    assert NO_ACCOUNT not in [i.value for i in at.info]
    assert "Vidu API key" in [t.label for t in at.text_input]


OIDC = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "studio", "client_secret": "s", "server_metadata_url": "https://id.example/.well-known"}


def test_single_sign_on_comes_first_when_configured():
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["auth"] = OIDC
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"] and not at.text_input  # no password form


def test_single_sign_on_user_sees_the_studio_under_their_email():
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["auth"] = OIDC
    at.user = {"is_logged_in": True, "email": "ann@example.com", "name": "Ann"}
    at.run()
    assert not at.exception and at.title[0].value == "Sound from text"
    assert any("Signed in as Ann" in c.value for c in at.sidebar.caption)


def history_page():
    from pages import history

    history.page()


def test_a_task_link_opens_it_for_its_owner_only():
    users_studio()
    mine = add_task("alice", "alice's linked rain")
    for name, visible in (("alice", True), ("bob", False)):
        # A link is followed by opening its URL, so the page runs with the query parameter from the start.
        at = AppTest.from_function(history_page, default_timeout=30)
        at.session_state["studio_user"] = name
        at.query_params["task"] = mine.id
        at.run()
        assert not at.exception
        shown = " ".join(t.value for t in at.text)
        assert ("alice's linked rain" in shown) is visible, name
        assert bool(at.warning) is not visible
        assert any(f"history?task={mine.id}" in c.value for c in at.caption) is visible


def test_a_task_link_opens_for_the_whole_team_library():
    mine = add_task("ann", "ann's linked rain")
    at = AppTest.from_function(history_page, default_timeout=30)
    at.session_state["studio_user"] = "bob"
    at.query_params["task"] = mine.id
    at.run()
    assert not at.exception and not at.warning
    assert "ann's linked rain" in " ".join(t.value for t in at.text)
