"""Task cards, the live in-flight panel and the history list."""
from __future__ import annotations

import time

import streamlit as st

from lib.core import history, progress
from lib.core.endpoints import spec
from lib.core.errors import StudioError
from lib.core.forms import key, to_values
from lib.core.plain import plain
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import Archiver, Playback, owned_name, playback, web_address
from lib.service import studio
from lib.ui import auth, waveform
from lib.ui.links import archive_link, media_link
from lib.ui.runtime import services

# How often the in-flight panel rereads the store (one indexed query). The poller writes at most once a second
# per task; reading 4x as often means a result shows up about 0.1-0.3 s after it is stored, not up to 1 s later.
LIVE_REFRESH_SECONDS = 0.25
MIME = {"mp3": "audio/mpeg", "wav": "audio/wav", "mp4": "video/mp4"}
VIDEO_WIDTH = 480
TAKE_COLUMNS = 4
ROW_PROMPT_CHARS = 80
LIST_KEY = "hist_list"  # the list component's key: its state is the chosen takes
SCORE_VIDEO = "score_video_task"  # the history video "Score this video" opens the Score page with

_list_component = st.components.v2.component(
    "cue_library_list", js=(waveform.STATIC / "library.js").read_text(),
    css=(waveform.STATIC / "library.css").read_text(), isolate_styles=False)


def reuse_settings(task: Task) -> None:
    """Callback of "Use these settings again": fill the endpoint's form (the take's seed included, when known),
    then open its page."""
    values = to_values(task.endpoint, task.params)
    if task.seed is not None and "seed" in values:
        values["seed"] = float(task.seed)  # the seed box holds a float (lib.ui.form.seed_input)
    for field, value in values.items():
        st.session_state[key(task.endpoint, field)] = value
    revision = key(task.endpoint, "revision")  # widgets that hold a copy (the timeline table) start afresh
    st.session_state[revision] = st.session_state.get(revision, 0) + 1
    st.session_state["open_page"] = spec(task.endpoint).page


def score_video(task: Task) -> None:
    """Callback of "Score this video": open the Score page with this video chosen."""
    st.session_state[SCORE_VIDEO] = task.id
    st.session_state["open_page"] = "score"


def _choose(studio_id: str, **choice) -> None:
    """Callback of Keep / Star / Reject / Hide: stored at once, so the choice survives a reload."""
    services().store.choose(studio_id, auth.scope(), **choice)


def _source(media: Media, owner: str, archive: Archiver) -> Playback:
    """The archive's own copy, else an http(s) address for the browser: never any other path (lib.media.archive)."""
    return playback(media, owner, archive)


@st.fragment(run_every=1.0)
def _copy_watch(studio_id: str) -> None:
    """While the worker copies a result, say so. The player keeps the vendor's link until the page is next
    drawn: switching its address now would interrupt whoever is listening."""
    stored = services().store.get(studio_id)
    if stored is not None and stored.copying:
        st.caption("Making the studio's own copy of the result; meanwhile it plays from the vendor's link.")
    elif stored is not None and stored.error_message:  # the copy was given up: say why now, not at the next draw
        _error(stored)


def _media(task: Task) -> None:
    """Players and downloads by signed link to the archive's copy, else the vendor's web address; never bytes
    through Streamlit (its media store would hold every file of every page shown, for every session).

    Several formats of one sound (Kling's MP3 and WAV) share one player with a format switch; each keeps its
    download."""
    archive = services().archive
    if task.copying:
        _copy_watch(task.id)
    shown = [(number, media, _source(media, task.owner, archive)) for number, media in enumerate(task.media, 1)]
    audio = [item for item in shown if item[1].kind == "audio" and (item[2].file or item[2].url)]
    if len(audio) > 1:
        formats = [media.format.upper() for _, media, _ in audio]
        picked = st.segmented_control("Format", formats, default=formats[0], key=f"format_{task.id}",
                                      label_visibility="collapsed", required=True)
        playing = audio[formats.index(picked)] if picked in formats else audio[0]
    else:
        playing = audio[0] if audio else None
    for number, media, where in shown:
        if where.notice:
            st.warning(where.notice)
        if not (where.file or where.url):
            continue
        source = media_link(where.file, task.owner) if where.file else where.url
        if media.kind == "video":
            # Sized to the content; its first frame shows before it plays, so no cover beside it.
            st.video(source, format=MIME["mp4"], width=VIDEO_WIDTH)
        elif playing is not None and number == playing[0]:
            waveform.player(media, source, task.owner, key=f"player_{task.id}",
                            events=task.params.get("timing_prompts"))
            if measured := waveform.facts(media):
                st.caption(measured)
        if where.file:
            waveform.downloads(task, media, where.file)
            if media.kind == "video":
                st.button("Score this video", key=f"score_{task.id}_{number}", on_click=score_video, args=(task,),
                          icon=":material/music_video:", help="Make a timed sound track for this video and mix it in.")
            if where.cover:
                st.link_button("Download cover", media_link(where.cover, task.owner, f"{task.id}-{number}-cover.jpg"),
                               icon=":material/image:")
            if watermarked := archive.resolve(media.archived_watermarked, task.owner):
                st.link_button("Download with watermark", media_link(watermarked, task.owner,
                                                                 f"{task.id}-{number}-watermarked.mp4"),
                               icon=":material/download:")
        else:
            st.link_button(f"Open {media.format.upper()} at the vendor", where.url, icon=":material/open_in_new:")


def _header(task: Task, now: float, badge: str = "", group: bool = False) -> None:
    """What was asked, when, and the request's facts (a group's without the seed: each take shows its own)."""
    st.markdown(f"**{spec(task.endpoint).label}** · "
                f"{time.strftime('%d %b %H:%M', time.localtime(task.created_at))} &nbsp; {badge}")
    st.text(history.summary(task))
    facts = [plain(history.details(task, seed=not group)), history.timings(task, now)]  # details come from imports too
    if auth.team_library():  # a shared library: say whose it is (a typed label)
        facts.insert(0, "by " + plain(task.owner))
    if task.credits is not None:
        facts.append(f"{task.credits:g} {spec(task.endpoint).unit}")
    if task.imported:
        facts.insert(0, "Imported")
    facts.append(f"[link to this task](history?task={task.id})")  # opens it in History, for its owner only
    st.caption(" · ".join(f for f in facts if f))


def _result(task: Task, now: float) -> None:
    if not task.state.terminal:
        _progress(task, now)
    if task.error_message or task.error_code:
        _error(task)
    if task.state is State.SUCCEEDED:
        _media(task)
        _choices(task)


def _choices(task: Task) -> None:
    """Keep / Star / Reject a take: each button says the choice in force and undoes it when pressed again."""
    kept, rejected = task.verdict == "kept", task.verdict == "rejected"
    with st.container(horizontal=True, gap="small"):
        st.button("Kept" if kept else "Keep", key=f"keep_{task.id}", on_click=_choose, args=(task.id,),
                  kwargs={"verdict": "" if kept else "kept"}, type="primary" if kept else "secondary",
                  icon=":material/check_circle:")
        st.button("Starred" if task.starred else "Star", key=f"star_{task.id}", on_click=_choose, args=(task.id,),
                  kwargs={"starred": not task.starred}, type="primary" if task.starred else "secondary",
                  icon=":material/star:")
        st.button("Rejected" if rejected else "Reject", key=f"reject_{task.id}", on_click=_choose,
                  args=(task.id,), kwargs={"verdict": "" if rejected else "rejected"},
                  type="primary" if rejected else "secondary", icon=":material/thumb_down:")


def _badge(task: Task) -> str:
    label, color = history.state_label(task)
    return f":{color}-badge[{label}]"


def card(task: Task, now: float) -> None:
    """One task: what was asked, where it stands, and what came back."""
    with st.container(border=True, key=f"task_{task.id}"):
        # One Markdown line with the badge directive (what st.badge writes) instead of two columns: four fewer
        # elements per card, and the cards are most of what History renders.
        _header(task, now, f"{_badge(task)} {history.choice_marks(task)}")
        _result(task, now)
        st.button("Use these settings again", key=f"reuse_{task.id}", on_click=reuse_settings, args=(task,),
                  icon=":material/replay:", type="tertiary")


def group_card(takes: list[Task], now: float) -> None:
    """The takes of one request side by side (up to TAKE_COLUMNS a row), each with its player, seed, duration,
    loudness and choices; "Use these settings again" fills the form from the kept take. One take: its card."""
    if len(takes) == 1:
        card(takes[0], now)
        return
    first, group = takes[0], history.group_key(takes[0])
    with st.container(border=True, key=f"group_{group}"):
        _header(first, now, f":gray-badge[{len(takes)} takes]", group=True)
        for row in range(0, len(takes), TAKE_COLUMNS):
            for column, task in zip(st.columns(TAKE_COLUMNS), takes[row:row + TAKE_COLUMNS]):
                with column, st.container(key=f"task_{task.id}"):
                    st.markdown(f"**{history.take_label(task, takes)}** {_badge(task)} {history.choice_marks(task)}")
                    st.caption(history.take_facts(task) or " ")
                    _result(task, now)
        source = history.reuse_source(takes)
        st.button("Use these settings again" + (" (the kept take)" if source.verdict == "kept" else ""),
                  key=f"reuse_{group}", on_click=reuse_settings, args=(source,), icon=":material/replay:",
                  type="tertiary")


def library_rows(groups: list[list[Task]], chosen: list[str], on_chosen, on_star) -> None:
    """A page of History's list as ONE component (lib/ui/static/library.js): per request a line saying what was
    asked, then per take a row with a mini waveform drawn from its stored peaks (one shared player for the page),
    what the take is (prompt, vendor, seed, duration, loudness), its star, kept mark and state, and a box to
    choose it. One element instead of a few per row: the list is what a long History draws most of.

    `chosen` are the take ids whose boxes are ticked; the person's changes reach `on_chosen` (the component's
    "chosen" state) and `on_star` (its "star" trigger), which must check what the browser sent."""
    page = [{"header": _group_header(takes), "takes": [_row(task) for task in takes]} for takes in groups]
    _list_component(key=LIST_KEY, data={"groups": page, "chosen": chosen},
                    on_chosen_change=on_chosen, on_star_change=on_star)


def _group_header(takes: list[Task]) -> str:
    first = takes[0]
    return (f"{spec(first.endpoint).label} · {time.strftime('%d %b %H:%M', time.localtime(first.created_at))}"
            + (f" · {len(takes)} takes" if len(takes) > 1 else ""))


def _row(task: Task) -> dict:
    """What the list row shows of `task`; its text is set as text in the browser, never parsed (prompts are the
    person's, or an import's)."""
    prompt = history.summary(task)
    label, color = history.state_label(task)
    return {"id": task.id, "prompt": prompt[:ROW_PROMPT_CHARS] + "…" * (len(prompt) > ROW_PROMPT_CHARS),
            "vendor": history.DIALECTS[task.provider].name, "facts": history.take_facts(task),
            "starred": task.starred, "kept": task.verdict == "kept", "state": label, "color": color,
            "choosable": task.state is State.SUCCEEDED, "sound": _row_player(task)}


def _row_player(task: Task) -> dict | None:
    """The list row's sound, the first that can be played (a Kling take's MP3): the signed link to the studio's
    copy, else the vendor's web address; its peaks file's link and its duration. Nothing is read from disk for a
    row: the file route checks each file when the browser asks for it."""
    if task.state is not State.SUCCEEDED:
        return None
    for media in task.media:
        if media.kind != "audio":
            continue
        if source := archive_link(media.archived, task.owner) if owned_name(media.archived, task.owner) \
                else web_address(media.url):
            return {"src": source, "duration": media.duration or 0,
                    "peaks": archive_link(media.peaks, task.owner) if owned_name(media.peaks, task.owner) else None}
    return None


ESTIMATES = "remaining_estimates"  # task id -> progress.Remaining last shown, so the estimate only counts down


def _remaining(task: Task, now: float) -> str | None:
    """"about 20 s left", smoothed across reruns (lib.core.progress); nothing until the vendor has started it."""
    if task.state is not State.RUNNING:
        return None
    shown = st.session_state.setdefault(ESTIMATES, {})
    shown[task.id] = progress.smooth(shown.get(task.id), history.seconds_left(task, now), now)
    return progress.words(shown[task.id].seconds)


def _progress(task: Task, now: float) -> None:
    waiting = {State.SUBMITTED: "Sending to the vendor", State.QUEUED: "Waiting in the vendor's queue"}
    text = " · ".join(p for p in (f"{task.progress}%" if task.progress else None, _remaining(task, now)) if p)
    st.progress(min(100, task.progress or 0), text=text or waiting.get(task.state, "Waiting for the vendor"))
    current = services()
    # A task sent with its owner's own key is cancelled with that key, and only by that account.
    cancellable = not task.own_key or task.owner == auth.key_owner()
    if (task.state is State.QUEUED and task.vendor_id and cancellable
            and current.vendors.client(task.provider).supports_cancel):
        if st.button("Cancel", key=f"cancel_{task.id}", icon=":material/cancel:"):
            try:
                studio.cancel(current.keyring.vendors_for_task(task, current.vendors), task, current.poller.apply)
            except StudioError as error:
                st.error(f"Could not cancel. {plain(error)}")
    if task.error_message and task.vendor_id and not task.state.terminal:
        if st.button("Check again", key=f"again_{task.id}", icon=":material/refresh:"):
            services().poller.check_again(task)


def _error(task: Task) -> None:
    """The task's error as plain text: vendors' words and imported tasks may carry Markdown, images or links."""
    reference = f" Reference for the vendor's support: {task.trace_id}." if task.trace_id else ""
    where = (f" Your task reference at the vendor: {task.external_id}." if task.external_id and not task.vendor_id
             else "")
    message = plain(f"{task.error_message or history.error_words(task)}{reference}{where}")
    if task.state is State.FAILED:
        st.error(message, icon=":material/error:")
    else:
        st.warning(message, icon=":material/hourglass_top:")


def live_tasks(owner: str, endpoints: tuple[Endpoint, ...] = (), recent: int = 0) -> set[str]:
    """Groups with a take in flight, refreshing on their own, then the `recent` finished groups; the keys of
    the groups drawn live (History leaves those out of its list).

    Only the in-flight part reruns (every LIVE_REFRESH_SECONDS), and only while something is in flight; it reads
    the store, never the vendors (the poller does that once for everyone).
    """
    store = services().store
    in_flight = store.in_flight(owner, endpoints)
    live = list(dict.fromkeys(history.group_key(task) for task in reversed(in_flight)))  # newest group first
    unread = [store.takes(live)]  # the full run has just read them; only the fragment's own reruns read again

    @st.fragment(run_every=LIVE_REFRESH_SECONDS if in_flight else None)
    def panel() -> None:
        if "open_page" in st.session_state:
            st.rerun()  # "Use these settings again" on a card in here: only a full run switches pages
        if not unread and len(store.in_flight(owner, endpoints)) != len(in_flight):
            st.rerun()  # something finished: redraw the page so it moves to the finished list with its media
        now = time.time()
        for takes in unread.pop() if unread else store.takes(live):
            group_card(takes, now)

    panel()
    if recent:
        groups, _ = store.library(owner, endpoints=endpoints, states=(State.SUCCEEDED, State.FAILED,
                                                                       State.CANCELLED),
                                  skip_groups=live, show_hidden=True, limit=recent)
        now = time.time()
        for takes in groups:
            group_card(takes, now)
    return set(live)
