"""Settings / status: which vendors are live or simulated, which keys are set (never the keys), credits and units,
own keys, history export and import."""

import streamlit as st

from lib.core.errors import StudioError
from lib.core.plain import plain
from lib.service.transfer import Limits, import_zip
from lib.ui import auth, keys, links, status
from lib.ui.runtime import services


def page() -> None:
    st.title("Settings and status")
    status.vendors()
    keys.own_keys()
    _history_transfer()
    status.vidu_credits()
    status.kling_units()
    status.data_folder()


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
