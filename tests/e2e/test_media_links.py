"""Results served by the studio's own route, by signed, expiring link, against a running studio.

Two people with accounts each have a finished video with its archived copy, cover and watermarked copy written
straight into the data directory. In Chromium the History page plays them through `/files/…` links: Range
requests answer 206 with the right type, downloads name the file, a tampered link or one moved to the other
person's file is refused, and Streamlit's in-memory media store holds no result bytes.
"""
from __future__ import annotations

import io
import re
import zipfile
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from playwright.sync_api import Page, expect

from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import copy_name
from lib.service import accounts
from lib.store.sqlite import Store
from tests.e2e.conftest import download_export, sign_in, start_studio, stop

PASSWORD = "pw-media-links"
MEDIA_BYTES = re.compile(r'cache_memory_bytes\{cache_type="st_memory_media_file_storage"[^}]*\} (\d+)')
VIDEO = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 400  # the route serves bytes; nothing decodes them


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media-links")
    data = folder / "data"
    lines = [accounts.users_line(name, accounts.hash_password(PASSWORD)) for name in ("ann", "bob")]
    (folder / "secrets.toml").write_text("[users]\n" + "\n".join(lines) + "\n")
    store = Store(data / "studio.db")
    files = {}
    for owner in ("ann", "bob"):
        task = Task(Endpoint.VIDU_TEXT2VIDEO, {"model": "viduq2", "prompt": f"{owner}'s video", "watermark": True},
                    owner=owner, vendor_id=f"{owner}-v", state=State.SUCCEEDED)
        copies = {copy: copy_name(owner, task.id, 1, copy, "mp4")
                  for copy in ("archived", "archived_cover", "archived_watermarked")}
        for copy, name in copies.items():
            (data / "media" / name).parent.mkdir(parents=True, exist_ok=True)
            (data / "media" / name).write_bytes(owner.encode() + (b"\xff\xd8cover" if "cover" in copy else VIDEO))
        store.add(task.replace(media=(Media("video", "https://cdn.example.com/v.mp4", "mp4",
                                            cover_url="https://cdn.example.com/c.jpg",
                                            watermarked_url="https://cdn.example.com/w.mp4", **copies),)))
        files[owner] = data / "media" / copies["archived"]
    process, url = start_studio(data, folder / "server.log",
                                {"STREAMLIT_SECRETS_FILES": str(folder / "secrets.toml")})
    yield url, files
    stop(process)


def _src(page: Page) -> str:
    video = page.locator("[data-testid='stVideo']").first
    expect(video).to_have_attribute("src", re.compile(r"/files/"))
    return video.get_attribute("src")


def test_history_plays_by_signed_link_with_ranges_and_downloads(studio, page: Page):
    url, files = studio
    sign_in(page, f"{url}/history", "ann", PASSWORD)
    expect(page.get_by_text("ann's video")).to_be_visible()
    src = _src(page)
    assert src.startswith(f"{url}/files/")
    answer = requests.get(src, headers={"Range": "bytes=0-99"}, timeout=10)
    assert answer.status_code == 206 and answer.headers["content-type"] == "video/mp4"
    assert answer.content == files["ann"].read_bytes()[:100]
    download = page.get_by_role("link", name="Download MP4").get_attribute("href")
    answer = requests.get(download, timeout=10)
    assert answer.ok and answer.headers["content-disposition"].startswith("attachment")
    watermarked = page.get_by_role("link", name="Download with watermark").get_attribute("href")
    assert requests.get(watermarked, timeout=10).content.startswith(b"ann")
    cover = page.get_by_role("link", name="Download cover").get_attribute("href")  # the video shows no cover beside it
    assert "/files/" in cover and requests.get(cover, timeout=10).content.startswith(b"ann\xff\xd8")
    metrics = requests.get(f"{url}/_stcore/metrics", timeout=10).text
    assert sum(int(found) for found in MEDIA_BYTES.findall(metrics)) == 0


def test_tampered_links_and_other_peoples_files_are_refused(studio, page: Page):
    url, files = studio
    sign_in(page, f"{url}/history", "ann", PASSWORD)
    expect(page.get_by_text("ann's video")).to_be_visible()
    parts = urlsplit(_src(page))
    query = dict(parse_qsl(parts.query))
    bob_name = files["bob"].relative_to(files["bob"].parents[1]).as_posix()
    attempts = {
        "another signature": (parts.path, {**query, "s": "0" * 64}),
        "a later expiry": (parts.path, {**query, "e": str(int(query["e"]) + 3600)}),
        "bob's file with ann's link": (f"/files/{bob_name}", query),
        "bob's file, owner moved": (f"/files/{bob_name}", {**query, "o": bob_name.split("/")[0]}),
        "a path outside the archive": ("/files/%2e%2e/studio.db", query),
    }
    for what, (path, params) in attempts.items():
        answer = requests.get(f"{url}{path}?{urlencode(params)}", timeout=10)
        assert answer.status_code in (400, 403, 404), what
        assert b"bob" not in answer.content and b"SQLite" not in answer.content, what


def test_the_export_is_a_file_served_by_signed_link_and_only_by_its_own_route(studio, page: Page):
    url, _ = studio
    sign_in(page, f"{url}/settings", "ann", PASSWORD)
    with zipfile.ZipFile(io.BytesIO(download_export(page))) as bundle:
        assert "ann's video" in bundle.read("history.json").decode() and "bob's" not in bundle.read(
            "history.json").decode()
    parts = urlsplit(page.get_by_role("link", name="Download the export").get_attribute("href"))
    moved = parts.path.replace("/exports/", "/files/", 1)
    assert requests.get(f"{url}{moved}?{parts.query}", timeout=10).status_code == 403
    query = dict(parse_qsl(parts.query))
    assert requests.get(f"{url}{parts.path}", params={**query, "dl": "x.zip"}, timeout=10).status_code == 403
