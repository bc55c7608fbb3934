"""The signed sign-in cookie and its one-time ticket (lib.service.sessions): pure, no Streamlit."""
from __future__ import annotations

import base64
import json

import pytest

from lib.service import sessions
from lib.service.sessions import Sessions, SignIn

SECRET = b"s" * 32
HASHES = {"alice": "$argon2id$alice-hash", "bob": "$argon2id$bob-hash"}


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def users_binding(kind: str, key: str) -> str | None:
    return HASHES.get(key) if kind == "users" else None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer(clock) -> Sessions:
    return Sessions(SECRET, clock=clock)


def test_a_cookie_reads_back_as_its_sign_in(signer, clock):
    value = signer.cookie("users", "alice", "Alice", HASHES["alice"])
    now = int(clock.now)
    assert signer.read(value, users_binding) == SignIn("users", "alice", "Alice", now,
                                                       now + sessions.LIFETIME_SECONDS)


def test_another_replica_with_the_same_secret_accepts_it(signer, clock):
    value = signer.cookie("users", "alice", "Alice", HASHES["alice"])
    assert Sessions(SECRET, clock=clock).read(value, users_binding).key == "alice"


def test_the_cookie_never_carries_the_password_hash(signer):
    value = signer.cookie("users", "alice", "Alice", HASHES["alice"])
    body = base64.urlsafe_b64decode(value.split(".")[0] + "==")
    assert b"argon2" not in body and "argon2" not in value


def test_it_expires(signer, clock):
    value = signer.cookie("users", "alice", "Alice", HASHES["alice"])
    clock.now += sessions.LIFETIME_SECONDS - 1
    assert signer.read(value, users_binding) is not None
    clock.now += 2
    assert signer.read(value, users_binding) is None


def test_one_issued_far_in_the_future_is_refused(clock):
    ahead = Sessions(SECRET, clock=Clock(clock.now + 3600))
    value = ahead.cookie("users", "alice", "Alice", HASHES["alice"])
    assert Sessions(SECRET, clock=clock).read(value, users_binding) is None


def test_another_secret_refuses_it(signer, clock):
    value = signer.cookie("users", "alice", "Alice", HASHES["alice"])
    assert Sessions(b"t" * 32, clock=clock).read(value, users_binding) is None


def test_a_changed_password_ends_it(signer):
    value = signer.cookie("users", "alice", "Alice", HASHES["alice"])
    assert signer.read(value, lambda kind, key: "$argon2id$new-hash") is None
    assert signer.read(value, lambda kind, key: None) is None  # the account is gone


def test_a_team_cookie_is_bound_to_the_team_password(signer):
    value = signer.cookie("team", "Ann", "Ann", "team-password-1")
    assert signer.read(value, lambda kind, key: "team-password-1" if kind == "team" else None).name == "Ann"
    assert signer.read(value, lambda kind, key: "team-password-2") is None
    assert signer.read(value, users_binding) is None  # the studio now has accounts instead


def _reseal_body(value: str, **changes) -> str:
    body, signature = value.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    changed = base64.urlsafe_b64encode(json.dumps({**claims, **changes}).encode()).rstrip(b"=").decode()
    return f"{changed}.{signature}"


@pytest.mark.parametrize("changes", [{"k": "bob"}, {"n": "Bob"}, {"e": 9_999_999_999}, {"m": "team"}])
def test_a_tampered_cookie_is_refused(signer, changes):
    value = signer.cookie("users", "alice", "Alice", HASHES["alice"])
    assert signer.read(_reseal_body(value, **changes), users_binding) is None


def test_a_flipped_signature_is_refused(signer):
    value = signer.cookie("users", "alice", "Alice", HASHES["alice"])
    body, signature = value.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert signer.read(f"{body}.{flipped}", users_binding) is None


@pytest.mark.parametrize("value", [
    None, 42, "", ".", "..", "abc", "a.b.c", "x" * 10_000_000, "Ω.Ω", "%%%.%%%",
    base64.urlsafe_b64encode(b"[" * 100_000).decode() + ".AA",  # over the bound
    base64.urlsafe_b64encode(b'"just a string"').decode() + ".AA",
    base64.urlsafe_b64encode(b'{"m":"users","k":"alice","n":"Alice","e":1}').decode() + ".",
    base64.urlsafe_b64encode(json.dumps({"m": "users", "k": "a" * 500, "n": "A", "e": 1}).encode()).decode() + ".AA",
    base64.urlsafe_b64encode(b"[" * 1000).decode() + ".AA",  # deeply nested, under the bound
    base64.urlsafe_b64encode(b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[").decode()
    + ".AA",
])
def test_garbage_and_huge_cookies_are_refused_unharmed(signer, value):
    called = []

    def binding(kind, key):
        called.append(key)
        return HASHES.get(key)

    assert signer.read(value, binding) is None
    assert all(len(key) <= sessions.MAX_FIELD_CHARS for key in called)


def test_a_ticket_becomes_a_cookie_once(signer):
    ticket = signer.ticket("users", "alice", "Alice", HASHES["alice"])
    cookie = signer.redeem(ticket)
    assert signer.read(cookie, users_binding).key == "alice"
    assert signer.redeem(ticket) is None  # replayed


def test_a_ticket_expires_within_a_minute(signer, clock):
    ticket = signer.ticket("users", "alice", "Alice", HASHES["alice"])
    clock.now += sessions.TICKET_SECONDS + 1
    assert signer.redeem(ticket) is None


def test_a_ticket_is_not_a_cookie_nor_a_cookie_a_ticket(signer):
    ticket = signer.ticket("users", "alice", "Alice", HASHES["alice"])
    cookie = signer.cookie("users", "alice", "Alice", HASHES["alice"])
    assert signer.read(ticket, users_binding) is None
    assert signer.redeem(cookie) is None


def test_a_ticket_keeps_its_binding(signer):
    cookie = signer.redeem(signer.ticket("users", "alice", "Alice", HASHES["alice"]))
    assert signer.read(cookie, lambda kind, key: "$argon2id$new-hash") is None


@pytest.mark.parametrize("changes", [{"k": "bob"}, {"e": 9_999_999_999}, {"x": "0" * 32}])
def test_a_tampered_ticket_is_refused(signer, changes):
    ticket = signer.ticket("users", "alice", "Alice", HASHES["alice"])
    assert signer.redeem(_reseal_body(ticket, **changes)) is None


def test_another_secrets_ticket_is_refused(signer, clock):
    ticket = Sessions(b"t" * 32, clock=clock).ticket("users", "alice", "Alice", HASHES["alice"])
    assert signer.redeem(ticket) is None


def test_redeemed_tickets_are_forgotten_once_expired(signer, clock):
    for _ in range(3):
        assert signer.redeem(signer.ticket("users", "alice", "Alice", HASHES["alice"]))
    clock.now += sessions.TICKET_SECONDS + 1
    assert signer.redeem(signer.ticket("users", "alice", "Alice", HASHES["alice"]))
    assert len(signer._redeemed) == 1


def test_a_flood_of_tickets_is_bounded(clock, monkeypatch):
    monkeypatch.setattr(sessions, "MAX_PENDING_TICKETS", 3)
    signer = Sessions(SECRET, clock=clock)
    redeemed = [signer.redeem(signer.ticket("users", "alice", "Alice", "h")) for _ in range(5)]
    assert [value is not None for value in redeemed] == [True, True, True, False, False]
