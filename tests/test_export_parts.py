"""A history larger than one upload is exported in self-contained parts, and imported back part by part, in any
order, all at once or one by one, each part adding nothing the second time."""
from __future__ import annotations

import io
import json
import os
import zipfile
from urllib.parse import unquote, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.plain import plain
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import Archiver, media_name
from lib.service import transfer
from lib.service.transfer import Exports, ImportProblem, import_id, import_zip, plan_parts
from lib.store.sqlite import Store

PART = 24_000  # bytes: a test-sized part
RESULT = 6_000  # bytes of each result's archived copy: three fit a part
RESULTS = 8


def test_parts_are_consecutive_and_never_split_a_record():
    assert plan_parts([4, 4, 4, 4, 4], 10) == [range(0, 2), range(2, 4), range(4, 5)]
    assert plan_parts([3, 30, 3], 10) == [range(0, 1), range(1, 2), range(2, 3)]  # one too large: a part alone
    assert plan_parts([1] * 5, 100, part_tasks=2) == [range(0, 2), range(2, 4), range(4, 5)]
    assert plan_parts([], 10) == [range(0, 0)]  # an empty history is still one (empty) export
    assert [list(p) for p in plan_parts([5, 5, 5], 15)] == [[0, 1, 2]]


def history(folder, owner: str = "ann") -> tuple[Store, Archiver, list[Task]]:
    store, archive = Store(folder / "studio.db"), Archiver(folder / "media")
    tasks = []
    for number in range(RESULTS):
        task_id = f"{number:032x}"
        name = media_name(owner, task_id, 1, "mp3")
        archive.path(name).parent.mkdir(parents=True, exist_ok=True)
        archive.path(name).write_bytes(b"ID3" + os.urandom(RESULT))  # random: the ZIP cannot shrink it
        tasks.append(Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": f"wave {number}", "duration": 5.0}, id=task_id,
                          owner=owner, vendor_id=str(number), state=State.SUCCEEDED, created_at=10.0 + number,
                          updated_at=20.0, media=(Media("audio", f"https://v/{number}.mp3", "mp3", 5.0,
                                                        archived=name),)))
        store.add(tasks[-1])
    return store, archive, tasks


@pytest.fixture
def parts(tmp_path, monkeypatch) -> tuple[list[bytes], list[Task]]:
    monkeypatch.setattr(transfer, "PART_BYTES", PART)
    store, archive, tasks = history(tmp_path / "one")
    exports = Exports(tmp_path / "exports")
    return [exports.file(name).read_bytes() for name in exports.write(store, archive, "ann", "ann")], tasks


def test_each_part_is_within_the_part_size_and_lists_only_its_own_results(parts):
    files, tasks = parts
    assert len(files) == 3 and all(len(data) <= PART for data in files)
    listed = []
    for number, data in enumerate(files, start=1):
        with zipfile.ZipFile(io.BytesIO(data)) as bundle:
            document = json.loads(bundle.read("history.json"))
            assert (document["part"], document["parts"]) == (number, 3)
            carried = {name for name in bundle.namelist() if name.startswith("media/")}
        assert carried == {f"media/{record['media'][0]['archived']}" for record in document["tasks"]}
        listed += [record["id"] for record in document["tasks"]]
    assert sorted(listed) == sorted(task.id for task in tasks)  # every result once


def test_parts_import_in_any_order_and_a_part_imported_twice_adds_nothing(parts, tmp_path):
    files, tasks = parts
    store, archive = Store(tmp_path / "two.db"), Archiver(tmp_path / "two")
    reports = [import_zip(store, archive, "ann", io.BytesIO(data)) for data in reversed(files)]
    assert sum(report.added for report in reports) == RESULTS
    assert reports[0].message.startswith(f"Imported {reports[0].added} tasks from part 3 of 3")
    again = import_zip(store, archive, "ann", io.BytesIO(files[1]))
    assert (again.added, again.existing) == (0, len(json.loads(zipfile.ZipFile(io.BytesIO(files[1]))
                                                               .read("history.json"))["tasks"]))
    restored = {task.id: task for task in store.find("ann")}
    assert set(restored) == {import_id("ann", task.id) for task in tasks}
    for task in tasks:
        copy = archive.resolve(restored[import_id("ann", task.id)].media[0].archived, "ann")
        assert copy is not None and copy.stat().st_size == RESULT + 3


@pytest.mark.parametrize("part", [{"part": 4, "parts": 3}, {"part": 0, "parts": 1}, {"part": True, "parts": 1},
                                  {"part": "1", "parts": 2}, {"part": 1, "parts": 10 ** 9}])
def test_a_damaged_part_number_is_refused(tmp_path, part):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as bundle:
        bundle.writestr("history.json", json.dumps({"format": transfer.FORMAT, "version": transfer.VERSION,
                                                    "tasks": [], **part}))
    with pytest.raises(ImportProblem, match="part number is damaged"):
        import_zip(Store(tmp_path / "s.db"), Archiver(tmp_path / "m"), "ann", data)


# --- on the Settings page ------------------------------------------------------------------------------------------

def history_section() -> None:
    from lib.ui import history_transfer

    history_transfer.section()


def settings_page() -> AppTest:
    """Settings' "Your history" section, as the page draws it."""
    at = AppTest.from_function(history_section, default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def test_settings_exports_parts_and_imports_them_all_back_at_once(demo, tmp_path, monkeypatch):
    from lib.ui.runtime import services

    monkeypatch.setattr(transfer, "PART_BYTES", PART)
    _, _, tasks = history(tmp_path, owner="local")  # the demo studio's own store and archive (STUDIO_DATA_DIR)
    at = settings_page()
    assert ("Up to 200 MB per file; a large history is exported in parts of up to "
            f"{PART / 1024 ** 2:g} MB — import them all at once or one by one.") in [c.value for c in at.caption]
    next(b for b in at.button if b.label == "Prepare an export (ZIP)").click()
    at.run()
    links = {b.proto.label: b.proto.url for b in at.get("link_button")}
    assert [label for label in links if label.startswith("Download")] == [
        "Download part 1 of 3", "Download part 2 of 3", "Download part 3 of 3"]
    exports = services().exports
    files = [exports.file(unquote(urlsplit(links[f"Download part {n} of 3"]).path).split("/", 2)[2]).read_bytes()
             for n in (3, 1, 2)]

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "elsewhere"))  # another instance, empty
    services.clear()
    at = settings_page()
    uploader = at.file_uploader(key="import_zip")
    assert uploader.accept_multiple_files
    uploader.set_value([(f"part-{n}.zip", data, "application/zip") for n, data in zip((3, 1, 2), files)])
    at.run()
    next(b for b in at.button if b.label == "Import").click()
    at.run()
    assert not at.exception and not at.error and not at.warning
    assert [s.value.split(": ")[0] for s in at.success] == [plain(f"part-{n}.zip") for n in (3, 1, 2)]
    assert all(": Imported" in s.value for s in at.success)
    restored = services().store.find("local")
    assert {task.id for task in restored} == {import_id("local", task.id) for task in tasks}
    assert all(services().archive.resolve(task.media[0].archived, "local") for task in restored)
