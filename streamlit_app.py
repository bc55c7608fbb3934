"""Cue Studio: the router. Page config, the sign-in gate, navigation; the pages live in `pages/`."""
import importlib

import streamlit as st

from lib.core.endpoints import SPECS
from lib.ui import auth, chrome, server
from pages import history, score, settings


def main() -> None:
    st.set_page_config(page_title="Cue Studio", page_icon=":material/graphic_eq:", layout="wide")
    # One page per endpoint spec (lib.core.endpoints), then the library and studio pages.
    pages = {spec.page: st.Page(importlib.import_module(spec.module).page, title=spec.label, icon=spec.icon,
                                url_path=spec.page, default=number == 0)
             for number, spec in enumerate(SPECS.values())}
    pages |= {
        "score": st.Page(score.page, title="Score a video", icon=":material/music_video:", url_path="score"),
        "history": st.Page(history.page, title="History", icon=":material/history:", url_path="history"),
        "settings": st.Page(settings.page, title="Settings / status", icon=":material/settings:",
                            url_path="settings"),
    }
    if auth.owner() is None:
        # The gate still goes through st.navigation, so no page can be reached around it. The sign-in form
        # answers at every page's own URL: after signing in, the page asked for (and its `?task=` link) opens.
        st.navigation([st.Page(auth.login_page, title="Sign in", url_path=path, default=path == next(iter(pages)))
                       for path in pages], position="hidden").run()
        return
    navigation = st.navigation({
        "Create": [*(pages[spec.page] for spec in SPECS.values()), pages["score"]],
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
