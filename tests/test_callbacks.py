"""Vendor callbacks: what is verified, what is refused, and that a verified callback updates the store at once.

Three levels: the pure receiver functions in `lib.service.callbacks`; the Starlette routes of `lib.ui.server` served by
uvicorn on loopback; and the in-process simulator delivering real signed callbacks over HTTP to those routes
served by uvicorn, with no poller running, so every change in the store can only have come from a callback.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import pytest
import requests
import uvicorn
from starlette.applications import Starlette
from streamlit.testing.v1 import AppTest

from lib.core.tasks import Endpoint, Media, Provider, State, Task
from lib.service import callbacks, studio
from lib.service.app import build
from lib.service.callbacks import Receiver, own_address, receive_kling, receive_vidu
from lib.service.config import Settings
from lib.service.poller import Poller
from lib.service.studio import Vendors
from lib.sim import DEMO_KLING_ACCESS_KEY, DEMO_KLING_SECRET_KEY, DEMO_VIDU_KEY, start
from lib.store.sqlite import Store
from lib.ui.runtime import services
from lib.ui.server import make_routes
from lib.vendors.kling import KlingClient
from lib.vendors.signatures import (
    vidu_callback_headers,
    vidu_signature,
    webhook_signature,
)
from lib.vendors.vidu import ViduClient
from tests.e2e.conftest import free_port
from tests.fakes import ScriptedClient, settled, vendors

# vidu_api.md §8.2: the documented signing string, signed with "vda_test_key".
VECTOR_KEY = "vda_test_key"
VECTOR_PATH, VECTOR_QUERY = "/vidu/callback", "name=james&age=36"
VECTOR_DATE = "Tue, 06 May 2025 12:09:42 GMT"
VECTOR_NONCE = "123e4567-e89b-12d3-a456-426614174000"
VECTOR_HEADERS = {"Date": VECTOR_DATE, "x-request-nonce": VECTOR_NONCE, "X-HMAC-SIGNED-HEADERS": "Date;x-request-nonce",
                  "X-HMAC-SIGNATURE": "uDl3Wvgx6utIjKWRnCyt4OhsefE06Qj8cCg41RV4aeE=",
                  "X-HMAC-ALGORITHM": "hmac-sha256", "X-HMAC-ACCESS-KEY": "vidu"}
VECTOR_TIME = parsedate_to_datetime(VECTOR_DATE).timestamp()

# kling_api.md §8: the official Standard Webhooks vector.
WEBHOOK_SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
WEBHOOK_ID, WEBHOOK_TS = "9876543210", "1781080794"
WEBHOOK_BODY = (b'{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,'
                b'"update_time":1781080794151}')
WEBHOOK_EXPECTED = "v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4="

KEY = "vda_studio_key"
VIDU_ID, KLING_ID, EXTERNAL_ID = "vt-100", "kt-200", "cue-abc"
SOUND_URL = "http://vendor.example/result.mp3"
VIDU_SUCCESS = {"id": VIDU_ID, "state": "success", "err_code": "", "credits": 4, "payload": "",
                "creations": [{"id": "c1", "url": SOUND_URL, "cover_url": ""}]}
VIDU_PROCESSING = {"id": VIDU_ID, "state": "processing", "err_code": "", "credits": 0, "progress": 40,
                   "creations": []}
KLING_SUCCEED = {"task_id": KLING_ID, "task_status": "succeed", "task_status_msg": "",
                 "task_info": {"external_task_id": EXTERNAL_ID}, "final_unit_deduction": "1",
                 "task_result": {"audios": [{"id": "a1", "url_mp3": SOUND_URL, "url_wav": SOUND_URL[:-3] + "wav",
                                             "duration_mp3": "3.0", "duration_wav": "3.0"}]},
                 "created_at": 1722769557708, "updated_at": 1722769557708}


# --- helpers --------------------------------------------------------------------------------------------------------

class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def keep_copy(task: Task) -> Task:
    """Stands in for the archiver: marks every file as kept."""
    keep_copy.calls.append(task.id)
    return task.replace(media=tuple(dataclasses.replace(m, archived=f"kept/{m.format}") for m in task.media))


@pytest.fixture(autouse=True)
def no_copies_yet():
    keep_copy.calls = []


def make_receiver(store, *, now=None, keys=(KEY,), secret=None, kling_answers=None) -> Receiver:
    kling = ScriptedClient(queries=kling_answers or [{"state": State.RUNNING, "raw_state": "processing"}])
    poller = Poller(store, vendors(kling=kling), on_success=keep_copy)
    receiver = Receiver(store=store, apply=poller.apply, confirm=poller.poll, vidu_keys=keys,
                        kling_webhook_secret=secret, clock=Clock(time.time() if now is None else now),
                        background=lambda job: job())  # the confirming poll at once, to see what it did
    object.__setattr__(receiver, "kling", kling)  # for the tests to see what was asked of the vendor
    return receiver


def add_vidu_task(store, vendor_id=VIDU_ID, state=State.QUEUED) -> Task:
    task = Task(Endpoint.VIDU_TEXT2AUDIO, params={"prompt": "rain"}, vendor_id=vendor_id, state=state)
    store.add(task)
    return task


def add_kling_task(store, vendor_id: str | None = KLING_ID, state=State.QUEUED) -> Task:
    task = Task(Endpoint.KLING_TEXT2AUDIO, params={"prompt": "fireworks"}, vendor_id=vendor_id,
                external_id=EXTERNAL_ID, state=state)
    store.add(task)
    return task


def signed_vidu(body: dict | bytes = VIDU_SUCCESS, *, key=KEY, path="/callbacks/vidu", query="",
                sent: float | None = None, nonce: str = "n-1") -> tuple[str, str, dict, bytes]:
    """(path, query, headers, body) of a callback Vidu signed for `path?query`."""
    url = f"https://studio.example{path}" + (f"?{query}" if query else "")
    headers = vidu_callback_headers(key, url, formatdate(time.time() if sent is None else sent, usegmt=True), nonce)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return path, query, {"Content-Type": "application/json", **headers}, raw


def signed_kling(body: dict | bytes = KLING_SUCCEED, *, secret=WEBHOOK_SECRET, sent: float | None = None,
                 webhook_id: str = "msg-1") -> tuple[dict, bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(time.time() if sent is None else sent))
    return {"content-type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": stamp,
            "webhook-signature": webhook_signature(secret, webhook_id, stamp, raw)}, raw


# --- Vidu ----------------------------------------------------------------------------------------------------------

def test_vidu_documented_vector_is_verified_by_the_receiver(store):
    task = add_vidu_task(store)
    receiver = make_receiver(store, now=VECTOR_TIME + 30, keys=(VECTOR_KEY,))
    body = json.dumps(VIDU_PROCESSING).encode()
    answer = receive_vidu(receiver, VECTOR_PATH, VECTOR_QUERY, VECTOR_HEADERS, body)
    assert (answer.status, answer.body) == (200, {"ok": True})
    stored = store.get(task.id)
    assert stored.state is State.RUNNING and stored.raw_state == "processing" and stored.progress == 40


def test_vidu_success_updates_the_store_at_once_and_keeps_a_copy(store):
    task = add_vidu_task(store)
    answer = receive_vidu(make_receiver(store), *signed_vidu())
    assert answer.status == 200
    stored = settled(store, task.id)  # saved at once, copied in the background
    assert stored.state is State.SUCCEEDED and stored.credits == 4 and stored.finished_at
    assert [m.archived for m in stored.media] == ["kept/mp3"] and keep_copy.calls == [task.id]


def test_vidu_failure_is_recorded_with_its_reason(store):
    task = add_vidu_task(store)
    failed = {"id": VIDU_ID, "state": "failed", "err_code": "CreationPolicyViolation", "creations": []}
    assert receive_vidu(make_receiver(store), *signed_vidu(failed)).status == 200
    stored = store.get(task.id)
    assert stored.state is State.FAILED and stored.error_code == "CreationPolicyViolation"
    assert keep_copy.calls == []


def test_vidu_signature_covers_the_query_as_called(store):
    task = add_vidu_task(store)
    assert receive_vidu(make_receiver(store), *signed_vidu(query="b=2&a=1")).status == 200
    assert settled(store, task.id).state is State.SUCCEEDED


@pytest.mark.parametrize("case", ["other key", "other path", "other query", "tampered signature",
                                  "signed without the nonce", "unknown algorithm"])
def test_vidu_bad_signature_is_refused_and_changes_nothing(store, case):
    task = add_vidu_task(store)
    path, query, headers, body = signed_vidu(key="vda_someone_else" if case == "other key" else KEY,
                                             query="a=1")
    if case == "other path":
        path = "/callbacks/vidu2"
    elif case == "other query":
        query = "a=2"
    elif case == "tampered signature":
        signature = headers["X-HMAC-SIGNATURE"]
        headers["X-HMAC-SIGNATURE"] = ("B" if signature[0] == "A" else "A") + signature[1:]  # always different
    elif case == "signed without the nonce":  # a valid signature that leaves the nonce free to change
        headers["X-HMAC-SIGNED-HEADERS"] = "Date"
        headers["X-HMAC-SIGNATURE"] = vidu_signature(KEY, "POST", f"https://s{path}?{query}", headers, ("Date",))
    elif case == "unknown algorithm":
        headers["X-HMAC-ALGORITHM"] = "hmac-sha1"
    answer = receive_vidu(make_receiver(store), path, query, headers, body)
    assert answer.status == 401 and answer.body["ok"] is False
    assert store.get(task.id).state is State.QUEUED and keep_copy.calls == []


@pytest.mark.parametrize("missing", ["Date", "x-request-nonce", "X-HMAC-SIGNATURE", "X-HMAC-SIGNED-HEADERS"])
def test_vidu_missing_headers_are_refused(store, missing):
    add_vidu_task(store)
    path, query, headers, body = signed_vidu()
    del headers[missing]
    assert receive_vidu(make_receiver(store), path, query, headers, body).status == 401


@pytest.mark.parametrize("offset, status", [(-360, 401), (360, 401), (-299, 200), (299, 200)])
def test_vidu_date_must_be_within_five_minutes(store, offset, status):
    task = add_vidu_task(store)
    now = time.time()
    answer = receive_vidu(make_receiver(store, now=now), *signed_vidu(sent=now + offset))
    assert answer.status == status, answer.reason
    assert (settled(store, task.id).state is State.SUCCEEDED) == (status == 200)


def test_vidu_nonce_is_refused_the_second_time_even_after_a_restart(store, reopen):
    task = add_vidu_task(store)
    first = signed_vidu(VIDU_PROCESSING, nonce="once")
    assert receive_vidu(make_receiver(store), *first).status == 200
    assert receive_vidu(make_receiver(store), *first).reason == "nonce already used"
    restarted = reopen(store)  # a new process: only the database remembers
    replay = receive_vidu(make_receiver(restarted), *first)
    assert replay.status == 401 and replay.reason == "nonce already used"
    assert receive_vidu(make_receiver(restarted), *signed_vidu(nonce="another")).status == 200
    assert restarted.get(task.id).state is State.SUCCEEDED


def test_nonces_are_forgotten_after_ten_minutes(store):
    assert store.use_nonce("a", 1000.0) and not store.use_nonce("a", 1599.0)
    assert store.use_nonce("a", 1600.0 + 1)  # pruned: by now its Date could no longer pass anyway


def test_vidu_valid_signature_but_unreadable_body_or_unknown_task(store):
    add_vidu_task(store)
    receiver = make_receiver(store)
    assert receive_vidu(receiver, *signed_vidu(b"{not json", nonce="1")).status == 400
    assert receive_vidu(receiver, *signed_vidu(b"[1, 2]", nonce="2")).status == 400
    assert receive_vidu(receiver, *signed_vidu({"state": "success"}, nonce="3")).status == 400
    assert receive_vidu(receiver, *signed_vidu({**VIDU_SUCCESS, "state": ""}, nonce="4")).status == 400
    assert receive_vidu(receiver, *signed_vidu({**VIDU_SUCCESS, "id": "nobody"}, nonce="5")).status == 404


def test_a_kling_task_id_is_not_found_through_the_vidu_route(store):
    add_kling_task(store, vendor_id=VIDU_ID)
    assert receive_vidu(make_receiver(store), *signed_vidu()).status == 404


def test_a_late_callback_does_not_undo_a_finished_task(store):
    task = add_vidu_task(store)
    receiver = make_receiver(store)
    assert receive_vidu(receiver, *signed_vidu(nonce="1")).status == 200
    late = receive_vidu(receiver, *signed_vidu(VIDU_PROCESSING, nonce="2"))
    repeated = receive_vidu(receiver, *signed_vidu(nonce="3"))
    assert late.status == repeated.status == 200
    assert settled(store, task.id).state is State.SUCCEEDED and keep_copy.calls == [task.id]  # archived once


def test_refusals_are_logged_with_the_reason_only(store, caplog):
    add_vidu_task(store)
    path, query, headers, body = signed_vidu({**VIDU_SUCCESS, "payload": "secret-payload"}, key="vda_wrong_key",
                                             nonce="nonce-xyz")
    with caplog.at_level(logging.INFO, logger="lib.service.callbacks"):
        receive_vidu(make_receiver(store), path, query, headers, body)
        receive_kling(make_receiver(store, secret=WEBHOOK_SECRET), *signed_kling(secret=WEBHOOK_SECRET[:-4] + "AA=="))
    assert "Vidu callback refused (401): signature does not match" in caplog.text
    assert "Kling callback refused (401): signature does not match" in caplog.text
    for leaked in ("secret-payload", "nonce-xyz", headers["X-HMAC-SIGNATURE"], "vda_wrong_key", SOUND_URL, KEY):
        assert leaked not in caplog.text


# --- Kling -----------------------------------------------------------------------------------------------------------

def test_kling_documented_vector_passes_verification(store, tmp_path):
    # The vector's body is the new dialect and names no task of ours: verified (not 401), then 400.
    receiver = make_receiver(store, now=int(WEBHOOK_TS) + 60, secret=WEBHOOK_SECRET)
    headers = {"webhook-id": WEBHOOK_ID, "webhook-timestamp": WEBHOOK_TS, "webhook-signature": WEBHOOK_EXPECTED}
    answer = receive_kling(receiver, headers, WEBHOOK_BODY)
    assert (answer.status, answer.reason) == (400, "the body names no task")
    assert receive_kling(receiver, headers, WEBHOOK_BODY.replace(b"succeeded", b"failed")).status == 401
    rotated = {**headers, "webhook-signature": f"v1,b2xkc2ln {WEBHOOK_EXPECTED}"}  # during a secret rotation
    fresh = make_receiver(Store(tmp_path / "fresh.db"), now=int(WEBHOOK_TS) + 60, secret=WEBHOOK_SECRET)
    assert receive_kling(fresh, rotated, WEBHOOK_BODY).status == 400  # a fresh store: the id is not a replay


def test_kling_signed_callback_updates_the_store_at_once(store):
    task = add_kling_task(store)
    receiver = make_receiver(store, secret=WEBHOOK_SECRET)
    assert receive_kling(receiver, *signed_kling()).body == {"ok": True}
    stored = settled(store, task.id)
    assert stored.state is State.SUCCEEDED and stored.raw_state == "succeed" and stored.credits == 1
    assert [(m.format, m.archived) for m in stored.media] == [("mp3", "kept/mp3"), ("wav", "kept/wav")]
    assert receiver.kling.queried == []  # a signed body is believed: Kling was not asked


def test_kling_callback_before_the_create_answer_is_found_by_external_id(store):
    task = add_kling_task(store, vendor_id=None, state=State.SUBMITTED)
    processing = {**KLING_SUCCEED, "task_status": "processing", "task_result": {}}
    assert receive_kling(make_receiver(store, secret=WEBHOOK_SECRET), *signed_kling(processing)).status == 200
    stored = store.get(task.id)
    assert stored.state is State.RUNNING and stored.vendor_id == KLING_ID


@pytest.mark.parametrize("case", ["missing id", "missing timestamp", "missing signature", "other secret",
                                  "body changed", "6 minutes old", "6 minutes ahead", "not a number"])
def test_kling_with_a_secret_refuses_what_it_cannot_verify(store, case):
    task = add_kling_task(store)
    now = time.time()
    sent = now - 360 if case == "6 minutes old" else now + 360 if case == "6 minutes ahead" else now
    other = "whsec_b3RoZXJzZWNyZXRvdGhlcnNlY3JldG90aGVyc2VjcmV0"
    headers, body = signed_kling(secret=other if case == "other secret" else WEBHOOK_SECRET, sent=sent)
    if case.startswith("missing"):
        del headers[{"missing id": "webhook-id", "missing timestamp": "webhook-timestamp",
                     "missing signature": "webhook-signature"}[case]]
    elif case == "body changed":
        body = body.replace(b"succeed", b"failed")
    elif case == "not a number":
        headers["webhook-timestamp"] = "soon"
        headers["webhook-signature"] = webhook_signature(WEBHOOK_SECRET, "msg-1", "soon", body)
    answer = receive_kling(make_receiver(store, now=now, secret=WEBHOOK_SECRET), headers, body)
    assert answer.status == 401
    assert store.get(task.id).state is State.QUEUED


def test_kling_with_a_secret_answers_400_and_404_only_after_verifying(store):
    receiver = make_receiver(store, secret=WEBHOOK_SECRET)
    assert receive_kling(receiver, *signed_kling(b"nope", webhook_id="m1")).status == 400
    odd = {**KLING_SUCCEED, "task_status": ""}
    assert receive_kling(receiver, *signed_kling(odd, webhook_id="m2")).status == 404
    add_kling_task(store)
    assert receive_kling(receiver, *signed_kling(odd, webhook_id="m3")).status == 400


def test_kling_without_a_secret_trusts_kling_not_the_body(store):
    task = add_kling_task(store)
    receiver = make_receiver(store, kling_answers=[{"state": State.RUNNING, "raw_state": "processing"}])
    answer = receive_kling(receiver, {"content-type": "application/json"}, json.dumps(KLING_SUCCEED).encode())
    assert answer.status == 200 and receiver.kling.queried == [KLING_ID]
    stored = store.get(task.id)
    assert stored.state is State.RUNNING and stored.media == ()  # Kling said "processing", whatever the body said


def test_kling_without_a_secret_records_what_kling_confirms(store):
    task = add_kling_task(store)
    done = {"state": State.SUCCEEDED, "raw_state": "succeed", "media": (Media("audio", SOUND_URL, "mp3"),)}
    receiver = make_receiver(store, kling_answers=[done])
    assert receive_kling(receiver, {}, json.dumps(KLING_SUCCEED).encode()).status == 200
    stored = settled(store, task.id)
    assert stored.state is State.SUCCEEDED and stored.media[0].archived == "kept/mp3"


def test_kling_without_a_secret_needs_a_task_the_store_knows(store):
    receiver = make_receiver(store)
    assert receive_kling(receiver, {}, json.dumps(KLING_SUCCEED).encode()).body == {"ok": True}  # as for any id
    assert receive_kling(receiver, {}, b'{"task_status": "succeed"}').status == 400
    assert receive_kling(receiver, {}, b"<html>").status == 400
    assert receiver.kling.queried == []  # nothing unknown makes the studio call Kling


def test_forms_fill_in_the_studio_s_own_address_only_with_a_public_url():
    assert own_address("https://cue.example", Provider.VIDU) == "https://cue.example/callbacks/vidu"
    assert own_address("https://cue.example/team/", Provider.KLING) == "https://cue.example/team/callbacks/kling"
    assert own_address(None, Provider.VIDU) is None


# --- the routes over real HTTP: uvicorn on loopback serving `lib.ui.server.make_routes` ---------------------------

@pytest.fixture
def served(store):
    """Serves the callback routes for `receiver` on a free loopback port; returns the base URL."""
    def serve(receiver: Receiver) -> str:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(Starlette(routes=make_routes(lambda: receiver)), host="127.0.0.1",
                                               port=port, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        made.append((server, thread))
        return f"http://127.0.0.1:{port}"

    made = []
    yield serve
    for server, thread in made:
        server.should_exit = True
        thread.join(timeout=5)


def test_routes_answer_json_with_the_documented_statuses(store, served):
    task = add_vidu_task(store)
    base = served(make_receiver(store))
    path, query, headers, body = signed_vidu(VIDU_PROCESSING, query="studio=1&x=%2F", nonce="route-1")
    url = f"{base}{path}?{query}"
    assert requests.post(url, data=body, headers=headers, timeout=10).json() == {"ok": True}
    assert store.get(task.id).state is State.RUNNING
    replay = requests.post(url, data=body, headers=headers, timeout=10)
    assert replay.status_code == 401 and replay.json() == {"ok": False, "error": "nonce already used"}
    hook = f"{base}/callbacks/vidu"
    assert requests.post(hook, data=body, timeout=10).status_code == 401  # no signature at all
    too_big = requests.post(hook, data=b"x" * (callbacks.MAX_BODY_BYTES + 1), timeout=10)
    assert too_big.status_code == 413
    assert requests.get(hook, timeout=10).status_code == 405
    _, _, headers, bad = signed_vidu(b"{", nonce="route-2")
    assert requests.post(hook, data=bad, headers=headers, timeout=10).status_code == 400
    _, _, headers, stranger = signed_vidu({**VIDU_SUCCESS, "id": "nobody"}, nonce="route-3")
    assert requests.post(hook, data=stranger, headers=headers, timeout=10).status_code == 404
    _, _, headers, done = signed_vidu(nonce="route-4")
    assert requests.post(hook, data=done, headers=headers, timeout=10).status_code == 200
    assert settled(store, task.id).state is State.SUCCEEDED and keep_copy.calls == [task.id]


def test_kling_route_with_and_without_a_secret(store, served):
    task = add_kling_task(store)
    signed = served(make_receiver(store, secret=WEBHOOK_SECRET)) + "/callbacks/kling"
    assert requests.post(signed, json=KLING_SUCCEED, timeout=10).status_code == 401
    headers, body = signed_kling()
    assert requests.post(signed, data=body, headers=headers, timeout=10).json() == {"ok": True}
    assert settled(store, task.id).state is State.SUCCEEDED
    unsigned = served(make_receiver(store)) + "/callbacks/kling"
    stranger = {**KLING_SUCCEED, "task_id": "x", "task_info": {}}
    assert requests.post(unsigned, json=stranger, timeout=10).status_code == 200  # unknown ids are not told apart


# --- demo mode end to end: the simulator's real callbacks, and no poller running ----------------------------------

def wait_for_end(store, vendor_id: str, timeout: float = 20) -> Task:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = store.get(vendor_id)
        if task.state.terminal:
            return task
        time.sleep(0.05)
    raise AssertionError(f"still {store.get(vendor_id).state} after {timeout} s")


@pytest.mark.parametrize("secret", [WEBHOOK_SECRET, None], ids=["kling signed", "kling unsigned"])
def test_simulator_callbacks_finish_tasks_with_no_poller_running(store, served, secret):
    with start(speed=20, kling_webhook_secret=secret) as sim:
        clients = Vendors(vidu=ViduClient(DEMO_VIDU_KEY, base_url=sim.url),
                          kling=KlingClient(access_key=DEMO_KLING_ACCESS_KEY, secret_key=DEMO_KLING_SECRET_KEY,
                                            base_url=sim.url), vidu_live=False, kling_live=False)
        poller = Poller(store, clients, on_success=keep_copy)  # never started: only callbacks move tasks
        # No debounce here: with no poller running, a swallowed callback would never be made up for (the
        # debounce has tests of its own, in tests/test_callbacks_trust.py).
        studio_url = served(Receiver(store=store, apply=poller.apply, confirm=poller.poll,
                                     vidu_keys=(DEMO_VIDU_KEY,), kling_webhook_secret=secret,
                                     confirm_limit=callbacks.ConfirmLimit(every=0)))
        sent = {}
        for endpoint, body in ((Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": "rain", "duration": 2}),
                               (Endpoint.KLING_TEXT2AUDIO, {"prompt": "fireworks", "duration": 3})):
            hook = callbacks.own_address(studio_url + "/", endpoint.provider)
            task, new = studio.submit(store, clients, endpoint, {**body, "callback_url": hook}, "local")
            assert new and task.vendor_id, task
            sent[endpoint] = task.id
        for endpoint, vendor_id in sent.items():
            wait_for_end(store, vendor_id)
            done = settled(store, vendor_id)
            assert done.state is State.SUCCEEDED, (endpoint, done.error_message)
            assert done.media and all(m.archived for m in done.media)
        # Vidu's callbacks are always believed once verified; Kling's are believed when signed, and otherwise
        # each one made the studio ask Kling.
        queries = [r for r in sim.requests if r.method == "GET" and r.vendor]
        assert not [r for r in queries if r.vendor == "vidu"]
        assert bool([r for r in queries if r.vendor == "kling"]) == (secret is None)


# --- the poller and callbacks share one success path -------------------------------------------------------------

def test_a_poll_that_lags_behind_a_callback_does_not_undo_it(store):
    task = add_vidu_task(store)
    lagging = ScriptedClient(queries=[{"vendor_id": VIDU_ID, "state": State.RUNNING, "raw_state": "processing"}])
    poller = Poller(store, vendors(vidu=lagging), on_success=keep_copy)
    receiver = Receiver(store=store, apply=poller.apply, confirm=poller.poll, vidu_keys=(KEY,))
    assert receive_vidu(receiver, *signed_vidu()).status == 200
    poller.poll(task)  # the poller's copy of the task was read before the callback arrived
    assert settled(store, task.id).state is State.SUCCEEDED and keep_copy.calls == [task.id]


def test_the_receiver_uses_the_key_the_studio_creates_tasks_with(tmp_path):
    for settings, key in ((Settings(data_dir=tmp_path), DEMO_VIDU_KEY),
                          (Settings(data_dir=tmp_path, vidu_api_key=KEY, kling_webhook_secret=WEBHOOK_SECRET), KEY)):
        with build(settings) as built:
            receiver = callbacks.receiver_for(built.settings, built.store, built.worker, built.vidu_key)
        assert receiver.vidu_keys == (key,) and receiver.kling_webhook_secret == settings.kling_webhook_secret


# --- the forms ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("public", [None, "https://cue.example/"])
def test_forms_fill_in_the_callback_address_from_the_public_url(tmp_path, monkeypatch, public):
    for name in ("VIDU_API_KEY", "KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "STUDIO_PASSWORD",
                 "STUDIO_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    if public:
        monkeypatch.setenv("STUDIO_PUBLIC_URL", public)
    services.clear()
    try:
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=30)
        at.run()
        assert not at.exception, at.exception
        assert at.text_input(key="t2a_callback_url").value == ("https://cue.example/callbacks/vidu" if public else "")
        at.text_input(key="t2a_callback_url").input("https://mine.example/hook").run()
        assert at.text_input(key="t2a_callback_url").value == "https://mine.example/hook"  # typed: kept
        at.session_state["open_page"] = "kling"
        at.run()
        assert at.text_input(key="kt2a_callback_url").value == ("https://cue.example/callbacks/kling" if public
                                                                else "")
    finally:
        services.clear()
