"""Settings' "Your history": export it as ZIPs an upload can carry, import them back (all at once or one by one)."""
from __future__ import annotations

import streamlit as st

from lib.core.errors import StudioError
from lib.core.plain import plain
from lib.service import transfer
from lib.ui import auth, links
from lib.ui.runtime import services

EXPORT_LINKS = "export_links"


def limit_words() -> str:
    """The import's limits, said before the upload: Streamlit's per-file upload limit and the export's part size."""
    upload_mb, part_mb = st.get_option("server.maxUploadSize"), transfer.PART_BYTES / 1024 ** 2
    return (f"Up to {upload_mb:g} MB per file; a large history is exported in parts of up to {part_mb:g} MB — "
            "import them all at once or one by one.")


def section() -> None:
    """Export this person's history (with archived media) in parts, or import such parts back."""
    st.subheader("Your history")
    current, owner, scope = services(), auth.owner(), auth.scope()  # scope: everyone's, in the team library
    if st.button("Prepare an export (ZIP)", icon=":material/archive:"):
        with st.spinner("Writing the export…"):
            names = current.exports.write(current.store, current.archive, owner, scope)
            st.session_state[EXPORT_LINKS] = [
                links.export_link(name, owner, f"cue-studio-history-part-{number}-of-{len(names)}.zip"
                                  if len(names) > 1 else "cue-studio-history.zip")
                for number, name in enumerate(names, start=1)]
    shown = st.session_state.get(EXPORT_LINKS) or []
    if len(shown) > 1:
        st.caption(f"Your history is in {len(shown)} parts: download each, and import them all.")
    for number, link in enumerate(shown, start=1):
        st.link_button(f"Download part {number} of {len(shown)}" if len(shown) > 1 else "Download the export",
                       link, icon=":material/download:")
    st.caption(limit_words())
    uploads = st.file_uploader("Import a history export", type=["zip"], key="import_zip", accept_multiple_files=True)
    if uploads and st.button("Import", icon=":material/upload:"):
        limits = transfer.Limits(owner_bytes=int(current.settings.media_quota_mb * 1024 ** 2))
        for upload in uploads:  # each part stands on its own: in any order, and again adds nothing twice
            named = plain(upload.name) + ": " if len(uploads) > 1 else ""
            try:
                report = transfer.import_zip(current.store, current.archive, owner, upload, limits)
            except StudioError as error:
                st.error(named + plain(error))
            else:
                (st.warning if report.skipped else st.success)(named + report.message)
