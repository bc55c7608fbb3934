"""Vendor callbacks against a real `streamlit run` (the README's start command), driven through the browser.

The simulator runs in its own process and answers every status query with 503 for the whole test, so polling
(which stays on) never learns anything: a task can only reach "succeeded", with its files kept, through the
signed callbacks the simulator delivers to the studio's own `/callbacks/vidu` and `/callbacks/kling`. The
callback addresses are the ones the forms filled in from STUDIO_PUBLIC_URL.
"""
import time
import uuid
from email.utils import formatdate

import requests
from playwright.sync_api import expect

import tests.e2e.conftest as e2e
from lib.core.tasks import State
from lib.sim.options import DEMO_VIDU_KEY
from lib.store.sqlite import Store
from lib.vendors.signatures import vidu_callback_headers, webhook_signature
from tests.e2e.conftest import (
    start_simulator,
    start_studio,
    stop,
    vendors_at,
    wait_until_idle,
)

SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
FORMS = {"t2a": ("", "vidu", "Waves on a pebble beach"), "kt2a": ("kling", "kling", "A squeaky door opening")}
QUERY_PATHS = ("/ent/v2/tasks/", "/v1/audio/text-to-audio")  # Vidu's and Kling's status queries (GET)


def test_signed_callbacks_finish_tasks_while_every_poll_fails(page, tmp_path, monkeypatch):
    simulator, simulator_url = start_simulator(tmp_path / "sim.log", "--speed", "4", "--kling-webhook-secret", SECRET)
    for match in QUERY_PATHS:
        rule = {"match": match, "method": "GET", "status": 503}
        requests.post(f"{simulator_url}/_sim/faults", json=rule, timeout=5).raise_for_status()
    port = e2e.free_port()  # the public address has to be known before the studio starts
    monkeypatch.setattr(e2e, "free_port", lambda: port)
    public = f"http://127.0.0.1:{port}"
    env = {**vendors_at(simulator_url), "KLING_WEBHOOK_SECRET": SECRET, "STUDIO_PUBLIC_URL": public}
    studio, url = start_studio(tmp_path / "data", tmp_path / "studio.log", env)
    store = Store(tmp_path / "data" / "studio.db")
    try:
        assert url == public
        for prefix, (path, provider, prompt) in FORMS.items():
            page.goto(f"{url}/{path}")
            wait_until_idle(page)
            page.get_by_text("For developers").click()
            expect(page.locator(f".st-key-{prefix}_callback_url input")).to_have_value(
                f"{public}/callbacks/{provider}")
            page.locator(f".st-key-{prefix}_prompt textarea").fill(prompt)
            page.locator(f".st-key-{prefix}_submit button").click()
            wait_until_idle(page)
            # The click's rerun may not have begun when the page first looks idle: wait for the task itself.
            deadline = time.monotonic() + 15
            while not any(t.params["prompt"] == prompt and t.vendor_id for t in store.find("local")):
                assert time.monotonic() < deadline, f"{prompt!r} was not submitted: {store.find('local')}"
                time.sleep(0.1)
        tasks = store.find("local")
        assert len(tasks) == 2, tasks
        assert {t.params["callback_url"] for t in tasks} == {f"{public}/callbacks/vidu", f"{public}/callbacks/kling"}

        deadline = time.monotonic() + 60
        # Ended and copied: a success is saved at once and its copy is made in the background.
        while (store.in_flight() or any(t.copying for t in store.find("local"))) and time.monotonic() < deadline:
            time.sleep(0.25)
        tasks = store.find("local")
        assert all(t.state is State.SUCCEEDED for t in tasks), [(t.endpoint, t.state, t.error_message) for t in tasks]
        archive = tmp_path / "data" / "media"
        assert all(m.archived and (archive / m.archived).stat().st_size > 1000 for t in tasks for m in t.media)

        # Polling stayed on, and every status query it made was refused by the fault rules above.
        log = requests.get(f"{simulator_url}/_sim/requests", timeout=5).json()
        polls = [r for r in log if r["method"] == "GET" and any(p in r["path"] for p in QUERY_PATHS)]
        assert polls, "the poller should still have been polling"
        assert {rule["match"] for rule in requests.get(f"{simulator_url}/_sim/faults", timeout=5).json()} \
            >= set(QUERY_PATHS)

        # The same server refuses what it cannot verify, and a Vidu nonce works once.
        assert requests.post(f"{url}/callbacks/vidu", json={"id": tasks[0].vendor_id}, timeout=5).status_code == 401
        assert requests.post(f"{url}/callbacks/kling", json={"task_id": "x"}, timeout=5).status_code == 401
        hook = f"{url}/callbacks/vidu"
        headers = vidu_callback_headers(DEMO_VIDU_KEY, hook, formatdate(usegmt=True), str(uuid.uuid4()))
        first = requests.post(hook, json={"id": "unknown", "state": "success"}, headers=headers, timeout=5)
        again = requests.post(hook, json={"id": "unknown", "state": "success"}, headers=headers, timeout=5)
        assert (first.status_code, again.status_code) == (404, 401) and again.json()["error"] == "nonce already used"
        stamp, body = str(int(time.time())), b"{not json"
        signed = {"webhook-id": "m1", "webhook-timestamp": stamp,
                  "webhook-signature": webhook_signature(SECRET, "m1", stamp, body)}
        assert requests.post(f"{url}/callbacks/kling", data=body, headers=signed, timeout=5).status_code == 400
    finally:
        stop(studio)
        stop(simulator)
    server_log = (tmp_path / "studio.log").read_text()
    assert "callback refused (401)" in server_log  # the refusals above, by reason
    assert SECRET not in server_log and headers["X-HMAC-SIGNATURE"] not in server_log
