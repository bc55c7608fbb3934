"""Issue 13's bugs found on reading the code: a cancel goes through the poller's single update; a missing archived
file never makes a path from vendor data; validation runs once per submit; one in-flight set; one external-id rule."""
from __future__ import annotations

import ast
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.errors import InvalidRequest
from lib.core.tasks import IN_FLIGHT, Endpoint, Media, State, Task
from lib.media.archive import media_name
from lib.service import studio
from lib.service.poller import Poller
from lib.store.sqlite import Store
from lib.vendors import kling, vidu
from tests.fakes import ScriptedClient, vendors

ROOT = Path(__file__).resolve().parent.parent
CANCELLED = {"state": State.CANCELLED, "raw_state": "failed", "error_code": "UserCancelled"}


def queued(store, owner: str = "ann") -> Task:
    task = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "door"}, owner=owner, vendor_id="41", state=State.QUEUED)
    store.add(task)
    return task


# --- a cancel goes through the poller's single update --------------------------------------------------------------

def test_a_cancels_answer_cannot_turn_back_a_finished_task(tmp_path):
    store = Store(tmp_path / "s.db")
    shown = queued(store)  # what the page drew, before the task finished
    store.save(shown.replace(state=State.SUCCEEDED, raw_state="success"))
    client = ScriptedClient(queries=[CANCELLED])
    worker = Poller(store, vendors(vidu=client))
    answer = studio.cancel(vendors(vidu=client), shown, worker.apply)
    assert store.get(shown.id).state is State.SUCCEEDED and answer.state is State.SUCCEEDED


class WatchedLock:
    """The poller's task lock, saying when a thread other than the test's waits for it."""

    def __init__(self):
        self._lock, self.others_waiting = threading.Lock(), threading.Event()

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            self.others_waiting.set()
        self._lock.acquire()

    def __exit__(self, *exc):
        self._lock.release()


def test_a_late_poll_answer_cannot_undo_a_cancel_made_while_it_was_being_saved(tmp_path):
    """The poll reads the stored task under the lock; the cancel arrives right then. Saved outside the lock, the
    cancel would land first and the poll's older "running" would overwrite it."""
    client = ScriptedClient(queries=[CANCELLED])
    lock, cancelling = WatchedLock(), []

    class RacingStore(Store):
        def get(self, studio_id, owner=None):
            found = super().get(studio_id, owner)
            if threading.current_thread() is threading.main_thread() and not cancelling:
                cancelling.append(threading.Thread(target=studio.cancel, args=(vendors(vidu=client), found,
                                                                               worker.apply)))
                cancelling[0].start()
                deadline = time.monotonic() + 10  # until the cancel waits for the lock, or (unguarded) has saved
                while cancelling[0].is_alive() and not lock.others_waiting.is_set() and time.monotonic() < deadline:
                    time.sleep(0.005)
            return found

    store = RacingStore(tmp_path / "s.db")
    task = queued(store)
    worker = Poller(store, vendors(vidu=client))
    worker._locks = [lock]
    worker.apply(task, task.replace(state=State.RUNNING, raw_state="processing"))  # the late poll's answer
    cancelling[0].join(10)
    assert store.get(task.id).state is State.CANCELLED


def test_a_late_poll_answer_after_a_cancel_leaves_it_cancelled(tmp_path):
    store = Store(tmp_path / "s.db")
    task = queued(store)
    worker = Poller(store, vendors(vidu=ScriptedClient(queries=[{"state": State.RUNNING, "raw_state": "processing"}])))
    studio.cancel(vendors(vidu=ScriptedClient(queries=[CANCELLED])), task, worker.apply)
    worker.poll(task)  # asked before the cancel, answered after it
    assert store.get(task.id).state is State.CANCELLED


# --- a missing archived file ---------------------------------------------------------------------------------------

def result_card(task_id: str) -> None:
    import time as clock

    from lib.ui import tasks
    from lib.ui.runtime import services

    tasks.card(services().store.get(task_id), clock.time())


def card_of(kind: str, url: str, tmp_path) -> AppTest:
    """A finished task's card whose archived copy was written, then deleted."""
    from lib.ui.runtime import services

    task_id = "0" * 31 + ("1" if kind == "audio" else "2")
    name = media_name("local", task_id, 1, "mp3" if kind == "audio" else "mp4")
    copy = services().archive.path(name)
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(b"ID3 the copy")
    copy.unlink()
    services().store.add(Task(Endpoint.VIDU_TEXT2AUDIO if kind == "audio" else Endpoint.VIDU_TEXT2VIDEO,
                              {"prompt": "p"}, id=task_id, owner="local", state=State.SUCCEEDED,
                              media=(Media(kind, url, "mp3" if kind == "audio" else "mp4", archived=name),)))
    at = AppTest.from_function(result_card, args=(task_id,), default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def sources(at: AppTest) -> list[str]:
    return [element.proto.url for kind in ("audio", "video") for element in at.get(kind)]


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_a_missing_copy_is_said_plainly_and_vendor_data_is_only_a_link(demo, tmp_path, kind):
    url = "https://x/../../etc/passwd"
    at = card_of(kind, url, tmp_path)
    assert any("The studio's copy of this result is missing" in w.value for w in at.warning)
    links = {b.proto.label: b.proto.url for b in at.get("link_button")}
    assert not [label for label in links if label.startswith("Download")]  # nothing offered from a file
    assert set(sources(at)) <= {url} and "root:" not in str(list(at.main))
    if kind == "audio":
        assert links.get("Open MP3 at the vendor") == url


def test_an_expired_vendor_link_is_not_offered_for_a_missing_copy(demo, tmp_path):
    url = f"https://cdn.example.com/a.mp3?Expires={int(time.time()) - 60}&Signature=x"
    at = card_of("audio", url, tmp_path)
    assert [w.value for w in at.warning] == [
        "The studio's copy of this result is missing, and the vendor's link to it has expired."]
    assert sources(at) == [] and not list(at.get("link_button"))


# --- validation once per submit ------------------------------------------------------------------------------------

@pytest.fixture
def counted(monkeypatch):
    """Every validation a submit runs, by endpoint (the studio's, and the clients' own for direct calls)."""
    calls: list[str] = []

    def counting(name, check):
        def run(*args):
            calls.append(name)
            return check(*args)
        return run

    monkeypatch.setattr(studio, "validate", counting("studio", studio.validate))
    monkeypatch.setattr(vidu, "validate", counting("vidu", vidu.validate))
    monkeypatch.setattr(kling, "validate_kling_text2audio", counting("kling", kling.validate_kling_text2audio))
    return calls


def test_a_submit_validates_each_request_once(counted, clients, tmp_path):
    store = Store(tmp_path / "s.db")
    group = studio.submit_takes(store, clients, [
        (Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": "rain", "duration": 5}),
        (Endpoint.KLING_TEXT2AUDIO, {"prompt": "rain", "duration": 5})], "ann")
    assert all(task.vendor_id for task in group.tasks)
    assert counted == ["studio", "studio"]


def test_a_client_called_directly_still_validates(counted, clients):
    with pytest.raises(InvalidRequest):
        clients.kling.create({"prompt": "rain", "duration": 99})
    assert counted == ["kling"]


# --- one external-id rule, one in-flight set -----------------------------------------------------------------------

def test_a_kling_take_is_given_its_external_id_once_and_sent_with_it(monkeypatch, clients, tmp_path):
    given, rule = [], kling.with_external_id
    monkeypatch.setattr(kling, "with_external_id", lambda body: given.append(body) or rule(body))
    task, _ = studio.submit(Store(tmp_path / "s.db"), clients, Endpoint.KLING_TEXT2AUDIO,
                            {"prompt": "rain", "duration": 5}, "ann")
    assert len(given) == 1 and task.external_id.startswith("cue-")
    assert clients.kling.query(external_id=task.external_id).vendor_id == task.vendor_id


def in_flight_literals(source: str) -> int:
    """How many tuples/sets/lists of exactly the three in-flight states `source` writes out."""
    wanted = {"SUBMITTED", "QUEUED", "RUNNING"}
    return sum(1 for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Tuple, ast.Set, ast.List))
               and {getattr(e, "attr", None) for e in node.elts} == wanted and len(node.elts) == 3)


def test_the_in_flight_states_are_written_once_next_to_state():
    files = [*ROOT.glob("lib/**/*.py"), *ROOT.glob("pages/*.py")]
    written = {str(f.relative_to(ROOT)): n for f in files if (n := in_flight_literals(f.read_text()))}
    assert written == {"lib/core/tasks.py": 1}
    assert [s for s in State if not s.terminal] == list(IN_FLIGHT)


# --- the end of a task holds across replicas ------------------------------------------------------------------------

class StaleFirstRead:
    """The store as a replica sees it that read the task just before another replica ended it."""
    def __init__(self, store, stale: Task):
        self._store, self._stale = store, [stale]

    def get(self, studio_id, owner=None):
        return self._stale.pop() if self._stale else self._store.get(studio_id, owner)

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_a_replica_that_read_the_task_before_another_finished_it_cannot_undo_the_end(store):
    """Each replica's lock is its own: replica B reads the task in flight, replica A then saves its success, and B's
    late answer must still not undo it. The store's conditional save decides, on SQLite and PostgreSQL."""
    shown = queued(store)
    late = Poller(StaleFirstRead(store, store.get(shown.id)), vendors(vidu=ScriptedClient()))
    store.save(shown.replace(state=State.SUCCEEDED, raw_state="success"))  # replica A
    answer = late.apply(shown, shown.replace(state=State.CANCELLED, raw_state="failed"))
    assert store.get(shown.id).state is State.SUCCEEDED
    assert answer.state is State.SUCCEEDED  # B is told the end that stands
    assert store.save_unfinished(shown.replace(state=State.FAILED)) is False
    assert store.save_unfinished(queued(store).replace(state=State.RUNNING)) is True


def test_a_kling_task_reference_past_its_bound_is_refused_in_words():
    from lib.core.validation import KLING_REFERENCE_MAX, validate

    body = {"prompt": "door", "duration": 5, "external_task_id": "r" * (KLING_REFERENCE_MAX + 1)}
    (problem,) = validate(Endpoint.KLING_TEXT2AUDIO, body)
    assert problem.field == "external_task_id" and f"at most {KLING_REFERENCE_MAX} characters" in problem.message
    assert validate(Endpoint.KLING_TEXT2AUDIO, body | {"external_task_id": "r" * KLING_REFERENCE_MAX}) == []
