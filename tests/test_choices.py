"""A person's choices on a take (keep, reject, star, hide) are stored apart from what polls save."""
import pytest

from lib.core.tasks import Endpoint, State, Task


def _task(**fields) -> Task:
    return Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "rain"}, owner="ann", **fields)


def test_a_choice_survives_a_poll_that_saves_what_it_read_before(store):
    task, _ = store.add(_task(group_id="g1", seed=7))
    stale = store.get(task.id)
    assert store.choose(task.id, "ann", verdict="kept", starred=True)
    store.save(stale.replace(state=State.SUCCEEDED))  # a poll that read the task before the choice
    fresh = store.get(task.id)
    assert (fresh.state, fresh.verdict, fresh.starred, fresh.hidden) == (State.SUCCEEDED, "kept", True, False)
    assert (fresh.group_id, fresh.seed) == ("g1", 7)


def test_choices_change_only_what_is_given_and_only_for_the_owner(store):
    task, _ = store.add(_task())
    assert not store.choose(task.id, "bob", hidden=True)
    assert store.choose(task.id, "ann", starred=True)
    assert store.choose(task.id, None, hidden=True)  # the team library: anyone's
    assert store.choose(task.id, "ann", verdict="rejected")
    fresh = store.get(task.id)
    assert (fresh.verdict, fresh.starred, fresh.hidden) == ("rejected", True, True)
    assert store.choose(task.id, "ann", starred=False, hidden=False, verdict="")
    fresh = store.get(task.id)
    assert (fresh.verdict, fresh.starred, fresh.hidden) == ("", False, False)


def test_an_unknown_verdict_is_refused(store):
    task, _ = store.add(_task())
    with pytest.raises(ValueError):
        store.choose(task.id, "ann", verdict="<script>")


def test_the_seed_the_vendor_echoes_is_kept_by_merge():
    task = _task()
    assert task.merged(_task(seed=1430777683, state=State.QUEUED)).seed == 1430777683
    assert task.replace(seed=5).merged(_task(state=State.RUNNING)).seed == 5
