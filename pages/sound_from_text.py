"""Sound from text: Vidu text-to-audio (sound effects and music)."""
import streamlit as st

from lib.core.forms import key, to_body
from lib.core.tasks import Endpoint
from lib.core.validation import VIDU_AUDIO_PROMPT_MAX, VIDU_AUDIO_SECONDS
from lib.ui import auth, form, tasks

ENDPOINT = Endpoint.VIDU_TEXT2AUDIO


def page() -> None:
    form.init(ENDPOINT)
    st.title("Sound from text")
    st.caption("Describe a sound effect or a piece of music and Vidu makes a clip of 2 to 10 seconds.")
    form.examples(ENDPOINT)
    form.prompt_input(ENDPOINT, VIDU_AUDIO_PROMPT_MAX, "Rain on a tin roof with distant thunder")
    low, high = VIDU_AUDIO_SECONDS
    st.slider("Duration (seconds)", float(low), float(high), step=0.5, key=key(ENDPOINT, "duration"),
              persist_state="session")
    with st.expander("Advanced"):
        form.seed_input(ENDPOINT)
    with st.expander(form.FOR_DEVELOPERS, icon=":material/code:"):
        form.advanced_callback(ENDPOINT)
    form.takes_controls(ENDPOINT)
    form.submit_area(ENDPOINT, to_body(ENDPOINT, form.values(ENDPOINT)))
    st.subheader("Your recent sounds")
    tasks.live_tasks(auth.owner(), (ENDPOINT,), recent=3)
