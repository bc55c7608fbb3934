"""Cue Studio: the router. Page config, the sign-in gate, navigation; the pages live in `pages/`."""
import streamlit as st

from lib.ui import auth, chrome, server
from pages import history, kling_sound, settings, sound_from_text, timed_sound, video_from_text


def main() -> None:
    st.set_page_config(page_title="Cue Studio", page_icon=":material/graphic_eq:", layout="wide")
    pages = {
        "sound": st.Page(sound_from_text.page, title="Sound from text", icon=":material/music_note:",
                         url_path="sound", default=True),
        "timed": st.Page(timed_sound.page, title="Timed sound", icon=":material/timeline:", url_path="timed"),
        "video": st.Page(video_from_text.page, title="Video from text", icon=":material/movie:", url_path="video"),
        "kling": st.Page(kling_sound.page, title="Kling sound", icon=":material/graphic_eq:", url_path="kling"),
        "history": st.Page(history.page, title="History", icon=":material/history:", url_path="history"),
        "settings": st.Page(settings.page, title="Settings / status", icon=":material/settings:",
                            url_path="settings"),
    }
    if auth.owner() is None:
        # The gate still goes through st.navigation, so no page can be reached around it. The sign-in form
        # answers at every page's own URL: after signing in, the page asked for (and its `?task=` link) opens.
        st.navigation([st.Page(auth.login_page, title="Sign in", url_path=path, default=path == "sound")
                       for path in pages], position="hidden").run()
        return
    navigation = st.navigation({
        "Create": [pages[name] for name in ("sound", "timed", "video", "kling")],
        "Library": [pages["history"]],
        "Studio": [pages["settings"]],
    })
    if target := st.session_state.pop("open_page", None):
        st.switch_page(pages[target])
    chrome.frame()
    navigation.run()


if __name__ == "__main__":  # a session's script run
    main()
else:  # `streamlit run` imports this file to find the ASGI app it serves
    app = st.App(__file__, lifespan=server.lifespan, routes=server.routes, middleware=server.middleware)
