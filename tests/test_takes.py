"""Takes: seeds, the other vendor's version of a request, one group per submission token, creates in flight at once."""
import random
import threading

import pytest

from lib.core import takes
from lib.core.forms import to_values
from lib.core.tasks import Endpoint, State
from lib.core.validation import KLING_PROMPT_MAX, SEED_MAX, validate
from lib.service import studio
from lib.vendors import vidu
from tests.fakes import ScriptedClient, vendors

RAIN = {"model": "audio1.0", "prompt": "rain on a tin roof", "duration": 5.0}
KLING_RAIN = {"prompt": "rain on a tin roof", "duration": 5.0}


# --- seeds and plans (pure) ----------------------------------------------------------------------------------------

def test_one_take_keeps_the_typed_seed_even_zero_so_vidu_picks_and_echoes_it():
    assert takes.seeds(0, 1) == [0] and takes.seeds(1234, 1) == [1234]


@pytest.mark.parametrize("typed", [0, 1234])
def test_several_takes_have_distinct_seeds_chosen_by_the_studio_the_typed_one_first(typed):
    for attempt in range(50):
        chosen = takes.seeds(typed, 4, random.Random(attempt))
        assert len(set(chosen)) == 4 and all(1 <= seed <= SEED_MAX for seed in chosen)
        assert chosen[0] == typed if typed else True


def test_distinct_seeds_even_when_the_random_source_repeats_itself():
    class Stuck(random.Random):
        answers = iter([5, 5, 5, 9, 9, 11])

        def randint(self, low, high):
            return next(self.answers)

    assert takes.seeds(5, 3, Stuck()) == [5, 9, 11]


def test_vidu_takes_differ_only_by_seed_and_are_all_valid():
    bodies = takes.takes(Endpoint.VIDU_TEXT2AUDIO, RAIN, 3, random.Random(1))
    assert [{k: v for k, v in body.items() if k != "seed"} for body in bodies] == [RAIN] * 3
    assert len({body["seed"] for body in bodies}) == 3
    assert all(validate(Endpoint.VIDU_TEXT2AUDIO, body) == [] for body in bodies)


def test_kling_takes_are_identical_requests_and_a_typed_reference_stays_unique():
    assert takes.takes(Endpoint.KLING_TEXT2AUDIO, KLING_RAIN, 2) == [KLING_RAIN, KLING_RAIN]
    typed = {**KLING_RAIN, "external_task_id": "x" * 64}
    references = [body["external_task_id"] for body in takes.takes(Endpoint.KLING_TEXT2AUDIO, typed, 3)]
    assert references == ["x" * 64, "x" * 60 + "-2", "x" * 60 + "-3"]


def test_forged_take_counts_count_as_one():
    assert [takes.take_count(v) for v in (4, 2, 0, 5, "3", True, None, 2.0)] == [4, 2, 1, 1, 1, 1, 1, 1]


def test_for_kling_a_long_description_is_shortened_and_a_short_length_raised_and_both_are_said():
    body = {**RAIN, "prompt": "a" * 250, "duration": 2.0, "seed": 7, "callback_url": "https://example.com/hook"}
    adapted, changes = takes.adapt(body, Endpoint.KLING_TEXT2AUDIO)
    assert adapted == {"prompt": "a" * KLING_PROMPT_MAX, "duration": 3.0}
    assert changes == ["For Kling the description was shortened to 200 characters and the length set to 3 s."]
    assert validate(Endpoint.KLING_TEXT2AUDIO, adapted) == []


def test_nothing_changed_says_nothing_and_kling_to_vidu_gets_vidus_model():
    assert takes.adapt(RAIN, Endpoint.KLING_TEXT2AUDIO) == (KLING_RAIN, [])
    adapted, changes = takes.adapt({**KLING_RAIN, "external_task_id": "mine", "duration": 7.3},
                                   Endpoint.VIDU_TEXT2AUDIO)
    assert (adapted, changes) == ({"model": "audio1.0", "prompt": "rain on a tin roof", "duration": 7.3}, [])
    assert validate(Endpoint.VIDU_TEXT2AUDIO, adapted) == []


def test_a_vidu_length_kling_cannot_take_to_a_tenth_is_rounded_and_said():
    _, changes = takes.adapt({**RAIN, "duration": 9.75}, Endpoint.KLING_TEXT2AUDIO)
    assert changes == ["For Kling the length set to 9.8 s."]


def test_a_compare_plan_asks_as_many_takes_of_each_vendor():
    found = takes.plan(Endpoint.VIDU_TEXT2AUDIO, {**RAIN, "duration": 2.0}, 2, compare=True)
    assert [endpoint for endpoint, _ in found.requests] == [Endpoint.VIDU_TEXT2AUDIO] * 2 + [
        Endpoint.KLING_TEXT2AUDIO] * 2
    assert found.changes == ("For Kling the length set to 3 s.",)
    assert takes.plan(Endpoint.VIDU_TEXT2VIDEO, {"prompt": "x"}, 1, compare=True).requests == (
        (Endpoint.VIDU_TEXT2VIDEO, {"prompt": "x"}),)  # no other vendor makes videos


def test_the_estimate_covers_every_take_of_each_vendor():
    from lib.ui.form import estimate_takes

    assert estimate_takes(takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 1)) == "Estimated cost: 10 credits"
    assert estimate_takes(takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 4)) == "Estimated cost: 40 credits for 4 takes"
    assert estimate_takes(takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 2, compare=True)) == (
        "Estimated cost: 20 credits for 2 Vidu takes + 0.5 units for 2 Kling takes (Kling bills per task)")


# --- the Vidu client reads the seed ------------------------------------------------------------------------------

def test_the_vidu_seed_is_read_from_create_and_query_answers_and_nonsense_is_dropped():
    created = vidu.parse_created(Endpoint.VIDU_TEXT2AUDIO, {"task_id": "1", "state": "created", "seed": 1430777683},
                                 RAIN)
    assert created.seed == 1430777683
    queried = vidu.parse_query({"id": "1", "state": "processing", "seed": "42"}, Endpoint.VIDU_TEXT2AUDIO)
    assert queried.seed == 42
    for nonsense in (0, -3, 1.5, SEED_MAX + 1, "x", [1], True, None):
        assert vidu.parse_query({"id": "1", "state": "processing", "seed": nonsense}).seed is None


def test_the_simulator_echoes_the_seed_it_chose(clients):
    task = clients.vidu.create(Endpoint.VIDU_TEXT2AUDIO, RAIN)
    assert task.seed and 1 <= task.seed <= SEED_MAX
    assert clients.vidu.create(Endpoint.VIDU_TEXT2AUDIO, {**RAIN, "seed": 77}).seed == 77


# --- submitting takes ------------------------------------------------------------------------------------------------

def test_takes_are_one_group_each_recorded_before_any_is_sent_with_the_seed_sent(store):
    seen = []

    class Recording(ScriptedClient):
        def create(self, *args):
            seen.append(store.count("ann"))
            return super().create(*args)

    found = takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 3)
    group = studio.submit_takes(store, vendors(vidu=Recording(creates=[{"vendor_id": "v"}])), found.requests, "ann")
    assert group.new and seen == [3, 3, 3]
    stored = [store.get(task.id) for task in group.tasks]
    assert {task.group_id for task in stored} == {group.id}
    assert [task.seed for task in stored] == [body["seed"] for _, body in found.requests]


def test_a_seed_vidu_chose_is_kept_in_the_request_so_reusing_it_makes_that_take(store):
    client = ScriptedClient(creates=[{"vendor_id": "v", "seed": 1843021977}])
    task, _ = studio.submit(store, vendors(vidu=client), Endpoint.VIDU_TEXT2AUDIO, RAIN, "ann")
    kept = store.get(task.id)
    assert client.created == [RAIN]  # 0 (absent) was sent: Vidu chose
    assert kept.seed == 1843021977 and to_values(Endpoint.VIDU_TEXT2AUDIO, kept.params)["seed"] == 1843021977


def test_all_takes_are_in_flight_at_once(store):
    in_flight = threading.Barrier(4, timeout=10)  # breaks (and the test fails) unless four creates wait together

    class Slow(ScriptedClient):
        def create(self, *args):
            in_flight.wait()
            return super().create(*args)

    found = takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 4)
    group = studio.submit_takes(store, vendors(vidu=Slow(creates=[{"vendor_id": "v"}])), found.requests, "ann")
    assert [task.state for task in group.tasks] == [State.QUEUED] * 4 and not in_flight.broken


def test_the_same_token_is_one_group_and_a_new_token_another(store):
    client = ScriptedClient(creates=[{"vendor_id": "v"}])
    found = takes.plan(Endpoint.KLING_TEXT2AUDIO, KLING_RAIN, 2, compare=True)
    first = studio.submit_takes(store, vendors(vidu=client, kling=client), found.requests, "ann", token="t1")
    again = studio.submit_takes(store, vendors(vidu=client, kling=client), found.requests, "ann", token="t1")
    assert (first.new, again.new, again.id) == (True, False, first.id)
    assert [t.id for t in again.tasks] == [t.id for t in first.tasks] and len(client.created) == 4
    other = studio.submit_takes(store, vendors(vidu=client, kling=client), found.requests, "ann", token="t2")
    assert other.new and other.id != first.id and store.count("ann") == 8


def test_racing_reruns_with_one_token_make_one_group(store):
    client = ScriptedClient(creates=[{"vendor_id": "v"}])
    found, start, groups = takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 3), threading.Barrier(6), []

    def rerun():
        start.wait()
        groups.append(studio.submit_takes(store, vendors(vidu=client), found.requests, "ann", token="same"))

    threads = [threading.Thread(target=rerun) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [group.new for group in groups].count(True) == 1 and len({group.id for group in groups}) == 1
    assert store.count("ann") == 3 and len(client.created) == 3


def test_invalid_takes_are_refused_once_with_nothing_recorded(store):
    client = ScriptedClient(creates=[{"vendor_id": "v"}])
    found = takes.plan(Endpoint.VIDU_TEXT2AUDIO, {**RAIN, "prompt": ""}, 4, compare=True)
    with pytest.raises(studio.InvalidRequest) as refused:
        studio.submit_takes(store, vendors(vidu=client, kling=client), found.requests, "ann")
    assert [p.message for p in refused.value.problems] == ["The prompt is required."]
    assert client.created == [] and store.count("ann") == 0
