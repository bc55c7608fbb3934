"""Only what the archive wrote is ever opened: `Archiver.resolve`, and what a card shows for a result."""
import os
import uuid

import pytest

from lib.core.tasks import Endpoint, Media, Provider, State, Task
from lib.media.archive import (
    Archiver,
    cover_name,
    is_archive_name,
    media_name,
    owner_dir,
    playback,
    web_address,
)
from lib.store.sqlite import Store

TASK = uuid.uuid4().hex


@pytest.fixture
def archive(tmp_path):
    archive = Archiver(tmp_path / "media")
    path = archive.path(media_name("ann", TASK, 1, "mp3"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"ID3 sound")
    archive.path(cover_name("ann", TASK, 1)).write_bytes(b"jpeg")
    return archive


def test_names_the_archiver_makes_have_the_one_accepted_shape():
    assert is_archive_name(media_name("ann", TASK, 1, "mp3"))
    assert is_archive_name(media_name("a/../b", TASK, 12, "mp4"))  # the owner's name is hashed
    assert is_archive_name(cover_name("ann", TASK, 2))


@pytest.mark.parametrize("name", [
    None, 7, "", "/etc/passwd", "/proc/self/environ", "../studio.db", "studio.db", f"{owner_dir('ann')}/../x.mp3",
    f"{owner_dir('ann')}/{TASK}-1.exe", f"{owner_dir('ann')}/{TASK}-0.mp3", f"{owner_dir('ann')}/{TASK}-1.mp3/",
    f"/{owner_dir('ann')}/{TASK}-1.mp3", f"{owner_dir('ann')}/{TASK}-1.mp3\n", f"{owner_dir('ann')}//{TASK}-1.mp3",
    f"{owner_dir('ann')}/{TASK[:-1]}-1.mp3", f"{owner_dir('ann')}/{TASK}-1.MP3", f"x/{owner_dir('ann')}/{TASK}-1.mp3",
])
def test_other_names_are_not_archive_names(name):
    assert not is_archive_name(name)


def test_resolve_gives_the_owners_own_regular_file(archive):
    name = media_name("ann", TASK, 1, "mp3")
    assert archive.resolve(name, "ann") == archive.path(name)
    assert archive.resolve(cover_name("ann", TASK, 1), "ann") == archive.path(cover_name("ann", TASK, 1))


def test_resolve_refuses_another_owners_file_a_missing_one_and_any_path(archive):
    assert archive.resolve(media_name("ann", TASK, 1, "mp3"), "bob") is None
    assert archive.resolve(media_name("ann", TASK, 2, "mp3"), "ann") is None
    for name in ("/etc/passwd", "/proc/self/environ", str(archive.folder.parent / "studio.db"), "../studio.db"):
        assert archive.resolve(name, "ann") is None


def test_resolve_refuses_symlinks_and_folders(archive, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("KEY")
    link = archive.path(media_name("ann", TASK, 3, "mp3"))
    os.symlink(secret, link)
    assert archive.resolve(media_name("ann", TASK, 3, "mp3"), "ann") is None
    archive.path(media_name("ann", TASK, 4, "mp3")).mkdir()
    assert archive.resolve(media_name("ann", TASK, 4, "mp3"), "ann") is None
    # the owner's folder itself a symlink to somewhere else
    other = Archiver(tmp_path / "other")
    other.folder.mkdir()
    os.symlink(archive.path(owner_dir("ann")), other.path(owner_dir("ann")))
    assert other.resolve(media_name("ann", TASK, 1, "mp3"), "ann") is None


@pytest.mark.parametrize("url, ok", [
    ("https://cdn.example.com/a.mp3?sig=1", True), ("http://127.0.0.1:8765/a.mp3", True),
    ("file:///etc/passwd", False), ("/etc/passwd", False), ("/proc/self/environ", False), ("data/studio.db", False),
    ("data:audio/mp3;base64,AAAA", False), ("https://", False), ("https://x/a b", False), ("", False), (None, False),
    (5, False), ("javascript:alert(1)", False), ("HTTPS://CDN.EXAMPLE.COM/A.MP3", True),
    ("https://x/" + "a" * 5000, False),
])
def test_web_address_is_http_or_https_only(url, ok):
    assert web_address(url) == (url if ok else None)


def test_playback_prefers_the_archived_copy(archive):
    media = Media("audio", "https://v/a.mp3", "mp3", archived=media_name("ann", TASK, 1, "mp3"),
                  archived_cover=cover_name("ann", TASK, 1))
    shown = playback(media, "ann", archive)
    assert shown.file == archive.path(media.archived) and shown.url is None and shown.notice is None
    assert shown.cover == archive.path(media.archived_cover)


def test_playback_never_hands_out_a_server_path(archive, tmp_path):
    for url in ("file:///etc/passwd", "/proc/self/environ", str(tmp_path / "studio.db")):
        for archived in (None, url, "/etc/passwd"):
            shown = playback(Media("audio", url, "mp3", archived=archived, archived_cover=url), "ann", archive)
            assert shown.file is None and shown.url is None and shown.cover is None and shown.notice


def test_playback_says_plainly_what_is_missing(archive):
    missing = playback(Media("audio", "https://v/a.mp3", "mp3", archived=media_name("ann", TASK, 9, "mp3")),
                       "ann", archive)
    assert missing.url == "https://v/a.mp3" and "copy of this result is missing" in missing.notice
    gone = playback(Media("audio", "file:///etc/passwd", "mp3", archived=media_name("ann", TASK, 9, "mp3")),
                    "ann", archive)
    assert gone.notice == ("The studio's copy of this result is missing, and there is no web address to play it "
                           "from.")
    assert "not a web address" in playback(Media("audio", "file:///etc/passwd", "mp3"), "ann", archive).notice
    assert "expired" in playback(Media("audio", "", "mp3"), "ann", archive).notice
    other = playback(Media("audio", "", "mp3", archived=media_name("ann", TASK, 1, "mp3")), "bob", archive)
    assert other.file is None and other.notice


def test_the_archiver_downloads_again_rather_than_keep_a_name_it_did_not_write(archive, monkeypatch):
    fetched = []
    monkeypatch.setattr(archive, "_download", lambda url, name, kind: fetched.append(name) or name)
    task = Task(Endpoint.VIDU_TEXT2AUDIO, {}, id=TASK, owner="ann", state=State.SUCCEEDED,
                media=(Media("audio", "https://v/a.mp3", "mp3", archived="/etc/passwd"),))
    assert archive.archive(task).media[0].archived == media_name("ann", TASK, 1, "mp3") == fetched[0]
    kept = task.replace(media=(Media("audio", "https://v/a.mp3", "mp3", archived=media_name("ann", TASK, 1, "mp3")),))
    fetched.clear()
    assert archive.archive(kept) == kept and fetched == []


def test_imported_tasks_are_never_polled_nor_found_by_callbacks(tmp_path):
    store = Store(tmp_path / "studio.db")
    task = Task(Endpoint.VIDU_TEXT2AUDIO, {}, vendor_id="v-1", external_id="e-1", state=State.QUEUED)
    store.add(task)
    store.add(task.replace(id=uuid.uuid4().hex, imported=True, created_at=task.created_at + 1))
    assert store.find_by_vendor_id(Provider.VIDU, "v-1") == task
    store.save(task.replace(vendor_id="v-2", external_id="e-2"))
    assert store.find_by_vendor_id(Provider.VIDU, "v-1") is None
    assert store.find_by_vendor_id(Provider.VIDU, None, "e-1") is None
    assert [t.id for t in store.due(task.created_at + 10)] == [task.id]
    assert store.get(store.find("local")[0].id).imported is True


def test_owner_bytes_measures_the_owners_folder_only(archive):
    assert archive.owner_bytes("ann") == len(b"ID3 sound") + len(b"jpeg")
    assert archive.owner_bytes("bob") == 0


def test_history_page_shows_plain_words_for_results_it_will_not_open(tmp_path, monkeypatch):
    """AppTest: a stored result naming a server path never reaches a player and never breaks the page."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from lib.ui.runtime import services

    for name in ("VIDU_API_KEY", "KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "STUDIO_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    services.clear()
    try:
        store = Store(tmp_path / "studio.db")
        for url, archived in (("file:///etc/passwd", None), ("/proc/self/environ", "/proc/self/environ"),
                              ("https://cdn.example.com/a.mp3", str(tmp_path / "studio.db"))):
            store.add(Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": url}, owner="local", state=State.SUCCEEDED,
                           media=(Media("audio", url, "mp3", archived=archived),)))
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=30)
        at.run()
        at.session_state["open_page"] = "history"
        at.run()
        assert not at.exception, at.exception
        assert [t.value for t in at.title] == ["History"]
        warnings = [w.value for w in at.warning]
        assert warnings.count("This result's address is not a web address, so it is not played.") == 1
        assert "The studio's copy of this result is missing, and there is no web address to play it from." \
            in warnings
        assert any("plays from the vendor's link" in w for w in warnings)
        sources = [a.proto.url for a in at.get("audio")]
        assert sources == ["https://cdn.example.com/a.mp3"], sources
    finally:
        services.clear()
