"""The Score page's parts (pages/score.py lays them out): choosing the video, the event lanes over its frames, the
music bed, the mix, Generate, and the person's scores with their players, downloads, receipts and re-mix controls.

Everything a score does goes through `Studio.scores` (lib.service.scoring): the page sends nothing to a vendor
itself, and a re-mix is only a new mix of the stored parts.
"""
from __future__ import annotations

import dataclasses
import json
import time
import uuid

import streamlit as st

from lib.core import drafts, money, score, score_view, timeline
from lib.core.errors import InvalidRequest, StudioError
from lib.core.plain import plain
from lib.core.score import LAYERS, MAX_VIDEO_SECONDS, TARGETS, Mix, Score, ScoreState, Source
from lib.core.takes import TAKES, take_count
from lib.core.tasks import Endpoint, Provider, State
from lib.core.validation import SEED_MAX, as_number
from lib.service import budget
from lib.service.scoring import MAX_UPLOAD_BYTES
from lib.ui import drafts as kept_drafts
from lib.ui import tasks, timeline_editor, waveform
from lib.ui.links import archive_link
from lib.ui.runtime import services

KEYS = timeline_editor.Keys("score", "score_events", "score_revision")
FROM, HISTORY, UPLOAD = "score_from", "From your history", "Upload a video"
PICK = "score_pick"  # the chosen history video's task id
# The chosen video as the studio read it (probed, its frames drawn): read once per choice, not on every run.
HISTORY_SOURCE, UPLOAD_SOURCE = "score_history_source", "score_upload_source"
UPLOADED = "score_uploaded"  # the uploader's file id the upload's source was read from
UPLOAD_REFUSED = "score_upload_refused"  # why that file cannot be scored, in plain words
MUSIC, TAKES_KEY, SEED = "score_music", "score_takes", "score_seed"
TOKEN, SENT, OUTCOME = "score_token", "score_sent", "score_outcome"
MIX = "score_mix"  # the new score's mix controls: score_mix_effects, score_mix_duck, …
UPLOAD_MB = MAX_UPLOAD_BYTES // 2 ** 20
CHOICES = 50  # finished videos offered, newest first
RECENT = 10  # scores shown under "Your scores"
REFRESH_SECONDS = 0.5  # while a score is generating or mixing
TAKE_COLUMNS = 4
LAYER_LABELS = {"original": "The video's own sound (dB)", "effects": "Sound effects (dB)", "music": "Music bed (dB)"}
# What a refresh keeps of the new score (the video itself is chosen again): events, music, mix, seed and takes.
DRAFT = "score"
DRAFT_SHAPE = {KEYS.events: drafts.Field([], drafts.events), MUSIC: drafts.Field("", drafts.text),
               TAKES_KEY: drafts.Field(1, drafts.choice(TAKES)), SEED: drafts.Field(0.0, drafts.number(0, SEED_MAX)),
               **{f"{MIX}_{layer}": drafts.Field(Mix().gain(layer), drafts.number(*score.GAIN_RANGE, float))
                  for layer in LAYERS},
               f"{MIX}_duck": drafts.Field(Mix().duck, drafts.flag),
               f"{MIX}_target": drafts.Field(Mix().target, drafts.choice(TARGETS))}


def _scores():
    return services().scores


def init() -> None:
    kept_drafts.restore(DRAFT, DRAFT_SHAPE)
    timeline_editor.init(KEYS)
    state = st.session_state
    for name, default in ((FROM, HISTORY), (MUSIC, ""), (TAKES_KEY, 1), (SEED, 0.0), (TOKEN, uuid.uuid4().hex)):
        state.setdefault(name, default)


def _clear() -> None:
    """The events, music, mix, seed and takes back to their defaults (the table drawn afresh); draft forgotten."""
    kept_drafts.clear(DRAFT, DRAFT_SHAPE, reset=True)
    st.session_state[KEYS.revision] += 1


# --- 1. the video ---------------------------------------------------------------------------------------------

def choose_video(owner: str) -> Source | None:
    """A finished video of the person's history (newest first) or an upload, as the studio read it; None until
    one is chosen, or when the studio cannot use it (the reason is shown)."""
    state = st.session_state
    if opened := state.pop(tasks.SCORE_VIDEO, None):  # History's "Score this video"
        state[FROM], state[PICK] = HISTORY, opened
    where = st.segmented_control("Which video", [HISTORY, UPLOAD], key=FROM, required=True,
                                 label_visibility="collapsed")
    return _uploaded(owner) if where == UPLOAD else _from_history(owner)


def _from_history(owner: str) -> Source | None:
    state, store = st.session_state, services().store
    videos = [task for task in store.find(owner, endpoints=(Endpoint.VIDU_TEXT2VIDEO,), states=(State.SUCCEEDED,),
                                          limit=CHOICES) if score_view.scorable(task)]
    wanted = state.get(PICK)
    if isinstance(wanted, str) and wanted not in {task.id for task in videos}:
        opened = store.get(wanted, owner)  # an older video opened from History
        if opened is not None and score_view.scorable(opened):
            videos.insert(0, opened)
    if not videos:
        st.info("There are no finished videos in your history yet. Make one on “Video from text”, or upload one.",
                icon=":material/movie:")
        return None
    labels = {task.id: score_view.video_label(task) for task in videos}
    if state.get(PICK) not in labels:
        state[PICK] = videos[0].id
    picked = st.selectbox("Your videos, newest first", list(labels), format_func=labels.get, key=PICK)
    source = state.get(HISTORY_SOURCE)
    if source is None or source.task_id != picked:
        try:
            with st.spinner("Reading the video…"):
                source = _scores().source_from_task(owner, next(task for task in videos if task.id == picked))
        except StudioError as error:
            state.pop(HISTORY_SOURCE, None)
            st.error(plain(error), icon=":material/block:")
            return None
        state[HISTORY_SOURCE] = source
    return source


def _uploaded(owner: str) -> Source | None:
    state = st.session_state
    upload = st.file_uploader("Upload a video", type=["mp4", "mov", "webm"], key="score_upload",
                              max_upload_size=UPLOAD_MB)
    st.caption(f"MP4, MOV or WebM, up to {MAX_VIDEO_SECONDS:g} s and {UPLOAD_MB} MB.")
    if upload is None:
        return None
    if state.get(UPLOADED) != upload.file_id:
        state.pop(UPLOAD_SOURCE, None)
        state.pop(UPLOAD_REFUSED, None)
        state[UPLOADED] = upload.file_id  # tried once: a refused file is not read again on every run
        try:
            with st.spinner("Reading the video…"):
                state[UPLOAD_SOURCE] = _scores().source_from_upload(owner, upload, upload.name)
        except StudioError as error:
            state[UPLOAD_REFUSED] = plain(error)
    if refused := state.get(UPLOAD_REFUSED):
        st.error(refused, icon=":material/block:")
    return state.get(UPLOAD_SOURCE)


# --- 2. the events against the frames -------------------------------------------------------------------------

def timeline_against(source: Source, owner: str) -> list[dict]:
    """The video, then the strip of its frames with the event lanes under it on one time axis spanning the whole
    video, then the timeline editor (Timed sound's) for a clip as long as the video; the events as they stand."""
    st.video(archive_link(source.name, owner), width=tasks.VIDEO_WIDTH)
    st.caption(f"{plain(source.label)} · {score_view.seconds(source.duration)} s · {source.width}×{source.height}"
               + ("" if source.has_audio else " · no sound of its own"))
    picture = st.container()
    events = timeline_editor.editor(source.duration, KEYS)
    frames = archive_link(source.frames, owner) if source.frames else None
    with picture:
        st.vega_lite_chart(timeline.lanes(events, source.duration, frames), width="stretch")
    return events


# --- 3. and 4. music bed and mix ------------------------------------------------------------------------------

def music_bed() -> str:
    st.text_area("Music (optional)", key=MUSIC, placeholder="e.g. calm piano with soft strings",
                 help="Described music, made by Vidu, repeated with crossfades to the video's length. "
                      "Leave it empty for none.")
    music = st.session_state.get(MUSIC)
    return music.strip() if isinstance(music, str) else ""


def layers(has_audio: bool, music: bool) -> tuple[str, ...]:
    """The layers a score mixes: the video's own sound only when it has one, the music only when asked for."""
    return tuple(layer for layer in LAYERS if (layer != "original" or has_audio) and (layer != "music" or music))


def mix_controls(prefix: str, current: Mix, shown: tuple[str, ...], on_change=None, args: tuple = ()) -> Mix:
    """A gain per layer, ducking of the music under the effects and the loudness target, starting from
    `current`; the mix they now make."""
    state = st.session_state
    defaults = {**{f"{prefix}_{layer}": current.gain(layer) for layer in shown},
                f"{prefix}_duck": current.duck, f"{prefix}_target": current.target}
    for name, value in defaults.items():
        state.setdefault(name, value)
    for layer in shown:
        st.slider(LAYER_LABELS[layer], *score.GAIN_RANGE, step=0.5, key=f"{prefix}_{layer}", on_change=on_change, args=args)
    if "music" in shown:
        st.toggle("Lower the music while sound effects play", key=f"{prefix}_duck", on_change=on_change, args=args)
    st.segmented_control("Loudness target", list(TARGETS), format_func=TARGETS.get, key=f"{prefix}_target",
                         required=True, on_change=on_change, args=args)
    return mix_from(prefix, current, shown)


def mix_from(prefix: str, current: Mix, shown: tuple[str, ...]) -> Mix:
    """The mix the controls under `prefix` hold; layers not shown keep `current`'s gain. Numbers are not trusted
    here: Scores checks every mix (score.mix_problems) before it is used."""
    state = st.session_state
    gains = {f"{layer}_db": as_number(state.get(f"{prefix}_{layer}")) for layer in shown}
    target = as_number(state.get(f"{prefix}_target"))
    return dataclasses.replace(current, **{name: gain for name, gain in gains.items() if gain is not None},
                               duck=bool(state.get(f"{prefix}_duck", current.duck)),
                               target=current.target if target is None else target)


# --- 5. generate ----------------------------------------------------------------------------------------------

def generate(owner: str, source: Source, events: list[dict], music: str, mix: Mix) -> None:
    """Every problem, the plan and its cost (and what is left of a budget), the takes, and Generate ("Another
    take" once this was sent; a double click makes one set of takes)."""
    state, current = st.session_state, services()
    with st.expander("Advanced"):
        st.number_input("Seed (0 picks a random one)", 0.0, float(SEED_MAX), step=1.0, format="%.0f", key=SEED,
                        help="The same seed and events give the same sound effects.")
    st.segmented_control("Takes", TAKES, key=TAKES_KEY, required=True,
                         help="How many versions to make at once; each one is its own score, with its own seed.")
    kept_drafts.keep(DRAFT, DRAFT_SHAPE)  # every control of the new score is drawn by now
    takes = take_count(state.get(TAKES_KEY))
    problems = score.problems(source, events, music, mix)
    for problem in problems:
        st.warning(plain(problem.message), icon=":material/warning:")
    if not problems:
        requests, credits = _scores().estimate(source, events, music, takes)
        spans = [(window.start, window.end) for window in score.sent(score.plan(events, source.duration))]
        cost = money.cost(credits, "credits", current.settings.prices.vidu_credit)
        balance = money.balance_after(budget.vendor_balance(current.vendors, Provider.VIDU, time.time()), credits,
                                      "credits")
        demo = "" if current.vendors.live(Provider.VIDU) else " · demo mode, nothing is charged"
        st.caption(score_view.plan_note(spans, bool(music), takes, requests, cost)
                   + (f" · Vidu {balance}" if balance else "") + demo)
    month = budget.this_month(current.store, owner, current.settings.budgets, time.time())
    if words := budget.left_words(current.settings.budgets, month, owner, Provider.VIDU):
        st.caption(words)
    token, asked = state[TOKEN], _fingerprint(source, events, music, mix, takes)
    # The button's own key carries the token, so a late click on a button already pressed is ignored.
    with st.container(key="score_submit"):
        clicked = st.button("Another take" if state.get(SENT) == asked else "Generate", type="primary",
                            key=f"score_submit_{token}", icon=":material/play_arrow:")
    st.button("Clear", key="score_clear", on_click=_clear, icon=":material/restart_alt:",
              help="Empties the events, music and mix, and forgets what was typed on them.")
    if clicked:
        with st.spinner("Sending to Vidu…"):
            _send(owner, source, events, music, mix, takes, token, asked)
        st.rerun()  # drawn again with the new token: the button now reads "Another take"
    kind, words = state.pop(OUTCOME, (None, ""))
    if kind == "error":
        st.error(words, icon=":material/edit:")
    elif kind == "toast":
        st.toast(words, icon=":material/check:")


def _fingerprint(source: Source, events: list[dict], music: str, mix: Mix, takes: int) -> str:
    """What a press of Generate asks for, seeds aside: the same again means "Another take"."""
    return json.dumps([source.name, events, music, dataclasses.asdict(mix), takes], sort_keys=True, default=str)


def _send(owner: str, source: Source, events: list[dict], music: str, mix: Mix, takes: int, token: str,
          asked: str) -> None:
    state, current = st.session_state, services()
    seed = as_number(state.get(SEED))
    try:
        _scores().submit(owner, source, events, music, mix, takes, int(seed or 0), token, current.settings.budgets)
    except InvalidRequest as error:
        state[OUTCOME] = ("error", "Please fix these first:\n\n" + "\n".join(f"- {plain(p.message)}"
                                                                            for p in error.problems))
        return
    except StudioError as error:
        state[OUTCOME] = ("error", plain(error))
        return
    state[TOKEN], state[SENT] = uuid.uuid4().hex, asked
    state[OUTCOME] = ("toast", "Submitted: follow it under “Your scores”.")
    kept_drafts.clear(DRAFT, DRAFT_SHAPE)


# --- 6. your scores -------------------------------------------------------------------------------------------

def your_scores(owner: str) -> None:
    """The person's recent scores, the takes of one request side by side. Refreshes on its own only while a
    score is generating or mixing; it reads the store, never the vendors (the worker does that)."""
    scores = _scores()
    shown = scores.recent(owner, RECENT)
    busy = any(not one.state.terminal for one in shown)
    unread = [shown]  # the full run has just read them; only the fragment's own reruns read again

    @st.fragment(run_every=REFRESH_SECONDS if busy else None)
    def panel() -> None:
        current = unread.pop() if unread else scores.recent(owner, RECENT)
        if any(not one.state.terminal for one in current) != busy:
            st.rerun()  # something started or finished: only a full run turns the refreshing on or off
        if not current:
            st.caption("No scores yet.")
        for group in _groups(current):
            _group(group)

    panel()


def _groups(scores: list[Score]) -> list[list[Score]]:
    """Scores grouped by request (newest request first), the takes of each in the order they were made."""
    groups: dict[str, list[Score]] = {}
    for one in scores:
        groups.setdefault(one.group_id or one.id, []).append(one)
    return [sorted(group, key=lambda one: one.created_at) for group in groups.values()]


def _group(group: list[Score]) -> None:
    first = group[0]
    with st.container(border=True, key=f"score_group_{first.group_id or first.id}"):
        st.markdown(f"**{plain(first.source.label)}** · "
                    f"{time.strftime('%d %b %H:%M', time.localtime(first.created_at))}"
                    + (f" · {len(group)} takes" if len(group) > 1 else ""))
        for row in range(0, len(group), TAKE_COLUMNS):
            for number, (column, one) in enumerate(zip(st.columns(min(len(group), TAKE_COLUMNS)),
                                                       group[row:row + TAKE_COLUMNS]), start=row + 1):
                with column, st.container(key=f"score_{one.id}"):
                    _card(one, f"Take {number}" if len(group) > 1 else "")


def _card(one: Score, take: str) -> None:
    parts = _scores().parts(one)
    colour = {ScoreState.DONE: "green", ScoreState.FAILED: "red"}.get(one.state, "orange")
    seed = f" · seed {one.seed}" if one.seed else ""
    heading = f"**{take}** " if take else ""
    st.markdown(f"{heading}:{colour}-badge[{score_view.state_line(one, parts)}]{seed}")
    if one.state is ScoreState.GENERATING or (one.state is ScoreState.FAILED and not one.mixed_version):
        by_id = {task.id: task for task in parts}
        st.caption("  \n".join(score_view.part_line(part, by_id.get(part.task_id)) for part in one.parts))
    if one.error_message:
        st.error(plain(one.error_message), icon=":material/error:")
    if one.mixed_version and one.video and one.peaks:
        _result(one)


def _result(one: Score) -> None:
    """The mix's MP4 playing with its waveform and the event lanes under the picture, its downloads, the receipt,
    and the re-mix controls."""
    owner = one.owner
    waveform.video_player(archive_link(one.video, owner), archive_link(one.peaks, owner), one.source.duration,
                          key=f"score_player_{one.id}_{one.mixed_version}", events=list(one.events))
    names = score_view.download_names(one)
    with st.container(horizontal=True, gap="small"):
        st.link_button("Download MP4", archive_link(one.video, owner, names["mp4"]), icon=":material/download:")
        if one.sound:
            st.link_button("Download WAV (the score alone)", archive_link(one.sound, owner, names["wav"]),
                           icon=":material/download:")
        if receipt := score_view.receipt_name(one):
            st.link_button("Download the receipt", archive_link(receipt, owner, names["txt"]),
                           icon=":material/receipt_long:")
    with st.expander("Receipt: what was done"):
        st.text("\n".join(score.receipt_lines(one)))
    with st.expander("Re-mix", icon=":material/tune:"):
        prefix = f"remix_{one.id}"
        mix_controls(prefix, one.mix, layers(one.source.has_audio, bool(one.music_prompt)), on_change=_remix,
                     args=(one.id, owner))
        st.caption("A re-mix uses the sounds already made: nothing is sent to Vidu again.")
    if refused := st.session_state.pop(f"remix_{one.id}_refused", None):
        st.error(refused, icon=":material/block:")


def _remix(score_id: str, owner: str) -> None:
    """Callback of a re-mix control: the new mix is asked for at once, from the stored parts."""
    found = _scores().get(score_id, owner)
    if found is None:
        return
    mix = mix_from(f"remix_{score_id}", found.mix, layers(found.source.has_audio, bool(found.music_prompt)))
    try:
        _scores().remix(score_id, owner, mix)
    except InvalidRequest as error:
        st.session_state[f"remix_{score_id}_refused"] = " ".join(plain(p.message) for p in error.problems)
    except StudioError as error:
        st.session_state[f"remix_{score_id}_refused"] = plain(error)
