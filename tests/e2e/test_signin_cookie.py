"""The sign-in cookie against a running studio with personal accounts ([users] in a secrets file), in Chromium:
a reload keeps the sign-in, signing out ends it, a forged or altered cookie opens nothing, the ticket is single
use, and the routes never send anyone off-site."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from lib.service import accounts, sessions
from tests.e2e.conftest import start_studio, stop, wait_until_idle

PASSWORDS = {"Alice": "PW_ALICE_9c2e41b7", "Bob": "PW_BOB_03d8f6aa"}


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signin_cookie")
    lines = [accounts.users_line(name, accounts.hash_password(pw)) for name, pw in PASSWORDS.items()]
    (folder / "secrets.toml").write_text("[users]\n" + "\n".join(lines) + "\n")
    process, url = start_studio(folder / "data", folder / "studio.log",
                                {"STREAMLIT_SECRETS_FILES": str(folder / "secrets.toml"), "PYTHONUNBUFFERED": "1"})
    yield SimpleNamespace(url=url, log=folder / "studio.log")
    stop(process)


@pytest.fixture
def visitor(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def session_cookie(page: Page) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == sessions.COOKIE), None)


def sign_in_with_ticket(page: Page, url: str, name: str) -> str:
    """Signs in through the form and waits for the cookie; the ticket the page sent, for replaying."""
    page.goto(url)
    wait_until_idle(page)
    page.get_by_role("textbox", name="Your name").fill(name)
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORDS[name])
    with page.expect_request(lambda r: r.url.endswith("/session/start")) as sent:
        page.get_by_role("button", name="Sign in").click()
    sent.value.response()  # answered, so the cookie is set
    wait_until_idle(page)
    signed_in_as(page, name)
    return sent.value.post_data


def signed_in_as(page: Page, name: str) -> None:
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {name}", exact=True)).to_be_visible()


def sign_in_form(page: Page) -> None:
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_have_count(0)


def test_a_reload_keeps_the_sign_in_and_signing_out_ends_it(studio, visitor):
    sign_in_with_ticket(visitor, studio.url, "Alice")
    cookie = session_cookie(visitor)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    assert PASSWORDS["Alice"] not in cookie["value"] and "argon2" not in cookie["value"]
    visitor.reload()
    wait_until_idle(visitor)
    signed_in_as(visitor, "Alice")

    with visitor.expect_response(lambda r: r.url.endswith("/session/end")):
        visitor.get_by_role("button", name="Sign out").click()
    sign_in_form(visitor)
    assert session_cookie(visitor) is None
    visitor.reload()
    wait_until_idle(visitor)
    sign_in_form(visitor)


def test_an_altered_or_forged_cookie_opens_nothing(studio, visitor):
    sign_in_with_ticket(visitor, studio.url, "Bob")
    genuine = session_cookie(visitor)
    body, signature = genuine["value"].split(".")
    forged = [f"{body}.{signature[::-1]}", "forged", "x" * 3000,
              sessions.Sessions(b"another studio's secret").cookie("users", "bob", "Bob", "whatever")]
    for value in forged:
        visitor.context.clear_cookies()
        visitor.context.add_cookies([{**genuine, "value": value}])
        visitor.reload()
        wait_until_idle(visitor)
        sign_in_form(visitor)
        expect(visitor.get_by_test_id("stException")).to_have_count(0)
    log = studio.log.read_text()
    assert "ignored a sign-in cookie" in log
    assert signature[::-1] not in log and "forged" not in log


def test_a_replayed_ticket_is_refused(studio, visitor):
    ticket = sign_in_with_ticket(visitor, studio.url, "Alice")
    assert ticket.startswith("ticket=")
    replayed = visitor.request.post(f"{studio.url}/session/start", data=ticket,
                                    headers={"Content-Type": "application/x-www-form-urlencoded",
                                             "Origin": studio.url})
    assert replayed.status == 403 and sessions.COOKIE not in replayed.headers.get("set-cookie", "")


def test_a_ticket_from_another_site_is_refused(studio, visitor):
    """A page elsewhere cannot make this browser sign in (as the attacker, say) with a ticket of its own."""
    ticket = sign_in_with_ticket(visitor, studio.url, "Bob")
    sent = requests.post(f"{studio.url}/session/start", data=ticket, timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert sent.status_code == 403 and "set-cookie" not in sent.headers


@pytest.mark.parametrize("next_address", ["https://evil.example", "//evil.example", "/\\evil.example"])
def test_the_session_routes_never_send_anyone_off_site(studio, next_address):
    for route in ("/session/start", "/session/end"):
        for method in ("GET", "POST"):
            answer = requests.request(method, f"{studio.url}{route}", params={"next": next_address},
                                      data={"next": next_address}, allow_redirects=False, timeout=10,
                                      headers={"Origin": studio.url})
            assert "location" not in answer.headers and answer.status_code not in range(300, 400), (route, method)
