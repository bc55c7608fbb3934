"""Costs in money as well as in the vendors' own credits and units, and what a balance is after a request.

Pure formatting: the prices themselves are settings (lib/service/config.py, defaults in lib/vendors/pricing.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from lib.core.tasks import Provider

PRICE_MAX = 100.0  # dollars per credit or unit: far above any published price, so a slip (5 for 0.005) is caught


@dataclass(frozen=True)
class Prices:
    """Dollars per Vidu credit and per Kling unit; None where no price is known (then only credits/units show)."""

    vidu_credit: float | None = None
    kling_unit: float | None = None

    def of(self, provider: Provider) -> float | None:
        return {Provider.VIDU: self.vidu_credit, Provider.KLING: self.kling_unit}[provider]


def dollars(amount: float) -> str:
    """"$0.10", "$1,250.00"; an amount under a cent is said as such rather than rounded to nothing."""
    if 0 < amount < 0.01:
        return "under $0.01"
    return f"${amount:,.2f}"


def price(per_unit: float) -> str:
    """A price of one credit or unit, to its last digit: "$0.005"."""
    return f"${per_unit:.6f}".rstrip("0").rstrip(".") if per_unit < 1 else dollars(per_unit)


def number(value: float) -> str:
    """"980", "0.25", "1000000": never an exponent, at most four decimals."""
    return f"{round(value, 4):f}".rstrip("0").rstrip(".")


def amount(value: float, unit: str) -> str:
    """"20 credits", "0.25 units"."""
    return f"{number(value)} {unit}"


def cost(value: float, unit: str, price: float | None) -> str:
    """"20 credits (≈ $0.10)", or "0.25 units" while no price per unit is known."""
    return amount(value, unit) + (f" (≈ {dollars(value * price)})" if price is not None else "")


def balance_after(balance: float | None, spend: float, unit: str) -> str | None:
    """"balance after this: 980 credits", or what is missing when the balance is too small; None: unknown."""
    if balance is None:
        return None
    if spend > balance:
        return f"the balance of {amount(balance, unit)} is {amount(spend - balance, unit)} short of this"
    return f"balance after this: {amount(balance - spend, unit)}"
