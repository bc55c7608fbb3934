"""Pasting one's own vendor key: used for this person's tasks only, held in server memory, never shown.

Offered only where people have real accounts: with a team password only, anyone could type anyone's name.
"""
from __future__ import annotations

import streamlit as st

from lib.core.errors import StudioError
from lib.core.plain import plain
from lib.core.tasks import Provider
from lib.service.keyring import KEY_LOST_HERE, NO_ACCOUNT
from lib.ui import auth
from lib.ui.runtime import services


def own_keys() -> None:
    st.subheader("Your own keys")
    keyring, owner = services().keyring, auth.key_owner()
    if owner is None:
        st.info(NO_ACCOUNT, icon=":material/key_off:")
        return
    st.caption("Use your own vendor account for your tasks. The key stays in the server's memory only: it is "
               "never saved or shown, and after a server restart you enter it again.")
    for provider in Provider:
        name = provider.value.capitalize()
        if keyring.has(owner, provider):
            left, right = st.columns([3, 1], vertical_alignment="center")
            left.success(f"Your own {name} key is in use for your tasks.", icon=":material/key:")
            right.button(f"Stop using my {name} key", key=f"forget_{provider.value}",
                         on_click=keyring.forget, args=(owner, provider))
            continue
        if keyring.lost(owner, provider):
            st.warning(KEY_LOST_HERE.format(vendor=name), icon=":material/key_off:")
        with st.form(f"own_key_{provider.value}", clear_on_submit=True):
            if provider is Provider.VIDU:
                fields = {"api_key": st.text_input("Vidu API key", type="password")}
            else:
                fields = {"access_key": st.text_input("Kling access key", type="password"),
                          "secret_key": st.text_input("Kling secret key", type="password"),
                          "api_key": st.text_input("…or a Kling API key", type="password")}
            if st.form_submit_button(f"Use my {name} key"):
                try:
                    keyring.set(owner, provider, **{k: v.strip() for k, v in fields.items() if v.strip()})
                except StudioError as error:
                    st.error(plain(error))
                else:
                    st.rerun()
