"""Task cards, the live in-flight panel and the history list."""
from __future__ import annotations

import time

import streamlit as st

from lib.core import history
from lib.core.endpoints import spec
from lib.core.errors import StudioError
from lib.core.forms import key, to_values
from lib.core.plain import plain
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import Archiver, Playback, playback
from lib.service import studio
from lib.ui import auth, waveform
from lib.ui.links import media_link
from lib.ui.runtime import services

# How often the in-flight panel rereads the store (one indexed query). The poller writes at most once a second
# per task; reading 4x as often means a result shows up about 0.1-0.3 s after it is stored, not up to 1 s later.
LIVE_REFRESH_SECONDS = 0.25
MIME = {"mp3": "audio/mpeg", "wav": "audio/wav", "mp4": "video/mp4"}
COVER_WIDTH = 160


def reuse_settings(task: Task) -> None:
    """Callback of "Use these settings again": fill the endpoint's form, then open its page."""
    for field, value in to_values(task.endpoint, task.params).items():
        st.session_state[key(task.endpoint, field)] = value
    revision = key(task.endpoint, "revision")  # widgets that hold a copy (the timeline table) start afresh
    st.session_state[revision] = st.session_state.get(revision, 0) + 1
    st.session_state["open_page"] = spec(task.endpoint).page


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


def _media(task: Task) -> None:
    """Players and downloads by signed link to the archive's copy, else the vendor's web address; never bytes
    through Streamlit (its media store would hold every file of every page shown, for every session)."""
    archive = services().archive
    if task.copying:
        _copy_watch(task.id)
    for number, media in enumerate(task.media, start=1):
        shown = _source(media, task.owner, archive)
        if shown.notice:
            st.warning(shown.notice)
        if not (shown.file or shown.url):
            continue
        source = media_link(shown.file, task.owner) if shown.file else shown.url
        if media.kind == "video":
            if shown.cover:
                st.image(media_link(shown.cover, task.owner), caption="Cover", width=COVER_WIDTH)
            st.video(source, format=MIME["mp4"])
        else:
            if len(task.media) > 1:
                st.caption(media.format.upper())
            waveform.player(media, source, task.owner, key=f"wave_{task.id}_{number}",
                            events=task.params.get("timing_prompts"))
            if measured := waveform.facts(media):
                st.caption(measured)
        if shown.file:
            waveform.downloads(task, media, shown.file)
            if watermarked := archive.resolve(media.archived_watermarked, task.owner):
                st.link_button("Download with watermark", media_link(watermarked, task.owner,
                                                                 f"{task.id}-{number}-watermarked.mp4"),
                               icon=":material/download:")
        else:
            st.link_button(f"Open {media.format.upper()} at the vendor", shown.url, icon=":material/open_in_new:")


def card(task: Task, now: float) -> None:
    """One task: what was asked, where it stands, and what came back."""
    label, color = history.state_label(task)
    with st.container(border=True, key=f"task_{task.id}"):
        # One Markdown line with the badge directive (what st.badge writes) instead of two columns: four fewer
        # elements per card, and the cards are most of what History renders.
        st.markdown(f"**{spec(task.endpoint).label}** · "
                    f"{time.strftime('%d %b %H:%M', time.localtime(task.created_at))} &nbsp; :{color}-badge[{label}]")
        st.text(history.summary(task))
        facts = [plain(history.details(task)), history.timings(task, now)]  # details come from imports too
        if auth.team_library():  # a shared library: say whose it is (a typed label)
            facts.insert(0, "by " + plain(task.owner))
        if task.credits is not None:
            facts.append(f"{task.credits:g} {spec(task.endpoint).unit}")
        if task.imported:
            facts.insert(0, "Imported")
        facts.append(f"[link to this task](history?task={task.id})")  # opens it in History, for its owner only
        st.caption(" · ".join(f for f in facts if f))
        if not task.state.terminal:
            _progress(task, now)
        if task.error_message or task.error_code:
            _error(task)
        if task.state is State.SUCCEEDED:
            _media(task)
        st.button("Use these settings again", key=f"reuse_{task.id}", on_click=reuse_settings, args=(task,),
                  icon=":material/replay:", type="tertiary")


def _progress(task: Task, now: float) -> None:
    estimate = history.estimate(task, now)
    text = " · ".join(p for p in (f"{task.progress}%" if task.progress else None, estimate) if p)
    st.progress(min(100, task.progress or 0), text=text or "Waiting for the vendor")
    if task.state is State.QUEUED and task.vendor_id and services().vendors.client(task.provider).supports_cancel:
        if st.button("Cancel", key=f"cancel_{task.id}", icon=":material/cancel:"):
            try:
                # A task sent with its owner's own key is cancelled with that key, and only by that account.
                vendors = (services().keyring.vendors_for(auth.key_owner(), services().vendors)
                           if task.own_key and task.owner == auth.key_owner() else services().vendors)
                studio.cancel(services().store, vendors, task)
            except StudioError as error:
                st.error(f"Could not cancel: {plain(error)}")
    if task.error_message and task.vendor_id and not task.state.terminal:
        if st.button("Check again", key=f"again_{task.id}", icon=":material/refresh:"):
            services().poller.check_again(task)


def _error(task: Task) -> None:
    """The task's error as plain text: vendors' words and imported tasks may carry Markdown, images or links."""
    reference = f" Reference for the vendor's support: {task.trace_id}." if task.trace_id else ""
    where = f" External id: {task.external_id}." if task.external_id and not task.vendor_id else ""
    message = plain(f"{task.error_message or task.error_code}{reference}{where}")
    if task.state is State.FAILED:
        st.error(message, icon=":material/error:")
    else:
        st.warning(message, icon=":material/hourglass_top:")


def live_tasks(owner: str, endpoints: tuple[Endpoint, ...] = (), recent: int = 0) -> None:
    """In-flight tasks that refresh on their own, then the `recent` finished ones.

    Only the in-flight part reruns (every LIVE_REFRESH_SECONDS), and only while something is in flight; it reads
    the store, never the vendors (the poller does that once for everyone).
    """
    store = services().store
    in_flight = store.in_flight(owner, endpoints)
    unread = [in_flight]  # the full run has just read them; only the fragment's own reruns read again

    @st.fragment(run_every=LIVE_REFRESH_SECONDS if in_flight else None)
    def panel() -> None:
        if "open_page" in st.session_state:
            st.rerun()  # "Use these settings again" on a card in here: only a full run switches pages
        fresh = unread.pop() if unread else store.in_flight(owner, endpoints)
        if len(fresh) != len(in_flight):
            st.rerun()  # something finished: redraw the page so it moves to the finished list with its media
        now = time.time()
        for task in reversed(fresh):
            card(task, now)

    panel()
    if recent:
        now = time.time()
        for task in store.find(owner, endpoints=endpoints, states=(State.SUCCEEDED, State.FAILED,
                                                                    State.CANCELLED), limit=recent):
            card(task, now)
