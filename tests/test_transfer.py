"""History export and import: the same history comes back as the importer's own records, nothing twice."""
import io
import json
import os
import uuid
import zipfile

import pytest

from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import Archiver, media_name, owner_dir
from lib.service.transfer import (
    EXPORT_KEEP_SECONDS,
    NOT_FOLLOWED,
    Exports,
    ImportProblem,
    export_zip,
    import_id,
    import_zip,
)
from lib.store.sqlite import Store

ANN_TASK, QUEUED_TASK = uuid.uuid4().hex, uuid.uuid4().hex


def instance(folder):
    return Store(folder / "studio.db"), Archiver(folder / "media")


def export_of(store, archive, owner):
    target = io.BytesIO()
    export_zip(store, archive, owner, target)
    target.seek(0)
    return target


@pytest.fixture
def exported(tmp_path):
    store, archive = instance(tmp_path / "one")
    name = media_name("ann", ANN_TASK, 1, "mp3")
    archive.path(name).parent.mkdir(parents=True)
    archive.path(name).write_bytes(b"ID3 sound")
    done = Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": "waves", "duration": 5.0}, id=ANN_TASK, owner="ann",
                vendor_id="9", external_id="cue-1", state=State.SUCCEEDED, credits=0.25, created_at=10.0,
                updated_at=15.0, started_at=11.0, finished_at=15.0,
                media=(Media("audio", "http://v/a.mp3", "mp3", 5.0, archived=name),))
    failed = Task(Endpoint.VIDU_TEXT2VIDEO, {"model": "viduq2", "prompt": "cat"}, owner="ann", vendor_id="8",
                  state=State.FAILED, error_code="CreationPolicyViolation", error_message="blocked", trace_id="t",
                  created_at=5.0, updated_at=6.0)
    running = Task(Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": "rain"}, id=QUEUED_TASK, owner="ann",
                   vendor_id="77", state=State.QUEUED, created_at=4.0, updated_at=4.0)
    for task in (done, failed, running):
        store.add(task)
    store.add(Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "not mine"}, owner="bob"))
    return store, export_of(store, archive, "ann"), [done, failed, running]


def test_import_into_an_empty_instance_restores_the_history_as_the_importers_records(tmp_path, exported):
    _, data, originals = exported
    store, archive = instance(tmp_path / "two")
    report = import_zip(store, archive, "ann", data)
    assert (report.added, report.existing, report.skipped) == (3, 0, [])
    assert report.message == "Imported 3 tasks."
    restored = store.find("ann")
    assert [t.id for t in restored] == [import_id("ann", t.id) for t in originals]
    assert all(t.imported and t.owner == "ann" for t in restored)
    done, failed, running = restored
    assert done.params == originals[0].params and done.state is State.SUCCEEDED and done.vendor_id == "9"
    new_name = media_name("ann", done.id, 1, "mp3")
    assert done.media[0].archived == new_name and archive.resolve(new_name, "ann").read_bytes() == b"ID3 sound"
    assert failed.state is State.FAILED and failed.error_code == "CreationPolicyViolation"
    assert running.state is State.FAILED and running.error_code == NOT_FOLLOWED
    assert "not followed here" in running.error_message and "Vendor task id: 77" in running.error_message
    assert store.due(10 ** 10) == [] and store.in_flight() == []


def test_export_holds_only_the_owners_tasks(exported):
    _, data, _ = exported
    document = json.loads(zipfile.ZipFile(data).read("history.json"))
    assert [t["params"]["prompt"] for t in document["tasks"]] == ["waves", "cat", "rain"]
    assert "owner" not in document["tasks"][0]


def test_importing_twice_or_ones_own_export_adds_nothing_twice(tmp_path, exported):
    store, data, _ = exported
    report = import_zip(store, Archiver(tmp_path / "one" / "media"), "ann", data)
    assert (report.added, report.existing) == (0, 3)
    assert report.message == "Imported 0 tasks; 3 were already in your history."
    other_store, other_archive = instance(tmp_path / "two")
    import_zip(other_store, other_archive, "ann", data)
    assert (import_zip(other_store, other_archive, "ann", data).existing, other_store.count("ann")) == (3, 3)


def test_someone_else_importing_the_file_gets_their_own_copies_in_their_own_folder(tmp_path, exported):
    store, data, originals = exported
    archive = Archiver(tmp_path / "one" / "media")
    assert import_zip(store, archive, "bob", data).added == 3
    assert import_zip(store, archive, "bob", data).existing == 3
    assert store.count("bob") == 4 and store.find("ann") == originals
    copy = store.get(import_id("bob", ANN_TASK))
    assert copy.media[0].archived.startswith(owner_dir("bob") + "/")
    assert archive.resolve(originals[0].media[0].archived, "ann").read_bytes() == b"ID3 sound"


def test_export_leaves_out_files_the_archive_did_not_write(tmp_path):
    store, archive = instance(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("KEY=1")
    store.add(Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "x"}, owner="ann", state=State.SUCCEEDED,
                   media=(Media("audio", "http://v/a.mp3", "mp3", archived=str(secret),
                                archived_cover="../studio.db"),)))
    bundle = zipfile.ZipFile(export_of(store, archive, "ann"))
    assert bundle.namelist() == ["history.json"]
    media = json.loads(bundle.read("history.json"))["tasks"][0]["media"][0]
    assert media["archived"] is None and media["archived_cover"] is None


@pytest.mark.parametrize("content, message", [
    (b"not a zip", "not a Cue Studio history export"),
    ({"format": "something else"}, "not a Cue Studio history export"),
    ({"format": "cue-studio-history", "version": 9, "tasks": []}, "another version"),
    ({"format": "cue-studio-history", "version": 1, "tasks": {}}, "no list of tasks"),
    ("[" * 100000, "not valid JSON"),
])
def test_bad_files_are_refused_plainly(tmp_path, content, message):
    if not isinstance(content, bytes):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as bundle:
            bundle.writestr("history.json", content if isinstance(content, str) else json.dumps(content))
        content = buffer.getvalue()
    store, archive = instance(tmp_path)
    with pytest.raises(ImportProblem, match=message):
        import_zip(store, archive, "ann", io.BytesIO(content))


def test_exports_are_files_of_their_own_found_only_by_their_names_and_pruned(tmp_path):
    now = [1_000_000.0]
    store, archive = Store(tmp_path / "studio.db"), Archiver(tmp_path / "media")
    store.add(Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "rain"}, owner="ann", state=State.FAILED))
    exports = Exports(tmp_path / "exports", clock=lambda: now[0])
    [name] = exports.write(store, archive, "ann", "ann")
    with zipfile.ZipFile(exports.file(name)) as bundle:
        assert "rain" in bundle.read("history.json").decode()
    for other in ("../studio.db", name.replace(".zip", ".part"), name.split("/")[1], "/etc/passwd"):
        assert exports.file(other) is None
    os.utime(exports.file(name), (now[0] - EXPORT_KEEP_SECONDS - 1,) * 2)
    exports.prune()
    assert exports.file(name) is None
