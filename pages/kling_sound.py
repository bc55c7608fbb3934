"""Kling sound: Kling text-to-audio."""
import streamlit as st

from lib.core.forms import key, to_body
from lib.core.tasks import Endpoint
from lib.core.validation import KLING_PROMPT_MAX, KLING_REFERENCE_MAX, KLING_SECONDS
from lib.ui import auth, form, tasks

ENDPOINT = Endpoint.KLING_TEXT2AUDIO


def page() -> None:
    form.init(ENDPOINT)
    st.title("Kling sound")
    st.caption("Kling makes a sound effect of 3 to 10 seconds from a short description, as MP3 and WAV.")
    form.examples(ENDPOINT)
    form.prompt_input(ENDPOINT, KLING_PROMPT_MAX, "Fireworks during a New Year celebration")
    st.slider("Duration (seconds)", *KLING_SECONDS, step=0.1, format="%.1f", key=key(ENDPOINT, "duration"),
              persist_state="session")
    with st.expander("Advanced"):
        st.text_input("Your own task reference (optional)", key=key(ENDPOINT, "external_task_id"),
                      persist_state="session", max_chars=KLING_REFERENCE_MAX,
                      help="Must be unique in your Kling account. Left empty, the studio makes one for you.")
    with st.expander(form.FOR_DEVELOPERS, icon=":material/code:"):
        form.advanced_callback(ENDPOINT)
    form.takes_controls(ENDPOINT)
    form.submit_area(ENDPOINT, to_body(ENDPOINT, form.values(ENDPOINT)))
    st.subheader("Your recent Kling sounds")
    tasks.live_tasks(auth.owner(), (ENDPOINT,), recent=3)
