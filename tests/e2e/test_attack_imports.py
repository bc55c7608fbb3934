"""Attacks through history import and hostile stored results, against a running studio (Playwright in Chromium).

Each is refused or skipped with a plain message; the page never shows an exception; nothing from
/proc/self/environ or the history database is ever served; another person's tasks and files stay as they were;
a zip bomb does not make the server's memory balloon.
"""
from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import cover_name, media_name, owner_dir
from lib.service import accounts
from lib.service.transfer import import_id
from lib.store.sqlite import Store
from tests.e2e.conftest import (
    download_export,
    sign_in,
    start_studio,
    stop,
    wait_until_idle,
)

PASSWORD = "pw-imports-for-everyone"
PEOPLE = ("ann", "bob", "carol", "dora", "eve", "frank")
QUOTA_MB = 20
ENVIRON = Path("/proc/self/environ")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """A studio with personal accounts and a 20 MB media quota, and Bob's own finished task with its file."""
    folder = tmp_path_factory.mktemp("attack-imports")
    data = folder / "data"
    lines = [accounts.users_line(name, accounts.hash_password(PASSWORD)) for name in PEOPLE]
    (folder / "secrets.toml").write_text("[users]\n" + "\n".join(lines) + "\n")
    process, url = start_studio(data, folder / "server.log",
                                {"STREAMLIT_SECRETS_FILES": str(folder / "secrets.toml"),
                                 "STUDIO_MEDIA_QUOTA_MB": str(QUOTA_MB)})
    store = Store(data / "studio.db")
    bob = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "bob's bell"}, owner="bob", vendor_id="bob-v",
               state=State.SUCCEEDED, media=(Media("audio", "https://cdn.example.com/b.mp3", "mp3",
                                                   archived=None),))
    name = media_name("bob", bob.id, 1, "mp3")
    (data / "media" / owner_dir("bob")).mkdir(parents=True)
    (data / "media" / name).write_bytes(b"ID3 bob's own sound")
    store.add(bob.replace(media=(Media("audio", "https://cdn.example.com/b.mp3", "mp3", archived=name),)))
    yield {"url": url, "data": data, "store": store, "process": process, "bob": store.get(bob.id),
           "bob_file": data / "media" / name}
    stop(process)


def open_page(page: Page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    wait_until_idle(page)


def upload(page: Page, data: bytes) -> str:
    """Import `data` in Settings; the text of the alert it answers with."""
    open_page(page, "Settings / status")
    if page.get_by_role("button", name="Remove history.zip").count():  # the previous upload: start afresh
        page.get_by_role("button", name="Remove history.zip").click()
        expect(page.get_by_role("button", name="Import")).to_have_count(0)
        wait_until_idle(page)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "history.zip", "mimeType": "application/zip", "buffer": data}])
    expect(page.get_by_role("button", name="Import")).to_be_visible()
    wait_until_idle(page)
    page.get_by_role("button", name="Import").click()
    wait_until_idle(page)
    alert = page.get_by_test_id("stAlert").filter(has_text=re.compile(r"Import|export|history\.json"))
    expect(alert.first).to_be_visible(timeout=60_000)
    no_exception(page)
    return alert.first.inner_text()


def no_exception(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)


def export(records: list[dict], members: list[tuple[str, bytes]] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("history.json", json.dumps({"format": "cue-studio-history", "version": 1,
                                                    "tasks": records}))
        for name, content in members:
            bundle.writestr(f"media/{name}", content)
    return buffer.getvalue()


def record(url: str = "https://cdn.example.com/a.mp3", archived: str | None = None, **changes) -> dict:
    return {"endpoint": "vidu.text2audio", "params": {"model": "audio1.0", "prompt": "rain"},
            "id": uuid.uuid4().hex, "task_id": "v-1", "state": "succeeded", "created_at": 10.0, "updated_at": 12.0,
            "media": [{"kind": "audio", "url": url, "format": "mp3", "archived": archived}], **changes}


def served_media(page: Page, base: str) -> list[bytes]:
    """The bytes behind every audio/video source and image on the page, fetched as a browser would."""
    sources = page.eval_on_selector_all("audio, video, img, a[href*='/media/']",
                                        "els => els.map(e => e.src || e.href).filter(Boolean)")
    return [requests.get(requests.compat.urljoin(base, s), timeout=30).content for s in sources
            if s.startswith(("http://127.0.0.1", "/"))]


def forbidden_bytes(data_dir: Path) -> list[bytes]:
    """Recognisable bytes of what must never be served: the server's environment and the history database."""
    return [b"SQLite format 3", (data_dir / "studio.db").read_bytes()[:64],
            *[line for line in ENVIRON.read_bytes().split(b"\0") if len(line) > 8][:5]]


def assert_bob_untouched(studio) -> None:
    assert studio["store"].find("bob") == [studio["bob"]]
    assert studio["bob_file"].read_bytes() == b"ID3 bob's own sound"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_server_paths_and_other_owners_names_in_an_import_are_skipped_and_never_served(page, studio):
    db = str(studio["data"] / "studio.db")
    bob_name = studio["bob"].media[0].archived
    good = record()
    records = [
        record(url="/proc/self/environ", archived="/proc/self/environ"),
        record(archived="../studio.db"),
        record(url=db),
        record(url="file:///etc/passwd"),
        record(archived=bob_name),  # Bob's real name: only finds the member below, the copy becomes Ann's
        record(state="running", vendor_id="bobs-vendor-task"),
        good,
    ]
    members = [("/proc/self/environ", b"x"), ("../studio.db", b"x"), (bob_name, b"ID3 ann's upload")]
    sign_in(page, studio["url"], "ann", PASSWORD)
    message = upload(page, export(records, members))
    assert message.startswith("Imported 3 tasks; task 1 was skipped: "), message
    for number in (1, 2, 3, 4):
        assert f"task {number} was skipped" in message
    assert "not a web address" in message and "not one Cue Studio makes" in message
    assert_bob_untouched(studio)

    store = studio["store"]
    ann = store.find("ann")
    assert len(ann) == 3 and all(t.imported and t.owner == "ann" for t in ann)
    copy = store.get(import_id("ann", records[4]["id"]))
    assert copy.media[0].archived == media_name("ann", copy.id, 1, "mp3")
    assert (studio["data"] / "media" / copy.media[0].archived).read_bytes() == b"ID3 ann's upload"
    followed = store.get(import_id("ann", records[5]["id"]))
    assert followed.state is State.FAILED and followed.error_code == "not_followed"

    open_page(page, "History")
    expect(page.get_by_text("not followed here").first).to_be_visible()
    expect(page.get_by_text("Imported").first).to_be_visible()
    no_exception(page)
    expect(page.locator("audio").first).to_be_attached()  # the players are drawn after the cards' text
    served = served_media(page, studio["url"])
    assert b"ID3 ann's upload" in served
    for content in served:
        assert not any(secret in content for secret in forbidden_bytes(studio["data"]))
        assert b"bob's own" not in content


def test_a_zip_bomb_is_stopped_by_the_bytes_read_and_memory_stays_flat(page, studio):
    name = f"{owner_dir('ann')}/{uuid.uuid4().hex}-1.mp3"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("history.json", json.dumps({"format": "cue-studio-history", "version": 1,
                                                    "tasks": [record(archived=name)]}))
        with bundle.open(f"media/{name}", "w", force_zip64=True) as member:
            for _ in range(400):  # 400 MB of zeros, well past the 20 MB quota; about 400 KB compressed
                member.write(bytes(1 << 20))
    pid = studio["process"].pid
    sign_in(page, studio["url"], "dora", PASSWORD)
    before = rss_kb(pid)
    message = upload(page, buffer.getvalue())
    growth_mb = (rss_kb(pid) - before) / 1024
    assert message == "Imported 0 tasks; task 1 was skipped: your media would go over your storage quota.", message
    assert growth_mb < 300, f"the server grew by {growth_mb:.0f} MB"
    folder = studio["data"] / "media" / owner_dir("dora")
    assert not folder.exists() or list(folder.iterdir()) == []  # no .part or partial file left behind
    assert studio["store"].find("dora") == []
    assert_bob_untouched(studio)


def test_a_damaged_or_foreign_file_is_refused_plainly(page, studio):
    sign_in(page, studio["url"], "eve", PASSWORD)
    assert "not a Cue Studio history export" in upload(page, b"PK\x03\x04 this is no zip")
    deep = export([record(params={"a": json.loads("[" * 50 + "]" * 50)})])
    message = upload(page, deep)
    assert message == "Imported 0 tasks; task 1 was skipped: params nest deeper than 6 levels.", message
    assert studio["store"].find("eve") == []
    assert_bob_untouched(studio)


def test_stored_results_with_a_file_url_or_a_missing_copy_show_a_plain_message(page, studio):
    store = studio["store"]
    passwd = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "passwd"}, owner="carol", state=State.SUCCEEDED,
                  media=(Media("audio", "file:///etc/passwd", "mp3"),))
    missing = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "missing"}, owner="carol", state=State.SUCCEEDED)
    missing = missing.replace(media=(Media("audio", "/proc/self/environ", "mp3",
                                           archived=media_name("carol", missing.id, 1, "mp3")),))
    environ = Task(Endpoint.VIDU_TEXT2VIDEO, {"prompt": "environ"}, owner="carol", state=State.SUCCEEDED,
                   media=(Media("video", "https://cdn.example.com/v.mp4", "mp4", archived="/proc/self/environ",
                                archived_cover=str(studio["data"] / "studio.db")),))
    garbage = Task(Endpoint.VIDU_TEXT2VIDEO, {"prompt": "garbage cover"}, owner="carol", state=State.SUCCEEDED)
    garbage = garbage.replace(media=(Media("video", "", "mp4", archived=media_name("carol", garbage.id, 1, "mp4"),
                                           archived_cover=cover_name("carol", garbage.id, 1)),))
    (studio["data"] / "media" / owner_dir("carol")).mkdir(parents=True, exist_ok=True)
    (studio["data"] / "media" / garbage.media[0].archived).write_bytes(b"not really a video")
    (studio["data"] / "media" / garbage.media[0].archived_cover).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    for task in (passwd, missing, environ, garbage):
        store.add(task)
    sign_in(page, studio["url"], "carol", PASSWORD)
    for _ in range(2):  # the page works on every load, not only the first
        open_page(page, "History")
        no_exception(page)
        expect(page.get_by_text("This result's address is not a web address, so it is not played.")).to_be_visible()
        expect(page.get_by_text("The studio's copy of this result is missing, and there is no web address to play "
                                "it from.")).to_be_visible()
        expect(page.get_by_text("so it plays from the vendor's link").first).to_be_visible()
        expect(page.get_by_text("garbage cover")).to_be_visible()
        expect(page.get_by_role("link", name="Download MP4")).to_be_visible()  # its own copy, even if odd
        for content in served_media(page, studio["url"]):
            assert not any(secret in content for secret in forbidden_bytes(studio["data"]))
            assert b"root:" not in content
        page.reload()
        wait_until_idle(page)
        expect(page.get_by_text(re.compile("Signed in as carol", re.I))).to_be_visible()  # the cookie outlives a reload
    assert_bob_untouched(studio)


def test_an_export_holds_only_files_the_archive_wrote_for_that_person(page, studio):
    store = studio["store"]
    frank = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "frank"}, owner="frank", state=State.SUCCEEDED)
    own = media_name("frank", frank.id, 1, "mp3")
    (studio["data"] / "media" / owner_dir("frank")).mkdir(parents=True, exist_ok=True)
    (studio["data"] / "media" / own).write_bytes(b"ID3 frank's")
    store.add(frank.replace(media=(Media("audio", "https://cdn.example.com/f.mp3", "mp3", archived=own),
                                   Media("audio", "https://cdn.example.com/g.mp3", "mp3",
                                         archived=studio["bob"].media[0].archived,
                                         archived_cover=str(studio["data"] / "studio.db")))))
    sign_in(page, studio["url"], "frank", PASSWORD)
    open_page(page, "Settings / status")
    with zipfile.ZipFile(io.BytesIO(download_export(page))) as bundle:
        assert sorted(bundle.namelist()) == ["history.json", f"media/{own}"]
        assert bundle.read(f"media/{own}") == b"ID3 frank's"
        media = json.loads(bundle.read("history.json"))["tasks"][0]["media"]
    assert [m["archived"] for m in media] == [own, None] and media[1]["archived_cover"] is None
    no_exception(page)
    assert_bob_untouched(studio)
