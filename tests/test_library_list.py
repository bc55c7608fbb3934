"""History's list component through AppTest (demo mode): what it is given for a page, and how what it sends back
is checked: only this page's finished takes can be chosen, whatever the browser says."""
import json
from dataclasses import replace
from urllib.parse import urlsplit

from lib.core.tasks import Endpoint, State, Task
from lib.ui.runtime import services
from lib.ui.tasks import ROW_PROMPT_CHARS
from tests.test_library_page import _button, _group, _history, _list, _pick, demo_studio  # noqa: F401


def _given_chosen(at) -> list[str]:
    shown = [e for e in at.get("bidi_component") if e.proto.component_name.endswith("cue_library_list")]
    return json.loads(shown[0].proto.json)["chosen"]


def test_only_this_pages_finished_takes_can_be_chosen():
    takes = _group("rain on a tin roof", 2000, count=2)
    failed = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "a failed one"}, owner="local", state=State.FAILED,
                  created_at=1000)
    services().store.add(failed)
    at = _history()
    at.session_state["hist_list"] = {"chosen": [takes[1].id, failed.id, "forged", 7, None, takes[1].id]}
    at.run()
    assert not at.exception
    assert "1 chosen" in [c.value for c in at.caption]
    assert _given_chosen(at) == [takes[1].id]
    assert [t["choosable"] for g in _list(at) for t in g["takes"]] == [True, True, False]


def test_a_forged_state_chooses_nothing_and_breaks_nothing():
    takes = _group("rain on a tin roof", 2000, count=2)
    at = _history()
    at.session_state["hist_list"] = {"chosen": "everything"}
    at.run()
    assert not at.exception and _given_chosen(at) == []
    assert _button(at, "Hide").disabled
    at.session_state["hist_list"] = {"chosen": [["a", "list"], {"a": "map"}, takes[0].id]}
    at.run()
    assert _given_chosen(at) == [takes[0].id]
    _button(at, "Hide").click().run()
    assert not at.exception and services().store.get(takes[0].id).hidden and _given_chosen(at) == []


def test_hidden_takes_are_no_longer_chosen_in_the_component():
    takes = _group("rain on a tin roof", 2000)
    at = _pick(_history(), takes[0], takes[2])
    assert _given_chosen(at) == [takes[0].id, takes[2].id]
    _button(at, "Hide").click().run()
    assert _given_chosen(at) == [] and _button(at, "Hide").disabled


def test_a_prompt_is_given_as_it_is_written_and_cut_to_a_line():
    markup = "<b>*loud*</b> [link](javascript:x) " + "x" * 200
    _group(markup, 2000, count=1)
    prompt = _list(_history())[0]["takes"][0]["prompt"]
    assert prompt == markup[:ROW_PROMPT_CHARS] + "…"


def test_a_row_plays_the_studios_copy_by_a_signed_link():
    take = _group("rain on a tin roof", 2000, count=1, archived=True)[0]
    sound = _list(_history())[0]["takes"][0]["sound"]
    parts = urlsplit(sound["src"])
    assert parts.path == f"/files/{take.media[0].archived}"
    assert services().links.check(take.media[0].archived, dict(p.split("=", 1) for p in parts.query.split("&")))
    assert sound["peaks"] is None


def test_a_forged_peaks_name_gets_no_link():
    take = _group("rain on a tin roof", 2000, count=1, archived=True)[0]
    other = replace(take.media[0], peaks=take.media[0].archived.replace(take.media[0].archived[:16], "0" * 16))
    for forged in ("../../etc/passwd", other.peaks):  # not an archive name; another person's folder
        services().store.save(take.replace(media=(replace(take.media[0], peaks=forged),)))
        assert _list(_history())[0]["takes"][0]["sound"]["peaks"] is None
