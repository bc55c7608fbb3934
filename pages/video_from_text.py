"""Video from text: Vidu text-to-video."""
import streamlit as st

from lib.core.forms import key, to_body
from lib.core.tasks import Endpoint
from lib.core.validation import (
    MOVEMENTS,
    STYLES,
    VIDEO_MODELS,
    VIDU_VIDEO_PROMPT_MAX,
    WATERMARK_POSITIONS,
    is_q3,
    video_rules,
)
from lib.ui import auth, form, tasks

ENDPOINT = Endpoint.VIDU_TEXT2VIDEO


def _fit_to_model() -> None:
    """After a model change, move duration, resolution and aspect ratio to values the new model offers."""
    rules = video_rules(st.session_state[key(ENDPOINT, "model")])
    if st.session_state[key(ENDPOINT, "duration")] not in rules["seconds"]:
        st.session_state[key(ENDPOINT, "duration")] = rules["default_seconds"]
    if st.session_state[key(ENDPOINT, "resolution")] not in rules["resolutions"]:
        st.session_state[key(ENDPOINT, "resolution")] = rules["default_resolution"]
    if st.session_state[key(ENDPOINT, "aspect_ratio")] not in rules["aspect_ratios"]:
        st.session_state[key(ENDPOINT, "aspect_ratio")] = "16:9"
    if not is_q3(st.session_state[key(ENDPOINT, "model")]):
        st.session_state[key(ENDPOINT, "audio")] = False
    else:
        st.session_state[key(ENDPOINT, "bgm")] = False


def page() -> None:
    form.init(ENDPOINT)
    st.title("Video from text")
    st.caption("Describe a scene and Vidu films it. Each model offers its own lengths, resolutions and shapes.")
    form.examples(ENDPOINT)
    k = lambda field: key(ENDPOINT, field)  # noqa: E731 - keeps the widget lines readable
    model = st.selectbox("Model", list(VIDEO_MODELS), key=k("model"), on_change=_fit_to_model,
                         persist_state="session")
    _fit_to_model()
    rules = video_rules(model)
    form.prompt_input(ENDPOINT, VIDU_VIDEO_PROMPT_MAX, "A paper boat drifting down a rainy street")
    left, middle, right = st.columns(3)
    seconds = list(rules["seconds"])
    left.select_slider("Duration (seconds)", seconds, key=k("duration"), persist_state="session",
                       disabled=len(seconds) == 1)
    middle.selectbox("Resolution", rules["resolutions"], key=k("resolution"), persist_state="session")
    right.selectbox("Aspect ratio", rules["aspect_ratios"], key=k("aspect_ratio"), persist_state="session")
    music, voice, later = st.columns(3)
    music.toggle("Add background music", key=k("bgm"), persist_state="session", disabled=is_q3(model),
                 help="Not offered by the viduq3 models." if is_q3(model) else None)
    voice.toggle("Native audio (speech and effects)", key=k("audio"), persist_state="session",
                 disabled=not is_q3(model), help="Offered by the viduq3 models only.")
    later.toggle("Off-peak (about half price, ready within 48 h)", key=k("off_peak"), persist_state="session")
    with st.expander("Advanced"):
        ignored = None if rules["honours_style"] else f"{model} ignores this setting."
        st.selectbox("Style", STYLES, key=k("style"), persist_state="session", disabled=bool(ignored), help=ignored)
        st.selectbox("Movement", MOVEMENTS, key=k("movement_amplitude"), persist_state="session",
                     disabled=bool(ignored), help=ignored)
        form.seed_input(ENDPOINT)
        if st.toggle("Watermark", key=k("watermark"), persist_state="session"):
            st.selectbox("Watermark position", list(WATERMARK_POSITIONS), format_func=WATERMARK_POSITIONS.get,
                         key=k("wm_position"), persist_state="session")
            st.text_input("Watermark image address (optional)", key=k("wm_url"), persist_state="session")
    with st.expander(form.FOR_DEVELOPERS, icon=":material/code:"):
        st.text_area("Metadata (JSON, optional)", key=k("meta_data"), persist_state="session", height=80)
        st.text_area("Payload passed back with the result (optional)", key=k("payload"), persist_state="session",
                     height=80)
        form.advanced_callback(ENDPOINT)
    form.takes_controls(ENDPOINT)
    form.submit_area(ENDPOINT, to_body(ENDPOINT, form.values(ENDPOINT)))
    st.subheader("Your recent videos")
    tasks.live_tasks(auth.owner(), (ENDPOINT,), recent=3)
