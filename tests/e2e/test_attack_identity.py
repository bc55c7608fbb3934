"""Attacks on who is who, against running studios: one with personal accounts ([users] in a secrets file),
one with a team password only.

- Guessing a password: slowed, then locked out (the right password too), per account and per client; the log
  names each failure, never a password; other people still sign in.
- Look-alike names: "Ａｌｉｃｅ" with Bob's password opens nothing; "ＡＬＩＣＥ " with Alice's password is Alice.
- A pasted vendor key: bound to its account; with a team password only it cannot be pasted at all.
- The team password: one team library, every card labelled with who made it, and the page says so.
- A task link opened before signing in opens that task after signing in, for its owner only.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import Browser, Page, expect

from lib.core.tasks import Endpoint, State, Task
from lib.service import accounts
from lib.service.keyring import NO_ACCOUNT
from lib.store.sqlite import Store
from lib.ui.auth import TEAM_LIBRARY
from tests.e2e.conftest import start_studio, stop, wait_until_idle

PASSWORDS = {"Alice": "PW_ALICE_e81c2f7a", "Bob": "PW_BOB_4d09b3e1", "Carol": "PW_CAROL_77a1c0d2"}
TEAM_PASSWORD = "PW_TEAM_5b3e9a10"
WRONG = "PW_WRONG_{}_c3f1"  # each guess a different, recognisable password


def launch(folder: Path, env: dict) -> SimpleNamespace:
    process, url = start_studio(folder / "data", folder / "studio.log", {**env, "PYTHONUNBUFFERED": "1"})
    return SimpleNamespace(process=process, url=url, log=folder / "studio.log",
                           store=Store(folder / "data" / "studio.db"))


@pytest.fixture(scope="module")
def personal(tmp_path_factory):
    """A studio with personal accounts, from a secrets file of its own (the repository's stays untouched)."""
    folder = tmp_path_factory.mktemp("personal")
    lines = [accounts.users_line(name, accounts.hash_password(pw)) for name, pw in PASSWORDS.items()]
    (folder / "secrets.toml").write_text("[users]\n" + "\n".join(lines) + "\n")
    studio = launch(folder, {"STREAMLIT_SECRETS_FILES": str(folder / "secrets.toml")})
    yield studio
    stop(studio.process)


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    studio = launch(tmp_path_factory.mktemp("team"), {"STUDIO_PASSWORD": TEAM_PASSWORD})
    yield studio
    stop(studio.process)


def visitor(browser: Browser, client: str) -> Page:
    """A fresh browser whose requests come, as a reverse proxy on this machine would say, from `client`."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                  extra_http_headers={"X-Forwarded-For": client})
    return context.new_page()


def attempt(page: Page, name: str, password: str, password_label: str = "Password") -> None:
    page.get_by_role("textbox", name="Your name").fill(name)
    page.get_by_role("textbox", name=password_label, exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_until_idle(page)


def open_signin(page: Page, url: str) -> None:
    page.goto(url)
    wait_until_idle(page)


def signed_in_as(page: Page, name: str) -> None:
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {name}", exact=True)).to_be_visible()


def sign_in_lines(log: Path, account: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if f"for account '{account}'" in line]


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def add_task(store: Store, owner: str, prompt: str) -> Task:
    task = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": prompt}, owner=owner, state=State.FAILED,
                error_message="Made for this test.", created_at=time.time())
    store.add(task)
    return task


def cards(page: Page):
    return page.locator("[class*='st-key-task_']")


def open_nav(page: Page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    wait_until_idle(page)


# --- password guessing ---------------------------------------------------------------------------------------

def test_guessing_a_password_is_slowed_then_locked_out_and_the_log_keeps_no_password(browser, personal):
    guesser = visitor(browser, "203.0.113.66")
    open_signin(guesser, personal.url)
    alert = guesser.get_by_test_id("stAlert")
    wrong = "That name or password is not right."
    for number in range(1, accounts.LOCKOUT_AFTER + 1):
        attempt(guesser, "Carol", WRONG.format(number))
        wait_for(lambda: len(sign_in_lines(personal.log, "carol")) >= number)  # the server has counted it
        if number < accounts.DELAY_AFTER:
            expect(alert).to_have_text(wrong)
        elif number == accounts.DELAY_AFTER:  # from now on each next attempt waits, and the page says so
            expect(alert).to_have_text(f"{wrong} Too many attempts; try again in 1 second.")
    # Whether the attempts in between were checked or refused unchecked depends on how fast they came; the
    # tenth, either way, brings the lockout.
    expect(alert).to_have_text(re.compile(r"Too many attempts; try again in 15 minutes\.$"))

    locked = "Too many attempts; try again in 15 minutes."
    attempt(guesser, "Carol", PASSWORDS["Carol"])  # the right password, during the lockout
    wait_for(lambda: len(sign_in_lines(personal.log, "carol")) > accounts.LOCKOUT_AFTER)
    assert "sign-in refused" in sign_in_lines(personal.log, "carol")[-1]
    expect(alert).to_have_text(locked)
    expect(guesser.get_by_text("Signed in as")).to_have_count(0)
    attempt(guesser, "Alice", PASSWORDS["Alice"])  # this client is locked out too, for every account
    wait_for(lambda: sign_in_lines(personal.log, "alice"))
    assert "sign-in refused for account 'alice' from client 203.0.113.66" in sign_in_lines(personal.log, "alice")[0]
    expect(alert).to_have_text(locked)
    expect(guesser.get_by_text("Signed in as")).to_have_count(0)

    carol = visitor(browser, "198.51.100.20")  # the real Carol, elsewhere: her account is locked for now
    open_signin(carol, personal.url)
    attempt(carol, "carol", PASSWORDS["Carol"])
    expect(carol.get_by_test_id("stAlert")).to_have_text(locked)
    alice = visitor(browser, "198.51.100.21")  # nobody else is touched
    open_signin(alice, personal.url)
    attempt(alice, "Alice", PASSWORDS["Alice"])
    signed_in_as(alice, "Alice")

    lines = sign_in_lines(personal.log, "carol")
    assert any("sign-in failed for account 'carol' from client 203.0.113.66, 1st in a row" in line
               for line in lines), lines
    assert any("4th in a row" in line for line in lines), lines
    assert any("from client 198.51.100.20" in line for line in lines), lines
    log = personal.log.read_text()
    for password in [*PASSWORDS.values(), *(WRONG.format(n) for n in range(1, accounts.LOCKOUT_AFTER + 1))]:
        assert password not in log
    for page in (guesser, carol, alice):
        page.context.close()


# --- look-alike names ----------------------------------------------------------------------------------------

def test_a_look_alike_name_with_someone_elses_password_opens_nothing(browser, personal):
    add_task(personal.store, "alice", "Alice's private rain on a tin roof")
    mallory = visitor(browser, "198.51.100.30")
    open_signin(mallory, personal.url)
    attempt(mallory, "Ａｌｉｃｅ", PASSWORDS["Bob"])  # full-width letters, Bob's password
    expect(mallory.get_by_text("That name or password is not right.")).to_be_visible()
    expect(mallory.get_by_text("Signed in as")).to_have_count(0)
    expect(mallory.get_by_text("Alice's private rain")).to_have_count(0)

    attempt(mallory, "Bob", PASSWORDS["Bob"])  # Bob as himself sees none of Alice's work
    signed_in_as(mallory, "Bob")
    open_nav(mallory, "History")
    expect(mallory.get_by_role("heading", name="History")).to_be_visible()
    expect(mallory.get_by_text("Alice's private rain")).to_have_count(0)
    expect(mallory.get_by_text(TEAM_LIBRARY)).to_have_count(0)
    mallory.context.close()

    alice = visitor(browser, "198.51.100.31")
    open_signin(alice, personal.url)
    attempt(alice, "  ＡＬＩＣＥ ", PASSWORDS["Alice"])  # her own password: any spelling of her name is her
    signed_in_as(alice, "Alice")
    open_nav(alice, "History")
    expect(alice.get_by_text("Alice's private rain on a tin roof")).to_be_visible()
    alice.context.close()


# --- own vendor keys -----------------------------------------------------------------------------------------

def test_a_pasted_key_is_bound_to_its_account(browser, personal):
    alice = visitor(browser, "198.51.100.40")
    open_signin(alice, personal.url)
    attempt(alice, "alice", PASSWORDS["Alice"])
    signed_in_as(alice, "Alice")
    open_nav(alice, "Settings / status")
    alice.get_by_role("textbox", name="Vidu API key").fill("vda_ALICES_OWN_KEY_0f3b")
    alice.get_by_role("button", name="Use my Vidu key").click()
    wait_until_idle(alice)
    expect(alice.get_by_text("Your own Vidu key is in use for your tasks.")).to_be_visible()
    open_nav(alice, "Sound from text")
    expect(alice.get_by_text("charged to your own key")).to_be_visible()

    bob = visitor(browser, "198.51.100.41")
    open_signin(bob, personal.url)
    attempt(bob, "Bob", PASSWORDS["Bob"])
    signed_in_as(bob, "Bob")
    expect(bob.get_by_text("Estimated cost")).to_be_visible()
    expect(bob.get_by_text("charged to your own key")).to_have_count(0)
    open_nav(bob, "Settings / status")
    expect(bob.get_by_role("button", name="Use my Vidu key")).to_be_visible()
    expect(bob.get_by_text("Your own Vidu key is in use")).to_have_count(0)
    assert "vda_ALICES_OWN_KEY_0f3b" not in bob.content() + personal.log.read_text()
    for page in (alice, bob):
        page.context.close()


def test_with_a_team_password_a_teammate_typing_anothers_name_gets_no_key_of_theirs(browser, team):
    for client, name in (("198.51.100.50", "Ann"), ("198.51.100.51", "Ann")):  # Ann, then someone typing "Ann"
        page = visitor(browser, client)
        open_signin(page, team.url)
        attempt(page, name, TEAM_PASSWORD, "Team password")
        signed_in_as(page, name)
        open_nav(page, "Settings / status")
        expect(page.get_by_text(NO_ACCOUNT)).to_be_visible()  # says why: no accounts to bind a key to
        expect(page.get_by_role("textbox", name="Vidu API key")).to_have_count(0)
        expect(page.get_by_role("button", name="Use my Vidu key")).to_have_count(0)
        open_nav(page, "Sound from text")
        expect(page.get_by_text("Estimated cost")).to_be_visible()
        expect(page.get_by_text("charged to your own key")).to_have_count(0)
        page.context.close()


# --- the team library ----------------------------------------------------------------------------------------

def test_with_a_team_password_two_people_see_one_labelled_team_library(browser, team):
    add_task(team.store, "Ann", "Ann's foghorn in the harbour")
    add_task(team.store, "Bob", "Bob's thunder over the hills")
    for client, name in (("198.51.100.60", "Ann"), ("198.51.100.61", "Bob")):
        page = visitor(browser, client)
        open_signin(page, team.url)
        attempt(page, name, TEAM_PASSWORD, "Team password")
        signed_in_as(page, name)
        expect(page.get_by_test_id("stSidebar").get_by_text(TEAM_LIBRARY)).to_be_visible()
        open_nav(page, "History")
        expect(page.get_by_test_id("stMain").get_by_text(TEAM_LIBRARY)).to_be_visible()
        for maker, prompt in (("Ann", "Ann's foghorn in the harbour"), ("Bob", "Bob's thunder over the hills")):
            card = cards(page).filter(has_text=prompt)
            expect(card).to_have_count(1)
            expect(card.get_by_text(re.compile(f"^by {maker} ·"))).to_be_visible()
        page.context.close()


# --- task links through the gate -----------------------------------------------------------------------------

def test_a_task_link_opened_before_signing_in_opens_that_task_after_it(browser, personal):
    linked = add_task(personal.store, "bob", "Bob's linked kettle whistling")
    add_task(personal.store, "bob", "Bob's other task, not linked")
    for client, name, shown in (("198.51.100.70", "Bob", True), ("198.51.100.71", "Alice", False)):
        page = visitor(browser, client)
        page.goto(f"{personal.url}/history?task={linked.id}")
        wait_until_idle(page)
        expect(page.get_by_role("textbox", name="Password", exact=True)).to_be_visible()  # the gate first
        expect(page.get_by_text("Bob's linked kettle")).to_have_count(0)
        attempt(page, name, PASSWORDS[name])
        signed_in_as(page, name)
        expect(page.get_by_role("heading", name="History")).to_be_visible()
        assert f"task={linked.id}" in page.url
        if shown:
            expect(cards(page)).to_have_count(1)
            expect(page.get_by_text("Bob's linked kettle whistling")).to_be_visible()
        else:  # the link does not open someone else's task
            expect(page.get_by_text("None of your tasks has this link.", exact=False)).to_be_visible()
            expect(cards(page)).to_have_count(0)
        expect(page.get_by_text("Bob's other task")).to_have_count(0)
        page.context.close()
