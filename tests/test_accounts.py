"""Personal accounts: one key per name however it is spelt, argon2 hashes, the [users] table's problems, the
hashing command, and the sign-in throttle on an injected clock."""
import io
import tomllib

import pytest

from lib.core.errors import ConfigError
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.service import accounts
from lib.service.accounts import DELAY_AFTER, LOCKOUT_AFTER, LOCKOUT_SECONDS, Throttle
from lib.service.config import load_settings
from lib.service.keyring import NO_ACCOUNT, Keyring
from lib.store.sqlite import Store
from tests.fakes import vendors

ALICE_HASH = accounts.hash_password("alice pw")


# --- names ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["Alice", "alice", "ALICE", "alice ", "  Alice", "Ａｌｉｃｅ", "ＡＬＩＣＥ",
                                      "Al\u200bice", "Ali\u200dce", "\u202eAlice", "Alic\u0065", "A\u00adlice",
                                      "Alice\n", "ALİCE".replace("İ", "I")])
def test_look_alike_spellings_are_one_name(spelling):
    assert accounts.normalise(spelling) == "alice"


def test_inner_whitespace_of_any_kind_is_one_space():
    assert accounts.normalise("Ann\u00a0\u2003 \t Lee") == "ann lee"
    assert accounts.clean("  Ann\u00a0\u2003 \t Lee ") == "Ann Lee"


def test_clean_keeps_the_case_for_display():
    assert accounts.clean("Ｃａｒｏｌ\u200b") == "Carol"
    assert accounts.clean("Straße") == "Straße" and accounts.normalise("Straße") == "strasse"


def test_different_names_stay_different():
    assert len({accounts.normalise(n) for n in ("Ann", "Anne", "Ann Lee", "AnnLee", "Анн")}) == 5


@pytest.mark.parametrize("blank", ["", "   ", "\u200b", "\u0000\u0007", "\u202e\u200d "])
def test_names_of_nothing_but_space_and_control_characters_are_empty(blank):
    assert accounts.normalise(blank) == "" and accounts.clean(blank) == ""


# --- hashing -----------------------------------------------------------------------------------------------

def test_a_hash_verifies_its_own_password_only():
    assert ALICE_HASH.startswith("$argon2id$") and "alice pw" not in ALICE_HASH
    assert accounts.verify(ALICE_HASH, "alice pw")
    assert not accounts.verify(ALICE_HASH, "alice pw ")
    assert not accounts.verify(ALICE_HASH, "")
    assert accounts.hash_password("alice pw") != ALICE_HASH  # salted


@pytest.mark.parametrize("broken", [None, "", "alice pw", "$argon2id$nonsense", ALICE_HASH[:-5]])
def test_a_missing_or_malformed_hash_is_a_plain_no(broken):
    assert accounts.verify(broken, "alice pw") is False
    assert accounts.verify(broken, "") is False


# --- the [users] table -------------------------------------------------------------------------------------

def test_users_are_kept_by_their_normalised_name_and_shown_as_configured():
    users, problems = accounts.parse_users({"Ann  Lee": ALICE_HASH, "bob": ALICE_HASH})
    assert problems == []
    assert set(users) == {"ann lee", "bob"}
    assert users["ann lee"].name == "Ann Lee" and users["ann lee"].key == "ann lee"


def test_every_problem_of_the_users_table_is_reported_without_quoting_a_hash_or_password():
    users, problems = accounts.parse_users({"Alice": ALICE_HASH, "ＡＬＩＣＥ ": ALICE_HASH, "\u200b": ALICE_HASH,
                                            "Bob": "plain-text-password", "Carol": 42})
    assert set(users) == {"alice"}
    assert len(problems) == 4, problems
    assert any('"Alice" and "ALICE"' in p and "same name" in p for p in problems)
    assert any("without a name" in p for p in problems)
    assert any('"Bob"' in p and accounts.HASH_COMMAND in p for p in problems)
    assert any('"Carol"' in p for p in problems)
    assert not any("plain-text-password" in p or ALICE_HASH in p for p in problems)


def test_a_users_value_that_is_not_a_table_is_a_problem():
    assert accounts.parse_users("alice = x") == ({}, ["[users] must be a table of name = password hash lines."])


def test_settings_read_the_users_table_and_refuse_duplicates():
    settings = load_settings({}, {"users": {"Alice": ALICE_HASH}})
    assert list(settings.users) == ["alice"] and settings.hosted
    assert ALICE_HASH not in repr(settings)
    with pytest.raises(ConfigError, match="same name"):
        load_settings({}, {"users": {"Alice": ALICE_HASH, "alice": ALICE_HASH}})
    assert not load_settings({}, {}).users


def test_a_users_line_is_valid_toml_for_any_name():
    for name in ("Ann Lee", 'Quote " me', "Back\\slash", "Zoë", "a = b"):
        line = accounts.users_line(name, ALICE_HASH)
        assert tomllib.loads(f"[users]\n{line}\n")["users"] == {name: ALICE_HASH}


# --- the command -----------------------------------------------------------------------------------------

def test_the_hash_command_reads_the_password_from_stdin(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret pw\n"))
    assert accounts.main(["hash", "Ａｎｎ  Lee", "--stdin"]) == 0
    out, err = capsys.readouterr()
    users = tomllib.loads(f"[users]\n{out}")["users"]
    assert list(users) == ["Ann Lee"] and accounts.verify(users["Ann Lee"], "s3cret pw")
    assert "s3cret pw" not in out + err and "[users]" in err


def test_the_hash_command_asks_twice_and_refuses_a_mismatch(monkeypatch, capsys):
    answers = iter(["one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert accounts.main(["hash", "Ann"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "differ" in err


def test_the_hash_command_refuses_an_empty_password(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert accounts.main(["hash", "Ann", "--stdin"]) == 1
    assert capsys.readouterr().out == ""


# --- the throttle ------------------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


KEYS = (("client", "10.0.0.9"), ("account", "alice"))


def test_the_first_failures_cost_nothing_then_each_next_attempt_waits_longer():
    clock = Clock()
    throttle = Throttle(clock)
    for failure in range(1, DELAY_AFTER):
        assert throttle.fail(KEYS) == failure
        assert throttle.wait(KEYS) == 0
    waits = []
    for _ in range(DELAY_AFTER, LOCKOUT_AFTER):
        throttle.fail(KEYS)
        waits.append(throttle.wait(KEYS))
        clock.now += waits[-1]  # the person waits as asked, then tries again
        assert throttle.wait(KEYS) == 0
    assert waits == [1, 2, 4, 8, 16, 32, 60]


def test_the_lockout_lasts_its_time_even_for_the_right_password_then_clears():
    clock = Clock()
    throttle = Throttle(clock)
    for _ in range(LOCKOUT_AFTER):
        throttle.fail(KEYS)
    assert throttle.locked(KEYS) and throttle.wait(KEYS) == LOCKOUT_SECONDS
    clock.now += LOCKOUT_SECONDS - 1
    assert throttle.fail(KEYS) == LOCKOUT_AFTER  # attempts while locked neither grow nor restart the lockout
    assert throttle.wait(KEYS) == 1
    clock.now += 1
    assert throttle.wait(KEYS) == 0 and not throttle.locked(KEYS)
    assert throttle.fail(KEYS) == 1  # a fresh count


def test_attempts_made_while_told_to_wait_count_towards_the_lockout():
    throttle = Throttle(Clock())  # the clock never moves: every attempt hammers
    for attempt in range(1, LOCKOUT_AFTER + 1):
        assert throttle.fail(KEYS) == attempt
    assert throttle.locked(KEYS)


def test_the_wait_after_a_failure_starts_when_its_check_is_done():
    clock = Clock()
    throttle = Throttle(clock)
    for _ in range(DELAY_AFTER):
        throttle.fail(KEYS)  # counted before the (slow) check
    clock.now += 5  # the check took its time
    assert throttle.wait(KEYS) == 0
    throttle.settle(KEYS)
    assert throttle.wait(KEYS) == 1


def test_a_success_clears_the_count_and_old_failures_are_forgotten():
    clock = Clock()
    throttle = Throttle(clock)
    for _ in range(DELAY_AFTER):
        throttle.fail(KEYS)
    throttle.succeed(KEYS)
    assert throttle.wait(KEYS) == 0 and throttle.fail(KEYS) == 1
    clock.now += LOCKOUT_SECONDS
    assert throttle.fail(KEYS) == 1


def test_client_and_account_are_counted_separately():
    throttle = Throttle(Clock())
    for number in range(LOCKOUT_AFTER):  # one client guessing many names: the client is locked out
        throttle.fail([("client", "10.0.0.9"), ("account", f"name {number}")])
    assert throttle.locked([("client", "10.0.0.9"), ("account", "bob")])
    assert not throttle.locked([("client", "10.0.0.7"), ("account", "bob")])
    for number in range(LOCKOUT_AFTER):  # many clients guessing one name: the account is locked out
        throttle.fail([("client", f"10.1.0.{number}"), ("account", "alice")])
    assert throttle.locked([("client", "10.2.0.1"), ("account", "alice")])
    assert not throttle.locked([("client", "10.2.0.1"), ("account", "bob")])


@pytest.mark.parametrize("seconds, message", [
    (0.2, "Too many attempts; try again in 1 second."), (1, "Too many attempts; try again in 1 second."),
    (1.5, "Too many attempts; try again in 2 seconds."), (60, "Too many attempts; try again in 60 seconds."),
    (LOCKOUT_SECONDS, "Too many attempts; try again in 15 minutes."),
    (LOCKOUT_SECONDS - 70, "Too many attempts; try again in 14 minutes.")])
def test_wait_messages_are_plain_words(seconds, message):
    assert accounts.wait_message(seconds) == message


@pytest.mark.parametrize("number, word", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"),
                                          (12, "12th"), (13, "13th"), (21, "21st"), (112, "112th")])
def test_ordinals(number, word):
    assert accounts.ordinal(number) == word


# --- own keys need an account ------------------------------------------------------------------------------

def test_no_key_is_held_or_used_without_an_account():
    keyring = Keyring(lambda provider, credentials: object())
    with pytest.raises(ConfigError) as refused:
        keyring.set(None, Provider.VIDU, api_key="vda_someone_elses")
    assert str(refused.value) == NO_ACCOUNT
    base = vendors()
    assert not keyring.has(None, Provider.VIDU) and keyring.vendors_for(None, base) == base


# --- the team library's queries ----------------------------------------------------------------------------

def test_no_owner_means_everyones_tasks(tmp_path):
    store = Store(tmp_path / "studio.db")
    for number, owner in enumerate(("Ann", "Bob", "Ann")):
        store.add(Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": f"p{number}"}, owner=owner, state=State.FAILED,
                       created_at=1000.0 + number))
    assert [t.params["prompt"] for t in store.find(None)] == ["p2", "p1", "p0"]
    assert store.count(None) == 3 and store.count("Ann") == 2
    found, total = store.find_counted(None, states=(State.FAILED,), limit=2)
    assert [t.owner for t in found] == ["Ann", "Bob"] and total == 3
