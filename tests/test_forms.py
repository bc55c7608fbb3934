"""Forms <-> request bodies, the timeline table, and how tasks read in the history."""
import pandas as pd
import pytest

from lib.core import forms, history, progress, timeline
from lib.core.endpoints import spec
from lib.core.tasks import Endpoint, State, Task
from lib.core.validation import validate


@pytest.mark.parametrize("endpoint", list(Endpoint))
def test_every_example_prompt_is_a_valid_request(endpoint):
    for example in spec(endpoint).examples:
        body = forms.to_body(endpoint, forms.to_values(endpoint, example))
        assert validate(endpoint, body) == [], example


@pytest.mark.parametrize("endpoint", list(Endpoint))
def test_settings_again_reproduces_the_request(endpoint):
    for example in spec(endpoint).examples:
        body = forms.to_body(endpoint, forms.to_values(endpoint, example))
        assert forms.to_body(endpoint, forms.to_values(endpoint, body)) == body


def test_optional_fields_are_sent_only_when_set():
    body = forms.to_body(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "  rain  ", "duration": 10.0, "seed": 0,
                                                    "callback_url": ""})
    assert body == {"model": "audio1.0", "prompt": "rain", "duration": 10.0}


def test_video_sends_style_only_to_models_that_honour_it_and_watermark_options_only_with_a_watermark():
    values = {**forms.defaults(Endpoint.VIDU_TEXT2VIDEO), "prompt": "cat", "style": "anime", "wm_position": 1}
    assert "style" not in forms.to_body(Endpoint.VIDU_TEXT2VIDEO, values)
    assert "wm_position" not in forms.to_body(Endpoint.VIDU_TEXT2VIDEO, values)
    q1 = forms.to_body(Endpoint.VIDU_TEXT2VIDEO, {**values, "model": "viduq1", "resolution": "1080p",
                                                  "watermark": True})
    assert q1["style"] == "anime" and q1["wm_position"] == 1 and q1["watermark"] is True


def test_model_defaults_fill_what_a_stored_request_left_out():
    values = forms.to_values(Endpoint.VIDU_TEXT2VIDEO, {"model": "viduq1", "prompt": "boat"})
    assert values["resolution"] == "1080p" and values["duration"] == 5


def test_timeline_table_round_trip_drops_empty_rows_and_keeps_half_filled_ones():
    table = pd.DataFrame({"from": [0.0, None, 4.0], "to": [3.0, None, None], "prompt": ["birds", None, "rain"]})
    assert timeline.events(table) == [{"from": 0.0, "to": 3.0, "prompt": "birds"},
                                      {"from": 4.0, "to": None, "prompt": "rain"}]
    assert timeline.events(timeline.frame([])).__len__() == 0
    assert timeline.frame([]).dtypes["from"] == "float64"


def test_overlaps_are_found_and_coloured():
    events = [{"from": 0.0, "to": 3.0, "prompt": "a"}, {"from": 2.0, "to": 5.0, "prompt": "b"},
              {"from": 5.0, "to": 6.0, "prompt": "c"}]
    assert timeline.overlaps(events) == {0, 1}
    spec = timeline.lanes(events, 8.0)
    assert [row["status"] for row in spec["data"]["values"]] == [
        "overlaps another", "overlaps another", "fits the clip"]
    assert spec["encoding"]["x"]["scale"]["domain"] == [0, 8.0]


def test_history_timings_and_estimates():
    task = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "rain", "duration": 5}, state=State.RUNNING,
                created_at=100.0, started_at=103.0, progress=50)
    assert history.timings(task, now=108.0) == "Queued 3 s · processing 5 s"
    assert progress.words(history.seconds_left(task, now=108.0)) == "about 5 s left"
    assert history.seconds(75) == "1 min 15 s"


def test_history_summary_of_a_timeline():
    task = Task(Endpoint.VIDU_TIMING2AUDIO, {"timing_prompts": [{"from": 0, "to": 1, "prompt": "a"},
                                                                {"from": 1, "to": 2, "prompt": "b"}]})
    assert history.summary(task) == "2 timed events: a; b"
