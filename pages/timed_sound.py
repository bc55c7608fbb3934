"""Timed sound: Vidu timing-to-audio, with a timeline editor."""
import streamlit as st

from lib.core import timeline
from lib.core.forms import key, to_body
from lib.core.tasks import Endpoint
from lib.core.validation import VIDU_AUDIO_SECONDS
from lib.ui import auth, form, tasks, timeline_editor

ENDPOINT = Endpoint.VIDU_TIMING2AUDIO


def page() -> None:
    form.init(ENDPOINT)
    st.title("Timed sound")
    st.caption("Place sound events on a timeline; each one plays inside its own window. Events may overlap.")
    form.examples(ENDPOINT)
    low, high = VIDU_AUDIO_SECONDS
    duration = st.slider("Clip duration (seconds)", float(low), float(high), step=0.5,
                         key=key(ENDPOINT, "duration"), persist_state="session")
    table, picture = st.columns([3, 2])
    with table:
        events = timeline_editor.editor(duration)
    with picture:
        st.vega_lite_chart(timeline.lanes(events, duration), width="stretch")
    timeline_editor.warnings(events, duration)
    with st.expander("Advanced"):
        form.seed_input(ENDPOINT)
    with st.expander(form.FOR_DEVELOPERS, icon=":material/code:"):
        form.advanced_callback(ENDPOINT)
    form.takes_controls(ENDPOINT)
    form.submit_area(ENDPOINT, to_body(ENDPOINT, form.values(ENDPOINT)))
    st.subheader("Your recent timed sounds")
    tasks.live_tasks(auth.owner(), (ENDPOINT,), recent=3)
