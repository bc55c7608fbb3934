"""History as a library through AppTest in demo mode: the list, search, choices that survive, the pager at the
bottom, hide with undo, delete after a confirmation, the chosen takes' ZIP, groups side by side, Kling's format
switch, the running badge."""
import io
import json
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.forms import key
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import media_name
from lib.ui.runtime import services
from tests.apptest import open_page

# Not streamlit_app.py: AppTest reruns History from it as a legacy `pages/` script (see bench/app.py).
APP = str(Path(__file__).resolve().parents[1] / "bench" / "app.py")


@pytest.fixture(autouse=True)
def demo_studio(demo):
    """Every page here runs in demo mode (tests/conftest.py)."""


def _group(prompt: str, created_at: float, count: int = 4, archived: bool = False,
           endpoint: Endpoint = Endpoint.VIDU_TEXT2AUDIO) -> list[Task]:
    """`count` finished takes of one request, stored as the takes engineer's form stores them."""
    group = f"g{created_at:.0f}" if count > 1 else None
    takes = []
    for number in range(count):
        task = Task(endpoint, {"prompt": prompt, "duration": 5.0}, owner="local", state=State.SUCCEEDED,
                    created_at=created_at + number, group_id=group, seed=1000 + number)
        name = media_name("local", task.id, 1, "mp3")
        if archived:
            path = services().archive.path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"ID3 " + task.id.encode())
        task = task.replace(media=(Media("audio", f"https://cdn.example.com/{task.id}.mp3", "mp3", 5.0,
                                         archived=name if archived else None, loudness=-20.5),))
        services().store.add(task)
        takes.append(task)
    return takes


def _history(view: str = "List") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.session_state["hist_view"] = view
    at.session_state["open_page"] = "history"
    at.run()
    assert not at.exception, at.exception
    return at


def _list(at: AppTest) -> list[dict]:
    """The groups the list component was given (lib/ui/tasks.library_rows): AppTest runs no browser."""
    shown = [e for e in at.get("bidi_component") if e.proto.component_name.endswith("cue_library_list")]
    return json.loads(shown[0].proto.json)["groups"] if shown else []


def _rows(at: AppTest) -> list[str]:
    return [take["id"] for group in _list(at) for take in group["takes"]]


def _keys(block):
    if getattr(block, "key", None):
        yield str(block.key)
    if getattr(block, "type", None) == "bidi_component":
        yield block.proto.id.rsplit("-", 1)[-1]  # a component's own key ends its element id
    for child in getattr(block, "children", {}).values():
        yield from _keys(child)


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _pick(at: AppTest, *takes: Task) -> AppTest:
    """Tick the takes' boxes, as the list component reports them: its "chosen" state."""
    state = at.session_state["hist_list"] if "hist_list" in at.session_state else {}
    at.session_state["hist_list"] = {"chosen": list(state.get("chosen") or []) + [task.id for task in takes]}
    return at.run()


def test_the_list_shows_one_row_per_take_under_its_request():
    rain = _group("rain on a tin roof", 2000)
    door = _group("a door slam", 1000, count=1)
    at = _history()
    assert _rows(at) == [t.id for t in rain + door]
    assert not at.get("audio") and [c.key for c in at.checkbox] == ["hist_kept", "hist_starred", "hist_hidden"]
    groups = _list(at)
    assert [g["header"].endswith("· 4 takes") for g in groups] == [True, False]
    take = groups[0]["takes"][3]
    assert {k: take[k] for k in ("prompt", "vendor", "facts", "state", "color", "starred", "kept", "choosable")} == {
        "prompt": "rain on a tin roof", "vendor": "Vidu", "facts": "seed 1003 · 5 s · −20.5 LUFS", "state": "Done",
        "color": "green", "starred": False, "kept": False, "choosable": True}
    assert take["sound"] == {"src": f"https://cdn.example.com/{rain[3].id}.mp3", "peaks": None, "duration": 5.0}


def test_search_narrows_the_list_and_says_when_nothing_matches():
    _group("rain on a tin roof", 2000)
    door = _group("a door slam", 1000, count=1)
    at = _history()
    at.text_input(key="hist_search").input("DOOR").run()
    assert _rows(at) == [door[0].id]
    at.text_input(key="hist_search").input("100%").run()
    assert _rows(at) == [] and [i.value for i in at.info][-1] == "No take matches this search and these filters."


def test_keep_in_a_group_card_survives_a_new_session_and_is_a_filter():
    takes = _group("rain on a tin roof", 2000)
    at = _history("Cards")
    at.button(key=f"keep_{takes[2].id}").click().run()
    assert services().store.get(takes[2].id).verdict == "kept"
    again = _history("Cards")  # a reload: a new session reads the choice from the store
    assert again.button(key=f"keep_{takes[2].id}").label == "Kept"
    assert again.button(key=f"keep_{takes[1].id}").label == "Keep"
    again.checkbox(key="hist_kept").check().run()
    assert [k for k in _keys(again.main) if k.startswith("task_")] == [f"task_{takes[2].id}"]


def test_a_group_shows_its_takes_side_by_side_and_reuse_fills_the_kept_takes_seed():
    takes = _group("rain on a tin roof", 2000)
    services().store.choose(takes[3].id, "local", verdict="kept")
    at = _history("Cards")
    group = at.get_by_key(f"group_{takes[0].group_id}")
    columns = [c for c in at.columns if any(f"task_{t.id}" in _keys(c) for t in takes)]
    assert len(columns) == 4 and group is not None
    assert len(at.get("audio")) == 4
    _button(at, "Use these settings again (the kept take)").click().run()
    assert not at.exception and at.title[0].value == "Sound from text"
    assert at.session_state[key(Endpoint.VIDU_TEXT2AUDIO, "seed")] == 1003.0
    assert at.session_state[key(Endpoint.VIDU_TEXT2AUDIO, "prompt")] == "rain on a tin roof"


def test_the_pager_is_at_the_bottom_too():
    for number in range(12):
        _group(f"sound number {number}", 1000 + number * 10, count=1)
    at = _history()
    assert len(_rows(at)) == 10
    keys = list(_keys(at.main))
    assert keys.index("hist_pager_bottom") > keys.index("hist_list")
    _button(at, "Next page").click().run()
    assert len(_rows(at)) == 2 and at.number_input(key="hist_page").value == 2
    _button(at, "Previous page").click().run()
    assert len(_rows(at)) == 10


def test_hiding_chosen_takes_can_be_undone():
    takes = _group("rain on a tin roof", 2000)
    at = _pick(_history(), takes[0], takes[1])
    _button(at, "Hide").click().run()
    assert _rows(at) == [takes[2].id, takes[3].id]
    assert services().store.get(takes[0].id).hidden
    at.checkbox(key="hist_hidden").check().run()  # shown again on asking
    assert len(_rows(at)) == 4
    at.checkbox(key="hist_hidden").uncheck().run()
    _button(at, "Undo").click().run()
    assert _rows(at) == [t.id for t in takes] and not services().store.get(takes[0].id).hidden


def test_delete_needs_a_confirmation_and_removes_the_files():
    takes = _group("rain on a tin roof", 2000, count=2, archived=True)
    files = [services().archive.path(t.media[0].archived) for t in takes]
    at = _pick(_history(), takes[0])
    _button(at, "Delete…").click().run()
    assert services().store.get(takes[0].id) is not None and files[0].exists()  # only asked so far
    assert "Delete 1 take and its files for good?" in at.warning[0].value
    _button(at, "Keep them").click().run()
    assert not at.warning and services().store.get(takes[0].id) is not None
    _pick(at, takes[0])
    _button(at, "Delete…").click().run()
    _button(at, "Delete for good").click().run()
    assert services().store.get(takes[0].id) is None and not files[0].exists()
    assert files[1].exists() and _rows(at) == [takes[1].id]


def test_the_chosen_takes_download_as_one_zip():
    takes = _group("rain on a tin roof", 2000, archived=True)
    at = _pick(_history(), takes[1], takes[3])
    _button(at, "Download as ZIP").click().run()
    link = next(b for b in at.get("link_button") if b.proto.label == "Download the chosen takes").proto.url
    parts = urlsplit(link)
    name = parts.path.removeprefix("/exports/")
    assert "dl=cue-studio-takes.zip" in parts.query
    assert services().links.check(name, dict(p.split("=", 1) for p in parts.query.split("&")), "/exports")
    with zipfile.ZipFile(io.BytesIO(services().exports.file(name).read_bytes())) as bundle:
        assert sorted(bundle.namelist()) == ["01-rain-on-a-tin-roof_5s_seed1001_vidu.mp3",
                                             "02-rain-on-a-tin-roof_5s_seed1003_vidu.mp3"]


def test_kling_plays_one_player_with_a_format_switch_and_keeps_both_downloads():
    task = Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": "a horn"}, owner="local", state=State.SUCCEEDED,
                media=(Media("audio", "https://cdn.example.com/k.mp3", "mp3", 5.0),
                       Media("audio", "https://cdn.example.com/k.wav", "wav", 5.0)))
    services().store.add(task)
    at = _history("Cards")
    assert [a.proto.url for a in at.get("audio")] == ["https://cdn.example.com/k.mp3"]
    assert {b.proto.label for b in at.get("link_button")} >= {"Open MP3 at the vendor", "Open WAV at the vendor"}
    at.segmented_control(key=f"format_{task.id}").set_value("WAV").run()
    assert [a.proto.url for a in at.get("audio")] == ["https://cdn.example.com/k.wav"]


def test_the_badge_counts_my_running_tasks_on_every_page():
    for state in (State.QUEUED, State.RUNNING, State.SUCCEEDED):
        # Sent with a key of the person's own that this server does not hold: a poll only sets it aside, so its
        # state stays as written even if the worker looks at it before it is parked.
        task = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "x"}, owner="local", state=state, own_key=True)
        services().store.add(task)
        services().store.schedule(task.id, float("inf"), 1.0)  # parked: the poller leaves it as it is
    services().store.add(Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "y"}, owner="someone else", state=State.RUNNING))
    for name in ("sound", "history", "settings"):
        at = open_page(name)
        assert "2 running" in at.get_by_key("running_badge").markdown[0].value


def test_a_task_link_still_opens_just_that_task():
    takes = _group("rain on a tin roof", time.time())
    at = _history()
    at.query_params["task"] = takes[2].id
    at.run()
    assert [k for k in _keys(at.main) if k.startswith("task_")] == [f"task_{takes[2].id}"]


def test_in_a_team_library_only_ones_own_takes_are_deleted(monkeypatch):
    from lib.ui import auth

    monkeypatch.setenv("STUDIO_PASSWORD", "team password")
    services.clear()
    auth._guard.clear()
    sound = (Media("audio", "https://cdn.example.com/d.mp3", "mp3", 5.0),)
    mine, theirs = (Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": f"{who}'s door"}, owner=who, state=State.SUCCEEDED,
                         media=sound) for who in ("ann", "bob"))
    for task in (mine, theirs):
        services().store.add(task)
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.text_input[0].input("ann")
    at.text_input[1].input("team password")
    at.button[0].click().run()
    at.session_state["hist_view"] = "List"
    at.session_state["open_page"] = "history"
    at.run()
    assert sorted(_rows(at)) == sorted([mine.id, theirs.id])  # one team library
    _pick(at, mine, theirs)
    _button(at, "Delete…").click().run()
    _button(at, "Delete for good").click().run()
    assert services().store.get(mine.id) is None and services().store.get(theirs.id) is not None
    assert _rows(at) == [theirs.id]
    assert at.info[-1].value == ("1 of the chosen takes was not deleted: only the person who made a take can "
                                 "delete it.")
    auth._guard.clear()
