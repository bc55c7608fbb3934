"""Personal accounts: names, password hashes and how fast sign-in attempts may come. Pure: no Streamlit.

Accounts are a `[users]` table in `.streamlit/secrets.toml` (name = argon2 hash). Make a line for it with

    .venv/bin/python -m lib.service.accounts hash "Ann Lee"            # asks for the password twice, without echo
    printf '%s\n' "$PASSWORD" | .venv/bin/python -m lib.service.accounts hash "Ann Lee" --stdin
"""
from __future__ import annotations

import argparse
import getpass
import json
import math
import secrets
import sys
import time
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASH_COMMAND = "python -m lib.service.accounts hash"
_hasher = PasswordHasher()
# Verified against when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def clean(name: str) -> str:
    """`name` as shown: compatibility forms folded (NFKC: "Ａｌｉｃｅ" -> "Alice"), control and format characters
    (zero-width spaces, direction marks) dropped, runs of whitespace made one space, ends stripped."""
    text = unicodedata.normalize("NFKC", name or "")
    text = "".join(" " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C")
    return " ".join(text.split())


def normalise(name: str) -> str:
    """The one key a name stands for: `clean` and case-folded, so "ALICE", "alice " and "Ａｌｉｃｅ" are one."""
    return unicodedata.normalize("NFKC", clean(name).casefold())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; a missing or malformed hash is a plain no (after the same work)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):  # a wrong password, or a hash that is not one
        return False


@dataclass(frozen=True)
class Account:
    name: str  # as configured, for display
    key: str  # normalised: the history owner
    password_hash: str


def parse_users(table: object) -> tuple[dict[str, Account], list[str]]:
    """The `[users]` table as accounts by key, and every problem with it (never quoting a hash)."""
    if not isinstance(table, Mapping):
        return {}, ["[users] must be a table of name = password hash lines."]
    accounts: dict[str, Account] = {}
    problems = []
    for name, password_hash in table.items():
        key = normalise(str(name))
        if not key:
            problems.append("[users] has an entry without a name.")
            continue
        if not isinstance(password_hash, str) or not password_hash.startswith("$argon2"):
            problems.append(f'The password for "{clean(str(name))}" in [users] is not an argon2 hash: '
                            f"make one with `{HASH_COMMAND}`.")
            continue
        if key in accounts:
            problems.append(f'The [users] names "{accounts[key].name}" and "{clean(str(name))}" are the same name '
                            "once case, width and spaces are ignored: keep one of them.")
            continue
        accounts[key] = Account(clean(str(name)), key, password_hash)
    return accounts, problems


def users_line(name: str, password_hash: str) -> str:
    """A `[users]` line; the name is quoted (JSON's escapes are valid TOML basic-string escapes)."""
    return f"{json.dumps(name, ensure_ascii=False)} = {json.dumps(password_hash)}"


# --- throttling sign-in attempts -------------------------------------------------------------------------------

DELAY_AFTER = 3  # failures in a row before each next attempt has to wait
LOCKOUT_AFTER = 10  # failures in a row before a lockout
LOCKOUT_SECONDS = 15 * 60
MAX_DELAY_SECONDS = 60


@dataclass
class _Record:
    failures: int = 0
    last: float = 0.0
    locked_until: float = 0.0


class Throttle:
    """Failed sign-ins counted per key (a client, an account): after DELAY_AFTER failures in a row each next
    attempt waits 1, 2, 4 … s (at most MAX_DELAY_SECONDS); after LOCKOUT_AFTER it is locked for LOCKOUT_SECONDS.

    An attempt made while it should wait is refused at once and counts as a failure, so hammering only reaches
    the lockout sooner; nothing sleeps. A success, or LOCKOUT_SECONDS without failures, clears a key's count.
    The caller counts an attempt (`fail`) before checking it, so attempts racing each other cannot slip past,
    then calls `succeed` or `settle`. Not thread-safe on its own: the caller holds one lock around each call.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._records: dict[Hashable, _Record] = {}

    def _record(self, key: Hashable, now: float) -> _Record | None:
        record = self._records.get(key)
        if record and now >= max(record.locked_until, record.last + LOCKOUT_SECONDS):
            del self._records[key]  # the lockout is over, or the failures are long past
            return None
        return record

    def wait(self, keys: Iterable[Hashable]) -> float:
        """Seconds until an attempt for all of `keys` may be tried; 0 when it may be tried now."""
        now = self._clock()
        waits = [0.0]
        for key in keys:
            if record := self._record(key, now):
                if record.locked_until:
                    waits.append(record.locked_until - now)
                elif record.failures >= DELAY_AFTER:
                    delay = min(2.0 ** (record.failures - DELAY_AFTER), MAX_DELAY_SECONDS)
                    waits.append(record.last + delay - now)
        return max(waits)

    def locked(self, keys: Iterable[Hashable]) -> bool:
        now = self._clock()
        return any((record := self._record(key, now)) and record.locked_until > now for key in keys)

    def fail(self, keys: Iterable[Hashable]) -> int:
        """Count a failed (or refused) attempt for each key; the longest run of failures among them."""
        now = self._clock()
        runs = [0]
        for key in keys:
            record = self._record(key, now) or self._records.setdefault(key, _Record())
            if record.locked_until:  # already locked: the lockout neither grows nor restarts
                runs.append(record.failures)
                continue
            record.failures += 1
            record.last = now
            if record.failures >= LOCKOUT_AFTER:
                record.locked_until = now + LOCKOUT_SECONDS
            runs.append(record.failures)
        if len(self._records) > 10_000:  # many made-up names: forget the ones whose time is up
            for key in list(self._records):
                self._record(key, now)
        return max(runs)

    def settle(self, keys: Iterable[Hashable]) -> None:
        """The attempt `fail` counted before its check was wrong: its wait starts now, not before the check
        (a password hash takes a while to verify)."""
        now = self._clock()
        for key in keys:
            if (record := self._record(key, now)) and not record.locked_until:
                record.last = now

    def succeed(self, keys: Iterable[Hashable]) -> None:
        for key in keys:
            self._records.pop(key, None)


def wait_message(seconds: float) -> str:
    """ "Too many attempts; try again in N seconds/minutes." in plain words."""
    if seconds > 90:
        minutes = math.ceil(seconds / 60)
        return f"Too many attempts; try again in {minutes} minutes."
    whole = max(1, math.ceil(seconds))
    return f"Too many attempts; try again in {whole} second{'s' * (whole != 1)}."


def ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


# --- the command ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.service.accounts",
                                     description="Make a [users] line for .streamlit/secrets.toml.")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("hash", help="hash a password for one account")
    make.add_argument("name", help="the person's name, as it should be shown")
    make.add_argument("--stdin", action="store_true", help="read the password from the first line of stdin")
    args = parser.parse_args(argv)
    if not normalise(args.name):
        parser.error("the name is empty")
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Same password again: ") != password:
            print("The two passwords differ; nothing was made.", file=sys.stderr)
            return 1
    if not password:
        print("The password is empty; nothing was made.", file=sys.stderr)
        return 1
    print("Add this line under [users] in .streamlit/secrets.toml:", file=sys.stderr)
    print(users_line(clean(args.name), hash_password(password)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
