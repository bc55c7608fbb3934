"""The Settings page's status parts: which vendors are live, what their accounts have left (in money too), and
where the studio keeps its files (for whoever runs it on their own machine only)."""
from __future__ import annotations

import ipaddress
import time

import pandas as pd
import streamlit as st

from lib.core import money
from lib.core.errors import StudioError
from lib.core.plain import plain
from lib.core.tasks import Provider
from lib.core.validation import as_number
from lib.service import budget
from lib.ui import auth
from lib.ui.runtime import services


@st.cache_data(ttl=30, show_spinner=False)
def _vidu_credits() -> dict:
    return services().vendors.vidu.credits()


def vendors() -> None:
    """Live or simulated, and whether a key is set (never the key); the hosts and profiles for developers."""
    current = services()
    settings, vendors = current.settings, current.vendors
    keyed = {"Vidu": bool(settings.vidu_api_key), "Kling": bool(settings.kling_api_key or settings.kling_access_key)}
    live = {"Vidu": vendors.vidu_live, "Kling": vendors.kling_live}
    st.dataframe(pd.DataFrame([{"Vendor": name, "Working": "live: the account is charged" if live[name] else
                                "simulated: a demo, nothing is charged", "Key set": "yes" if keyed[name] else "no"}
                               for name in live]), hide_index=True, width="stretch")
    with st.expander("For developers", icon=":material/code:"):
        st.dataframe(pd.DataFrame([
            {"Vendor": "Vidu", "Profile": settings.vidu_profile, "Base URL": vendors.vidu.base_url},
            {"Vendor": "Kling", "Profile": settings.kling_region, "Base URL": vendors.kling.base_url}]),
            hide_index=True, width="stretch")
        st.caption("Keys come from environment variables or `.streamlit/secrets.toml` on the server; see the README.")


def vidu_credits() -> None:
    """Vidu's credit packages: what is left (in money too), how many tasks run and wait."""
    st.subheader("Vidu credits")
    try:
        credits = _vidu_credits()
    except StudioError as error:
        st.warning(f"Could not read the credit balance: {plain(error)}")
        return
    remains = credits.get("remains") or credits.get("remaining_credits") or []  # Vidu answers use both names
    if not remains:
        st.info("Vidu reported no credit packages.")
    price = services().settings.prices.vidu_credit
    for remain in remains:
        left, middle, right = st.columns(3)
        amount = as_number(remain.get("credit_remain"))
        left.metric(f"Credits left ({plain(remain.get('type', 'total'))})", remain.get("credit_remain", "?"),
                    help=f"≈ {money.dollars(amount * price)} at {money.price(price)} a credit"
                    if amount is not None and price is not None else None)
        middle.metric("Running now",
                      f"{remain.get('current_concurrency', 0)} of {remain.get('concurrency_limit', '?')}")
        right.metric("Waiting in queue", remain.get("queue_count", 0))


@st.cache_data(ttl=30, show_spinner=False)
def _kling_packs(base_url: str) -> list[dict]:
    """Kling asks for at most one such query a second: read at most every 30 s per Kling host."""
    return services().vendors.kling.resource_packs()


def kling_units() -> None:
    """What Kling's resource packs have left (in money too, once a unit has a price) and what the person's Kling
    tasks used this month, as Kling reported each one."""
    st.subheader("Kling units")
    current, owner = services(), auth.owner()
    price = current.settings.prices.kling_unit
    try:
        packs = _kling_packs(current.vendors.kling.base_url)
    except StudioError as error:
        st.warning(f"Could not read what the Kling account has left: {plain(error)}")
        packs = None
    if packs == []:
        st.info("Kling reported no resource packs.")
    for pack in packs or []:
        left, total = as_number(pack.get("remaining_quantity")), as_number(pack.get("total_quantity"))
        st.metric(f"Units left ({plain(pack.get('resource_pack_name') or 'pack')})",
                  "?" if left is None else money.number(left),
                  help=" · ".join(part for part in (
                      f"of {money.number(total)}" if total is not None else "",
                      f"≈ {money.dollars(left * price)}" if left is not None and price is not None else "",
                      "Kling updates this figure about 12 hours late") if part))
    now = time.time()
    used = budget.spent(current.store.month_tasks(owner, budget.month_start(now)) if owner else [], Provider.KLING)
    st.metric("Your Kling units this month", money.number(used),
              help=money.cost(used, "units", price) + ", as Kling reported each task (an estimate while a task runs)")


def on_this_machine(address) -> bool:
    """Whether a connection comes from the machine the studio runs on: Streamlit gives no address (None) for a
    loopback connection, and the address as text for any other."""
    if not isinstance(address, str):
        return True
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def own_machine() -> bool:
    """Whoever runs the studio on their own machine: no accounts, not hosted, and connected from this machine."""
    return auth.mode() == "local" and not services().settings.hosted and on_this_machine(st.context.ip_address)


def data_folder() -> None:
    """Where the history and the media live, said only to whoever runs the studio on their own machine."""
    if own_machine():
        st.caption(f"Your studio keeps its history and media in {plain(services().settings.data_dir.resolve())}")
