"""Settings / status: which vendors are live or simulated, which keys are set (never the keys), credits."""

import pandas as pd
import streamlit as st

from lib.core.errors import StudioError
from lib.core.plain import plain
from lib.ui import history_transfer, keys
from lib.ui.runtime import services


@st.cache_data(ttl=30, show_spinner=False)
def _vidu_credits() -> dict:
    return services().vendors.vidu.credits()


def page() -> None:
    st.title("Settings and status")
    current = services()
    settings, vendors = current.settings, current.vendors
    rows = [
        {"Vendor": "Vidu", "Mode": "live" if vendors.vidu_live else "simulated",
         "Profile": settings.vidu_profile, "Key configured": "yes" if settings.vidu_api_key else "no",
         "Base URL": vendors.vidu.base_url},
        {"Vendor": "Kling", "Mode": "live" if vendors.kling_live else "simulated",
         "Profile": settings.kling_region,
         "Key configured": "yes" if (settings.kling_api_key or settings.kling_access_key) else "no",
         "Base URL": vendors.kling.base_url},
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("Keys come from environment variables or `.streamlit/secrets.toml` on the server; see the README.")
    keys.own_keys()
    history_transfer.section()
    st.subheader("Vidu credits")
    try:
        credits = _vidu_credits()
    except StudioError as error:
        st.warning(f"Could not read the credit balance: {plain(error)}")
        return
    remains = credits.get("remains") or credits.get("remaining_credits") or []  # Vidu answers use both names
    if not remains:
        st.info("Vidu reported no credit packages.")
    for remain in remains:
        left, middle, right = st.columns(3)
        left.metric(f"Credits left ({plain(remain.get('type', 'total'))})", remain.get("credit_remain", "?"))
        middle.metric("Running now", f"{remain.get('current_concurrency', 0)} of {remain.get('concurrency_limit', '?')}")
        right.metric("Waiting in queue", remain.get("queue_count", 0))
    st.caption(f"Data directory: {settings.data_dir}")

