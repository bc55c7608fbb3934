"""What a callback may make the studio (and the simulator) do: nothing for a public demo key, the same answer
for every Kling task id, few vendor queries, one use per webhook id, and no callback address inside the
server's own network on a hosted instance.

Pure functions and the receiver with scripted vendors; the simulator in-process over loopback HTTP.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from email.utils import formatdate

import pytest
import requests

from lib.core.errors import InvalidRequest
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.service import callbacks, studio
from lib.service.callbacks import (
    ConfirmLimit,
    Receiver,
    callback_address_problems,
    receive_kling,
    receive_vidu,
)
from lib.service.config import Settings
from lib.service.poller import Poller
from lib.sim import DEMO_KLING_API_KEY, DEMO_VIDU_KEY, start
from lib.sim.callbacks import Dispatcher
from lib.vendors import fetch
from lib.vendors.signatures import vidu_callback_headers, webhook_signature
from tests.fakes import ScriptedClient, vendors

SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
KLING_ID, VIDU_ID = "kt-1", "vt-1"
RUNNING = {"state": State.RUNNING, "raw_state": "processing"}


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def receiver(store, *, secret=None, refused=frozenset(), clock=None, limit=None) -> Receiver:
    kling = ScriptedClient(queries=[RUNNING])
    poller = Poller(store, vendors(kling=kling))
    made = Receiver(store=store, apply=poller.apply, confirm=poller.poll, vidu_keys=(DEMO_VIDU_KEY,),
                    kling_webhook_secret=secret, clock=clock or Clock(time.time()), refused=refused,
                    confirm_limit=limit or ConfirmLimit(), background=lambda job: job())
    object.__setattr__(made, "kling", kling)
    return made


def kling_task(store, vendor_id=KLING_ID, state=State.QUEUED) -> Task:
    task = Task(Endpoint.KLING_TEXT2AUDIO, params={"prompt": "door"}, vendor_id=vendor_id, external_id=f"cue-{vendor_id}",
                state=state)
    store.add(task)
    return task


def kling_body(vendor_id=KLING_ID, status="succeed") -> bytes:
    return json.dumps({"task_id": vendor_id, "task_status": status, "task_info": {},
                       "task_result": {"audios": []}}).encode()


def signed(body: bytes, webhook_id: str, secret=SECRET) -> dict:
    stamp = str(int(time.time()))
    return {"webhook-id": webhook_id, "webhook-timestamp": stamp,
            "webhook-signature": webhook_signature(secret, webhook_id, stamp, body)}


# --- the confirm limit --------------------------------------------------------------------------------------------

def test_confirm_limit_allows_one_query_per_task_per_window():
    limit = ConfirmLimit(every=10, per_second=100)
    assert limit.allow("a", 100.0)
    assert not limit.allow("a", 100.5) and not limit.allow("a", 109.9)
    assert limit.allow("b", 100.5)  # another task has its own window
    assert limit.allow("a", 110.0)


def test_confirm_limit_bounds_all_tasks_together():
    limit = ConfirmLimit(every=10, per_second=3)
    assert [limit.allow(f"t{n}", 50.0 + n / 100) for n in range(5)] == [True, True, True, False, False]
    assert limit.allow("t4", 51.2)  # the next second


def test_the_confirming_poll_runs_in_the_background_and_its_failure_is_logged(caplog):
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        raise RuntimeError("the store went away")

    with caplog.at_level(logging.ERROR, logger="lib.service.callbacks"):
        callbacks.in_background(slow)  # returns at once, while the job still runs
        assert started.wait(10)
        release.set()
        deadline = time.monotonic() + 10
        while "asking Kling about a task after a callback failed" not in caplog.text:
            assert time.monotonic() < deadline
            time.sleep(0.01)


def test_confirm_limit_is_thread_safe():
    limit, allowed = ConfirmLimit(every=10, per_second=1000), []
    threads = [threading.Thread(target=lambda: allowed.append(limit.allow("same", 7.0))) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 1


# --- item 2: unsigned Kling callbacks -----------------------------------------------------------------------------

def test_unsigned_kling_answers_the_same_for_known_and_unknown_tasks(store):
    kling_task(store)
    known = receive_kling(receiver(store), {}, kling_body())
    unknown = receive_kling(receiver(store), {}, kling_body("no-such-task"))
    finished_task = kling_task(store, "kt-done", State.SUCCEEDED)
    finished = receive_kling(receiver(store), {}, kling_body(finished_task.vendor_id))
    assert (known.status, known.body) == (unknown.status, unknown.body) == (finished.status, finished.body) \
        == (200, {"ok": True})


def test_ten_unsigned_callbacks_for_one_task_cost_one_vendor_query(store):
    task = kling_task(store)
    clock = Clock(1000.0)
    made = receiver(store, clock=clock)
    for n in range(10):
        clock.now = 1000.0 + n / 10
        assert receive_kling(made, {}, kling_body()).status == 200
    assert made.kling.queried == [KLING_ID]
    clock.now = 1011.0  # the window has passed: the next one asks again
    receive_kling(made, {}, kling_body())
    assert made.kling.queried == [KLING_ID, KLING_ID]
    assert store.get(task.id).state is State.RUNNING  # Kling's word, never the body's "succeed"


def test_a_flood_of_unknown_ids_costs_no_query_and_no_memory(store):
    limit = ConfirmLimit()
    made = receiver(store, limit=limit)
    for n in range(500):
        assert receive_kling(made, {}, kling_body(f"made-up-{n}")).body == {"ok": True}
    assert made.kling.queried == [] and limit._last == {}


def test_many_known_tasks_at_once_are_bounded_too(store):
    for n in range(20):
        kling_task(store, f"kt-{n}")
    made = receiver(store, clock=Clock(500.0))
    for n in range(20):
        receive_kling(made, {}, kling_body(f"kt-{n}"))
    assert len(made.kling.queried) == callbacks.CONFIRMS_PER_SECOND


# --- item 3: a signed Kling callback once per webhook-id ----------------------------------------------------------

def test_a_signed_kling_replay_is_received_but_changes_nothing_even_after_a_restart(store, reopen):
    task = kling_task(store)
    processing = kling_body(status="processing")
    assert receive_kling(receiver(store, secret=SECRET), signed(processing, "evt-1"), processing).reason == "recorded"
    assert store.get(task.id).state is State.RUNNING
    succeed = kling_body()
    headers = signed(succeed, "evt-2")
    restarted = reopen(store)
    replay_first = receive_kling(receiver(restarted, secret=SECRET), signed(processing, "evt-1"), processing)
    assert (replay_first.status, replay_first.reason) == (200, "already received")
    assert replay_first.body == {"ok": True, "already_received": True}
    assert receive_kling(receiver(restarted, secret=SECRET), headers, succeed).status == 200
    assert restarted.get(task.id).state is State.SUCCEEDED
    again = receive_kling(receiver(restarted, secret=SECRET), headers, succeed)
    assert (again.status, again.reason) == (200, "already received")


def test_an_unverified_kling_callback_does_not_use_up_its_webhook_id(store):
    task = kling_task(store)
    body = kling_body(status="processing")
    forged = signed(body, "evt-9", secret="whsec_b3RoZXJzZWNyZXRvdGhlcnNlY3JldG90aGVyc2VjcmV0")
    assert receive_kling(receiver(store, secret=SECRET), forged, body).status == 401
    assert receive_kling(receiver(store, secret=SECRET), signed(body, "evt-9"), body).reason == "recorded"
    assert store.get(task.id).state is State.RUNNING


# --- item 1: no callbacks for a vendor simulated on a hosted studio -----------------------------------------------

@pytest.mark.parametrize("settings, refused", [
    (Settings(), set()),
    (Settings(hosted=True), {Provider.VIDU, Provider.KLING}),
    (Settings(hosted=True, vidu_api_key="vda_live"), {Provider.KLING}),
    (Settings(hosted=True, kling_api_key="kling_live"), {Provider.VIDU}),
    (Settings(hosted=True, vidu_api_key="vda_live", kling_api_key="kling_live"), set()),
])
def test_refused_vendors_are_those_simulated_on_a_hosted_studio(settings, refused):
    assert callbacks.refused_vendors(settings) == refused
    assert callbacks.receiver_for(settings, None, Poller(None, vendors()), "vda_demo").refused == refused


def test_a_vidu_callback_signed_with_the_public_demo_key_is_refused_when_hosted(store, caplog):
    task = Task(Endpoint.VIDU_TEXT2AUDIO, params={"prompt": "rain"}, vendor_id=VIDU_ID, state=State.QUEUED)
    store.add(task)
    url = "https://studio.example/callbacks/vidu"
    headers = vidu_callback_headers(DEMO_VIDU_KEY, url, formatdate(usegmt=True), "n-1")
    body = json.dumps({"id": VIDU_ID, "state": "failed", "err_code": "UserCancelled", "creations": []}).encode()
    hosted = receiver(store, refused=frozenset({Provider.VIDU, Provider.KLING}))
    with caplog.at_level(logging.INFO, logger="lib.service.callbacks"):
        answer = receive_vidu(hosted, "/callbacks/vidu", "", headers, body)
    assert answer.status == 403 and "demo keys" in answer.body["error"]
    assert store.get(task.id).state is State.QUEUED
    assert "Vidu callback refused (403)" in caplog.text and "UserCancelled" not in caplog.text
    assert receive_vidu(receiver(store), "/callbacks/vidu", "", headers, body).status == 200  # a laptop takes it


def test_a_kling_callback_is_refused_when_kling_is_simulated_on_a_hosted_studio(store):
    kling_task(store)
    answer = receive_kling(receiver(store, refused=frozenset({Provider.KLING})), {}, kling_body())
    assert answer.status == 403
    body = kling_body(status="processing")
    signed_answer = receive_kling(receiver(store, secret=SECRET, refused=frozenset({Provider.KLING})),
                                  signed(body, "e"), body)
    assert signed_answer.status == 403


# --- item 4: callback addresses -------------------------------------------------------------------------------------

def public(host):
    return ["93.184.216.34"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765/_sim/reset", "http://localhost:8501/callbacks/vidu",
                                 "http://app.localhost/x", "http://10.0.0.8/hook", "http://[::1]:80/",
                                 "http://169.254.169.254/latest", "http://0.0.0.0:8765/_sim/reset",
                                 "http://2130706433/"])
def test_private_callback_addresses_are_refused_plainly(url):
    problems = callback_address_problems(url, resolver=None)
    assert [p.field for p in problems] == ["callback_url"]
    assert "inside the server's own network" in problems[0].message


def test_a_callback_address_is_refused_if_any_of_its_addresses_is_private():
    assert callback_address_problems("https://hooks.example/x", lambda host: ["93.184.216.34", "10.0.0.1"])
    assert callback_address_problems("https://hooks.example/x", public) == []
    assert callback_address_problems("", public) == [] and callback_address_problems(None, public) == []
    assert callback_address_problems("ftp://x", public) == []  # not a web address: lib.core.validation says so


def test_a_hosted_studio_refuses_a_private_callback_address_before_sending(store):
    clients = vendors(vidu=ScriptedClient(creates=[{"vendor_id": "v1"}]))
    body = {"model": "audio1.0", "prompt": "rain", "duration": 3, "callback_url": "http://127.0.0.1:9/_sim/reset"}
    with pytest.raises(InvalidRequest) as caught:
        studio.submit(store, clients, Endpoint.VIDU_TEXT2AUDIO, body, "ann", hosted=True)
    assert [p.field for p in caught.value.problems] == ["callback_url"]
    assert clients.vidu.created == [] and store.find("ann") == []  # nothing sent, nothing recorded
    task, new = studio.submit(store, clients, Endpoint.VIDU_TEXT2AUDIO, body, "ann")  # a laptop may
    assert new and clients.vidu.created


# --- the simulator's side -------------------------------------------------------------------------------------------

def test_dispatcher_address_rule():
    open_one, strict = Dispatcher(1.0), Dispatcher(1.0, public_only=True)
    strict.own = ("127.0.0.1", 8765)
    try:
        assert open_one.address_allowed("http://127.0.0.1:8501/callbacks/vidu")
        for url in ("http://127.0.0.1:8501/x", "http://localhost/x", "http://10.1.1.1/", "http://[::1]/",
                    "http://0.0.0.0:8765/_sim/reset", "ftp://example.com/", "http://[::1"):
            assert not strict.address_allowed(url), url
        assert strict.address_allowed(None) and strict.address_allowed("")
        assert strict._is_own(["127.0.0.1"], 8765) and not strict._is_own(["127.0.0.1"], 8766)
    finally:
        open_one.stop()
        strict.stop()


VIDU_CREATE = {"model": "audio1.0", "prompt": "rain", "duration": 2}
KLING_CREATE = {"prompt": "door", "duration": 3}


@pytest.mark.parametrize("hook", ["http://127.0.0.1:1/_sim/reset", "http://192.168.1.20/hook", "http://localhost/x"])
def test_a_public_only_simulator_rejects_private_callback_addresses_like_the_vendor(hook):
    with start(speed=50, public_callbacks_only=True) as sim:
        vidu = requests.post(f"{sim.url}/ent/v2/text2audio", json={**VIDU_CREATE, "callback_url": hook},
                             headers={"Authorization": f"Token {DEMO_VIDU_KEY}"}, timeout=10)
        assert vidu.status_code == 400
        assert (vidu.json()["reason"], vidu.json()["metadata"]["fields"]) == ("FieldInvalid", "callback_url")
        kling = requests.post(f"{sim.url}/v1/audio/text-to-audio", json={**KLING_CREATE, "callback_url": hook},
                              headers={"Authorization": f"Bearer {DEMO_KLING_API_KEY}"}, timeout=10)
        assert kling.json()["code"] == 1201 and "callback_url" in kling.json()["message"]
        assert sim.engine.tasks("vidu") == [] and sim.engine.tasks("kling") == []


def test_a_public_only_simulator_refuses_its_own_public_address(monkeypatch):
    monkeypatch.setattr(fetch, "resolve", lambda host: ["93.184.216.34"])
    for own in (("93.184.216.34", 8765), ("0.0.0.0", 8765)):  # its public address, or every address it has
        dispatcher = Dispatcher(1.0, public_only=True)
        dispatcher.own = own
        try:
            assert not dispatcher.address_allowed("http://sim.example:8765/_sim/reset")
            assert dispatcher.address_allowed("http://sim.example:8766/hook")  # another service on that host
        finally:
            dispatcher.stop()


def test_the_simulator_s_own_callbacks_never_reach_its_control_plane():
    """Without the public-only option (a laptop), a callback aimed at the simulator's /_sim/reset is refused by
    the simulator itself: everyone's tasks stay."""
    with start(speed=50) as sim:
        headers = {"Authorization": f"Token {DEMO_VIDU_KEY}"}
        other = requests.post(f"{sim.url}/ent/v2/text2audio", json=VIDU_CREATE, headers=headers, timeout=10).json()
        attack = requests.post(f"{sim.url}/ent/v2/text2audio", headers=headers, timeout=10,
                               json={**VIDU_CREATE, "callback_url": f"{sim.url}/_sim/reset"}).json()
        deadline = time.monotonic() + 20
        while not [r for r in sim.requests if r.path == "/_sim/reset"]:
            assert time.monotonic() < deadline, "the callback was never attempted"
            time.sleep(0.05)
        query = requests.get(f"{sim.url}/ent/v2/tasks/{other['task_id']}/creations", headers=headers, timeout=10)
        assert query.status_code == 200 and query.json()["id"] == other["task_id"]
        assert {t.id for t in sim.engine.tasks("vidu")} >= {other["task_id"], attack["task_id"]}


def test_the_dispatcher_checks_the_address_it_actually_connected_to():
    """The name passed the check (say it resolved to a public address then); the connection reached loopback."""
    import socket as sockets

    from lib.sim.callbacks import Delivery, _Refused

    listener = sockets.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    strict = Dispatcher(1.0, public_only=True)
    try:
        delivery = Delivery("t", f"http://127.0.0.1:{listener.getsockname()[1]}/hook", b"{}", dict, retry=True)
        with pytest.raises(_Refused):
            strict._post(delivery)
        connection, _ = listener.accept()  # the TCP connection was made, and closed before a byte was sent
        with connection:
            connection.settimeout(5)
            assert connection.recv(1024) == b""
    finally:
        listener.close()
        strict.stop()
