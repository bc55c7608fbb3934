"""Score a video: timed sound effects placed against a video's frames, an optional music bed, mixed under the
video's own sound to a loudness target and muxed with the picture into one MP4."""
import streamlit as st

from lib.core.score import Mix
from lib.ui import auth
from lib.ui import score as scoring


def page() -> None:
    scoring.init()
    owner = auth.owner()
    st.title("Score a video")
    st.caption("Place sound events against a video's frames. The studio makes them with Vidu, mixes them under "
               "the video's own sound to a loudness target, and gives back one MP4 with the sound as long as the "
               "picture.")
    st.subheader("1. The video")
    source = scoring.choose_video(owner)
    if source is not None:
        st.subheader("2. Sound events")
        st.caption("Each event is a sound with its start and end on the video's time axis, at most 10 s long.")
        events = scoring.timeline_against(source, owner)
        st.subheader("3. Music bed")
        music = scoring.music_bed()
        st.subheader("4. Mix")
        mix = scoring.mix_controls(scoring.MIX, Mix(), scoring.layers(source.has_audio, bool(music)))
        st.subheader("5. Generate")
        scoring.generate(owner, source, events, music, mix)
    st.subheader("Your scores")
    scoring.your_scores(owner)
