"""Security headers on every kind of answer of a running studio, and pages that work under its CSP in Chromium.

One demo studio for the module: pages, static files, health, callbacks, media and the
WebSocket handshake (accepted and refused). In Chromium: every page renders with no CSP violation, the
Vega-Lite timeline chart draws, the archived result plays, and so does the simulator's own media URL (a vendor
address on another loopback port, which the player falls back to when no copy was kept).
"""
from __future__ import annotations

import re
import time
from urllib.parse import urljoin

import pytest
import requests
from playwright.sync_api import expect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from lib.store.sqlite import Store
from lib.ui.server import SECURITY_HEADERS
from tests.e2e.conftest import start_studio, stop, wait_until_idle

PAGES = ["", "timed", "video", "kling", "history", "settings"]
PROMPT = "Headers test: a kettle coming to the boil"
VIOLATIONS = """window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("headers")
    process, url = start_studio(folder / "data", folder / "studio.log")
    yield url, folder / "data"
    stop(process)


@pytest.fixture(scope="module")
def studio_url(studio):
    return studio[0]


def assert_secured(headers, what: str) -> None:
    lower = {name.lower(): value for name, value in headers.items()}
    for name, value in SECURITY_HEADERS.items():
        assert lower.get(name.lower()) == value, f"{what}: {name} is {lower.get(name.lower())!r}"


def test_the_policy_is_tight():
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split("; ")}
    assert "'unsafe-eval'" not in directives["script-src"] and "'unsafe-inline'" not in directives["script-src"]
    assert directives["frame-ancestors"] == ["'none'"] and directives["object-src"] == ["'none'"]
    assert directives["connect-src"] == ["'self'"] and directives["default-src"] == ["'self'"]


def test_every_kind_of_http_answer_carries_the_headers(studio_url):
    index = requests.get(f"{studio_url}/", timeout=10)
    script = re.search(r'src="\./(static/js/[^"]+\.js)"', index.text).group(1)
    answers = {
        "page": index,
        "another page": requests.get(f"{studio_url}/history", timeout=10),
        "static file": requests.get(f"{studio_url}/{script}", timeout=10),
        "health": requests.get(f"{studio_url}/_stcore/health", timeout=10),
        "host config": requests.get(f"{studio_url}/_stcore/host-config", timeout=10),
        "unknown path": requests.get(f"{studio_url}/_stcore/nothing-here", timeout=10),
        "vidu callback refused": requests.post(f"{studio_url}/callbacks/vidu", json={}, timeout=10),
        "kling callback": requests.post(f"{studio_url}/callbacks/kling", json={"task_id": "x"}, timeout=10),
        "callback address, GET": requests.get(f"{studio_url}/callbacks/vidu", timeout=10),  # Streamlit's page
        "callback too large": requests.post(f"{studio_url}/callbacks/kling", data=b"x" * (1024 * 1024 + 1),
                                            timeout=10),
    }
    assert answers["static file"].status_code == 200 and answers["callback too large"].status_code == 413
    assert answers["vidu callback refused"].status_code == 401
    for what, answer in answers.items():
        assert_secured(answer.headers, what)


def test_websocket_handshakes_carry_the_headers(studio_url):
    stream = studio_url.replace("http://", "ws://") + "/_stcore/stream"
    with connect(stream, origin=studio_url, subprotocols=["streamlit"]) as socket:
        assert socket.response.status_code == 101
        assert_secured(socket.response.headers, "websocket accepted")
    with pytest.raises(InvalidStatus) as refused:  # another site's page may not open the studio's stream
        with connect(stream, origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    assert_secured(refused.value.response.headers, "websocket refused")


def test_pages_work_under_the_policy_with_no_violation(page, studio):
    studio_url, data = studio
    messages = []
    page.on("console", lambda message: "Content Security Policy" in message.text and messages.append(message.text))
    page.add_init_script(VIOLATIONS)
    for path in PAGES:
        page.goto(f"{studio_url}/{path}")
        wait_until_idle(page)
        assert page.evaluate("window.__csp") == [], path
    page.goto(f"{studio_url}/timed")
    wait_until_idle(page)
    expect(page.locator(".vega-embed canvas, .vega-embed svg").first).to_be_visible()  # the lanes chart drew

    page.goto(f"{studio_url}/")
    wait_until_idle(page)
    page.locator(".st-key-t2a_prompt textarea").fill(PROMPT)
    page.locator(".st-key-t2a_submit button").click()
    wait_until_idle(page)
    audio = page.locator("[class*='st-key-task_']").filter(has_text=PROMPT).locator("audio")  # either player
    expect(audio).to_have_count(1, timeout=90_000)
    # Once archived and measured, the result plays in the waveform player, from the signed link to the copy.
    player = page.locator("[data-testid='cue-waveform'][data-ready='1']")
    deadline = time.monotonic() + 60
    while not [t for t in Store(data / "studio.db").find("local") if t.params.get("prompt") == PROMPT
               and t.media[0].peaks]:  # a card drawn while the copy was still being made shows the player from its next draw
        assert time.monotonic() < deadline, "the result was never archived and measured"
        time.sleep(0.1)
    page.reload()
    wait_until_idle(page)
    expect(player).to_have_count(1, timeout=30_000)
    source = urljoin(studio_url + "/", player.get_attribute("data-src"))
    assert_secured(requests.get(source, timeout=10).headers, "archived media")
    element = page.evaluate_handle("url => { const a = document.createElement('audio'); a.src = url; "
                                   "document.body.appendChild(a); return a; }", source)
    assert playable(element) > 0

    # The player's fallback when no copy was kept: the vendor's own address, here the simulator's.
    (task,) = [t for t in Store(data / "studio.db").find("local") if t.params.get("prompt") == PROMPT]
    vendor_url = task.media[0].url
    assert urljoin(studio_url, vendor_url).split("/")[2] != studio_url.split("/")[2]
    element = page.evaluate_handle("url => { const a = document.createElement('audio'); a.src = url; "
                                   "document.body.appendChild(a); return a; }", vendor_url)
    assert playable(element) > 0
    assert page.evaluate("window.__csp") == [] and messages == []


def playable(element) -> float:
    """The media's duration once the browser has read its metadata (it fails if the load is blocked)."""
    return element.evaluate("""media => new Promise((resolve, reject) => {
        if (media.readyState >= 1) return resolve(media.duration);
        media.addEventListener('loadedmetadata', () => resolve(media.duration), {once: true});
        media.addEventListener('error', () => reject(new Error('the browser could not load the media')));
        media.preload = 'metadata'; media.load();
    })""")
