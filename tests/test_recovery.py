"""Creates whose answer never came (the studio died while sending, or the answer was lost): Vidu's task list in
the simulator, the matching of a request to a listed task, and the poller linking the task, never sending twice."""
from __future__ import annotations

import time

import pytest
import requests

from lib.core import forms
from lib.core.tasks import Endpoint, State, Task
from lib.service import poller as poller_module
from lib.service import studio
from lib.service.poller import Poller
from lib.sim import DEMO_VIDU_KEY
from lib.store.sqlite import Store
from lib.vendors import vidu
from lib.vendors.vidu import best_match, parse_time, payload_tag, rfc3339, same_request
from tests.fakes import ScriptedClient, vendors

VIDEO = {"model": "viduq2", "prompt": "A kite over the dunes", "duration": 1, "resolution": "540p"}
SOUND = {"model": "audio1.0", "prompt": "Gulls over the harbour", "duration": 2}
TIMED = {"model": "audio1.0", "duration": 4, "timing_prompts": [{"from": 0, "to": 2, "prompt": "A bell"},
                                                                {"from": 2, "to": 4, "prompt": "A horn"}]}
NOW = 1_780_000_000.0


@pytest.fixture(autouse=True)
def fresh(fresh_sim):
    """Every test starts with an empty simulator (tests/conftest.py)."""


def entry(body: dict, created: float = NOW, **fields) -> dict:
    return {"id": "v1", "created_at": rfc3339(created), **body, **fields}


def lost(store: Store, endpoint: Endpoint, body: dict, age: float = 10) -> Task:
    """A task recorded before its create was sent, as a studio that died mid-create leaves it."""
    task = Task(endpoint, params=body, created_at=time.time() - age)
    store.add(task)
    return task


def creates(sim) -> int:
    return sum(r.method == "POST" and not r.path.endswith("/cancel") for r in sim.requests)


def follow(poller: Poller, store: Store, task: Task, timeout: float = 20) -> Task:
    """Poll `task` until it ends (each poll is a real request to the simulator)."""
    deadline = time.monotonic() + timeout
    while not (current := store.get(task.id)).state.terminal:
        assert time.monotonic() < deadline, current
        poller.poll(current)
    return current


# --- pure functions ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [
    ("2025-05-03T02:02:11.440323061Z", 1746237731.440323), ("2025-01-01T15:41:31.968916Z", 1735746091.968916),
    ("2025-01-01T15:41:31Z", 1735746091.0), ("2025-01-01T16:41:31+01:00", 1735746091.0),
])
def test_vidus_times_are_read_to_the_microsecond(text, seconds):
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "yesterday", "2025-01-01T15:41:31", None, 1735746091])
def test_unreadable_or_zoneless_times_are_none(text):
    assert parse_time(text) is None


def test_same_request_needs_same_kind_model_prompt_and_settings():
    assert same_request(Endpoint.VIDU_TEXT2VIDEO, VIDEO, entry(VIDEO, type="text2video", seed=77))
    for change in ({"prompt": "Another"}, {"model": "viduq1"}, {"duration": 2}, {"resolution": "720p"},
                   {"type": "img2video"}):
        assert not same_request(Endpoint.VIDU_TEXT2VIDEO, VIDEO, entry(VIDEO, **change)), change


def test_a_seed_matters_only_when_one_was_asked_for():
    assert same_request(Endpoint.VIDU_TEXT2AUDIO, {**SOUND, "seed": 0}, entry(SOUND, seed=123))
    assert not same_request(Endpoint.VIDU_TEXT2AUDIO, {**SOUND, "seed": 5}, entry(SOUND, seed=123))


def test_timing_events_are_compared_event_by_event():
    assert same_request(Endpoint.VIDU_TIMING2AUDIO, TIMED, entry(TIMED))
    moved = {**TIMED, "timing_prompts": [{"from": 0, "to": 1, "prompt": "A bell"}, TIMED["timing_prompts"][1]]}
    assert not same_request(Endpoint.VIDU_TIMING2AUDIO, TIMED, entry(moved))


def test_the_payload_tag_decides_when_both_sides_carry_one():
    mine = {**VIDEO, "payload": payload_tag("abc")}
    assert same_request(Endpoint.VIDU_TEXT2VIDEO, mine, entry(VIDEO, payload=payload_tag("abc"), prompt="edited"))
    assert not same_request(Endpoint.VIDU_TEXT2VIDEO, mine, entry(VIDEO, payload=payload_tag("xyz")))
    assert same_request(Endpoint.VIDU_TEXT2VIDEO, mine, entry(VIDEO))  # a list without payloads: the rest decides


def test_best_match_is_the_closest_in_time_within_the_window():
    task = Task(Endpoint.VIDU_TEXT2AUDIO, SOUND, created_at=NOW)
    entries = [entry(SOUND, NOW + 40, id="later"), entry(SOUND, NOW + 2, id="close"),
               entry({**SOUND, "prompt": "Other"}, NOW, id="other"),
               entry(SOUND, NOW + vidu.LOOKUP_AFTER_SECONDS + 60, id="too-late"), {"id": "no-time", **SOUND}]
    assert best_match(task, entries) == "close"
    assert best_match(task, [entries[3], entries[4]]) is None


def test_reusing_settings_drops_the_studios_tag_but_keeps_a_typed_payload():
    tagged = forms.to_values(Endpoint.VIDU_TEXT2VIDEO, {**VIDEO, "payload": payload_tag("abc")})
    assert tagged["payload"] == ""
    assert forms.to_values(Endpoint.VIDU_TEXT2VIDEO, {**VIDEO, "payload": "order 7"})["payload"] == "order 7"


# --- the simulator's task list ----------------------------------------------------------------------------------

def test_task_list_pages_and_filters_by_creation_time(sim, clients):
    made = [clients.vidu.create(Endpoint.VIDU_TEXT2AUDIO, {**SOUND, "prompt": f"Gull {n}"}).vendor_id
            for n in range(7)]
    url, headers = f"{sim.url}/ent/v2/tasks", {"Authorization": f"Token {DEMO_VIDU_KEY}"}
    first = requests.get(url, params={"paper.pagesz": 5}, headers=headers, timeout=5).json()
    second = requests.get(url, params={"paper.pagesz": 5, "pager.page_token": first["next_page_token"]},
                          headers=headers, timeout=5).json()
    assert [t["id"] for t in first["tasks"] + second["tasks"]] == made[::-1] and second["next_page_token"] == ""
    assert {"id", "key_id", "model", "prompt", "images", "duration", "resolution", "aspect_ratio",
            "creations"} <= set(first["tasks"][0]) and DEMO_VIDU_KEY not in str(first)
    future, _ = clients.vidu.list_tasks(time.time() + 60, time.time() + 120)
    assert future == []


def test_task_list_refuses_a_page_size_past_the_documented_100(sim):
    answer = requests.get(f"{sim.url}/ent/v2/tasks", params={"paper.pagesz": 101},
                          headers={"Authorization": f"Token {DEMO_VIDU_KEY}"}, timeout=5)
    assert answer.status_code == 400 and answer.json()["reason"] == "FieldInvalid"


def test_find_created_pages_through_the_list(sim, clients, monkeypatch):
    monkeypatch.setattr(vidu, "LIST_PAGE_SIZE", 2)
    target = clients.vidu.create(Endpoint.VIDU_TIMING2AUDIO, TIMED).vendor_id
    for n in range(5):
        clients.vidu.create(Endpoint.VIDU_TEXT2AUDIO, {**SOUND, "prompt": f"Gull {n}"})
    task = Task(Endpoint.VIDU_TIMING2AUDIO, TIMED, created_at=time.time())
    assert clients.vidu.find_created(task) == target
    assert clients.vidu.find_created(task, taken=lambda vendor_id: vendor_id == target) is None


# --- the studio and the poller ----------------------------------------------------------------------------------

def test_text_to_video_carries_a_tag_naming_the_task_unless_a_payload_was_typed(store):
    fake = vendors(vidu=ScriptedClient(creates=[{}]))
    tagged, _ = studio.submit(store, fake, Endpoint.VIDU_TEXT2VIDEO, VIDEO, "ana")
    typed, _ = studio.submit(store, fake, Endpoint.VIDU_TEXT2VIDEO, {**VIDEO, "payload": "order 7"}, "ana")
    assert [body.get("payload") for body in fake.vidu.created] == [payload_tag(tagged.id), "order 7"]
    assert tagged.params["payload"] == payload_tag(tagged.id)


def test_a_tagged_video_submitted_twice_with_one_token_is_sent_once(store):
    fake = vendors(vidu=ScriptedClient(creates=[{}]))
    first, new = studio.submit(store, fake, Endpoint.VIDU_TEXT2VIDEO, VIDEO, "ana", token="form-1")
    again, new_again = studio.submit(store, fake, Endpoint.VIDU_TEXT2VIDEO, VIDEO, "ana", token="form-1")
    assert (new, new_again, again.id) == (True, False, first.id) and len(fake.vidu.created) == 1


def test_a_create_still_being_sent_is_not_looked_up(store):
    task = lost(store, Endpoint.VIDU_TEXT2AUDIO, SOUND)
    fake = vendors()
    studio._sending.add(task.id)
    try:
        Poller(store, fake).poll(task)
    finally:
        studio._sending.discard(task.id)
    assert fake.vidu.searched == [] and store.get(task.id).state is State.SUBMITTED


def test_a_young_unanswered_create_is_not_looked_up_yet(store):
    task = lost(store, Endpoint.VIDU_TEXT2AUDIO, SOUND, age=0)
    fake = vendors()
    Poller(store, fake).poll(task)
    assert fake.vidu.searched == []


@pytest.mark.parametrize("endpoint, body", [(Endpoint.VIDU_TEXT2VIDEO, {**VIDEO, "payload": payload_tag("x")}),
                                            (Endpoint.VIDU_TEXT2AUDIO, SOUND), (Endpoint.VIDU_TIMING2AUDIO, TIMED)])
def test_a_create_sent_by_a_studio_that_died_is_found_linked_and_finished(sim, clients, store, endpoint, body):
    task = lost(store, endpoint, body)
    made = clients.vidu.create(endpoint, body)  # what the dead studio's request did at Vidu
    poller = Poller(store, clients)
    linked = poller.poll(store.get(task.id))
    assert linked.vendor_id == made.vendor_id and linked.error_message is None
    done = follow(poller, store, task)
    assert done.state is State.SUCCEEDED and done.media and creates(sim) == 1


def test_two_identical_lost_creates_are_linked_to_two_vendor_tasks(sim, clients, store):
    first, second = lost(store, Endpoint.VIDU_TEXT2AUDIO, SOUND), lost(store, Endpoint.VIDU_TEXT2AUDIO, SOUND)
    made = {clients.vidu.create(Endpoint.VIDU_TEXT2AUDIO, SOUND).vendor_id for _ in range(2)}
    poller = Poller(store, clients)
    assert {poller.poll(first).vendor_id, poller.poll(second).vendor_id} == made


def test_a_lookup_that_fails_is_tried_again_later(sim, clients, store):
    task = lost(store, Endpoint.VIDU_TEXT2AUDIO, SOUND)
    clients.vidu.create(Endpoint.VIDU_TEXT2AUDIO, SOUND)
    sim.add_fault(match="/ent/v2/tasks", method="GET", status=503)
    poller = Poller(store, clients)
    assert poller.poll(task).vendor_id is None and store.get(task.id).state is State.SUBMITTED
    sim.clear_faults()
    assert poller.poll(store.get(task.id)).vendor_id


def test_lookups_back_off_instead_of_hammering_the_list(store):
    task = lost(store, Endpoint.VIDU_TEXT2AUDIO, SOUND)
    poller = Poller(store, vendors())
    waits = []
    for _ in range(4):
        before = time.time()
        poller.poll(store.get(task.id))
        waits.append(round(store.poll_plan(task.id)[0]))
        assert store.due(before) == []  # not due again straight away
    assert waits == [5, 10, 20, 30]


def test_nothing_found_after_the_window_says_what_to_look_for(sim, clients, store):
    body = {**VIDEO, "model": "viduq3-pro", "resolution": "720p", "duration": 2}
    task = lost(store, Endpoint.VIDU_TEXT2VIDEO, body, age=poller_module.LOST_AFTER_SECONDS + 1)
    aside = Poller(store, clients).poll(task)
    assert aside.state is State.SUBMITTED and aside.vendor_id is None and creates(sim) == 0
    message = store.get(task.id).error_message
    when = time.strftime("%H:%M UTC", time.gmtime(task.created_at))
    assert all(part in message for part in ("Video from text", when, VIDEO["prompt"], "60 credits",
                                            "may still have been created"))
    assert sim.requests[-1].path == "/ent/v2/tasks"  # it did look, once, before saying so


def test_a_create_whose_answer_was_cut_off_is_found_and_finished(sim, clients, store, monkeypatch):
    monkeypatch.setattr(poller_module, "LOOKUP_AFTER_SECONDS", 0.0)  # look at once, not after 5 s
    sim.add_fault(match="/ent/v2/text2video", method="POST", body="malformed", times=1)
    task, _ = studio.submit(store, clients, Endpoint.VIDU_TEXT2VIDEO, VIDEO, "ana")
    assert task.state is State.SUBMITTED and task.error_message == studio.OUTCOME_UNKNOWN
    assert not studio.sending(task.id)
    done = follow(Poller(store, clients), store, task)
    assert done.state is State.SUCCEEDED and done.error_message is None and creates(sim) == 1
    assert done.vendor_id == sim.engine.tasks("vidu")[0].id
