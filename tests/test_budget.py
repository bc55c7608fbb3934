"""The budget guard: monthly budgets per person, the vendor's balance, and refusing before anything is sent."""
from datetime import UTC, datetime

import pytest

from lib.core import takes
from lib.core.errors import ConfigError, NetworkError
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.service import budget, studio
from lib.service.config import load_settings
from tests.fakes import ScriptedClient, vendors

RAIN = {"model": "audio1.0", "prompt": "rain", "duration": 5.0}  # 10 credits a take
KLING_RAIN = {"prompt": "rain", "duration": 5.0}  # 0.25 units a take
NOW = datetime(2026, 12, 15, 12, tzinfo=UTC).timestamp()
TEAM = budget.Budgets({Provider.VIDU: 50.0, Provider.KLING: 1.0}, {"ann": {Provider.VIDU: 500.0}})


def at(day: int, month: int = 12) -> float:
    return datetime(2026, month, day, 12, tzinfo=UTC).timestamp()


def test_budgets_come_from_secrets_over_the_environment_with_overrides_per_person():
    env = {"STUDIO_BUDGET_VIDU_CREDITS": "100", "STUDIO_BUDGET_KLING_UNITS": "2"}
    secrets = {"budget": {"vidu_credits": 300, "people": {"Ann": {"vidu_credits": 1000, "kling_units": 0}}}}
    found = load_settings(env, secrets).budgets
    assert (found.limit("bob", Provider.VIDU), found.limit("bob", Provider.KLING)) == (300, 2)
    assert (found.limit("ANN ", Provider.VIDU), found.limit("ann", Provider.KLING)) == (1000, 0)
    assert load_settings({}, {}).budgets.limit("bob", Provider.VIDU) is None


def test_every_bad_budget_is_reported_at_once():
    with pytest.raises(ConfigError) as bad:
        load_settings({"STUDIO_BUDGET_KLING_UNITS": "lots"},
                      {"budget": {"vidu_credits": -1, "people": {"ann": {"kling_units": "x"}}}})
    assert str(bad.value).count("The budget") == 3 and "of ann: kling_units" in str(bad.value)
    assert "The budget kling_units (or STUDIO_BUDGET_KLING_UNITS) must be a number" in str(bad.value)


def test_the_month_starts_on_the_first_at_midnight_utc():
    assert budget.month_start(NOW) == datetime(2026, 12, 1, tzinfo=UTC).timestamp()


def test_spent_is_what_the_vendor_charged_else_the_estimate_and_refusals_cost_nothing():
    tasks = [Task(Endpoint.VIDU_TEXT2AUDIO, RAIN, vendor_id="1", credits=20.0),  # charged
             Task(Endpoint.VIDU_TEXT2AUDIO, RAIN, vendor_id="2"),  # in flight: the estimate, 10
             Task(Endpoint.VIDU_TEXT2AUDIO, RAIN, state=State.FAILED),  # refused: never created
             Task(Endpoint.VIDU_TEXT2AUDIO, RAIN, vendor_id="3", state=State.CANCELLED, credits=0.0),  # refunded
             Task(Endpoint.KLING_TEXT2AUDIO, KLING_RAIN, vendor_id="k")]
    assert budget.spent(tasks, Provider.VIDU) == 30 and budget.spent(tasks, Provider.KLING) == 0.25


def test_only_this_months_own_tasks_count(store):
    for owner, when in (("bob", at(1)), ("bob", at(30, 11)), ("ann", at(2))):
        store.add(Task(Endpoint.VIDU_TEXT2AUDIO, RAIN, owner=owner, vendor_id="1", credits=10.0, created_at=when))
    month = budget.this_month(store, "bob", TEAM, NOW)
    assert len(month) == 1 and budget.left(TEAM, month, "bob", Provider.VIDU) == 40
    assert budget.left_words(TEAM, month, "bob", Provider.VIDU) == "This month's Vidu budget: 40 credits left of 50"
    assert budget.left_words(budget.Budgets(), month, "bob", Provider.VIDU) is None


def test_a_request_past_the_budget_is_refused_in_plain_words_and_the_balance_too():
    four = takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 4).requests  # 40 credits
    spent = [Task(Endpoint.VIDU_TEXT2AUDIO, RAIN, vendor_id="1", credits=20.0)]
    assert budget.problems(four, "bob", TEAM, spent, lambda provider: None) == [(
        "This would cost 40 credits with Vidu, but only 30 credits of your monthly budget are left. "
        "Ask for fewer takes, or ask an administrator for more.")]
    assert budget.problems(four, "ann", TEAM, spent, lambda provider: 1000) == []
    assert budget.problems(four, "ann", TEAM, spent, lambda provider: 35) == [(
        "This would cost 40 credits with Vidu, but the Vidu account has only 35 credits left. "
        "Top it up, or ask for fewer takes.")]


def test_kling_is_held_to_the_budget_only():
    five = [(Endpoint.KLING_TEXT2AUDIO, KLING_RAIN)] * 5  # 1.25 units
    assert budget.problems(five, "bob", TEAM, [], lambda provider: None) == [(
        "This would cost 1.25 units with Kling, but only 1 units of your monthly budget are left. "
        "Ask for fewer takes, or ask an administrator for more.")]
    assert budget.problems(five, "bob", budget.Budgets(), [], lambda provider: None) == []


class Account:
    """A client whose balance is counted as it is read."""

    def __init__(self, answers):
        self.answers, self.reads = list(answers), 0

    def credits(self):
        self.reads += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_the_balance_is_read_at_most_every_few_seconds_per_client():
    balances, one = budget.Balances(seconds=5), Account([{"remains": [{"credit_remain": 30}, {"credit_remain": 5}]},
                                                         {"remains": [{"credit_remain": 1}]}])
    assert balances.balance(one, 100.0) == 35 and balances.balance(one, 104.9) == 35 and one.reads == 1
    assert balances.balance(one, 105.0) == 1 and one.reads == 2
    other = Account([{"remains": [{"credit_remain": "7"}]}])
    assert balances.balance(other, 105.0) == 7


def test_an_unreadable_balance_does_not_stop_a_request():
    balances = budget.Balances()
    assert balances.balance(Account([NetworkError("down", may_have_reached_server=False)]), 1.0) is None
    assert balances.balance(Account([{"remains": [{"credit_remain": "?"}]}]), 1.0) is None
    assert balances.balance(ScriptedClient(), 1.0) is None  # no balance to read at all (Kling)


def test_the_studio_refuses_past_the_budget_with_nothing_recorded_or_sent(store):
    client = ScriptedClient(creates=[{"vendor_id": "v"}])
    store.add(Task(Endpoint.VIDU_TEXT2AUDIO, RAIN, owner="bob", vendor_id="1", credits=20.0))
    with pytest.raises(budget.OverBudget) as refused:
        studio.submit_takes(store, vendors(vidu=client), takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 4).requests,
                            "bob", token="t1", budgets=TEAM)
    assert "only 30 credits of your monthly budget are left" in str(refused.value)
    assert client.created == [] and store.count("bob") == 1
    group = studio.submit_takes(store, vendors(vidu=client), takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 3).requests,
                                "bob", token="t1", budgets=TEAM)  # exactly what is left
    assert group.new and len(client.created) == 3


def test_the_studio_refuses_what_the_vidu_account_cannot_pay(fresh_sim, clients, store):
    fresh_sim.set_credits(vidu=25)
    with pytest.raises(budget.OverBudget) as refused:
        studio.submit_takes(store, clients, takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 3).requests, "bob",
                            budgets=budget.Budgets())
    assert "the Vidu account has only 25 credits left" in str(refused.value) and store.count("bob") == 0
    assert not [r for r in fresh_sim.requests if r.method == "POST"]
    group = studio.submit_takes(store, clients, takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 2).requests, "bob",
                                budgets=budget.Budgets())
    assert group.new and all(task.vendor_id for task in group.tasks)
