"""Settings / status: which vendors are live or simulated, which keys are set (never the keys), credits."""

import pandas as pd
import streamlit as st

from lib.core.errors import StudioError
from lib.core.plain import plain
from lib.service.transfer import Limits, import_zip
from lib.ui import auth, keys, links
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
    _history_transfer()
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


def _history_transfer() -> None:
    """Export this person's history (with archived media) as a ZIP, or import such a ZIP back."""
    st.subheader("Your history")
    current, owner, scope = services(), auth.owner(), auth.scope()  # scope: everyone's, in the team library
    if st.button("Prepare an export (ZIP)", icon=":material/archive:"):
        with st.spinner("Writing the export…"):
            st.session_state["export_link"] = links.export_link(
                current.exports.write(current.store, current.archive, owner, scope), owner)
    if link := st.session_state.get("export_link"):
        st.link_button("Download the export", link, icon=":material/download:")
    upload = st.file_uploader("Import a history export", type=["zip"], key="import_zip")
    if upload is not None and st.button("Import", icon=":material/upload:"):
        limits = Limits(owner_bytes=int(current.settings.media_quota_mb * 1024 ** 2))
        try:
            report = import_zip(current.store, current.archive, owner, upload, limits)
        except StudioError as error:
            st.error(plain(error))
        else:
            (st.warning if report.skipped else st.success)(report.message)
