"""Drafts: what was typed on a form comes back after a refresh (a new session), for that person only, until it
is sent or cleared; a stored draft is untrusted and dropped when the form cannot hold it."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from lib.core import drafts
from lib.core.drafts import DRAFT_MAX_BYTES, decode, encode, form_shape
from lib.core.forms import key
from lib.core.tasks import Endpoint
from lib.ui import score as scoring
from lib.ui.runtime import services
from tests.apptest import APP, click, open_page

SOUND, TIMED, VIDEO, KLING = (Endpoint.VIDU_TEXT2AUDIO, Endpoint.VIDU_TIMING2AUDIO, Endpoint.VIDU_TEXT2VIDEO,
                              Endpoint.KLING_TEXT2AUDIO)
EVENTS = [{"from": 0.0, "to": 3.0, "prompt": "birds"}, {"from": 2.5, "to": 6.0, "prompt": "a train"},
          {"from": 5.0, "to": 9.5, "prompt": "waves"}]


# --- encoding and decoding (no Streamlit) ---------------------------------------------------------------------

def test_a_draft_holds_only_what_differs_from_the_defaults_and_decodes_back():
    shape = form_shape(TIMED)
    values = {key(TIMED, "timing_prompts"): EVENTS, key(TIMED, "duration"): 10.0, key(TIMED, "seed"): 42.0,
              key(TIMED, "takes"): 3, "tim_token": "not a field"}
    body = encode(values, shape)
    assert json.loads(body) == {"tim_timing_prompts": EVENTS, "tim_seed": 42.0, "tim_takes": 3}
    assert decode(body, shape) == json.loads(body)
    assert encode({key(TIMED, "duration"): 10.0}, shape) == ""  # nothing typed: no draft


def test_a_draft_too_big_or_not_plain_data_is_not_kept():
    shape = form_shape(SOUND)
    assert encode({key(SOUND, "prompt"): "x" * DRAFT_MAX_BYTES}, shape) is None
    assert encode({key(SOUND, "seed"): float("nan")}, shape) is None
    assert encode({key(SOUND, "prompt"): object()}, shape) is None


@pytest.mark.parametrize("endpoint, stored", [
    (SOUND, "not json"),
    (SOUND, '["t2a_prompt"]'),
    (SOUND, json.dumps({"t2a_prompt": "rain", "t2a_owner": "bob"})),  # a key the form does not have
    (SOUND, json.dumps({"t2a_prompt": 7})),
    (SOUND, json.dumps({"t2a_duration": 60.0})),  # past the slider
    (SOUND, json.dumps({"t2a_duration": 5})),  # a whole number on a float slider
    (SOUND, json.dumps({"t2a_takes": True})),
    (SOUND, json.dumps({"t2a_seed": 1e300})),
    (SOUND, json.dumps({"t2a_prompt": "x" * DRAFT_MAX_BYTES})),
    (TIMED, json.dumps({"tim_timing_prompts": [{"from": 0, "to": 1, "prompt": "a", "extra": 1}]})),
    (TIMED, json.dumps({"tim_timing_prompts": [{"from": "0", "to": 1, "prompt": "a"}]})),
    (TIMED, json.dumps({"tim_timing_prompts": [{"from": 0, "to": 1, "prompt": "a"}] * 21})),
    (VIDEO, json.dumps({"t2v_model": "viduq9"})),
    (VIDEO, json.dumps({"t2v_wm_position": "3"})),
    (KLING, json.dumps({"kt2a_external_task_id": "x" * 65})),
])
def test_a_stored_draft_the_form_cannot_hold_is_dropped_whole(endpoint, stored):
    assert decode(stored, form_shape(endpoint)) is None


def test_every_form_field_of_every_endpoint_has_a_check():
    for endpoint in Endpoint:
        shape = form_shape(endpoint)
        for name, field in shape.items():
            assert field.fits(field.default), name  # a form left as it is is a draft it can hold
    assert all(field.fits(field.default) for field in scoring.DRAFT_SHAPE.values())
    assert decode(json.dumps({"score_events": EVENTS, "score_mix_music": -6.0, "score_mix_target": -23.0}),
                  scoring.DRAFT_SHAPE)
    assert decode(json.dumps({"score_mix_target": -20.0}), scoring.DRAFT_SHAPE) is None
    assert drafts.form_name(SOUND) == "t2a"


# --- the pages (AppTest) --------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def demo_studio(demo):
    """Every page here runs in demo mode (tests/conftest.py)."""


def test_a_refresh_keeps_the_typed_prompt_and_advanced_settings():
    at = open_page("sound")
    at.text_area(key=key(SOUND, "prompt")).input("rain on a tin roof").run()
    at.number_input(key=key(SOUND, "seed")).set_value(42.0).run()
    at.slider(key=key(SOUND, "duration")).set_value(4.5).run()
    again = open_page("sound")
    assert again.text_area(key=key(SOUND, "prompt")).value == "rain on a tin roof"
    assert again.number_input(key=key(SOUND, "seed")).value == 42.0
    assert again.slider(key=key(SOUND, "duration")).value == 4.5


def test_a_refresh_keeps_a_three_event_timeline():
    at = open_page("timed")
    for event in EVENTS:
        at.number_input(key="tim_new_from").set_value(event["from"])
        at.number_input(key="tim_new_to").set_value(event["to"])
        at.text_input(key="tim_new_prompt").input(event["prompt"])
        click(at, "Add event")
    again = open_page("timed")
    assert again.session_state[key(TIMED, "timing_prompts")] == EVENTS
    assert again.dataframe[0].value.to_dict("records") == EVENTS  # the table is drawn from them


def test_generate_forgets_the_draft_and_the_next_session_starts_empty():
    at = open_page("sound")
    at.text_area(key=key(SOUND, "prompt")).input("rain on a tin roof").run()
    click(at, "Generate")
    assert services().store.count("local") == 1
    assert services().store.draft("local", "t2a") is None
    at.run()  # the form still holds the prompt for another take, but it is no longer a draft
    assert at.text_area(key=key(SOUND, "prompt")).value == "rain on a tin roof"
    assert services().store.draft("local", "t2a") is None
    assert open_page("sound").text_area(key=key(SOUND, "prompt")).value == ""


def test_clear_empties_the_form_and_forgets_the_draft():
    at = open_page("video")
    at.text_area(key=key(VIDEO, "prompt")).input("a paper boat").run()
    at.selectbox(key=key(VIDEO, "model")).set_value("viduq1").run()
    assert services().store.draft("local", "t2v")
    click(at, "Clear")
    assert at.text_area(key=key(VIDEO, "prompt")).value == ""
    assert at.selectbox(key=key(VIDEO, "model")).value == "viduq2"
    assert services().store.draft("local", "t2v") is None
    assert open_page("video").text_area(key=key(VIDEO, "prompt")).value == ""


def test_a_loaded_example_counts_as_typing():
    at = open_page("kling")
    next(b for b in at.button if b.label.startswith("Ocean waves")).click().run()
    assert open_page("kling").text_area(key=key(KLING, "prompt")).value == "Ocean waves crashing on rocks"


def test_settings_used_again_from_history_are_not_overwritten_by_a_draft():
    services().store.save_draft("local", "t2a", json.dumps({"t2a_prompt": "an older draft"}), 1.0)
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state[key(SOUND, "prompt")] = "the take's own prompt"  # as "Use these settings again" leaves it
    at.session_state["open_page"] = "sound"
    at.run()
    assert at.text_area(key=key(SOUND, "prompt")).value == "the take's own prompt"
    assert json.loads(services().store.draft("local", "t2a")) == {"t2a_prompt": "the take's own prompt"}


def test_the_callback_address_the_studio_fills_in_is_not_a_draft(monkeypatch):
    monkeypatch.setenv("STUDIO_PUBLIC_URL", "https://cue.example")
    services.clear()
    at = open_page("sound")
    assert at.text_input(key=key(SOUND, "callback_url")).value.startswith("https://cue.example/")
    assert services().store.draft("local", "t2a") is None  # nothing typed yet
    at.text_area(key=key(SOUND, "prompt")).input("rain").run()
    assert json.loads(services().store.draft("local", "t2a")) == {"t2a_prompt": "rain"}


def test_nobody_sees_another_persons_draft(monkeypatch):
    monkeypatch.setenv("STUDIO_PASSWORD", "team password")
    services.clear()
    at = open_page("sound", user="ann")
    at.text_area(key=key(SOUND, "prompt")).input("ann's rain").run()
    assert open_page("sound", user="bob").text_area(key=key(SOUND, "prompt")).value == ""
    assert open_page("sound", user="ann").text_area(key=key(SOUND, "prompt")).value == "ann's rain"
    assert services().store.draft("bob", "t2a") is None
    at.session_state["studio_user"] = "bob"  # someone else signs in on the same browser
    at.run()
    assert at.text_area(key=key(SOUND, "prompt")).value == "" and services().store.draft("bob", "t2a") is None


@pytest.mark.parametrize("stored", [
    json.dumps({"t2a_prompt": ["not", "text"]}),
    json.dumps({"t2a_prompt": "x" * (DRAFT_MAX_BYTES + 1)}),
    json.dumps({"t2a_prompt": "rain", "studio_user": "bob"}),
])
def test_a_tampered_stored_draft_is_dropped_and_the_page_opens_empty(stored):
    services().store.save_draft("local", "t2a", stored, 1.0)
    at = open_page("sound")
    assert at.text_area(key=key(SOUND, "prompt")).value == ""
    assert "studio_user" not in at.session_state
    assert services().store.draft("local", "t2a") is None


# --- the Score page -------------------------------------------------------------------------------------------

def test_the_score_page_keeps_events_music_and_mix_over_a_refresh_until_sent():
    from tests.test_score_page import _click, _events, _open, _video

    video = _video()
    at = _events(_open(video), EVENTS)
    at.text_area(key="score_music").input("Calm piano").run()
    at.slider(key="score_mix_effects").set_value(-6.0).run()
    again = _open(video)
    assert again.session_state["score_events"] == EVENTS
    assert again.text_area(key="score_music").value == "Calm piano"
    assert again.slider(key="score_mix_effects").value == -6.0
    _click(again, "Generate")
    assert len(services().store.recent_scores("local")) == 1
    assert services().store.draft("local", "score") is None
    fresh = _open(video)
    assert fresh.session_state["score_events"] == [] and fresh.text_area(key="score_music").value == ""


def test_clear_on_the_score_page_empties_its_events_and_mix():
    from tests.test_score_page import _click, _events, _open, _video

    at = _events(_open(_video()), EVENTS)
    at.slider(key="score_mix_effects").set_value(-6.0).run()
    _click(at, "Clear")
    assert at.session_state["score_events"] == [] and at.slider(key="score_mix_effects").value == 0.0
    assert services().store.draft("local", "score") is None
