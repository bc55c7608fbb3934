"""An audio result's player with its waveform (or a video with its sound's waveform under the picture): fed by
the media's signed URL and its stored peaks, never by the audio bytes over the websocket; and its downloads, named
for people, normalised on request.

The player is a Streamlit component of our own (components v2, lib/ui/static/waveform.js) on wavesurfer.js, which
the studio serves itself from lib/ui/static/wavesurfer (`/assets`, lib/ui/server.py): no npm, no network.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from lib.core import history, timeline
from lib.core.tasks import Media, Task
from lib.media import analysis
from lib.media.archive import normalised_name
from lib.media.naming import download_name
from lib.ui.links import archive_link, asset_link, media_link
from lib.ui.runtime import services

STATIC = Path(__file__).parent / "static"
MAX_LABEL_CHARS = 200
TARGET_LABELS = {-23: "−23 LUFS (broadcast)", -16: "−16 LUFS (podcast)", -14: "−14 LUFS (streaming)"}

# Not in a shadow root: the player's <audio> stays in the page, where the page's media listeners see it (the
# benchmarks time "playable" by it); the styles are all under the cue- prefix.
_component = st.components.v2.component(
    "cue_waveform", js=(STATIC / "waveform.js").read_text(), css=(STATIC / "waveform.css").read_text(),
    isolate_styles=False)


def lanes_events(events, duration: float) -> list[dict]:
    """The timed events the player draws as lanes, laid out as the timeline editor's picture lays them out
    (`timeline.lane_layout`: one lane per event, an event reversed or outside the clip flagged), so the two
    pictures agree. Bounded: they come from stored params, so from imports too."""
    return [{"from": lane.start, "to": lane.end, "prompt": lane.prompt[:MAX_LABEL_CHARS], "label": lane.label,
             "lane": lane.lane, "invalid": lane.status == "invalid", "draw": list(lane.draw)}
            for lane in timeline.lane_layout(list(events or []), duration) if lane.draw is not None]


def player(media: Media, source: str, owner: str, *, key: str, events: list[dict] | None = None,
           compact: bool = False) -> None:
    """A player for `media` playing from `source` (an absolute http(s) URL); `events` (a timed sound's
    `{from, to, prompt}`) are drawn as lanes on the waveform's time axis; `compact` is the list row's mini form
    (about 48 px high, a play button). A result not measured yet (no peaks file) gets the plain player."""
    peaks = services().archive.resolve(media.peaks, owner)
    if peaks is None:
        st.audio(source, format="audio/wav" if media.format == "wav" else "audio/mpeg")
        return
    _component(key=key, data={"src": source, "peaks": media_link(peaks, owner), "lib": asset_link("wavesurfer"),
                              "duration": media.duration or 0, "compact": compact,
                              "events": [] if compact else lanes_events(events, media.duration or 0)})


def video_player(source: str, peaks: str, duration: float, *, key: str, events: list[dict] | None = None) -> None:
    """A video playing from `source` (a signed link) with its sound's waveform under the picture, drawn from the
    stored `peaks` (a signed link), and `events` as lanes under the waveform: one time axis for all three."""
    _component(key=key, data={"src": source, "peaks": peaks, "lib": asset_link("wavesurfer"), "duration": duration,
                              "compact": False, "video": True, "events": lanes_events(events, duration)})


def facts(media: Media) -> str:
    """What was measured, in one line: "−18.2 LUFS · peak −1.3 dBTP · 48 kHz stereo · 192 kb/s"."""
    parts = []
    if media.loudness is not None:
        parts.append("silent" if media.loudness <= analysis.SILENT_LUFS else f"{media.loudness:.1f} LUFS")
    if media.true_peak is not None and media.true_peak > analysis.SILENT_DBTP:
        parts.append(f"peak {media.true_peak:.1f} dBTP")
    if media.sample_rate:
        layout = {1: "mono", 2: "stereo"}.get(media.channels, f"{media.channels} channels")
        parts.append(f"{media.sample_rate / 1000:g} kHz {layout}")
    if media.bitrate:
        parts.append(f"{round(media.bitrate / 1000)} kb/s")
    return " · ".join(parts).replace("-", "−")


def downloads(task: Task, media: Media, shown_file: Path) -> None:
    """The download of `media`'s archived copy (`shown_file`, from `Archiver.resolve`) under a name for people,
    and, for measured sound, a menu of loudness-normalised downloads (rendered by the studio on first request)."""
    def named(suffix: str = "") -> str:
        return download_name(history.summary(task), media.duration, task.seed, task.provider.value, media.format,
                             suffix)

    st.link_button(f"Download {media.format.upper()}", media_link(shown_file, task.owner, named()),
                   icon=":material/download:")
    measured = media.kind == "audio" and media.loudness is not None and media.loudness > analysis.SILENT_LUFS
    if not measured or media.true_peak is None or media.format not in analysis.ENCODERS:
        return
    with st.popover("Download at a set loudness", icon=":material/equalizer:"):
        for target, label in TARGET_LABELS.items():
            gain = analysis.gain_for(media.loudness, media.true_peak, target)
            if gain.limited:  # said plainly: the file is quieter than asked, to keep its peaks clean
                label += (f": only {media.loudness + gain.db:.1f} LUFS, as louder would push its peaks past "
                          f"{analysis.PEAK_CEILING:g} dBTP").replace("-", "−")
            st.link_button(label, archive_link(normalised_name(media.archived, target), task.owner,
                                               named(f"{-target}lufs")), icon=":material/download:")
