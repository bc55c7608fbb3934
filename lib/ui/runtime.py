"""The studio engine for this server process (`lib.service.app.build`), built once and shared by every session."""
from __future__ import annotations

import os

import streamlit as st

from lib.service.app import Studio, build
from lib.service.config import load_settings


def _secrets() -> dict:
    return st.secrets.to_dict() if st.secrets.load_if_toml_exists() else {}


@st.cache_resource(show_spinner=False, on_release=Studio.close)
def services() -> Studio:
    return build(load_settings(os.environ, _secrets())).start()
