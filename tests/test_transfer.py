"""History export and import: the same history comes back, nothing twice, bad files refused plainly."""
import io
import json
import zipfile

import pytest

from lib.archive import Archiver
from lib.store import Store
from lib.tasks import Endpoint, Media, State, Task
from lib.transfer import ImportProblem, export_zip, import_zip


def instance(folder):
    return Store(folder / "studio.db"), Archiver(folder / "media")


@pytest.fixture
def exported(tmp_path):
    store, archive = instance(tmp_path / "one")
    archive.path("ab/1-1.mp3").parent.mkdir(parents=True)
    archive.path("ab/1-1.mp3").write_bytes(b"ID3 sound")
    done = Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": "waves", "duration": 5.0}, owner="ann", task_id="9",
                external_id="cue-1", state=State.SUCCEEDED, credits=0.25, created_at=10.0, started_at=11.0,
                finished_at=15.0, media=(Media("audio", "http://v/a.mp3", "mp3", 5.0, archived="ab/1-1.mp3"),))
    failed = Task(Endpoint.VIDU_TEXT2VIDEO, {"model": "viduq2", "prompt": "cat"}, owner="ann", task_id="8",
                  state=State.FAILED, error_code="CreationPolicyViolation", error_message="blocked", trace_id="t",
                  created_at=5.0)
    store.add(done), store.add(failed)
    store.add(Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "not mine"}, owner="bob"))
    return store, export_zip(store, archive, "ann"), [done, failed]


def test_export_then_import_into_an_empty_instance_restores_the_same_history(tmp_path, exported):
    _, data, originals = exported
    store, archive = instance(tmp_path / "two")
    assert import_zip(store, archive, "ann", data) == (2, 0)
    assert store.find("ann") == originals
    assert archive.path("ab/1-1.mp3").read_bytes() == b"ID3 sound"


def test_export_holds_only_the_owners_tasks(exported):
    _, data, _ = exported
    document = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("history.json"))
    assert [t["params"]["prompt"] for t in document["tasks"]] == ["waves", "cat"]
    assert "owner" not in document["tasks"][0]


def test_importing_twice_or_into_the_same_instance_adds_nothing_twice(tmp_path, exported):
    store, data, _ = exported
    assert import_zip(store, Archiver(tmp_path / "one" / "media"), "ann", data) == (0, 2)
    other_store, other_archive = instance(tmp_path / "two")
    import_zip(other_store, other_archive, "ann", data)
    assert import_zip(other_store, other_archive, "ann", data) == (0, 2)


def test_someone_else_importing_the_file_gets_their_own_copies(tmp_path, exported):
    store, data, _ = exported
    archive = Archiver(tmp_path / "one" / "media")
    assert import_zip(store, archive, "bob", data) == (2, 0)
    assert import_zip(store, archive, "bob", data) == (0, 2)
    assert store.count("bob") == 3 and store.count("ann") == 2


@pytest.mark.parametrize("data, message", [
    (b"not a zip", "not a Cue Studio history export"),
    (None, "not a Cue Studio history export"),
])
def test_bad_files_are_refused_plainly(tmp_path, data, message):
    if data is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as bundle:
            bundle.writestr("history.json", json.dumps({"format": "something else"}))
        data = buffer.getvalue()
    store, archive = instance(tmp_path)
    with pytest.raises(ImportProblem, match=message):
        import_zip(store, archive, "ann", data)


def test_file_names_pointing_outside_the_archive_are_refused(tmp_path, exported):
    _, data, _ = exported
    document = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("history.json"))
    document["tasks"][0]["media"][0]["archived"] = "../../etc/evil"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("history.json", json.dumps(document))
    store, archive = instance(tmp_path / "two")
    with pytest.raises(ImportProblem, match="outside its folder"):
        import_zip(store, archive, "ann", buffer.getvalue())
