"""History as a library, below the page: the store's group pages, search, filters, running count and delete;
the archive removing a deleted take's files; the chosen takes' ZIP; how a take reads."""
import io
import zipfile

import pytest

from lib.core import history
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import Archiver, media_name
from lib.service.transfer import (
    MAX_SELECTED_BYTES,
    MAX_SELECTED_TAKES,
    ExportError,
    Exports,
    selection_problems,
)
from lib.store.sqlite import MAX_SEARCH_CHARS


def _take(prompt="rain on a tin roof", owner="ann", created_at=1000.0, state=State.SUCCEEDED, **fields) -> Task:
    return Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": prompt, "duration": 5}, owner=owner, state=state,
                created_at=created_at, **fields)


def _group(store, group_id, created_at, count=4, prompt="rain on a tin roof", owner="ann") -> list[Task]:
    takes = [_take(prompt, owner, created_at + n, group_id=group_id, seed=100 + n) for n in range(count)]
    for take in takes:
        store.add(take)
    return takes


def test_groups_page_newest_first_with_their_takes_and_count_groups_not_takes(store):
    old = _group(store, "g-old", 1000)
    single = _take("a door slam", created_at=2000)
    store.add(single)
    new = _group(store, "g-new", 3000)
    groups, total = store.library("ann", limit=2)
    assert total == 3
    assert [[t.id for t in g] for g in groups] == [[t.id for t in new], [single.id]]
    groups, _ = store.library("ann", limit=2, offset=2)
    assert [[t.seed for t in g] for g in groups] == [[t.seed for t in old]]


def test_only_the_owners_groups_and_everyones_for_the_team_library(store):
    _group(store, "g-ann", 1000)
    _group(store, "g-bob", 2000, owner="bob")
    assert store.library("ann")[1] == 1
    assert store.library("carol")[1] == 0
    assert store.library(None)[1] == 2


def test_search_matches_the_prompt_and_timed_event_prompts_case_blind(store):
    store.add(_take("Heavy RAIN on glass"))
    store.add(_take("a dog barking"))
    timed = Task(Endpoint.VIDU_TIMING2AUDIO, {"timing_prompts": [{"from": 0, "to": 2, "prompt": "thunder clap"}]},
                 owner="ann", state=State.SUCCEEDED)
    store.add(timed)
    assert [g[0].params.get("prompt") for g in store.library("ann", search="rain")[0]] == ["Heavy RAIN on glass"]
    assert [g[0].id for g in store.library("ann", search="  THUNDER ")[0]] == [timed.id]
    assert store.library("ann", search="")[1] == 3


@pytest.mark.parametrize("typed, matches", [("100%", ["volume 100% loud"]), ("a_b", ["a_b test"]),
                                            ("back\\slash", ["back\\slash"]), ("%", ["volume 100% loud"]),
                                            ("_", ["a_b test"])])
def test_wildcards_the_person_types_are_plain_characters(store, typed, matches):
    for prompt in ("volume 100% loud", "volume 1000 loud", "a_b test", "axb test", "back\\slash", "backslash"):
        store.add(_take(prompt))
    assert sorted(g[0].params["prompt"] for g in store.library("ann", search=typed)[0]) == matches


def test_a_long_search_is_cut_to_its_bound(store):
    store.add(_take("r" * MAX_SEARCH_CHARS))
    assert store.library("ann", search="r" * (MAX_SEARCH_CHARS + 50))[1] == 1  # only the first 200 count


def test_kept_starred_and_hidden_filter_takes_and_their_groups(store):
    takes = _group(store, "g1", 1000)
    other = _group(store, "g2", 2000)
    store.choose(takes[1].id, "ann", verdict="kept")
    store.choose(takes[2].id, "ann", starred=True)
    store.choose(other[0].id, "ann", hidden=True)
    kept, total = store.library("ann", kept=True)
    assert total == 1 and [t.id for t in kept[0]] == [takes[1].id]
    assert [t.id for t in store.library("ann", starred=True)[0][0]] == [takes[2].id]
    groups, _ = store.library("ann")
    assert [len(g) for g in groups] == [3, 4]  # the hidden take is left out
    assert [len(g) for g in store.library("ann", show_hidden=True)[0]] == [4, 4]
    for take in other[1:]:
        store.choose(take.id, "ann", hidden=True)
    assert store.library("ann")[1] == 1


def test_states_endpoints_and_skipped_groups_narrow_the_page(store):
    takes = _group(store, "g1", 1000)
    store.add(_take("queued", created_at=3000, state=State.QUEUED))
    store.add(Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": "kling"}, owner="ann", state=State.FAILED, created_at=2000))
    assert store.library("ann", states=(State.SUCCEEDED,))[1] == 1
    assert store.library("ann", endpoints=(Endpoint.KLING_TEXT2AUDIO,))[1] == 1
    assert store.library("ann", skip_groups=("g1",))[1] == 2
    assert store.library("ann", skip_groups=(takes[0].id,))[1] == 3  # a take's own id names no group of four


def test_takes_reads_whole_groups_in_the_order_asked(store):
    first = _group(store, "g1", 1000, count=2)
    single = _take(created_at=500)
    store.add(single)
    groups = store.takes(["g1", single.id, "missing"])
    assert [[t.id for t in g] for g in groups] == [[t.id for t in first], [single.id]]
    assert store.takes(["g1"], owner="bob") == []


def test_running_count_is_the_owners_in_flight_tasks_only(store):
    for state in (State.SUBMITTED, State.QUEUED, State.RUNNING, State.SUCCEEDED, State.FAILED):
        store.add(_take(state=state))
    store.add(_take(owner="bob", state=State.RUNNING))
    assert store.running_count("ann") == 3
    assert store.running_count("bob") == 1
    assert store.running_count("carol") == 0


def test_delete_removes_only_the_owners_finished_task(store):
    done, running = _take(), _take(state=State.RUNNING)
    store.add(done)
    store.add(running)
    assert store.delete(done.id, "bob") is None and store.get(done.id)
    assert store.delete(running.id, "ann") is None and store.get(running.id)  # still being followed
    assert store.delete(done.id, "ann").id == done.id
    assert store.get(done.id) is None
    assert store.delete(done.id, "ann") is None


@pytest.fixture
def archive(tmp_path):
    return Archiver(tmp_path / "media")


def _archived(archive: Archiver, task: Task, formats=("mp3",)) -> Task:
    media = []
    for number, fmt in enumerate(formats, start=1):
        name = media_name(task.owner, task.id, number, fmt)
        archive.path(name).parent.mkdir(parents=True, exist_ok=True)
        archive.path(name).write_bytes(f"{fmt} of {task.id}".encode())
        media.append(Media("audio", f"https://cdn.example.com/{number}.{fmt}", fmt, 5.0, archived=name))
    return task.replace(media=tuple(media))


def test_archiver_remove_deletes_only_files_it_wrote_for_the_owner(archive, tmp_path):
    task = _archived(archive, _take(), ("mp3", "wav"))
    outside = tmp_path / "keep.txt"
    outside.write_text("x")
    forged = task.replace(media=task.media + (Media("audio", "u", "mp3", archived=str(outside)),))
    assert archive.remove(forged) == 2
    assert outside.exists()
    assert not any(archive.path(m.archived).exists() for m in task.media)
    assert archive.remove(task.replace(owner="bob")) == 0  # another owner's folder is never reached


def test_the_chosen_takes_zip_holds_their_files_under_readable_names(archive, tmp_path):
    first = _archived(archive, _take("Heavy rain!", seed=42))
    second = _archived(Archiver(archive.folder), Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": "a horn"}, owner="ann",
                                                      state=State.SUCCEEDED), ("mp3", "wav"))
    exports = Exports(tmp_path / "exports")
    name = exports.write_takes(archive, "ann", [first, second])
    with zipfile.ZipFile(io.BytesIO(exports.file(name).read_bytes())) as bundle:
        contents = {info.filename: bundle.read(info) for info in bundle.infolist()}
    assert contents == {"01-heavy-rain_5s_seed42_vidu.mp3": f"mp3 of {first.id}".encode(),
                        "02-a-horn_5s_kling.mp3": f"mp3 of {second.id}".encode(),
                        "02-a-horn_5s_kling.wav": f"wav of {second.id}".encode()}


def test_the_chosen_takes_zip_is_bounded(archive, tmp_path):
    with pytest.raises(ExportError, match="at most"):
        Exports(tmp_path / "exports").write_takes(archive, "ann", [_take()] * (MAX_SELECTED_TAKES + 1))
    assert selection_problems(0, 0) == ["Choose at least one take to download."]
    assert len(selection_problems(MAX_SELECTED_TAKES + 1, MAX_SELECTED_BYTES + 1)) == 2
    assert selection_problems(MAX_SELECTED_TAKES, MAX_SELECTED_BYTES) == []


def test_reuse_takes_the_kept_take_else_the_first_success():
    failed, first, second = _take(state=State.FAILED), _take(seed=1), _take(seed=2)
    assert history.reuse_source([failed, first, second]) is first
    assert history.reuse_source([failed, first, second.replace(verdict="kept")]).seed == 2
    assert history.reuse_source([failed]) is failed


def test_takes_are_labelled_by_number_or_by_vendor_in_a_compare_group():
    vidu, vidu2 = _take(), _take()
    kling = Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": "x"})
    assert [history.take_label(t, [vidu, vidu2]) for t in (vidu, vidu2)] == ["Take 1", "Take 2"]
    assert [history.take_label(t, [vidu, kling]) for t in (vidu, kling)] == ["Vidu", "Kling"]


def test_take_facts_say_seed_duration_and_loudness():
    take = _take(seed=1234, media=(Media("audio", "u", "mp3", 10.0, loudness=-23.14),))
    assert history.take_facts(take) == "seed 1234 · 10 s · −23.1 LUFS"
    assert history.take_facts(_take()) == "5 s"  # not yet measured: the asked duration
    assert history.group_key(take) == take.id and history.group_key(take.replace(group_id="g")) == "g"
