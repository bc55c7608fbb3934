"""Signed media links and the route that serves them: Range requests, types, downloads, refusals."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from lib.media.links import REFUSED, MediaLinks, route, server_secret

NAME = "a1b2c3d4e5f60718/0123456789abcdef0123456789abcdef-1.mp3"
CONTENT = bytes(range(256)) * 40  # 10,240 bytes


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def served(tmp_path):
    (tmp_path / NAME).parent.mkdir(parents=True)
    (tmp_path / NAME).write_bytes(CONTENT)
    clock = Clock()
    links = MediaLinks(b"k" * 32, clock=clock)

    def resolve(name: str) -> Path | None:
        path = tmp_path / name
        return path if name == NAME and path.is_file() else None

    app = Starlette(routes=[route(lambda: links, resolve)])
    return TestClient(app), links, clock


def _split(path: str) -> tuple[str, dict]:
    parts = urlsplit(path)
    return parts.path, dict(parse_qsl(parts.query))


def test_a_signed_link_serves_the_file_with_its_type(served):
    client, links, _ = served
    answer = client.get(links.path(NAME, NAME.split("/")[0]))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "audio/mpeg"
    assert answer.headers["accept-ranges"] == "bytes"
    assert "content-disposition" not in answer.headers or "inline" in answer.headers["content-disposition"]
    assert answer.content == CONTENT


def test_range_requests_answer_206_with_the_slice(served):
    client, links, _ = served
    answer = client.get(links.path(NAME, NAME.split("/")[0]), headers={"Range": "bytes=100-199"})
    assert answer.status_code == 206
    assert answer.headers["content-range"] == f"bytes 100-199/{len(CONTENT)}"
    assert answer.content == CONTENT[100:200]


def test_a_download_link_names_the_file(served):
    client, links, _ = served
    answer = client.get(links.path(NAME, NAME.split("/")[0], download_as="rain-1.mp3"))
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment")
    assert "rain-1.mp3" in answer.headers["content-disposition"]


def test_unsafe_download_names_are_never_signed(served):
    _, links, _ = served
    for name in ("../x.mp3", "a b.mp3", 'x".mp3', "", "x\r\nSet-Cookie: a=b"):
        with pytest.raises(ValueError):
            links.path(NAME, NAME.split("/")[0], download_as=name)


@pytest.mark.parametrize("change", ["s", "e", "o", "dl", "name"])
def test_a_tampered_link_is_refused(served, change):
    client, links, _ = served
    path, query = _split(links.path(NAME, NAME.split("/")[0]))
    if change == "name":
        path = path.replace("-1.mp3", "-2.mp3")
    elif change == "dl":
        query["dl"] = "other.mp3"
    elif change == "s":
        query["s"] = "0" * len(query["s"])
    elif change == "e":
        query["e"] = str(int(query["e"]) + 3600)
    else:
        query["o"] = "ffffffffffffffff"
    answer = client.get(path, params=query)
    assert answer.status_code == 403
    assert answer.text == REFUSED


def test_an_expired_link_is_refused(served):
    client, links, clock = served
    link = links.path(NAME, NAME.split("/")[0])
    assert client.get(link).status_code == 200
    clock.now += 8 * 3600  # past the lifetime and its rounding
    assert client.get(link).status_code == 403


def test_a_link_made_for_one_owner_does_not_open_another_owners_file(served):
    client, links, _ = served
    # Signed for another person's folder: the name does not lie in it, so the link is refused as it stands...
    assert client.get(links.path(NAME, "0000000000000000")).status_code == 403
    # ...and moving the owner to the name's folder breaks the signature.
    path, query = _split(links.path(NAME, "0000000000000000"))
    query["o"] = NAME.split("/")[0]
    assert client.get(path, params=query).status_code == 403


def test_a_valid_link_to_a_name_the_archive_did_not_write_is_refused(served):
    client, links, _ = served
    other = "a1b2c3d4e5f60718/../../../etc/passwd"
    assert client.get(links.path(other, "a1b2c3d4e5f60718")).status_code in (403, 404)


def test_links_stay_the_same_within_the_hour_so_players_do_not_reload(served):
    _, links, clock = served
    first = links.path(NAME, NAME.split("/")[0])
    clock.now += 60
    assert links.path(NAME, NAME.split("/")[0]) == first


def test_the_secret_is_made_once_and_kept(tmp_path):
    first = server_secret(tmp_path)
    assert len(first) == 32
    assert server_secret(tmp_path) == first
    assert (tmp_path / "media-url-secret").stat().st_mode & 0o777 == 0o600
