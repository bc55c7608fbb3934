"""What a shared instance promises about secrets, untrusted text and its own configuration.

- A full session with recognisable fake secrets (vendor keys, the Kling secret key, the team password), then a
  search of everything that leaves the server or stays behind: every page's HTML, every websocket frame in both
  directions, the server log, the SQLite files, the history export and the error messages shown.
- Prompts, names and vendor messages holding HTML or script are shown as text and never run.
- `.streamlit/config.toml` holds what a shared instance needs.
"""
from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import time
import tomllib
import zipfile
from types import SimpleNamespace

import pytest
import requests
from playwright.sync_api import Page, expect

from lib.core.tasks import State
from lib.store.sqlite import Store
from tests.e2e.conftest import (
    ROOT,
    download_export,
    sign_in,
    start_simulator,
    start_studio,
    stop,
    vendors_at,
    wait_until_idle,
)

VIDU_KEY = "VDA_LEAKCHECK_7f3a91c2e5d84b06"
KLING_ACCESS_KEY = "AK_LEAKCHECK_4b1e8d2a6c9f"
KLING_SECRET_KEY = "SK_LEAKCHECK_9d7c3f1a0e5b42c8a6f1d3e7b9c0a2f4"  # 46 bytes: HS256 wants 32 or more
PASSWORD = "PW_LEAKCHECK_c81f0e6a2d5b"
SECRETS = {"Vidu key": VIDU_KEY, "Kling access key": KLING_ACCESS_KEY, "Kling secret key": KLING_SECRET_KEY,
           "team password": PASSWORD}
# A JWT as the studio makes them for Kling: three base64url parts, the first two JSON objects ("eyJ" = '{"').
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
USER = "Leak Checker"
RESULT_SECONDS = 90


def encodings(secret: str) -> dict[str, bytes]:
    """The forms a secret could take on its way out: as is, and base64 (standard and URL-safe, unpadded)."""
    raw = secret.encode()
    return {"as is": raw, "base64": base64.b64encode(raw).rstrip(b"="),
            "base64url": base64.urlsafe_b64encode(raw).rstrip(b"=")}


def leaks(haystack: bytes | str, secrets: dict[str, str] = SECRETS, jwt: bool = True) -> list[str]:
    data = haystack.encode() if isinstance(haystack, str) else haystack
    found = [f"{name} ({form})" for name, secret in secrets.items()
             for form, needle in encodings(secret).items() if needle in data]
    if jwt and JWT.search(data):
        found.append(f"a JWT: {JWT.search(data).group()[:40].decode()}…")
    return found


@pytest.fixture(scope="module")
def hosted(tmp_path_factory):
    """An external simulator that accepts only the fake secrets, and a password-protected studio using them."""
    folder = tmp_path_factory.mktemp("hosted")
    simulator, simulator_url = start_simulator(
        folder / "sim.log", "--speed", "20", "--vidu-key", VIDU_KEY,
        "--kling-access-key", KLING_ACCESS_KEY, "--kling-secret-key", KLING_SECRET_KEY)
    try:
        studio, url = start_studio(folder / "data", folder / "studio.log", {
            **vendors_at(simulator_url), "VIDU_API_KEY": VIDU_KEY, "KLING_ACCESS_KEY": KLING_ACCESS_KEY,
            "KLING_SECRET_KEY": KLING_SECRET_KEY, "STUDIO_PASSWORD": PASSWORD,
            "PYTHONUNBUFFERED": "1"})  # every log line is in the file when we read it
    except Exception:
        stop(simulator)
        raise
    # SQLite removes the -wal file when its last connection closes, and the studio's connections are short; an
    # idle connection held open keeps the file, and everything written through it, there to be searched. It
    # lives in a process of its own: POSIX file locks are per process, so the test reading the files would
    # drop the lock that keeps the file.
    keeper = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
         "db.execute('SELECT COUNT(*) FROM tasks').fetchall(); print('ready', flush=True); sys.stdin.read()",
         str(folder / "data" / "studio.db")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert keeper.stdout.readline().strip() == "ready"
    yield SimpleNamespace(url=url, simulator_url=simulator_url, data=folder / "data", log=folder / "studio.log",
                          store=Store(folder / "data" / "studio.db"))
    keeper.stdin.close()
    stop(keeper)
    stop(studio)
    stop(simulator)


NAV = {"sound": "Sound from text", "timed": "Timed sound", "video": "Video from text", "kling": "Kling sound",
       "history": "History", "settings": "Settings / status"}


def open_page(page: Page, path: str) -> None:
    """Through the sidebar: loading a URL afresh starts a new session, which has to sign in again."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=NAV[path]).click()
    wait_until_idle(page)


def submit(page: Page, prefix: str, prompt: str | None = None, *, landed: tuple[Store, str, int]) -> None:
    """Fill in the prompt (if any), press Generate, and wait until the store has the `count`-th task of `owner`
    with its create answer: a busy machine can report the page idle before the submission has even started."""
    if prompt is not None:
        page.locator(f".st-key-{prefix}_prompt textarea").fill(prompt)
    page.locator(f".st-key-{prefix}_submit button").click()
    wait_until_idle(page)
    store, owner, count = landed
    deadline = time.monotonic() + RESULT_SECONDS
    while True:
        tasks = store.find(owner)
        if len(tasks) >= count and all(t.vendor_id or t.state.terminal for t in tasks):
            break
        assert time.monotonic() < deadline, describe(tasks)
        time.sleep(0.2)
    wait_until_idle(page)


def add_event(page: Page, start: str, end: str, sound: str) -> None:
    page.locator(".st-key-tim_new_from input").fill(start)
    page.locator(".st-key-tim_new_to input").fill(end)
    page.locator(".st-key-tim_new_prompt input").fill(sound)
    page.get_by_role("button", name="Add event").click()
    wait_until_idle(page)


def describe(tasks) -> str:
    return "\n".join(f"{t.params.get('prompt') or t.params.get('timing_prompts')}: {t.state} vendor_id={t.vendor_id} "
                     f"{t.error_message}" for t in tasks)


def wait_for_results(store: Store, owner: str, count: int) -> list:
    deadline = time.monotonic() + RESULT_SECONDS
    while True:
        tasks = store.find(owner)
        if len(tasks) >= count and all(t.state.terminal and not t.copying for t in tasks):  # ended, copied
            return tasks
        assert time.monotonic() < deadline, describe(tasks)
        time.sleep(0.3)


def alerts(page: Page) -> list[str]:
    return page.get_by_test_id("stAlert").all_inner_texts() + page.get_by_test_id("stException").all_inner_texts()


# --- secrets ------------------------------------------------------------------------------------------------

def test_no_secret_reaches_a_page_a_frame_the_log_the_store_or_an_export(page, hosted):
    frames: list[tuple[str, str, bytes]] = []  # (phase, "sent" | "received", payload)
    phase = ["start"]

    def watch(socket):
        for direction, event in (("sent", "framesent"), ("received", "framereceived")):
            socket.on(event, lambda payload, direction=direction: frames.append(
                (phase[0], direction, payload.encode() if isinstance(payload, str) else payload)))

    page.on("websocket", watch)
    pages: dict[str, str] = {}
    shown: list[str] = []
    files: dict[str, bytes] = {}  # the data directory as it was at each look: SQLite's -wal file comes and goes

    def look(name: str) -> None:
        pages[name] = page.content() + page.evaluate(
            "() => document.cookie + JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
        shown.extend(alerts(page))
        for path in (p for p in hosted.data.rglob("*") if p.is_file()):
            try:
                files[f"{path.relative_to(hosted.data)} at {name}"] = path.read_bytes()
            except FileNotFoundError:  # a -wal or -shm file removed as we listed it
                pass

    # Sign in. The password is typed into the form, so the browser necessarily sends it to the server once: in
    # the frames of this one submission (the form's widget values). Those frames alone are left out of the
    # search below — and only for the password; nothing the server sends may ever contain it.
    page.goto(hosted.url)
    wait_until_idle(page)
    look("sign-in")
    page.get_by_role("textbox", name="Your name").fill(USER)
    page.get_by_role("textbox", name="Team password").fill(PASSWORD)
    phase[0] = "sign-in submission"
    page.get_by_role("button", name="Sign in").click()
    wait_until_idle(page)
    expect(page.get_by_text(f"Signed in as {USER}")).to_be_visible(timeout=30_000)
    phase[0] = "signed in"

    # A task on every page: two that succeed (one polled through a burst of 503s, so the retry path logs),
    # one that fails at the vendor, and two that are refused at create.
    requests.post(f"{hosted.simulator_url}/_sim/faults", timeout=5,
                  json={"match": "/ent/v2/tasks/", "method": "GET", "status": 503, "times": 2})
    open_page(page, "sound")
    submit(page, "t2a", "LEAKCHECK rain on a tin roof", landed=(hosted.store, USER, 1))
    look("sound")
    open_page(page, "timed")
    add_event(page, "0", "3", "LEAKCHECK birds chirping")
    add_event(page, "2", "6", "LEAKCHECK distant thunder")
    submit(page, "tim", landed=(hosted.store, USER, 2))
    look("timed")
    open_page(page, "video")
    # Vidu refuses the create: 401 Unauthorized.
    submit(page, "t2v", "LEAKCHECK a paper boat [http:401]", landed=(hosted.store, USER, 3))
    expect(page.get_by_test_id("stAlert").filter(has_text="Vidu rejected the API key").first).to_be_visible(
        timeout=30_000)
    look("video")
    open_page(page, "kling")
    # Kling takes it, runs it, then fails it.
    submit(page, "kt2a", "LEAKCHECK fireworks [fail:CreationPolicyViolation]", landed=(hosted.store, USER, 4))
    look("kling")
    requests.post(f"{hosted.simulator_url}/_sim/faults", timeout=5,  # Kling refuses the signed token itself
                  json={"match": "/v1/audio/text-to-audio", "method": "POST", "status": 401, "code": 1002,
                        "times": 1})
    open_page(page, "kling")
    submit(page, "kt2a", "LEAKCHECK a squeaky door", landed=(hosted.store, USER, 5))
    expect(page.get_by_test_id("stAlert").filter(has_text="Kling rejected the credentials").first).to_be_visible(
        timeout=30_000)
    look("kling, refused")

    tasks = wait_for_results(hosted.store, USER, 5)
    states = sorted(t.state.value for t in tasks)
    assert states == ["failed", "failed", "failed", "succeeded", "succeeded"], \
        describe(tasks)
    # Hosted (a team password is set), so results at a loopback address were played from there but not fetched
    # by the server: only the studio's own demo simulator is exempt, and this one is an outside process.
    for task in (t for t in tasks if t.state is State.SUCCEEDED):
        assert task.media and not any(m.archived for m in task.media)
        assert "inside the server's own network" in task.error_message

    open_page(page, "history")
    expect(page.locator("[class*='st-key-task_']")).to_have_count(5)
    look("history")
    open_page(page, "settings")
    # The credit balance: a call that went out with the Vidu key.
    expect(page.get_by_text("Credits left").first).to_be_visible(timeout=30_000)
    look("settings")
    export = download_export(page)
    look("settings, after export")
    time.sleep(1)  # let the last frames and log lines arrive
    look("end")

    # What was shown is real, and the search can see inside it: the errors are on the page, the prompts are in
    # the (binary, protobuf) frames, the export holds every task.
    assert any("CreationPolicyViolation" in text or "content policy" in text for text in shown + [pages["history"]])
    assert any("Vidu rejected the API key" in text for text in shown)
    assert any(b"LEAKCHECK rain on a tin roof" in payload for _, way, payload in frames if way == "received")
    sign_in_frames = [payload for when, way, payload in frames if when == "sign-in submission" and way == "sent"]
    assert any(PASSWORD.encode() in payload for payload in sign_in_frames), "the frame search cannot see the form"
    with zipfile.ZipFile(io.BytesIO(export)) as bundle:
        unzipped = {name: bundle.read(name) for name in bundle.namelist()}
    assert b"LEAKCHECK rain on a tin roof" in unzipped["history.json"]

    found = {}
    for name, html in pages.items():
        found[f"page {name}"] = leaks(html)
    for number, (when, way, payload) in enumerate(frames):
        secrets = SECRETS
        if when == "sign-in submission" and way == "sent":
            secrets = {k: v for k, v in SECRETS.items() if v != PASSWORD}
        found[f"websocket frame {number} {way} ({when})"] = leaks(payload, secrets)
    found["studio log"] = leaks(hosted.log.read_bytes())
    for name, content in files.items():  # studio.db, -wal, -shm, media
        found[f"data file {name}"] = leaks(content)
    found["export ZIP (raw)"] = leaks(export)
    for name, content in unzipped.items():
        found[f"export ZIP {name}"] = leaks(content)
    for number, text in enumerate(shown):
        found[f"message shown: {text[:60]!r}"] = leaks(text)
    found = {where: what for where, what in found.items() if what}
    assert not found, found
    assert len(frames) > 20 and {"studio.db at end", "studio.db-wal at end"} <= set(files)
    assert b"LEAKCHECK rain on a tin roof" in files["studio.db-wal at end"] + files["studio.db at end"]


# --- untrusted text -----------------------------------------------------------------------------------------

SCRIPT_PROMPT = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
VIDU_MESSAGE = '<img src=x onerror="window.__xss=5">'  # becomes the failed task's err_code
KLING_MESSAGE = '<img src=x onerror="window.__xss=3"><script>window.__xss=4</script>'  # its task_status_msg
HTML_NAME = '<img src=x onerror="window.__xss=6">Mallory'


def no_script_ran(page: Page) -> None:
    page.wait_for_timeout(500)  # an <img onerror> fires once the broken image has been tried
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("script:has-text('__xss')").count() == 0


def test_html_and_script_in_prompts_names_and_vendor_messages_are_shown_as_text(page, hosted):
    sign_in(page, hosted.url, HTML_NAME, PASSWORD)
    no_script_ran(page)

    open_page(page, "sound")
    submit(page, "t2a", f"{SCRIPT_PROMPT} [fail:{VIDU_MESSAGE}]", landed=(hosted.store, HTML_NAME, 1))
    no_script_ran(page)
    open_page(page, "kling")
    submit(page, "kt2a", f"{SCRIPT_PROMPT} [fail:{KLING_MESSAGE}]", landed=(hosted.store, HTML_NAME, 2))
    no_script_ran(page)
    tasks = wait_for_results(hosted.store, HTML_NAME, 2)
    assert all(t.state is State.FAILED for t in tasks), describe(tasks)

    for path in ("history", "sound", "kling"):
        open_page(page, path)
        expect(page.get_by_text(SCRIPT_PROMPT).first).to_be_visible()  # the prompt, character for character
        no_script_ran(page)
    open_page(page, "history")
    for message in (VIDU_MESSAGE, KLING_MESSAGE):  # the vendors' words, shown as words
        expect(page.get_by_test_id("stAlert").filter(has_text=message)).to_have_count(1)
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {HTML_NAME}")).to_be_visible()
    no_script_ran(page)


# --- configuration --------------------------------------------------------------------------------------------

def test_config_toml_holds_what_a_shared_instance_needs():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server, client = config["server"], config["client"]
    assert client["toolbarMode"] == "viewer"  # nobody can clear everyone's caches
    assert client["showErrorDetails"] in ("type", "none")  # no tracebacks or exception messages in the browser
    assert server.get("enableXsrfProtection", True) is True
    assert server.get("enableCORS", True) is True
    assert 1 <= server["maxUploadSize"] <= 200  # MB: a video to score, as the Score page states
    assert server.get("enableStaticServing", False) is False  # files there would be public
    assert config.get("browser", {}).get("gatherUsageStats") is False
    # allowedHosts depends on the deployment's own host name, so it is passed at start-up, as documented.
    assert "allowedHosts" not in server or server["allowedHosts"]
    hosting = (ROOT / "README.md").read_text()  # its "Hosting a team instance" section
    for setting in ("--server.allowedHosts", "STREAMLIT_SERVER_ALLOWED_HOSTS", "STUDIO_HOSTED", "STUDIO_PASSWORD",
                    "secrets.toml", "[auth]"):
        assert setting in hosting, setting
