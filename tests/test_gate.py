"""The sign-in gate with a team password: nothing behind it without signing in, and each person sees only
their own history."""
import time

import pytest
from streamlit.testing.v1 import AppTest

from lib.tasks import Endpoint, State, Task
from lib.ui.runtime import services
from tests.test_app import APP, PAGES

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def gated_studio(tmp_path, monkeypatch):
    for name in ("VIDU_API_KEY", "KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STUDIO_PASSWORD", PASSWORD)
    services.clear()
    yield
    services.clear()


def sign_in(name: str, password: str = PASSWORD) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.text_input[0].input(name)
    at.text_input[1].input(password)
    at.button[0].click().run()
    return at


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


def test_each_person_sees_only_their_own_history():
    for owner, prompt in (("ann", "ann's rain"), ("bob", "bob's thunder")):
        services().store.add(Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": prompt}, owner=owner,
                                  state=State.FAILED, error_message="x", created_at=time.time()))
    at = sign_in("ann")
    assert not at.exception and at.title[0].value == "Sound from text"
    at.session_state["open_page"] = "history"
    at.run()
    shown = " ".join(t.value for t in at.text)
    assert "ann's rain" in shown and "bob's thunder" not in shown


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
    mine = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "ann's linked rain"}, owner="ann", state=State.FAILED,
                error_message="x", created_at=time.time())
    services().store.add(mine)
    for name, visible in (("ann", True), ("bob", False)):
        # A link is followed by opening its URL, so the page runs with the query parameter from the start.
        at = AppTest.from_function(history_page, default_timeout=30)
        at.session_state["studio_user"] = name
        at.query_params["task"] = mine.id
        at.run()
        assert not at.exception
        shown = " ".join(t.value for t in at.text)
        assert ("ann's linked rain" in shown) is visible, name
        assert bool(at.warning) is not visible
        assert any(f"history?task={mine.id}" in c.value for c in at.caption) is visible
