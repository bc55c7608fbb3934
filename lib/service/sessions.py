"""Password sign-ins that outlive one server process: a cookie the studio signs itself. Pure: no Streamlit.

A sign-in (mode, account key, name, issued, expiry) is signed with HMAC-SHA256 under a key derived from the
secret every replica shares (`media-url-secret` in the shared data directory, lib.media.links), so any replica
accepts a cookie another one made, and a restart keeps it. The signature also covers a *binding*: the account's
password hash (personal accounts) or the team password, which the cookie never carries, so changing a password
ends the sign-ins made with the old one.

Streamlit cannot set a cookie itself: the page hands the browser a *ticket* (lives 60 s, single use in the
process that redeems it, signed under a key of its own, so it is never a cookie and a cookie is never a ticket),
and the studio's `POST /session/start` swaps it for the HttpOnly cookie.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "cue_session"
LIFETIME_SECONDS = 12 * 3600
TICKET_SECONDS = 60
MAX_TOKEN_CHARS = 2048  # far above a real one (about 300); anything longer is refused unread
MAX_FIELD_CHARS = 200
MAX_PENDING_TICKETS = 10_000  # redeemed tickets remembered until they expire; a flood beyond this is refused
CLOCK_SKEW_SECONDS = 60  # replicas' clocks may differ a little: a sign-in "issued" this far ahead still counts


@dataclass(frozen=True)
class SignIn:
    mode: str  # "users" or "team" (lib.ui.auth.mode)
    key: str  # the account's key (users) or the typed label (team)
    name: str  # as shown
    issued: int
    expires: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time, lifetime: int = LIFETIME_SECONDS):
        # One key per use, so a signature made for one purpose is worthless for the other (and for media links).
        self._cookie_key = hmac.new(secret, b"cue-session cookie", hashlib.sha256).digest()
        self._ticket_key = hmac.new(secret, b"cue-session ticket", hashlib.sha256).digest()
        self._binding_key = hmac.new(secret, b"cue-session binding", hashlib.sha256).digest()
        self._clock, self._lifetime = clock, lifetime
        self._redeemed: dict[str, float] = {}  # ticket nonce -> its expiry
        self._lock = threading.Lock()

    def cookie(self, mode: str, key: str, name: str, binding: str) -> str:
        """A cookie value for this sign-in, valid for the lifetime and while `binding` stays the same."""
        return self._cookie(mode, key, name, self._bound(binding))

    def read(self, value: object, binding_of: Callable[[str, str], str | None]) -> SignIn | None:
        """The sign-in a cookie value carries, or None when it is malformed, too large, tampered with, signed by
        another secret, expired, or its binding changed; `binding_of(mode, key)` is the current binding (None:
        no such account, or another mode)."""
        claims = self._open(value, self._cookie_key, extra=lambda c: self._binding_for(c, binding_of))
        if claims is None or not isinstance(claims.get("i"), int):
            return None
        now = self._clock()
        if not claims["i"] <= now + CLOCK_SKEW_SECONDS or claims["e"] < now:
            return None
        return SignIn(claims["m"], claims["k"], claims["n"], claims["i"], claims["e"])

    def ticket(self, mode: str, key: str, name: str, binding: str) -> str:
        """A one-time ticket the browser swaps for the cookie within TICKET_SECONDS."""
        claims = {"m": mode, "k": key, "n": name, "b": _b64(self._bound(binding)), "x": secrets.token_hex(16),
                  "e": int(self._clock()) + TICKET_SECONDS}
        return self._seal(claims, self._ticket_key)

    def redeem(self, value: object) -> str | None:
        """The cookie value for a valid ticket, once; None when it is malformed, expired, or already used here."""
        claims = self._open(value, self._ticket_key)
        if claims is None or not (isinstance(claims.get("x"), str) and isinstance(claims.get("b"), str)):
            return None
        now = self._clock()
        if claims["e"] < now or claims["e"] > now + TICKET_SECONDS:
            return None
        with self._lock:
            for nonce in [n for n, expiry in self._redeemed.items() if expiry < now]:
                del self._redeemed[nonce]
            if claims["x"] in self._redeemed or len(self._redeemed) >= MAX_PENDING_TICKETS:
                return None
            self._redeemed[claims["x"]] = claims["e"]
        try:
            bound = _unb64(claims["b"])
        except (ValueError, binascii.Error):
            return None
        return self._cookie(claims["m"], claims["k"], claims["n"], bound)

    def _cookie(self, mode: str, key: str, name: str, bound: bytes) -> str:
        now = int(self._clock())
        claims = {"m": mode, "k": key, "n": name, "i": now, "e": now + self._lifetime}
        return self._seal(claims, self._cookie_key, bound)

    def _bound(self, binding: str) -> bytes:
        return hmac.new(self._binding_key, binding.encode(), hashlib.sha256).digest()

    def _binding_for(self, claims: dict, binding_of: Callable[[str, str], str | None]) -> bytes | None:
        binding = binding_of(claims["m"], claims["k"])
        return None if binding is None else self._bound(binding)

    @staticmethod
    def _seal(claims: dict, key: bytes, extra: bytes = b"") -> str:
        body = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
        return f"{body}.{_b64(hmac.new(key, body.encode() + b'.' + extra, hashlib.sha256).digest())}"

    @staticmethod
    def _open(value: object, key: bytes, extra: Callable[[dict], bytes | None] = lambda claims: b"") -> dict | None:
        """The claims of a sealed value whose signature checks out; every field bounded and typed first."""
        if not isinstance(value, str) or len(value) > MAX_TOKEN_CHARS or value.count(".") != 1:
            return None
        body, signature = value.split(".")
        try:
            claims = json.loads(_unb64(body))
            given = _unb64(signature)
        except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
            return None
        if not isinstance(claims, dict) or not isinstance(claims.get("e"), int) or not all(
                isinstance(claims.get(field), str) and 0 < len(claims[field]) <= MAX_FIELD_CHARS
                for field in ("m", "k", "n")):
            return None
        bound = extra(claims)
        if bound is None:
            return None
        wanted = hmac.new(key, body.encode() + b"." + bound, hashlib.sha256).digest()
        return claims if hmac.compare_digest(given, wanted) else None
