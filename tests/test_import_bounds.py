"""Import bounds and validation: real bytes read, not declared sizes; every field checked; one bad record is
reported by its number and skipped, the rest still comes in."""
import io
import json
import struct
import uuid
import zipfile

import pytest

from lib.core.tasks import Endpoint, State
from lib.media.archive import Archiver, media_name, owner_dir
from lib.service.transfer import (
    ImportProblem,
    Limits,
    import_id,
    import_zip,
    record_problems,
)
from lib.store.sqlite import Store

SOURCE = uuid.uuid4().hex  # the exporting instance's task id


def record(**changes):
    base = {"endpoint": "vidu.text2audio", "params": {"model": "audio1.0", "prompt": "rain", "duration": 4},
            "id": uuid.uuid4().hex,
            "task_id": "v-1", "state": "succeeded", "created_at": 10.0, "updated_at": 12.0, "credits": 2,
            "media": [{"kind": "audio", "url": "https://cdn.example.com/a.mp3", "format": "mp3", "duration": 4.0,
                       "archived": None, "archived_cover": None}]}
    return {**base, **changes}


def with_file(name=f"{owner_dir('ann')}/{SOURCE}-1.mp3", **changes):
    rec = record(**changes)
    rec["media"][0]["archived"] = name
    return rec


def bundle(records, members=(), raw_document=None):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("history.json", raw_document if raw_document is not None else json.dumps(
            {"format": "cue-studio-history", "version": 1, "tasks": records}))
        for name, content in members:
            out.writestr(f"media/{name}", content)
    buffer.seek(0)
    return buffer


@pytest.fixture
def instance(tmp_path):
    return Store(tmp_path / "studio.db"), Archiver(tmp_path / "media")


def run(instance, data, owner="ann", **limits):
    store, archive = instance
    return import_zip(store, archive, owner, data, Limits(**limits))


def on_disk(archive):
    return sorted(str(p.relative_to(archive.folder)) for p in archive.folder.rglob("*") if p.is_file()) \
        if archive.folder.exists() else []


def test_one_bad_record_is_reported_by_number_and_the_rest_comes_in(instance):
    report = run(instance, bundle([record(), record(state="exploded"), record()]))
    assert (report.added, report.existing) == (2, 0)
    assert report.message == "Imported 2 tasks; task 2 was skipped: its state is not one Cue Studio knows."


@pytest.mark.parametrize("changes, problem", [
    ({"params": json.loads("[" * 20 + "]" * 20)}, "params is not an object"),
    ({"params": {"a": json.loads("[" * 20 + "]" * 20)}}, "params nest deeper than 6 levels"),
    ({"params": {"duration": float("nan")}}, "params hold a number that is not finite"),
    ({"endpoint": "vidu.timing2audio", "params": {"model": "audio1.0", "timing_prompts": 5}},
     "its settings are not valid: The timeline must be a list of events."),
    ({"params": {"prompt": "rain"}}, "its settings are not valid: Model is required."),
    ({"params": {"duration": float("inf")}}, "params hold a number that is not finite"),
    ({"params": {"prompt": "x" * 200_000}}, "params are longer than"),
    ({"credits": float("nan")}, "credits is not between 0 and 1e+09"),
    ({"credits": 10 ** 400}, "credits is not between 0 and 1e+09"),
    ({"created_at": 1e300}, "created_at is not between"),
    ({"progress": 50.5}, "progress is not a whole number"),
    ({"progress": True}, "progress is not a whole number"),
    ({"created_at": "yesterday"}, "created_at is not a number"),
    ({"id": 12}, "id is not text"),
    ({"id": None}, "id is missing"),
    ({"error_message": "x" * 20_000}, "error_message is longer than 10000 characters"),
    ({"endpoint": "vidu.shell"}, "its endpoint is not one Cue Studio knows"),
    ({"media": "all of it"}, "media is not a list"),
    ({"media": [{"kind": "audio", "url": "https://v/a.mp3", "format": "exe"}]}, "a media format is not one of"),
    ({"media": [{"kind": "video", "url": "https://v/a.mp4", "format": "mp4"}]}, "not of the kind its endpoint"),
    ({"media": [{"kind": "audio", "url": "file:///etc/passwd", "format": "mp3"}]}, "a media url is not a web address"),
    ({"media": [{"kind": "audio", "url": "/proc/self/environ", "format": "mp3"}]}, "a media url is not a web address"),
    ({"media": [{"kind": "audio", "url": "data/studio.db", "format": "mp3"}]}, "a media url is not a web address"),
    ({"media": [{"kind": "audio", "url": "https://v/a", "format": "mp3", "archived": "/proc/self/environ"}]},
     "a media file name is not one Cue Studio makes"),
    ({"media": [{"kind": "audio", "url": "https://v/a", "format": "mp3", "archived": "../../data/studio.db"}]},
     "a media file name is not one Cue Studio makes"),
    ({"media": [{"kind": "audio", "url": "https://v/a", "format": "mp3", "archived_cover": "/etc/passwd"}]},
     "a media file name is not one Cue Studio makes"),
    ({"media": [{"kind": "audio", "url": "https://v/a", "format": "mp3", "duration": float("inf")}]},
     "duration is not between"),
])
def test_record_validation_names_each_problem(changes, problem):
    assert any(problem in p for p in record_problems(record(**changes))), record_problems(record(**changes))


def test_record_validation_returns_every_problem_at_once():
    problems = record_problems(record(state="x", endpoint="y", credits=-1, progress=500, params=[]))
    assert len(problems) == 5


def test_the_same_record_skipped_on_import_and_nothing_written(instance):
    report = run(instance, bundle([with_file("/proc/self/environ"), with_file(f"../{owner_dir('ann')}/a.mp3")],
                                  members=[("/proc/self/environ", b"x")]))
    assert report.added == 0 and [n for n, _ in report.skipped] == [1, 2]
    assert on_disk(instance[1]) == [] and instance[0].count("ann") == 0


def test_a_name_of_another_owners_folder_only_finds_the_member_and_the_copy_is_the_importers(instance):
    name = f"{owner_dir('bob')}/{SOURCE}-1.mp3"
    rec = with_file(name)
    report = run(instance, bundle([rec], members=[(name, b"ID3 bob's")]))
    assert report.added == 1
    task = instance[0].get(import_id("ann", rec["id"]))
    assert task.owner == "ann" and task.imported and task.media[0].archived == media_name("ann", task.id, 1, "mp3")
    assert on_disk(instance[1]) == [media_name("ann", task.id, 1, "mp3")]


def test_an_in_flight_record_comes_in_finished_and_is_never_polled(instance):
    run(instance, bundle([record(state="running", vendor_id="someone-elses")]))
    store = instance[0]
    task = store.find("ann")[0]
    assert task.state is State.FAILED and task.error_code == "not_followed" and "someone-elses" in task.error_message
    assert store.due(10 ** 12) == [] and store.in_flight() == []


def test_a_member_over_the_cap_is_stopped_by_the_bytes_really_read(instance):
    report = run(instance, bundle([with_file(), record()], members=[(f"{owner_dir('ann')}/{SOURCE}-1.mp3",
                                                                     b"\0" * 5000)]), member_bytes=4096)
    assert report.added == 1 and report.skipped == [(1, "its media file is larger than an import accepts")]
    assert on_disk(instance[1]) == []


def _lie_about_size(data: io.BytesIO, member: str, size: int) -> io.BytesIO:
    """The ZIP with `member`'s declared uncompressed size rewritten in its central directory entry."""
    raw = bytearray(data.getvalue())
    at = raw.index(b"PK\x01\x02")
    while raw[at + 46: at + 46 + len(member)] != member.encode():
        at = raw.index(b"PK\x01\x02", at + 4)
    raw[at + 24: at + 28] = struct.pack("<I", size)
    return io.BytesIO(bytes(raw))


def test_a_zip_bomb_declaring_a_tiny_size_writes_nothing_beyond_the_cap(instance):
    name = f"{owner_dir('ann')}/{SOURCE}-1.mp3"
    data = _lie_about_size(bundle([with_file(name)], members=[(name, b"\0" * 2_000_000)]), f"media/{name}", 10)
    report = run(instance, data, member_bytes=1_000_000)
    assert report.added == 0 and report.skipped and report.skipped[0][0] == 1
    assert on_disk(instance[1]) == []


def test_media_together_are_bounded_in_total(instance):
    names = [f"{owner_dir('ann')}/{SOURCE}-{n}.mp3" for n in (1, 2, 3)]
    report = run(instance, bundle([with_file(n) for n in names], members=[(n, b"a" * 400) for n in names]),
                 total_bytes=1000)
    assert report.added == 2
    assert report.skipped == [(3, "the export's media files together are larger than one import accepts")]


def test_the_importers_quota_counts_what_their_folder_already_holds(instance):
    store, archive = instance
    folder = archive.path(owner_dir("ann"))
    folder.mkdir(parents=True)
    (folder / "old.mp3").write_bytes(b"a" * 900)
    name = f"{owner_dir('ann')}/{SOURCE}-1.mp3"
    report = run(instance, bundle([with_file(name)], members=[(name, b"b" * 200)]), owner_bytes=1000)
    assert report.skipped == [(1, "your media would go over your storage quota")]
    assert run(instance, bundle([with_file(name)], members=[(name, b"b" * 200)]), owner="bob",
               owner_bytes=1000).added == 1  # bob's folder is empty


def test_too_many_tasks_and_an_oversized_history_json_are_refused_whole(instance):
    with pytest.raises(ImportProblem, match="more than 2 tasks"):
        run(instance, bundle([record(), record(), record()]), tasks=2)
    with pytest.raises(ImportProblem, match="history.json is larger than"):
        run(instance, bundle([], raw_document=" " * (2 * 1024 ** 2)), document_bytes=1024 ** 2)
    assert instance[0].count("ann") == 0


def test_the_message_says_exactly_what_was_imported(instance):
    kept = record()
    run(instance, bundle([kept]))
    report = run(instance, bundle([kept, record(), record(credits="lots"), record()]))
    assert report.message == ("Imported 2 tasks; 1 was already in your history; task 3 was skipped: credits is not "
                              "a number.")
    assert [t.endpoint for t in instance[0].find("ann")] == [Endpoint.VIDU_TEXT2AUDIO] * 3


def test_a_zip_listing_too_many_members_is_refused_before_it_is_read(instance):
    data = bundle([record()], members=[(f"x{n}", b"") for n in range(2000)])
    with pytest.raises(ImportProblem, match="lists more files than an import accepts"):
        run(instance, data, directory_bytes=50_000)
    data.seek(0)
    assert run(instance, data).added == 1  # the same file under the default bound


def test_a_long_list_of_skipped_tasks_is_summed_up(instance):
    report = run(instance, bundle([record(state="x")] * 13))
    assert report.message.endswith("task 10 was skipped: its state is not one Cue Studio knows; 3 more tasks were "
                                   "skipped.")


def test_the_quota_is_configured_in_megabytes_and_must_be_above_zero():
    from lib.service.config import ConfigError, load_settings

    assert load_settings({"STUDIO_MEDIA_QUOTA_MB": "20"}).media_quota_mb == 20
    assert load_settings({}).media_quota_mb == 5120
    for wrong in ("0", "-1", "lots", "nan"):
        with pytest.raises(ConfigError, match="STUDIO_MEDIA_QUOTA_MB"):
            load_settings({"STUDIO_MEDIA_QUOTA_MB": wrong})


def test_a_task_whose_second_file_fails_keeps_none_of_its_files_and_frees_its_share(instance):
    names = [f"{owner_dir('ann')}/{SOURCE}-{n}.mp3" for n in (1, 2)]
    first = record(media=[{"kind": "audio", "url": "https://v/a.mp3", "format": "mp3", "archived": n}
                          for n in names])
    other = f"{owner_dir('ann')}/{uuid.uuid4().hex}-1.mp3"
    report = run(instance, bundle([first, with_file(other)], members=[(names[0], b"a" * 600),
                                                                     (names[1], b"b" * 600), (other, b"c" * 600)]),
                 total_bytes=1000)
    assert report.skipped == [(1, "the export's media files together are larger than one import accepts")]
    assert report.added == 1 and len(on_disk(instance[1])) == 1
