"""Costs in money as well as credits and units: the formatting, the configured prices (validated, bounded), the
estimate next to Generate with the balance after it, and the Score page's estimate."""

import pytest
from streamlit.testing.v1 import AppTest

from lib.core import money, takes
from lib.core.errors import ConfigError
from lib.core.forms import key
from lib.core.money import Prices
from lib.core.tasks import Endpoint, Provider
from lib.service.config import load_settings
from lib.ui.form import estimate, estimate_takes
from lib.ui.runtime import services
from tests.apptest import open_page

RAIN = {"prompt": "rain", "duration": 8.0}
PRICED = Prices(vidu_credit=0.005, kling_unit=0.2)


def test_money_reads_as_money():
    assert money.dollars(0.1) == "$0.10" and money.dollars(1250) == "$1,250.00" and money.dollars(0) == "$0.00"
    assert money.dollars(0.004) == "under $0.01"
    assert money.cost(20, "credits", 0.005) == "20 credits (≈ $0.10)"
    assert money.cost(0.25, "units", None) == "0.25 units"
    assert money.balance_after(1000, 20, "credits") == "balance after this: 980 credits"
    assert money.balance_after(15, 20, "credits") == "the balance of 15 credits is 5 credits short of this"
    assert money.balance_after(None, 20, "credits") is None
    assert PRICED.of(Provider.VIDU) == 0.005 and PRICED.of(Provider.KLING) == 0.2


def test_prices_default_to_vidus_published_credit_and_no_kling_price():
    prices = load_settings({}).prices
    assert prices == Prices(vidu_credit=0.005, kling_unit=None)  # Kling publishes no price of a unit


def test_prices_from_secrets_over_the_environment():
    settings = load_settings({"STUDIO_PRICE_VIDU_CREDIT": "0.004", "STUDIO_PRICE_KLING_UNIT": "0.14"},
                             {"prices": {"vidu_credit": 0.006}})
    assert settings.prices == Prices(vidu_credit=0.006, kling_unit=0.14)


@pytest.mark.parametrize("value", ["cheap", "0", "-1", "250", "nan"])
def test_a_bad_price_is_refused_in_plain_words_with_every_other_problem(value):
    with pytest.raises(ConfigError) as refused:
        load_settings({"STUDIO_PRICE_KLING_UNIT": value, "STUDIO_TASK_TIMEOUT": "-1"})
    said = str(refused.value)
    assert "The price kling_unit (or STUDIO_PRICE_KLING_UNIT) must be an amount of dollars above 0" in said
    assert "STUDIO_TASK_TIMEOUT" in said


def test_the_estimate_says_money_where_a_price_is_known():
    assert estimate(Endpoint.VIDU_TEXT2AUDIO, RAIN, PRICED) == "Estimated cost: 20 credits (≈ $0.10)"
    assert estimate(Endpoint.KLING_TEXT2AUDIO, RAIN, Prices(0.005)) == (
        "Estimated cost: 0.25 units (Kling bills per task)")  # no Kling price: units only
    assert estimate_takes(takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 4), PRICED) == (
        "Estimated cost: 80 credits (≈ $0.40) for 4 takes")
    assert estimate_takes(takes.plan(Endpoint.VIDU_TEXT2AUDIO, RAIN, 2, compare=True), PRICED) == (
        "Estimated cost: 40 credits (≈ $0.20) for 2 Vidu takes + 0.5 units (≈ $0.10) for 2 Kling takes "
        "(Kling bills per task)")


@pytest.fixture
def demo_studio(demo):
    """Demo mode (tests/conftest.py): the simulated Vidu account reports a balance."""


def _estimate(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Estimated cost"))


def test_next_to_generate_the_cost_in_money_and_the_balance_after_it(demo_studio):
    left = services().vendors.vidu.credits()["remains"][0]["credit_remain"]
    at = open_page("sound")
    at.slider(key=key(Endpoint.VIDU_TEXT2AUDIO, "duration")).set_value(8.0).run()
    assert _estimate(at) == (f"Estimated cost: 20 credits (≈ $0.10) · Vidu balance after this: {left - 20} credits"
                             " · demo mode, nothing is charged")


def test_kling_shows_units_and_a_price_once_one_is_set(demo_studio, monkeypatch):
    at = open_page("kling")
    assert _estimate(at) == "Estimated cost: 0.25 units (Kling bills per task) · demo mode, nothing is charged"
    monkeypatch.setenv("STUDIO_PRICE_KLING_UNIT", "0.2")
    services.clear()
    at = open_page("kling")
    assert _estimate(at).startswith("Estimated cost: 0.25 units (≈ $0.05) (Kling bills per task)")


def test_a_balance_that_could_not_be_read_is_not_asked_again_on_every_rerun():
    from lib.core.errors import NetworkError
    from lib.service.budget import Balances

    class Down:
        reads = 0

        def credits(self):
            Down.reads += 1
            raise NetworkError("down", may_have_reached_server=False)

    balances, client = Balances(seconds=5), Down()
    assert balances.balance(client, 100.0) is None and balances.balance(client, 104.0) is None
    assert Down.reads == 1  # the page shows no balance meanwhile instead of waiting on the vendor again
    assert balances.balance(client, 105.0) is None and Down.reads == 2
