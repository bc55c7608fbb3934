"""Transport: pure retry rules, the retry loop (scripted session), and real network failures on 127.0.0.1."""
import socket
import threading
from contextlib import contextmanager
from email.utils import formatdate

import pytest
import requests

from lib.core.errors import NetworkError
from lib.vendors.transport import (
    MAX_WAIT,
    Transport,
    retry_after_seconds,
    retry_delay,
    should_retry,
)
from tests.http_fakes import ScriptedHTTP, response

URL = "https://api.vidu.com/ent/v2/tasks/1/creations"
KEY = "vda_transport_secret_0123456789"


@pytest.mark.parametrize("status, expected", [
    (200, False), (400, False), (401, False), (404, False), (408, True), (409, False), (429, True),
    (500, True), (501, False), (502, True), (503, True), (504, True), (505, False),
])
def test_should_retry(status, expected):
    assert should_retry(status) is expected


@pytest.mark.parametrize("attempt, low, high", [(0, 0.25, 0.5), (1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0)])
def test_backoff_grows_exponentially_with_jitter(attempt, low, high):
    assert retry_delay(attempt, rand=lambda: 0.0) == low
    assert retry_delay(attempt, rand=lambda: 1.0) == high
    assert low <= retry_delay(attempt) <= high


def test_backoff_is_capped():
    assert retry_delay(20, rand=lambda: 1.0) == MAX_WAIT
    assert retry_delay(3, cap=1.5, rand=lambda: 1.0) == 1.5


@pytest.mark.parametrize("header, expected", [
    ("7", 7.0), ("0", 0.0), ("2.5", 2.5), ("-3", 0.0), ("120", MAX_WAIT),
    (None, None), ("", None), ("soon", None), ("inf", None),
])
def test_retry_after_in_seconds(header, expected):
    delay = retry_delay(0, header, rand=lambda: 0.0)
    assert delay == (0.25 if expected is None else expected)


def test_retry_after_as_http_date():
    now = 1_700_000_000.0
    assert retry_after_seconds(formatdate(now + 10, usegmt=True), now=now) == 10.0
    assert retry_after_seconds(formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert retry_delay(0, formatdate(now + 100, usegmt=True), now=now) == MAX_WAIT


def transport(*answers, **options):
    sleeps = []
    session = ScriptedHTTP(*answers)
    return Transport(session=session, sleep=sleeps.append, **options), session, sleeps


def test_429_is_retried_after_the_vendors_retry_after():
    t, session, sleeps = transport(response(429, {}, headers={"Retry-After": "7"}), response(200, {"ok": 1}))
    assert t.request("GET", URL, retry=True).json() == {"ok": 1}
    assert sleeps == [7.0] and len(session.calls) == 2


@pytest.mark.parametrize("status", sorted({408, 500, 502, 503, 504}))
def test_server_errors_are_retried(status):
    t, session, sleeps = transport(response(status, {}), response(200, {}))
    assert t.request("GET", URL, retry=True).status_code == 200 and len(sleeps) == 1


def test_retries_stop_after_the_limit_and_return_the_last_answer():
    t, session, sleeps = transport(*[response(503, {}) for _ in range(5)])
    assert t.request("GET", URL, retry=True).status_code == 503
    assert len(session.calls) == 5 and len(sleeps) == 4
    assert all(a < b for a, b in zip(sleeps, sleeps[1:]))  # jitter never undoes the doubling


def test_client_errors_are_not_retried():
    t, session, sleeps = transport(response(400, {}))
    assert t.request("GET", URL, retry=True).status_code == 400 and sleeps == []


def test_connection_errors_and_timeouts_are_retried():
    t, session, sleeps = transport(requests.ConnectionError("reset"), requests.ReadTimeout("slow"),
                                   response(200, {}))
    assert t.request("GET", URL, retry=True).status_code == 200 and len(sleeps) == 2


def test_create_is_sent_once_on_5xx():
    t, session, sleeps = transport(response(503, {}), response(200, {}))
    assert t.request("POST", URL, json={}, retry=False).status_code == 503
    assert len(session.calls) == 1 and sleeps == []


def test_create_timeout_is_not_retried_and_may_have_reached_the_server():
    t, session, sleeps = transport(requests.ReadTimeout("slow"), response(200, {}))
    with pytest.raises(NetworkError) as raised:
        t.request("POST", URL, json={}, retry=False)
    assert raised.value.may_have_reached_server and len(session.calls) == 1 and sleeps == []
    assert "may still have been created" in str(raised.value)


def test_connect_timeout_never_reached_the_server():
    t, _, _ = transport(requests.ConnectTimeout("no route"))
    with pytest.raises(NetworkError) as raised:
        t.request("POST", URL, json={}, retry=False)
    assert raised.value.may_have_reached_server is False
    assert str(raised.value) == ("Could not connect to api.vidu.com, so nothing was sent. Check the internet "
                                 "connection and try again.")


def test_timeouts_and_session_are_passed_on():
    t, session, _ = transport(response(200, {}))
    t.request("GET", URL, headers={"Authorization": "Token x"}, params={"a": "1"}, retry=True)
    assert session.calls[0]["timeout"] == (5.0, 30.0) and session.calls[0]["params"] == {"a": "1"}
    assert isinstance(Transport().session, requests.Session)


def test_bad_header_value_error_does_not_quote_the_key():
    with pytest.raises(NetworkError) as raised:
        Transport(sleep=lambda s: None).request("GET", "http://127.0.0.1:9/", retry=True,
                                                headers={"Authorization": f"Token {KEY}\n"})
    assert KEY not in str(raised.value) and KEY not in repr(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


# --- real sockets on 127.0.0.1 ---------------------------------------------------------------------------


@contextmanager
def raw_server(handle):
    """A one-thread TCP server on a free loopback port; `handle(conn, stop)` serves each connection."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                handle(conn, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/ent/v2/text2audio"
    finally:
        stop.set()
        thread.join(5)
        server.close()


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def test_refused_connection_never_reached_the_server():
    sleeps = []
    with pytest.raises(NetworkError) as raised:
        Transport(sleep=sleeps.append).request("POST", f"http://127.0.0.1:{free_port()}/", json={}, retry=False)
    assert raised.value.may_have_reached_server is False and sleeps == []


def test_refused_connection_is_retried_for_queries():
    sleeps = []
    with pytest.raises(NetworkError) as raised:
        Transport(sleep=sleeps.append).request("GET", f"http://127.0.0.1:{free_port()}/", retry=True)
    assert raised.value.may_have_reached_server is False and len(sleeps) == 4
    assert "after 5 attempts" in str(raised.value)


def test_silent_server_times_out_and_the_create_may_exist():
    def silent(conn, stop):
        conn.recv(65536)
        stop.wait(5)

    with raw_server(silent) as url, pytest.raises(NetworkError) as raised:
        Transport(vendor="Vidu", read_timeout=0.2).request("POST", url, json={"prompt": "x"}, retry=False,
                                                           headers={"Authorization": f"Token {KEY}"})
    assert raised.value.may_have_reached_server is True
    assert str(raised.value) == ("Vidu did not answer in time; the task may still have been created — check the "
                                 "history before trying again.")
    assert KEY not in str(raised.value)


def test_hang_up_after_the_request_may_have_reached_the_server():
    def hang_up(conn, stop):
        conn.recv(65536)

    with raw_server(hang_up) as url, pytest.raises(NetworkError) as raised:
        Transport().request("POST", url, json={}, retry=False)
    assert raised.value.may_have_reached_server is True


def test_real_server_503_then_200_with_retry_after():
    answers = [b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
               b"Connection: close\r\n\r\n{\"ok\":true}"]

    def scripted(conn, stop):
        conn.recv(65536)
        conn.sendall(answers.pop(0))

    sleeps = []
    with raw_server(scripted) as url:
        resp = Transport(sleep=sleeps.append).request("GET", url, retry=True)
    assert resp.json() == {"ok": True} and sleeps == [2.0]
