"""Redirect-safe downloads (`lib.vendors.fetch`): the address rule on every hop and on the address actually connected to.

Real HTTP on loopback: small servers that answer a file or a redirect and count what reached them, a real
`Transport`, and the real `Archiver`.
"""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import ArchiveError, Archiver
from lib.vendors import fetch
from lib.vendors.transport import Transport


class Server:
    """Answers GET with `audio` bytes, or a redirect to `redirect_to` (a callable: path -> Location)."""

    def __init__(self, redirect_to=None):
        self.paths, self.redirect_to = [], redirect_to
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.paths.append(self.path)
                location = outer.redirect_to and outer.redirect_to(self.path)
                if location:
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", "5")
                self.end_headers()
                self.wfile.write(b"audio")

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def servers():
    made = []

    def make(redirect_to=None) -> Server:
        made.append(Server(redirect_to))
        return made[-1]

    yield make
    for server in made:
        server.close()


def transport() -> Transport:
    return Transport(vendor="The media server", sleep=lambda seconds: None)


def archiver(tmp_path, **kwargs) -> Archiver:
    return Archiver(tmp_path, transport(), **kwargs)


def task_for(url: str) -> Task:
    return Task(Endpoint.VIDU_TEXT2AUDIO, {}, media=(Media("audio", url, "mp3"),), state=State.SUCCEEDED)


# --- the address rule -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("2606:4700::1111", True), ("127.0.0.1", False), ("10.0.0.1", False),
    ("172.16.5.4", False), ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
    ("0.0.0.0", False), ("::1", False), ("::", False), ("fe80::1%eth0", False), ("fc00::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:8.8.8.8", True), ("64:ff9b::7f00:1", False),
    ("2002:7f00:1::1", False), ("224.0.0.1", False), ("not an address", False)])
def test_is_public(address, public):
    assert fetch.is_public(address) is public


@pytest.mark.parametrize("url, expected", [
    ("http://127.0.0.1:8765/_sim/media/a.mp3", True),
    ("http://127.0.0.1:8765/", True),
    ("http://127.0.0.1:87651/a.mp3", False),  # a prefix match on the text alone would let this one through
    ("http://127.0.0.1:8765@evil.example/a.mp3", False),
    ("http://user@127.0.0.1:8765/a.mp3", False),
    ("https://127.0.0.1:8765/a.mp3", False),
    ("http://localhost:8765/a.mp3", False),
    ("http://127.0.0.1/a.mp3", False),
    ("http://127.0.0.1:99999/a.mp3", False)])
def test_trusted_prefix_matches_scheme_host_port_and_path_exactly(url, expected):
    assert fetch.trusted(url, ("http://127.0.0.1:8765/",)) is expected


def test_check_url_reports_each_kind_of_refusal_plainly():
    for url, message in (("ftp://cdn.example/a", fetch.NOT_WEB), ("http://[::1", fetch.NOT_VALID),
                         ("http://127.0.0.1/a", fetch.PRIVATE), ("http://127.0.0.1:x/a", fetch.NOT_VALID)):
        with pytest.raises(fetch.FetchError) as caught:
            fetch.check_url(url, allow_private=False)
        assert str(caught.value) == message
    fetch.check_url("http://127.0.0.1/a", allow_private=True)


def test_a_name_is_private_when_any_of_its_addresses_is():
    assert fetch.host_is_private("mixed.example", lambda host: ["8.8.8.8", "10.0.0.1"])
    assert not fetch.host_is_private("public.example", lambda host: ["8.8.8.8"])
    assert not fetch.host_is_private("nowhere.example", lambda host: [])


# --- redirects --------------------------------------------------------------------------------------------------

def test_a_redirect_from_the_trusted_simulator_to_another_loopback_port_is_refused(servers, tmp_path):
    inside = servers()
    simulator = servers(redirect_to=lambda path: f"{inside.url}/secret")
    with pytest.raises(ArchiveError) as caught:
        archiver(tmp_path, trusted=(simulator.url,)).archive(task_for(f"{simulator.url}/_sim/media/a.mp3"))
    assert str(caught.value) == fetch.REDIRECTED_PRIVATE
    assert simulator.paths == ["/_sim/media/a.mp3"] and inside.paths == []  # nothing reached the other port
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_redirect_within_the_trusted_prefix_is_followed(servers, tmp_path):
    simulator = servers(redirect_to=lambda path: "/_sim/media/b.mp3" if path.endswith("a.mp3") else None)
    saved = archiver(tmp_path, trusted=(simulator.url,)).archive(task_for(f"{simulator.url}/_sim/media/a.mp3"))
    assert simulator.paths == ["/_sim/media/a.mp3", "/_sim/media/b.mp3"]
    assert (tmp_path / saved.media[0].archived).read_bytes() == b"audio"


def test_a_laptop_follows_redirects_inside_its_own_network(servers, tmp_path):
    target = servers()
    start = servers(redirect_to=lambda path: f"{target.url}/file.mp3")
    saved = archiver(tmp_path, allow_private=True).archive(task_for(f"{start.url}/a.mp3"))
    assert target.paths == ["/file.mp3"] and (tmp_path / saved.media[0].archived).read_bytes() == b"audio"


def test_redirects_are_bounded(servers, tmp_path):
    loop = servers(redirect_to=lambda path: f"/hop{len(path)}")
    with pytest.raises(ArchiveError, match="redirected too many times"):
        archiver(tmp_path, allow_private=True).archive(task_for(f"{loop.url}/a.mp3"))
    assert len(loop.paths) == fetch.MAX_REDIRECTS + 1


def test_a_redirect_to_another_scheme_is_refused(servers, tmp_path):
    simulator = servers(redirect_to=lambda path: "file:///etc/passwd")
    with pytest.raises(ArchiveError, match="not a web address"):
        archiver(tmp_path, allow_private=True).archive(task_for(f"{simulator.url}/a.mp3"))


# --- the connected address (DNS rebinding) ----------------------------------------------------------------------

def test_a_name_that_rebinds_to_loopback_is_refused_after_connecting(servers, tmp_path, monkeypatch):
    inside = servers()
    # The check sees a public address; the connection (the system resolver) reaches 127.0.0.1.
    monkeypatch.setattr(fetch, "resolve", lambda host: ["93.184.216.34"])
    url = f"http://localhost:{inside.http.server_port}/a.mp3"
    fetch.check_url(url, allow_private=False)  # the name alone looks public
    with pytest.raises(ArchiveError) as caught:
        archiver(tmp_path).archive(task_for(url))
    assert str(caught.value) == fetch.PRIVATE and inside.paths == []  # refused before a byte was sent


def test_the_peer_check_is_off_where_private_addresses_are_allowed(servers, tmp_path, monkeypatch):
    inside = servers()
    monkeypatch.setattr(fetch, "resolve", lambda host: ["93.184.216.34"])
    url = f"http://localhost:{inside.http.server_port}/a.mp3"
    saved = archiver(tmp_path, allow_private=True).archive(task_for(url))
    assert inside.paths == ["/a.mp3"] and saved.media[0].archived


def test_a_rebinding_redirect_target_is_refused_with_the_redirect_message(servers, tmp_path, monkeypatch):
    inside = servers()
    simulator = servers(redirect_to=lambda path: f"http://localhost:{inside.http.server_port}/x")
    monkeypatch.setattr(fetch, "resolve", lambda host: ["93.184.216.34"])
    with pytest.raises(ArchiveError) as caught:
        archiver(tmp_path, trusted=(simulator.url,)).archive(task_for(f"{simulator.url}/_sim/media/a.mp3"))
    assert str(caught.value) == fetch.REDIRECTED_PRIVATE and inside.paths == []


def test_the_peer_check_does_not_retry(servers, monkeypatch):
    inside = servers()
    monkeypatch.setattr(fetch, "resolve", lambda host: ["93.184.216.34"])
    waits = []
    media = Transport(vendor="The media server", sleep=waits.append)
    with pytest.raises(fetch.FetchError):
        fetch.get(media, f"http://localhost:{inside.http.server_port}/a.mp3", allow_private=False)
    assert waits == []  # a refusal is not a network failure worth trying again


def test_the_simulator_s_redirect_fault_is_refused_by_a_hosted_archive(servers, tmp_path):
    """The e2e attack in miniature: the demo simulator (trusted) answers its media URL with a 302 elsewhere."""
    from lib.sim import DEMO_VIDU_KEY, start
    from lib.vendors.vidu import ViduClient

    inside = servers()
    with start(speed=50) as sim:
        client = ViduClient(DEMO_VIDU_KEY, base_url=sim.url)
        created = client.create(Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": "rain", "duration": 2})
        deadline = time.monotonic() + 20
        while (done := client.query(created.vendor_id, Endpoint.VIDU_TEXT2AUDIO)).state is not State.SUCCEEDED:
            assert time.monotonic() < deadline, done
            time.sleep(0.05)
        sim.add_fault(match="/_sim/media/", redirect=f"{inside.url}/private.mp3")
        with pytest.raises(ArchiveError) as caught:
            archiver(tmp_path, trusted=(sim.url,)).archive(done)
        assert str(caught.value) == fetch.REDIRECTED_PRIVATE and inside.paths == []
        sim.clear_faults()
        assert archiver(tmp_path, trusted=(sim.url,)).archive(done).media[0].archived  # the rule, not the link
