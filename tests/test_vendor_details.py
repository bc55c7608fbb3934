"""The details the real Vidu and Kling APIs differ on, against the simulator over loopback (speed 50) and as pure
functions: q3's native audio default, Kling's lookup by external id, state words the studio does not know yet,
q3's options and prices, and the two names of Vidu's credit balances."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from lib.core import forms, history
from lib.core.errors import VendorError
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.core.validation import validate_vidu_text2video
from lib.service import studio
from lib.service.poller import Poller
from lib.sim import vidu as sim_vidu
from lib.sim.engine import Phase
from lib.vendors import kling, pricing, vendor, vidu
from lib.vendors.vidu import ViduClient
from tests.http_fakes import ScriptedHTTP, response

Q3 = {"model": "viduq3-turbo", "prompt": "A fox in the snow", "duration": 1, "resolution": "540p"}


@pytest.fixture(autouse=True)
def fresh(fresh_sim):
    """Every test starts with an empty simulator (tests/conftest.py)."""


def until(check, timeout: float = 20):
    """Wait for `check()` to return something true (the poller runs in its own thread)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def video_form(**values) -> dict:
    return forms.to_body(Endpoint.VIDU_TEXT2VIDEO, {**forms.defaults(Endpoint.VIDU_TEXT2VIDEO), **Q3, **values})


# --- 1. q3's native audio is on unless the studio says otherwise ------------------------------------------------

@pytest.mark.parametrize("audio", [False, True])
def test_q3_form_always_sends_audio(audio):
    assert video_form(audio=audio)["audio"] is audio


def test_other_models_do_not_send_audio():
    assert "audio" not in video_form(model="viduq2")


def test_simulator_defaults_q3_audio_to_on_like_vidu(sim, clients):
    task = clients.vidu.create(Endpoint.VIDU_TEXT2VIDEO, Q3)
    assert sim.engine.get("vidu", task.vendor_id).request["audio"] is True
    other = clients.vidu.create(Endpoint.VIDU_TEXT2VIDEO, {**Q3, "model": "viduq2"})
    assert sim.engine.get("vidu", other.vendor_id).request["audio"] is False


def test_audio_switched_off_in_the_form_reaches_vidu_as_off(sim, clients, store):
    task, _ = studio.submit(store, clients, Endpoint.VIDU_TEXT2VIDEO, video_form(audio=False), "ana")
    assert sim.engine.get("vidu", task.vendor_id).request["audio"] is False


# --- 2. Kling: a task found by its external id, in the path ----------------------------------------------------

def test_kling_query_by_external_id_uses_the_documented_path(sim, clients):
    created = clients.kling.create({"prompt": "Church bells", "duration": 3, "external_task_id": "cue-bells-1"})
    found = clients.kling.query(external_id="cue-bells-1")
    assert (found.vendor_id, found.external_id) == (created.vendor_id, "cue-bells-1")
    last = sim.requests[-1]
    assert (last.method, last.path) == ("GET", "/v1/audio/text-to-audio/cue-bells-1")


def test_kling_task_whose_create_answer_was_lost_is_found_and_finishes(sim, clients, store):
    sim.add_fault(match="/v1/audio/text-to-audio", method="POST", body="malformed", times=1)  # made, answer cut
    task, _ = studio.submit(store, clients, Endpoint.KLING_TEXT2AUDIO, {"prompt": "Rain", "duration": 3}, "ana")
    assert task.state is State.SUBMITTED and not task.vendor_id and task.external_id
    poller = Poller(store, clients).start()
    try:
        done = until(lambda: (t := store.get(task.id)).state.terminal and t)
    finally:
        poller.stop()
    assert done.state is State.SUCCEEDED and done.vendor_id == sim.engine.tasks("kling")[0].id
    assert sum(r.method == "POST" for r in sim.requests) == 1


# --- 3. a state word the studio does not know yet --------------------------------------------------------------

def test_unknown_state_word_is_followed_and_logged_once_per_task(caplog):
    caplog.set_level(logging.WARNING, logger="lib.vendors.vendor")
    for vendor_id in ("t-1", "t-1", "t-2"):
        assert vidu.parse_query({"id": vendor_id, "state": "rendering"}).state is State.RUNNING
    logged = [r for r in caplog.records if "does not know yet" in r.getMessage()]
    assert [("t-1" in r.getMessage(), "t-2" in r.getMessage()) for r in logged] == [(True, False), (False, True)]


def test_card_shows_the_vendors_own_word():
    task = Task(Endpoint.KLING_TEXT2AUDIO, {}, state=State.RUNNING, raw_state="rendering")
    assert history.state_label(task)[0] == "Kling says: rendering"
    assert history.state_label(task.replace(raw_state="processing")) == history.STATE_LABELS[State.RUNNING]


def test_card_keeps_markdown_out_of_the_vendors_word():
    task = Task(Endpoint.VIDU_TEXT2AUDIO, {}, state=State.RUNNING, raw_state="x](javascript:alert(1))")
    assert history.state_label(task)[0] == "Vidu says: xjavascriptalert1"


def test_task_in_an_unknown_state_is_followed_to_its_end(sim, clients, store, monkeypatch):
    """Vidu starts calling "processing" something else: the task is neither failed nor dropped."""
    monkeypatch.setitem(sim_vidu.LIFECYCLE.words, Phase.RUNNING, "rendering")
    body = {"model": "audio1.0", "prompt": "Thunder", "duration": 2}
    task, _ = studio.submit(store, clients, Endpoint.VIDU_TEXT2AUDIO, body, "ana")
    seen = []
    poller = Poller(store, clients, on_success=lambda t: t)
    deadline = time.monotonic() + 20
    while not (current := store.get(task.id)).state.terminal:
        assert time.monotonic() < deadline
        seen.append(poller.poll(current).raw_state)
    assert "rendering" in seen and current.state is State.SUCCEEDED


def test_dialects_know_their_documented_words():
    assert all(vidu.DIALECT.knows(w) for w in ("created", "queueing", "processing", "success", "failed"))
    assert all(kling.DIALECT.knows(w) for w in ("submitted", "processing", "succeed", "failed"))
    with pytest.raises(VendorError) as raised:
        vendor.Dialect(Provider.VIDU, "Vidu", {}, {}, frozenset()).state("")
    assert "no task state" in str(raised.value)


# --- 4. q3: no background music, 3:4 and 4:3, the newer q3-pro prices ------------------------------------------

def test_q3_refuses_background_music_in_plain_words():
    problems = validate_vidu_text2video({**Q3, "bgm": True})
    assert [p.field for p in problems] == ["bgm"] and "not offered by the viduq3 models" in problems[0].message
    assert validate_vidu_text2video({**Q3, "model": "viduq2", "bgm": True}) == []


def test_q3_form_drops_a_leftover_background_music_switch():
    assert "bgm" not in video_form(bgm=True)
    assert video_form(model="viduq2", bgm=True)["bgm"] is True


@pytest.mark.parametrize("model", ["viduq3-pro", "viduq3-turbo"])
@pytest.mark.parametrize("ratio", ["3:4", "4:3"])
def test_q3_accepts_portrait_and_landscape_four_three(model, ratio):
    assert validate_vidu_text2video({**Q3, "model": model, "aspect_ratio": ratio}) == []


@pytest.mark.parametrize("resolution, per_second", [("720p", 30), ("1080p", 32)])
def test_q3_pro_prices_follow_the_newer_table(resolution, per_second):
    assert pricing.vidu_video_credits("viduq3-pro", resolution, 5) == 5 * per_second


def test_what_is_recorded_is_the_vendors_own_credits(sim, clients, store):
    body = {**Q3, "model": "viduq3-pro", "resolution": "720p", "aspect_ratio": "3:4"}
    task, _ = studio.submit(store, clients, Endpoint.VIDU_TEXT2VIDEO, body, "ana")
    assert store.get(task.id).credits == sim.engine.get("vidu", task.vendor_id).charge == 30


# --- 5. Vidu's credit balances under either name ---------------------------------------------------------------

BALANCE = {"type": "metered", "credit_remain": 420, "concurrency_limit": 5, "current_concurrency": 1,
           "queue_count": 0}


@pytest.mark.parametrize("name", ["remains", "remaining_credits"])
def test_credits_are_read_under_either_name(name):
    transport = ScriptedHTTP(response(200, {name: [BALANCE, "junk"], "packages": []}))
    answer = ViduClient("vda_key", base_url="https://vidu.example", transport=transport).credits()
    assert answer == {"remains": [BALANCE], "packages": []}


def test_credits_from_the_simulator(sim, clients):
    assert clients.vidu.credits()["remains"][0]["credit_remain"] == sim.engine.balance("vidu")


# --- the pages (AppTest, demo mode) ----------------------------------------------------------------------------

def open_app_page(name: str):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()  # Settings caches the credit balance
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=30).run()
    at.session_state["open_page"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def test_video_page_offers_no_background_music_on_q3(demo):
    at = open_app_page("video")
    model, bgm = (forms.key(Endpoint.VIDU_TEXT2VIDEO, field) for field in ("model", "bgm"))
    at.selectbox(key=model).set_value("viduq2").run()
    at.toggle(key=bgm).set_value(True).run()
    at.selectbox(key=model).set_value("viduq3-pro").run()
    assert at.toggle(key=bgm).disabled and at.toggle(key=bgm).value is False
    assert "3:4" in at.selectbox(key=forms.key(Endpoint.VIDU_TEXT2VIDEO, "aspect_ratio")).options


def test_settings_show_balances_named_remaining_credits(demo, monkeypatch):
    monkeypatch.setattr(ViduClient, "credits", lambda self: {"remaining_credits": [BALANCE], "packages": []})
    at = open_app_page("settings")
    assert any(metric.value == "420" for metric in at.metric)
