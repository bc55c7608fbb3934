"""Downloads that cannot be steered into the server's own network: the address rule, redirects and DNS rebinding.

A hosted studio fetches only public addresses. That rule is checked on the first address, on every redirect
hop (followed here, by hand, a few at most) and on the address actually connected to: the socket's peer is
checked right after connecting, before anything is sent, so a name that resolves to a public address when
checked and to a private one when connecting (DNS rebinding) gets nowhere. The demo simulator is the one
exception, for addresses that start exactly with its own prefix (scheme, host, port and path).
"""
from __future__ import annotations

import contextvars
import ipaddress
import socket
from collections.abc import Callable
from contextlib import contextmanager
from urllib.parse import urljoin, urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from lib.core.errors import StudioError
from lib.vendors.transport import POOL_SIZE

MAX_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
NOT_WEB = "The result's address is not a web address, so it was not downloaded."
NOT_VALID = "The result's address is not a valid web address, so it was not downloaded."
PRIVATE = "The result's address points inside the server's own network, so it was not downloaded."
REDIRECTED_PRIVATE = ("The result's address redirected to an address inside the server's own network, so it "
                      "was not downloaded.")
TOO_MANY = "The result's address redirected too many times, so it was not downloaded."
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv6 addresses carrying an IPv4 one (RFC 6052)


class FetchError(StudioError):
    pass


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet, looking through IPv6 forms that carry an IPv4 one."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None)
        if embedded is not None:
            return is_public(str(embedded))
    return ip.is_global and not ip.is_multicast


def resolve(host: str) -> list[str]:
    """Every address `host` resolves to; [] when it does not resolve (the request itself will then fail)."""
    try:
        return [info[4][0] for info in socket.getaddrinfo(host, None)]
    except (OSError, ValueError, UnicodeError):  # ValueError: a name IDNA cannot encode
        return []


def host_is_private(host: str, resolver: Callable[[str], list[str]] | None = None) -> bool:
    """Whether any address of `host` is private (`resolver` defaults to the system's, looked up at call time)."""
    return any(not is_public(address) for address in (resolver or resolve)(host))


def trusted(url: str, prefixes: tuple[str, ...]) -> bool:
    """Whether `url` lies under one of `prefixes`, compared part by part (no look-alike host, port or user)."""
    try:
        parts = urlsplit(url)
        for prefix in prefixes:
            base = urlsplit(prefix)
            if ((parts.scheme, parts.hostname, parts.port) == (base.scheme, base.hostname, base.port)
                    and parts.username is None and parts.password is None and base.hostname
                    and parts.path.startswith(base.path or "/")):
                return True
    except ValueError:  # an invalid port
        return False
    return False


def check_url(url: str, allow_private: bool, trusted_prefixes: tuple[str, ...] = (),
              private_message: str = PRIVATE) -> None:
    """Raise FetchError with a plain reason unless `url` may be fetched under the rule above."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:  # e.g. "http://[::1": an unclosed or invalid bracketed IPv6 host
        raise FetchError(NOT_VALID) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(NOT_WEB)
    if not allow_private and not trusted(url, trusted_prefixes) and host_is_private(parts.hostname):
        raise FetchError(private_message)


# --- the peer check -------------------------------------------------------------------------------------------

_private_ok: contextvars.ContextVar[bool | None] = contextvars.ContextVar("private_ok", default=None)


class _PeerRefused(FetchError):
    """Not an OSError, so neither urllib3 nor the transport treats it as a network failure worth retrying."""


def _check_peer(sock: socket.socket) -> None:
    if _private_ok.get() is False and not is_public(sock.getpeername()[0]):
        sock.close()
        raise _PeerRefused(PRIVATE)


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class _CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:  # before the TLS handshake: nothing has been sent yet
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class PeerCheckingAdapter(HTTPAdapter):
    """A requests adapter whose new connections check the connected address while a download asks for it."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


def _guard(transport) -> None:
    """Mount the peer-checking adapter on the transport's session once (a fake transport has no session)."""
    session = getattr(transport, "session", None)
    if session is not None and not isinstance(session.get_adapter("http://x"), PeerCheckingAdapter):
        adapter = PeerCheckingAdapter(pool_maxsize=POOL_SIZE)
        session.mount("http://", adapter)
        session.mount("https://", adapter)


@contextmanager
def _peers(private_ok: bool):
    token = _private_ok.set(private_ok)
    try:
        yield
    finally:
        _private_ok.reset(token)


def get(transport, url: str, *, allow_private: bool, trusted_prefixes: tuple[str, ...] = (),
        max_redirects: int = MAX_REDIRECTS):
    """GET `url` through `transport` (streamed), following redirects by hand with every hop re-checked.

    Returns the final response (not a redirect); raises FetchError with a plain reason when a hop, or the
    address a connection actually reached, is refused.
    """
    _guard(transport)
    message = PRIVATE
    for _ in range(max_redirects + 1):
        private_ok = allow_private or trusted(url, trusted_prefixes)
        check_url(url, allow_private, trusted_prefixes, message)
        try:
            with _peers(private_ok):
                response = transport.request("GET", url, retry=True, stream=True, allow_redirects=False)
        except _PeerRefused:
            raise FetchError(message) from None
        if response.status_code not in REDIRECT_STATUSES:
            return response
        with response:  # closes it: only its Location is wanted
            location = response.headers.get("Location")
        if not location:
            raise FetchError(f"The result could not be downloaded (HTTP {response.status_code} without an address).")
        url, message = urljoin(url, location), REDIRECTED_PRIVATE
    raise FetchError(TOO_MANY)
