"""Attacks on the callback routes, on callback addresses and on downloads, against running studios.

Three studios, each started once for the module and only when a test needs it:
- `hosted_demo`: STUDIO_PASSWORD set and no keys, so both vendors are the embedded simulator (public demo keys);
- `open_kling`: vendors live at an external simulator (`--public-callbacks-only`), no Kling webhook secret;
- `signed_kling`: hosted, vendors live at the same simulator, with a Kling webhook secret.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from playwright.sync_api import Page, expect

from lib.core.tasks import Endpoint, State, Task
from lib.sim.options import DEMO_KLING_API_KEY, DEMO_VIDU_KEY
from lib.store.sqlite import Store, _to_row
from lib.vendors import fetch
from lib.vendors.signatures import vidu_callback_headers, webhook_signature
from tests.e2e.conftest import (
    sign_in,
    start_simulator,
    start_studio,
    stop,
    vendors_at,
    wait_until_idle,
)

PASSWORD = "correct horse battery staple"
SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
KLING = {"Authorization": f"Bearer {DEMO_KLING_API_KEY}"}
VIDU = {"Authorization": f"Token {DEMO_VIDU_KEY}"}


class Studio:
    def __init__(self, url: str, folder):
        self.url, self.folder = url, folder
        self.store = Store(folder / "data" / "studio.db")

    @property
    def log(self) -> str:
        return (self.folder / "studio.log").read_text()


@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attack-sim")
    process, url = start_simulator(folder / "sim.log", "--speed", "1", "--public-callbacks-only")
    yield url
    stop(process)


def _studio(tmp_path_factory, name: str, env: dict):
    folder = tmp_path_factory.mktemp(name)
    process, url = start_studio(folder / "data", folder / "studio.log", env)
    return process, Studio(url, folder)


@pytest.fixture(scope="module")
def hosted_demo(tmp_path_factory):
    process, studio = _studio(tmp_path_factory, "hosted-demo", {"STUDIO_PASSWORD": PASSWORD})
    yield studio
    stop(process)


@pytest.fixture(scope="module")
def open_kling(tmp_path_factory, simulator):
    process, studio = _studio(tmp_path_factory, "open-kling", vendors_at(simulator))
    yield studio
    stop(process)


@pytest.fixture(scope="module")
def signed_kling(tmp_path_factory, simulator):
    env = {**vendors_at(simulator), "KLING_WEBHOOK_SECRET": SECRET, "STUDIO_HOSTED": "1"}
    process, studio = _studio(tmp_path_factory, "signed-kling", env)
    yield studio
    stop(process)


def kling_task_at(simulator: str) -> str:
    """A Kling task the simulator is running (about 8 s at speed 1); returns its id."""
    answer = requests.post(f"{simulator}/v1/audio/text-to-audio", headers=KLING, timeout=10,
                           json={"prompt": "A door creaking", "duration": 3}).json()
    return answer["data"]["task_id"]


def known_task(studio: Studio, vendor_id: str, owner: str = "ann") -> Task:
    """Someone's running Kling task in the studio's history, not due for a poll for an hour: every vendor query
    about it can then only come from a callback."""
    task = Task(Endpoint.KLING_TEXT2AUDIO, params={"prompt": "A door creaking", "duration": 3}, owner=owner,
                vendor_id=vendor_id, external_id=f"cue-{uuid.uuid4().hex}", state=State.RUNNING,
                raw_state="processing")
    row = _to_row(task) | {"next_poll_at": time.time() + 3600, "poll_interval": 3600}
    with sqlite3.connect(studio.folder / "data" / "studio.db") as db:
        db.execute(f"INSERT INTO tasks ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    return task


def queries_about(simulator: str, vendor_id: str, since: float) -> list[dict]:
    log = requests.get(f"{simulator}/_sim/requests", timeout=10).json()
    return [r for r in log if r["method"] == "GET" and vendor_id in r["path"] and r["time"] >= since]


def kling_body(vendor_id: str, status: str = "succeed") -> bytes:
    return json.dumps({"task_id": vendor_id, "task_status": status, "task_info": {},
                       "task_result": {"audios": [{"id": "a", "url_mp3": "http://169.254.169.254/x.mp3",
                                                   "url_wav": "http://169.254.169.254/x.wav"}]}}).encode()


# --- item 1: a hosted demo takes no callbacks (the demo keys are public) ------------------------------------------

def test_a_vidu_callback_signed_with_the_public_demo_key_is_refused(hosted_demo):
    hook = f"{hosted_demo.url}/callbacks/vidu"
    headers = vidu_callback_headers(DEMO_VIDU_KEY, hook, formatdate(usegmt=True), str(uuid.uuid4()))
    body = json.dumps({"id": "123", "state": "success", "payload": "forged-payload",
                       "creations": [{"id": "c", "url": "http://169.254.169.254/latest/meta-data"}]})
    answer = requests.post(hook, data=body, headers={**headers, "Content-Type": "application/json"}, timeout=10)
    assert answer.status_code == 403
    assert answer.json() == {"ok": False, "error": "this vendor is simulated on a hosted studio, and its public "
                                                   "demo keys could sign anything"}
    assert "Vidu callback refused (403)" in hosted_demo.log
    assert "forged-payload" not in hosted_demo.log and headers["X-HMAC-SIGNATURE"] not in hosted_demo.log


def test_kling_callbacks_are_refused_signed_or_not(hosted_demo):
    hook = f"{hosted_demo.url}/callbacks/kling"
    body = kling_body("123")
    stamp = str(int(time.time()))
    signed = {"webhook-id": "w1", "webhook-timestamp": stamp,
              "webhook-signature": webhook_signature(SECRET, "w1", stamp, body)}
    for headers in ({}, signed):
        answer = requests.post(hook, data=body, headers=headers, timeout=10)
        assert answer.status_code == 403 and "demo keys" in answer.json()["error"]
    assert "Kling callback refused (403)" in hosted_demo.log and "169.254.169.254" not in hosted_demo.log


# --- item 2: unsigned Kling callbacks: one answer for every id, few vendor queries --------------------------------

def test_unsigned_kling_callbacks_answer_alike_for_known_and_unknown_ids(open_kling, simulator):
    task = known_task(open_kling, kling_task_at(simulator))
    hook = f"{open_kling.url}/callbacks/kling"
    answers = [requests.post(hook, data=kling_body(vendor_id), timeout=10)
               for vendor_id in (task.vendor_id, "no-such-task", "0" * 19, task.vendor_id + "x")]
    assert {(a.status_code, a.text) for a in answers} == {(200, '{"ok":true}')}
    assert {a.headers["Content-Length"] for a in answers} == {answers[0].headers["Content-Length"]}


def test_ten_unsigned_callbacks_for_one_task_cost_at_most_one_vendor_query(open_kling, simulator):
    task = known_task(open_kling, kling_task_at(simulator))
    since = time.time()
    hook = f"{open_kling.url}/callbacks/kling"
    for _ in range(10):
        assert requests.post(hook, data=kling_body(task.vendor_id), timeout=10).status_code == 200
    deadline = time.monotonic() + 20  # the confirming query runs in the background: wait for it
    while not (asked := queries_about(simulator, task.vendor_id, since)):
        assert time.monotonic() < deadline, "the callbacks never made the studio ask Kling"
        time.sleep(0.1)
    assert len(asked) == 1
    while open_kling.store.get(task.id).updated_at == task.updated_at:  # Kling's answer is recorded
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stored = open_kling.store.get(task.id)
    assert not stored.state.terminal and stored.media == ()  # Kling's word was taken, never the forged "succeed"
    for n in range(50):  # made-up ids cost the vendor nothing
        requests.post(hook, data=kling_body(f"made-up-{n}"), timeout=10)
    assert queries_about(simulator, "made-up-", since) == []


# --- item 3: a signed Kling callback works once per webhook-id ----------------------------------------------------

def test_a_replayed_signed_kling_callback_changes_nothing(signed_kling, simulator):
    task = known_task(signed_kling, kling_task_at(simulator))
    hook = f"{signed_kling.url}/callbacks/kling"
    body = kling_body(task.vendor_id, status="failed")
    stamp = str(int(time.time()))
    headers = {"webhook-id": "evt-replay", "webhook-timestamp": stamp,
               "webhook-signature": webhook_signature(SECRET, "evt-replay", stamp, body)}
    assert requests.post(hook, data=body, headers=headers, timeout=10).json() == {"ok": True}
    assert signed_kling.store.get(task.id).state is State.FAILED
    signed_kling.store.save(signed_kling.store.get(task.id).replace(state=State.RUNNING))  # say it was resumed
    replay = requests.post(hook, data=body, headers=headers, timeout=10)
    assert (replay.status_code, replay.json()) == (200, {"ok": True, "already_received": True})
    assert signed_kling.store.get(task.id).state is State.RUNNING  # the replay changed nothing
    forged = requests.post(hook, data=body, headers={**headers, "webhook-id": "evt-new"}, timeout=10)
    assert forged.status_code == 401  # a new id needs a new signature


# --- item 4: callback addresses inside the server's own network ----------------------------------------------------

def test_the_simulator_refuses_a_callback_address_aimed_at_its_own_control_plane(simulator):
    other = requests.post(f"{simulator}/ent/v2/text2audio", headers=VIDU, timeout=10,
                          json={"model": "audio1.0", "prompt": "Someone else's rain", "duration": 2}).json()
    for hook in (f"{simulator}/_sim/reset", "http://localhost:8501/callbacks/vidu", "http://10.0.0.7/hook"):
        vidu = requests.post(f"{simulator}/ent/v2/text2audio", headers=VIDU, timeout=10,
                             json={"model": "audio1.0", "prompt": "rain", "duration": 2, "callback_url": hook})
        assert vidu.status_code == 400 and vidu.json()["reason"] == "FieldInvalid"
        assert vidu.json()["metadata"]["fields"] == "callback_url"
        kling = requests.post(f"{simulator}/v1/audio/text-to-audio", headers=KLING, timeout=10,
                              json={"prompt": "door", "duration": 3, "callback_url": hook}).json()
        assert kling["code"] == 1201 and "callback_url" in kling["message"]
    still = requests.get(f"{simulator}/ent/v2/tasks/{other['task_id']}/creations", headers=VIDU, timeout=10)
    assert still.status_code == 200 and still.json()["id"] == other["task_id"]  # nobody's tasks were wiped


def generate(page: Page, prompt: str, callback_url: str | None = None) -> None:
    page.locator(".st-key-t2a_prompt textarea").fill(prompt)
    if callback_url is not None:
        page.get_by_text("For developers").click()
        page.locator(".st-key-t2a_callback_url input").fill(callback_url)
        page.locator(".st-key-t2a_callback_url input").press("Enter")
        wait_until_idle(page)
    page.locator(".st-key-t2a_submit button").click()
    wait_until_idle(page)


def succeeded(studio: Studio, owner: str, prompt: str, timeout: float = 60) -> Task:
    """The finished task for `prompt`, once its result is archived too (or the copy was given up)."""
    deadline = time.monotonic() + timeout
    while True:
        done = [t for t in studio.store.find(owner) if t.params.get("prompt") == prompt and t.state.terminal
                and not t.copying]  # its copy kept (or given up) too
        if done:
            return done[0]
        assert time.monotonic() < deadline, f"{prompt!r} did not finish"
        time.sleep(0.1)


class Inside:
    """A service on another loopback port: what a redirect must never make the studio fetch."""

    def __init__(self):
        self.agents = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.agents.append(self.headers.get("User-Agent", ""))
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", "6")
                self.end_headers()
                self.wfile.write(b"secret")

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.http.shutdown()
        self.http.server_close()


def test_hosted_studio_refuses_private_callback_addresses_and_redirected_downloads(hosted_demo, page):
    sign_in(page, hosted_demo.url, "ann", PASSWORD)
    generate(page, "First: a clock ticking")
    first = succeeded(hosted_demo, "ann", "First: a clock ticking")
    assert first.state is State.SUCCEEDED and first.media[0].archived
    simulator = first.media[0].url.split("/_sim/")[0]  # the embedded simulator's address

    # A callback address aimed at the simulator's control plane: refused before anything is sent.
    generate(page, "Second: a door slamming", callback_url=f"{simulator}/_sim/reset")
    expect(page.get_by_text("The callback address points inside the server's own network")).to_be_visible()
    assert [t.params["prompt"] for t in hosted_demo.store.find("ann")] == ["First: a clock ticking"]
    kept = requests.get(f"{simulator}/ent/v2/tasks/{first.vendor_id}/creations", headers=VIDU, timeout=10)
    assert kept.status_code == 200  # nobody's tasks were wiped

    # The simulator's media now bounces to another loopback port: the studio must not follow.
    inside = Inside()
    try:
        rule = {"match": "/_sim/media/", "redirect": f"{inside.url}/private.mp3"}
        requests.post(f"{simulator}/_sim/faults", json=rule, timeout=10).raise_for_status()
        page.locator(".st-key-t2a_callback_url input").fill("")
        generate(page, "Third: a bell")
        third = succeeded(hosted_demo, "ann", "Third: a bell")
        assert third.state is State.SUCCEEDED and not third.media[0].archived
        message = f"The result is ready, but no copy could be kept: {fetch.REDIRECTED_PRIVATE}"
        assert third.error_message == message
        card = page.locator("[class*='st-key-task_']").filter(has_text="Third: a bell")
        expect(card.get_by_text(fetch.REDIRECTED_PRIVATE)).to_be_visible()
        assert not [agent for agent in inside.agents if "python-requests" in agent]  # the studio never went there
    finally:
        requests.delete(f"{simulator}/_sim/faults", timeout=10)
        inside.close()
