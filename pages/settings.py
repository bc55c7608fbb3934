"""Settings / status: which vendors are live or simulated, which keys are set (never the keys), credits and units,
own keys, history export and import."""

import streamlit as st

from lib.ui import history_transfer, keys, status


def page() -> None:
    st.title("Settings and status")
    status.vendors()
    keys.own_keys()
    history_transfer.section()
    status.vidu_credits()
    status.kling_units()
    status.data_folder()

