"""Submitting: the record comes first, one click is one task, and no answer never means no record."""
import pytest

from lib.core.errors import InvalidRequest, NetworkError, VendorError
from lib.core.tasks import Endpoint, State
from lib.service import studio
from tests.fakes import ScriptedClient, vendors

RAIN = {"model": "audio1.0", "prompt": "rain on a tin roof", "duration": 5}


class RecordingClient(ScriptedClient):
    """Checks, at the moment of sending, that the task is already in the store."""

    def __init__(self, store, **kwargs):
        super().__init__(**kwargs)
        self.store, self.seen_in_store = store, []

    def create(self, *args):
        self.seen_in_store.append(self.store.count("ann"))
        return super().create(*args)


def test_record_is_written_before_the_create_request(store):
    vidu = RecordingClient(store, creates=[{"vendor_id": "900000000000000001"}])
    task, new = studio.submit(store, vendors(vidu=vidu), Endpoint.VIDU_TEXT2AUDIO, RAIN, "ann")
    assert new and vidu.seen_in_store == [1]
    stored = store.get(task.id, "ann")
    assert stored.vendor_id == "900000000000000001" and stored.state is State.QUEUED


def test_invalid_request_never_reaches_the_vendor_or_the_store(store):
    vidu = ScriptedClient(creates=[{}])
    with pytest.raises(InvalidRequest) as raised:
        studio.submit(store, vendors(vidu=vidu), Endpoint.VIDU_TEXT2AUDIO, {**RAIN, "duration": 11}, "ann")
    assert "Duration must be between 2 and 10 seconds" in str(raised.value)
    assert vidu.created == [] and store.count("ann") == 0


def test_double_click_makes_one_task(store):
    vidu = ScriptedClient(creates=[{"vendor_id": "1"}])
    first, new_first = studio.submit(store, vendors(vidu=vidu), Endpoint.VIDU_TEXT2AUDIO, RAIN, "ann", token="t1")
    second, new_second = studio.submit(store, vendors(vidu=vidu), Endpoint.VIDU_TEXT2AUDIO, RAIN, "ann", token="t1")
    assert (new_first, new_second) == (True, False) and first.id == second.id
    assert len(vidu.created) == 1 and store.count("ann") == 1


def test_same_request_by_another_person_is_their_own_task(store):
    vidu = ScriptedClient(creates=[{"vendor_id": "1"}, {"vendor_id": "2"}])
    studio.submit(store, vendors(vidu=vidu), Endpoint.VIDU_TEXT2AUDIO, RAIN, "ann", token="t1")
    _, new = studio.submit(store, vendors(vidu=vidu), Endpoint.VIDU_TEXT2AUDIO, RAIN, "bob", token="t1")
    assert new and len(vidu.created) == 2


def test_kling_always_gets_an_external_id_recorded_before_sending(store):
    kling = ScriptedClient(creates=[NetworkError("no answer", may_have_reached_server=True)])
    task, _ = studio.submit(store, vendors(kling=kling), Endpoint.KLING_TEXT2AUDIO,
                            {"prompt": "fireworks", "duration": 3}, "ann")
    sent = kling.created[0]["external_task_id"]
    assert sent.startswith("cue-")
    stored = store.get(task.id)
    assert stored.external_id == sent and stored.state is State.SUBMITTED
    assert "may still have been created" in stored.error_message


def test_vendor_rejection_is_kept_with_its_reference(store):
    error = VendorError("vidu", 400, "CreditInsufficient", "Your Vidu account has run out of credits.",
                        trace_id="abc123")
    task, _ = studio.submit(store, vendors(vidu=ScriptedClient(creates=[error])), Endpoint.VIDU_TEXT2AUDIO,
                            RAIN, "ann")
    stored = store.get(task.id)
    assert stored.state is State.FAILED and stored.error_code == "CreditInsufficient"
    assert stored.trace_id == "abc123" and "run out of credits" in stored.error_message


def test_refused_connection_fails_plainly_because_nothing_was_sent(store):
    error = NetworkError("Could not connect", may_have_reached_server=False)
    task, _ = studio.submit(store, vendors(vidu=ScriptedClient(creates=[error])), Endpoint.VIDU_TEXT2AUDIO,
                            RAIN, "ann")
    assert store.get(task.id).state is State.FAILED
