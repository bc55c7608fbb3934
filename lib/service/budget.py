"""The budget guard: a request that cannot be paid is refused before anything is sent.

Two checks, each on the estimate for every take of one submission: the vendor's own balance where it reports one
(Vidu's credits, read at most every few seconds per client), and the monthly budget an administrator set per
person (credits for Vidu, units for Kling). Spent this month = the person's tasks since the 1st (UTC) that the
vendor did not refuse: what the vendor reported charging, else the estimate.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lib.core import endpoints
from lib.core.errors import NetworkError, StudioError, VendorError
from lib.core.takes import vendor_name
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.core.validation import as_number
from lib.service import accounts

log = logging.getLogger(__name__)
BALANCE_SECONDS = 5.0  # how long a balance read from the vendor is trusted
# Settings names: `[budget]` in secrets (`vidu_credits`, `kling_units`, and `[budget.people."<name>"]`
# overrides), or the environment variables for the defaults.
SETTING_NAMES = {Provider.VIDU: "vidu_credits", Provider.KLING: "kling_units"}
ENVIRONMENT_NAMES = {Provider.VIDU: "STUDIO_BUDGET_VIDU_CREDITS", Provider.KLING: "STUDIO_BUDGET_KLING_UNITS"}


class OverBudget(StudioError):
    """A submission refused before sending: it costs more than is left (every reason in one message)."""


@dataclass(frozen=True)
class Budgets:
    """Monthly budgets per person: `default` for everyone, `people` (by normalised name) overriding it."""

    default: Mapping[Provider, float] = field(default_factory=dict)
    people: Mapping[str, Mapping[Provider, float]] = field(default_factory=dict)

    def limit(self, owner: str, provider: Provider) -> float | None:
        """`owner`'s monthly budget with `provider`, or None when there is none."""
        own = self.people.get(accounts.normalise(owner), {})
        return own.get(provider, self.default.get(provider))


def parse_budgets(section, environment: Callable[[str], str | None]) -> tuple[Budgets, list[str]]:
    """Budgets from the secrets' `[budget]` section over the environment variables, and every problem."""
    section = section if isinstance(section, Mapping) else {}
    problems: list[str] = []

    def amounts(table: Mapping, where: str, fallback: Callable[[Provider], object] = lambda provider: None):
        found = {}
        for provider, name in SETTING_NAMES.items():
            value = table.get(name, fallback(provider))
            if value is None or value == "":
                continue
            number = as_number(value)
            if number is None or number < 0:
                named = f"{where}{name}" if where else f"{name} (or {ENVIRONMENT_NAMES[provider]})"
                problems.append(f"The budget {named} must be a number of 0 or more.")
            else:
                found[provider] = number
        return found

    default = amounts(section, "", lambda provider: environment(ENVIRONMENT_NAMES[provider]))
    people_table = section.get("people") if isinstance(section.get("people"), Mapping) else {}
    people = {accounts.normalise(str(name)): amounts(table, f"of {name}: ")
              for name, table in people_table.items() if isinstance(table, Mapping)}
    return Budgets(default, people), problems


def month_start(now: float) -> float:
    """The first moment of `now`'s calendar month, UTC."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def refused(task: Task) -> bool:
    """Never created at the vendor (refused, or failed before it got there), so nothing was charged."""
    return task.state in (State.FAILED, State.CANCELLED) and not task.vendor_id


def price(endpoint: Endpoint, body: dict) -> float:
    return endpoints.spec(endpoint).price(body) or 0


def spent(tasks: Sequence[Task], provider: Provider) -> float:
    """What `tasks` cost with `provider`: the vendor's reported charge, else the estimate."""
    return sum(task.credits if task.credits is not None else price(task.endpoint, task.params)
               for task in tasks if task.provider is provider and not refused(task))


class Balances:
    """Vidu's credit balance per client (a person's own key has its own), read at most every BALANCE_SECONDS."""

    def __init__(self, seconds: float = BALANCE_SECONDS):
        self.seconds = seconds
        self._seen: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def balance(self, client, now: float) -> float | None:
        """The credits left, or None when they could not be read, or the client has none to read (Kling reports
        no balance: only the budget applies to it)."""
        if not callable(getattr(client, "credits", None)):
            return None
        with self._lock:
            if (seen := self._seen.get(client)) and now - seen[0] < self.seconds:
                return seen[1]
        try:
            remains = client.credits().get("remains") or []
        except (VendorError, NetworkError) as error:  # the create itself will meet the same vendor
            log.warning("Could not read the Vidu balance: %s", error)
            remains = []  # remembered as unknown too: the pages ask on every rerun, and must not wait each time
        amounts = [as_number(remain.get("credit_remain")) for remain in remains]
        left = sum(amount for amount in amounts if amount is not None) if any(
            amount is not None for amount in amounts) else None
        with self._lock:
            self._seen[client] = (now, left)
        return left


def _amount(number: float, provider: Provider) -> str:
    unit = endpoints.of(provider)[0].unit
    return f"{number:g} {unit}"


def left(budgets: Budgets, tasks: Sequence[Task], owner: str, provider: Provider) -> float | None:
    """What is left of `owner`'s monthly budget with `provider` (`tasks`: theirs this month); None: no budget."""
    limit = budgets.limit(owner, provider)
    return None if limit is None else max(limit - spent(tasks, provider), 0)


def left_words(budgets: Budgets, tasks: Sequence[Task], owner: str, provider: Provider) -> str | None:
    """"This month's budget: 450 of 500 credits left", or None when `owner` has no budget with `provider`."""
    remaining = left(budgets, tasks, owner, provider)
    if remaining is None:
        return None
    return (f"This month's {vendor_name(provider)} budget: {_amount(remaining, provider)} left of "
            f"{budgets.limit(owner, provider):g}")


def problems(requests: Sequence[tuple[Endpoint, dict]], owner: str, budgets: Budgets, tasks: Sequence[Task],
             balance: Callable[[Provider], float | None]) -> list[str]:
    """Why `requests` cannot be paid, in plain words (empty: they can). `tasks`: the owner's this month;
    `balance(provider)`: what the vendor account has left, None when unknown."""
    found = []
    for provider in Provider:
        cost = sum(price(endpoint, body) for endpoint, body in requests if endpoint.provider is provider)
        if not cost:
            continue
        name, what = vendor_name(provider), _amount(cost, provider)
        remaining = left(budgets, tasks, owner, provider)
        if remaining is not None and cost > remaining:
            found.append(f"This would cost {what} with {name}, but only {_amount(remaining, provider)} of your "
                         f"monthly budget are left. Ask for fewer takes, or ask an administrator for more.")
        account = balance(provider)
        if account is not None and cost > account:
            found.append(f"This would cost {what} with {name}, but the {name} account has only "
                         f"{_amount(account, provider)} left. Top it up, or ask for fewer takes.")
    return found


_balances = Balances()


def vendor_balance(vendors, provider: Provider, now: float) -> float | None:
    """What the vendor account `vendors` use for `provider` has left, read at most every BALANCE_SECONDS; None when
    the vendor reports no balance (Kling) or it could not be read."""
    return _balances.balance(vendors.client(provider), now)


def this_month(store, owner: str | None, budgets: Budgets, now: float) -> list[Task]:
    """`owner`'s tasks this calendar month, read only when some budget is set."""
    return store.month_tasks(owner, month_start(now)) if owner and (budgets.default or budgets.people) else []


def check(store, vendors, requests: Sequence[tuple[Endpoint, dict]], owner: str, budgets: Budgets,
          now: float | None = None) -> None:
    """Raise OverBudget, with every reason, when `requests` cannot be paid; nothing is sent then."""
    now = time.time() if now is None else now
    tasks = this_month(store, owner, budgets, now)
    found = problems(requests, owner, budgets, tasks, lambda provider: vendor_balance(vendors, provider, now))
    if found:
        raise OverBudget(" ".join(found))
