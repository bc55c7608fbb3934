"""Pieces every generation page shares: state set-up, examples, the Advanced section, estimate and submit."""
from __future__ import annotations

import streamlit as st

from lib.core import endpoints, forms
from lib.core.errors import InvalidRequest, StudioError
from lib.core.plain import plain
from lib.core.tasks import Endpoint
from lib.core.validation import SEED_MAX, as_number, too_long, validate
from lib.service import callbacks, studio
from lib.ui import auth
from lib.ui.runtime import services


def init(endpoint: Endpoint) -> None:
    """Give every field of the page its default once per session; widgets then read their value from state."""
    for field, default in forms.defaults(endpoint).items():
        st.session_state.setdefault(forms.key(endpoint, field), default)
    st.session_state.setdefault(forms.key(endpoint, "revision"), 0)


def values(endpoint: Endpoint) -> dict:
    found = {field: st.session_state.get(forms.key(endpoint, field), default)
             for field, default in forms.defaults(endpoint).items()}
    seed = as_number(found.get("seed"))
    if seed is not None and seed == int(seed):  # the seed box holds a float (see seed_input); the wire wants 7
        found["seed"] = int(seed)
    return found


def seed_input(endpoint: Endpoint) -> None:
    """The seed box. A float box on purpose: Streamlit's whole-number box turns a NaN or infinity sent by a
    forged browser into an error in every later run of the session; its float box puts back the default."""
    st.number_input("Seed (0 picks a random one)", 0.0, float(SEED_MAX), step=1.0, format="%.0f",
                    key=forms.key(endpoint, "seed"), persist_state="session",
                    help="The same seed and prompt give the same result.")


def prompt_input(endpoint: Endpoint, limit: int, placeholder: str) -> None:
    """The prompt box, with no `max_chars`: the browser would drop a longer paste whole. Over the limit, the
    text stays and a note says by how much (Generate refuses it with the same words)."""
    field = forms.key(endpoint, "prompt")
    st.text_area("Prompt", key=field, persist_state="session", placeholder=placeholder)
    text = st.session_state.get(field)
    if isinstance(text, str) and (over := too_long(text.strip(), limit)):
        st.warning(f"{over}.", icon=":material/content_cut:")


EXAMPLE_UNDO = "example_undo"  # the form's values from before an example, and the values the example changed


def _load_example(endpoint: Endpoint, example: dict, undoing: bool = False) -> None:
    """Fill the form with `example`; what the person had typed is kept for "Undo" (unless this is the undo)."""
    before, loaded, defaults = values(endpoint), forms.to_values(endpoint, example), forms.defaults(endpoint)
    for field, value in loaded.items():
        st.session_state[forms.key(endpoint, field)] = value
    st.session_state[forms.key(endpoint, "revision")] += 1
    replaced = {field: value for field, value in loaded.items() if before[field] != value}
    typed = any(before[field] != defaults[field] for field in replaced)
    st.session_state[forms.key(endpoint, EXAMPLE_UNDO)] = (before, replaced) if typed and not undoing else None


def forget_example_undo(endpoint: Endpoint) -> None:
    """Once the person edits a loaded example, "Undo" would throw their edit away, so it is no longer offered."""
    st.session_state[forms.key(endpoint, EXAMPLE_UNDO)] = None


def examples(endpoint: Endpoint) -> None:
    """The examples, and while a loaded example is untouched, a way back to what was typed before it."""
    undo = st.session_state.get(forms.key(endpoint, EXAMPLE_UNDO))
    with st.container(horizontal=True, vertical_alignment="center"):
        with st.popover("Examples", icon=":material/lightbulb:"):
            for number, example in enumerate(endpoints.spec(endpoint).examples):
                label = example.get("prompt") or "; ".join(e["prompt"] for e in example["timing_prompts"])
                st.button(plain(label), key=forms.key(endpoint, f"example_{number}"), on_click=_load_example,
                          args=(endpoint, example), type="tertiary")
        if undo and all(values(endpoint)[field] == value for field, value in undo[1].items()):
            mine = "events" if "timing_prompts" in undo[0] else "prompt"
            st.button(f"Undo: bring back my {mine}", key=forms.key(endpoint, "example_undo_button"),
                      on_click=_load_example, args=(endpoint, undo[0]), kwargs={"undoing": True},
                      icon=":material/undo:")


def advanced_callback(endpoint: Endpoint) -> None:
    """The callback address field that every endpoint's Advanced section has.

    With a public address configured (STUDIO_PUBLIC_URL) an empty field is filled in with the studio's own
    callback route for the endpoint's vendor, so results arrive as soon as the vendor reports them.
    """
    field = forms.key(endpoint, "callback_url")
    own = callbacks.own_address(services().settings.public_url, endpoint.provider)
    if own and not str(st.session_state.get(field) or "").strip():
        st.session_state[field] = own
    st.text_input("Callback address", key=field, persist_state="session", placeholder="https://…",
                  help=("The vendor POSTs every status change here. Filled in with this studio's own address; "
                        "the studio also polls for results, so a callback that never arrives loses nothing."
                        if own else "The vendor POSTs every status change here. Optional: the studio polls for "
                                    "results anyway."))


def estimate(endpoint: Endpoint, body: dict) -> str:
    """Estimated cost shown before submitting, by the endpoint's own price function."""
    cost, note = endpoints.cost(endpoint, body), endpoints.spec(endpoint).price_note
    if cost is None:
        return "Estimated cost: choose a valid model, resolution and duration"
    return f"Estimated cost: {cost}" + (f" ({note})" if note else "")


def _listed(problems) -> str:
    """Problems as a Markdown list of plain-text items."""
    return "\n".join(f"- {plain(p.message)}" for p in problems)


def submit_area(endpoint: Endpoint, body: dict, label: str = "Generate") -> None:
    """Problems, estimate and the Generate button; submitting shows the task below at once."""
    problems = validate(endpoint, body)
    current, owner, key_owner = services(), auth.owner(), auth.key_owner()  # key_owner: None without accounts
    own_key = current.keyring.has(key_owner, endpoint.provider)
    vendors = current.keyring.vendors_for(key_owner, current.vendors)
    live = vendors.live(endpoint.provider)
    cost = estimate(endpoint, body) + ("" if live else " · demo mode, nothing is charged") + (
        " · charged to your own key" if own_key else "")
    st.caption(cost)
    clicked = st.button(label, type="primary", key=forms.key(endpoint, "submit"),
                        icon=":material/play_arrow:")
    if not clicked:
        return
    if problems:
        st.error("Please fix these first:\n\n" + _listed(problems), icon=":material/edit:")
        return
    try:
        with st.spinner("Sending to the vendor…"):
            task, new = studio.submit(current.store, vendors, endpoint, body, owner, own_key,
                                      hosted=current.settings.hosted)
    except InvalidRequest as error:
        st.error(_listed(error.problems))
        return
    except StudioError as error:
        st.error(plain(error))
        return
    if not new:
        st.info("This exact request was just submitted; it is shown below.", icon=":material/info:")
    elif task.error_code:
        st.error(f"The vendor did not accept the request: {plain(task.error_message)}")
    else:
        st.toast("Submitted: follow it below or in History.", icon=":material/check:")
