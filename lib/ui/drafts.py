"""Drafts on the pages: a form's typed values come back after a browser refresh, for the person who typed them.

`restore` fills the widgets from the stored draft on a form's first run in a session (before its widgets are
drawn, unless another page filled the form already); `keep` stores the widgets' values after they are drawn, writing only when they changed; `clear` forgets
the draft (after a Generate that went through, or the form's "Clear"). Nobody signed in: no draft.
"""
from __future__ import annotations

import time

import streamlit as st

from lib.core.drafts import Shape, decode, encode
from lib.ui import auth
from lib.ui.runtime import services


def _restored(form: str) -> str:
    return f"draft_restored_{form}"  # whose draft this session's form was filled from


def _kept(form: str) -> str:
    return f"draft_kept_{form}"  # the draft as last stored from this session, so an unchanged form writes nothing


def restore(form: str, shape: Shape) -> None:
    """Once per session and person: the stored draft into the widgets' state. A draft the form cannot hold is
    dropped without a word (there is nothing the person could do about it)."""
    state, owner = st.session_state, auth.owner()
    if owner is None or state.get(_restored(form)) == owner:
        return
    before, state[_restored(form)] = state.get(_restored(form)), owner
    if before is not None:  # someone else signed in on this browser: not their typing
        _reset(form, shape)
    elif any(name in state for name in shape):  # filled before its first run ("Use these settings again")
        return
    store = services().store
    stored = store.draft(owner, form)
    if stored is None:
        return
    values = decode(stored, shape)
    if values is None:
        store.clear_draft(owner, form)
        return
    state.update(values)
    state[_kept(form)] = stored


def keep(form: str, shape: Shape) -> None:
    """Store the widgets' values as the person's draft when they differ from what was last stored."""
    state, owner = st.session_state, auth.owner()
    if owner is None:
        return
    body = encode({name: state[name] for name in shape if name in state}, shape)
    if body is None or body == state.get(_kept(form), ""):
        return
    if body:
        services().store.save_draft(owner, form, body, time.time())
    else:
        services().store.clear_draft(owner, form)
    state[_kept(form)] = body


def _reset(form: str, shape: Shape) -> None:
    st.session_state.update({name: field.default for name, field in shape.items()})
    st.session_state[_kept(form)] = ""


def clear(form: str, shape: Shape, reset: bool = False) -> None:
    """Forget the draft; the values now in the form count as stored, so it is kept again only once edited.
    `reset`: the widgets go back to their defaults too."""
    state, owner = st.session_state, auth.owner()
    if reset:
        _reset(form, shape)
    if owner is not None:
        services().store.clear_draft(owner, form)
    state[_kept(form)] = encode({name: state[name] for name in shape if name in state}, shape) or ""
