"""Pieces every generation page shares: state set-up, examples, the Advanced section, takes, estimate and submit."""
from __future__ import annotations

import dataclasses
import json
import time
import uuid

import streamlit as st

from lib.core import drafts, endpoints, forms, money, takes
from lib.core.errors import InvalidRequest, StudioError
from lib.core.money import Prices
from lib.core.plain import plain
from lib.core.tasks import Endpoint
from lib.core.validation import SEED_MAX, as_number, too_long
from lib.service import budget, callbacks, studio
from lib.ui import auth
from lib.ui import drafts as kept_drafts
from lib.ui.runtime import services


def init(endpoint: Endpoint) -> None:
    """Give every field of the page its default once per session (after the person's draft, if any); widgets then
    read their value from state."""
    kept_drafts.restore(drafts.form_name(endpoint), _draft_shape(endpoint))
    for field, default in forms.defaults(endpoint).items():
        st.session_state.setdefault(forms.key(endpoint, field), default)
    st.session_state.setdefault(forms.key(endpoint, "revision"), 0)
    st.session_state.setdefault(forms.key(endpoint, "takes"), 1)
    st.session_state.setdefault(forms.key(endpoint, "compare"), False)
    st.session_state.setdefault(forms.key(endpoint, "token"), uuid.uuid4().hex)


def _draft_shape(endpoint: Endpoint) -> drafts.Shape:
    """The form's draft shape, where the callback address filled in by the studio itself (advanced_callback)
    counts as untouched: it is not something the person typed."""
    shape, field = dict(drafts.form_shape(endpoint)), forms.key(endpoint, "callback_url")
    if own := callbacks.own_address(services().settings.public_url, endpoint.provider):
        shape[field] = dataclasses.replace(shape[field], default=own)
    return shape


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
    # "e.g. …": a hint, never mistaken for text already typed.
    st.text_area("Prompt", key=field, persist_state="session",
                 placeholder=f"e.g. {placeholder[:1].lower()}{placeholder[1:]}")
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


def _clear(endpoint: Endpoint) -> None:
    """Every field back to its default (the timeline's table drawn afresh), and the draft forgotten."""
    kept_drafts.clear(drafts.form_name(endpoint), _draft_shape(endpoint), reset=True)
    st.session_state[forms.key(endpoint, "revision")] += 1
    forget_example_undo(endpoint)


def examples(endpoint: Endpoint) -> None:
    """The examples, "Clear", and while a loaded example is untouched, a way back to what was typed before it."""
    undo = st.session_state.get(forms.key(endpoint, EXAMPLE_UNDO))
    with st.container(horizontal=True, vertical_alignment="center"):
        with st.popover("Examples", icon=":material/lightbulb:"):
            for number, example in enumerate(endpoints.spec(endpoint).examples):
                label = example.get("prompt") or "; ".join(e["prompt"] for e in example["timing_prompts"])
                st.button(plain(label), key=forms.key(endpoint, f"example_{number}"), on_click=_load_example,
                          args=(endpoint, example), type="tertiary")
        st.button("Clear", key=forms.key(endpoint, "clear"), on_click=_clear, args=(endpoint,),
                  icon=":material/restart_alt:", help="Empties the form and forgets what was typed on it.")
        if undo and all(values(endpoint)[field] == value for field, value in undo[1].items()):
            mine = "events" if "timing_prompts" in undo[0] else "prompt"
            st.button(f"Undo: bring back my {mine}", key=forms.key(endpoint, "example_undo_button"),
                      on_click=_load_example, args=(endpoint, undo[0]), kwargs={"undoing": True},
                      icon=":material/undo:")


FOR_DEVELOPERS = "For developers"  # the expander of settings only someone connecting their own tools needs


def advanced_callback(endpoint: Endpoint) -> None:
    """The callback address field of every endpoint's "For developers" section.

    With a public address configured (STUDIO_PUBLIC_URL) an empty field is filled in with the studio's own
    callback route for the endpoint's vendor, so results arrive as soon as the vendor reports them.
    """
    field = forms.key(endpoint, "callback_url")
    own = callbacks.own_address(services().settings.public_url, endpoint.provider)
    if own and not str(st.session_state.get(field) or "").strip():
        st.session_state[field] = own
    st.text_input("Callback address", key=field, persist_state="session", placeholder="e.g. https://example.com/hook",
                  help=("The vendor sends every change of the task's status to this web address. Filled in with "
                        "this studio's own; the studio also checks on every task itself, so nothing is lost if "
                        "nothing arrives." if own else
                        "A web address of your own tools that the vendor tells of every change of the task's "
                        "status. Not needed: the studio checks on every task itself."))


def takes_controls(endpoint: Endpoint) -> None:
    """The Takes control (1–4 takes per press of Generate) and, on the sound pages, the toggle that tries the
    same description with the other vendor too."""
    count, other = st.columns([1, 2], vertical_alignment="bottom")
    count.segmented_control("Takes", takes.TAKES, key=forms.key(endpoint, "takes"), persist_state="session",
                            required=True,
                            help="How many versions to make at once; each one is its own task, with its own seed.")
    if endpoint in takes.COMPARE:
        name = takes.vendor_name(takes.COMPARE[endpoint].provider)
        other.toggle(f"Also try with {name}", key=forms.key(endpoint, "compare"), persist_state="session",
                     help=f"Sends the same description to {name} as well, fitted to its rules.")


def plan(endpoint: Endpoint, body: dict) -> takes.Plan:
    """What Generate would send now: the takes asked for, and the other vendor's when the toggle is on."""
    state = st.session_state
    return takes.plan(endpoint, body, takes.take_count(state.get(forms.key(endpoint, "takes"))),
                      bool(state.get(forms.key(endpoint, "compare"))))


UNPRICED = "Estimated cost: choose a valid model, resolution and duration"


def estimate(endpoint: Endpoint, body: dict, prices: Prices = Prices()) -> str:
    """Estimated cost shown before submitting, by the endpoint's own price function, in money too where the
    price of a credit or unit is known: "Estimated cost: 20 credits (≈ $0.10)"."""
    found = endpoints.spec(endpoint)
    cost = found.price(body)
    if cost is None:
        return UNPRICED
    note = f" ({found.price_note})" if found.price_note else ""
    return f"Estimated cost: {money.cost(cost, found.unit, prices.of(found.provider))}{note}"


def estimate_takes(found: takes.Plan, prices: Prices = Prices()) -> str:
    """The estimate for every request of a plan: "Estimated cost: 40 credits (≈ $0.20) for 4 takes", per vendor
    when both are asked."""
    if len(found.requests) == 1:
        return estimate(*found.requests[0], prices)
    asked = list(dict.fromkeys(endpoint for endpoint, _ in found.requests))
    parts, notes = [], []
    for endpoint in asked:
        spec = endpoints.spec(endpoint)
        costs = [spec.price(body) for one, body in found.requests if one is endpoint]
        if None in costs:
            return UNPRICED
        vendor = f" {takes.vendor_name(spec.provider)}" if len(asked) > 1 else ""
        parts.append(f"{money.cost(sum(costs), spec.unit, prices.of(spec.provider))} for {len(costs)}{vendor} "
                     f"take{'s' if len(costs) > 1 else ''}")
        notes += [spec.price_note] if spec.price_note else []
    return "Estimated cost: " + " + ".join(parts) + (f" ({'; '.join(notes)})" if notes else "")


def balances_after(found: takes.Plan, vendors, now: float) -> list[str]:
    """"Vidu balance after this: 980 credits" for each vendor of the plan that reports a balance."""
    said = []
    for provider in dict.fromkeys(endpoint.provider for endpoint, _ in found.requests):
        spend = sum(budget.price(endpoint, body) for endpoint, body in found.requests if endpoint.provider is provider)
        unit = endpoints.of(provider)[0].unit
        if words := money.balance_after(budget.vendor_balance(vendors, provider, now), spend, unit):
            said.append(f"{takes.vendor_name(provider)} {words}")
    return said


def _listed(problems) -> str:
    """Problems as a Markdown list of plain-text items."""
    return "\n".join(f"- {plain(p.message)}" for p in problems)


def _fingerprint(found: takes.Plan) -> str:
    """What a plan asks for, seeds aside (they are drawn afresh on every run): the same means "Another take"."""
    return json.dumps([[endpoint.value, {k: v for k, v in body.items() if k != "seed"}]
                       for endpoint, body in found.requests], sort_keys=True, default=str)


def _send(endpoint: Endpoint, found: takes.Plan, token: str) -> None:
    """Send `found` under the submission token the pressed button carried, then renew the token; what happened is
    kept for the run that follows. A second rerun with the same token (a double click) makes no second group."""
    current, owner, key_owner = services(), auth.owner(), auth.key_owner()
    own_keys = frozenset(one.provider for one, _ in found.requests if current.keyring.has(key_owner, one.provider))
    vendors = current.keyring.vendors_for(key_owner, current.vendors)
    state, outcome = st.session_state, forms.key(endpoint, "outcome")
    try:
        group = studio.submit_takes(current.store, vendors, found.requests, owner, token, own_keys,
                                    hosted=current.settings.hosted, budgets=current.settings.budgets)
    except InvalidRequest as error:
        state[outcome] = ("error", "Please fix these first:\n\n" + _listed(error.problems))
        return
    except StudioError as error:
        state[outcome] = ("error", plain(error))
        return
    state[forms.key(endpoint, "token")] = uuid.uuid4().hex
    state[forms.key(endpoint, "sent")] = _fingerprint(found)
    refused = [task for task in group.tasks if task.error_code]
    if not group.new:
        state[outcome] = ("info", "This was already sent; it is shown below.")
    elif refused:
        state[outcome] = ("error", "The vendor did not accept the request: " + " ".join(
            dict.fromkeys(plain(task.error_message) for task in refused)))
    else:
        state[outcome] = ("toast", "Submitted: follow it below or in History.")
    if not refused:  # sent: what was typed is no longer a draft (the form keeps it, for another take)
        kept_drafts.clear(drafts.form_name(endpoint), _draft_shape(endpoint))


def submit_area(endpoint: Endpoint, body: dict, label: str = "Generate") -> None:
    """What will be changed for the other vendor, the estimate (and what is left of a budget), and the Generate
    button ("Another take" once this form was sent); what the last press did shows below it."""
    current, owner, key_owner = services(), auth.owner(), auth.key_owner()  # key_owner: None without accounts
    kept_drafts.keep(drafts.form_name(endpoint), _draft_shape(endpoint))  # every widget is drawn by now
    found = plan(endpoint, body)
    for change in found.changes:
        st.caption(plain(change))
    own_key = current.keyring.has(key_owner, endpoint.provider)
    vendors = current.keyring.vendors_for(key_owner, current.vendors)
    said = [estimate_takes(found, current.settings.prices), *balances_after(found, vendors, time.time())]
    st.caption(" · ".join(said) + ("" if vendors.live(endpoint.provider) else " · demo mode, nothing is charged")
               + (" · charged to your own key" if own_key else ""))
    budgets = current.settings.budgets
    month = budget.this_month(current.store, owner, budgets, time.time())
    for provider in dict.fromkeys(one.provider for one, _ in found.requests):
        if words := budget.left_words(budgets, month, owner, provider):
            st.caption(words)
    state = st.session_state
    token = state[forms.key(endpoint, "token")]
    again = state.get(forms.key(endpoint, "sent")) == _fingerprint(found)
    # The button's own key carries the token, so a late click on a button already pressed is ignored.
    with st.container(key=forms.key(endpoint, "submit")):
        clicked = st.button("Another take" if again else label, type="primary",
                            key=forms.key(endpoint, f"submit_{token}"), icon=":material/play_arrow:")
    if clicked:
        with st.spinner("Sending to the vendor…"):
            _send(endpoint, found, token)
        st.rerun()  # drawn again with the new token: the button now reads "Another take"
    kind, words = state.pop(forms.key(endpoint, "outcome"), (None, ""))
    if kind == "error":
        st.error(words, icon=":material/edit:")
    elif kind == "info":
        st.info(words, icon=":material/info:")
    elif kind == "toast":
        st.toast(words, icon=":material/check:")
