"""A score: a timed sound track made for one video, mixed under the video's own sound and muxed with it.

A score is a record of its own (the `scores` table), whose steps the worker follows like any task's: its parts
are ordinary Vidu tasks (timing-to-audio for the effects, text-to-audio for an optional music bed), each
recorded before it is sent and tagged with the score's id; once every part is archived the mix is rendered
(lib.media.mixdown) from the archived parts. A re-mix asks for a new mix number and renders again from the
same parts, without a vendor request.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from lib.core.errors import Problem
from lib.core.tasks import Endpoint
from lib.core.validation import (
    TIMING_EVENTS_MAX,
    VIDU_AUDIO_MODEL,
    VIDU_AUDIO_PROMPT_MAX,
    VIDU_AUDIO_SECONDS,
    as_number,
    event_problems,
    too_long,
    too_many_events,
    validate,
)

MAX_VIDEO_SECONDS = 60.0
LAYERS = ("original", "effects", "music")  # the video's own sound, the timed effects, the music bed
TARGETS = {-14.0: "−14 LUFS (web)", -23.0: "−23 LUFS (broadcast)"}
DEFAULT_TARGET = -14.0


class ScoreState(StrEnum):
    GENERATING = "generating"  # parts recorded and sent (or being sent); not all of them archived yet
    MIXING = "mixing"  # every part archived; mix number `mix_version` asked for and not yet written
    DONE = "done"  # the files of mix `mixed_version` are written
    FAILED = "failed"  # a part failed, or the mix could not be made: `error_message` says which, in plain words

    @property
    def terminal(self) -> bool:
        return self in (ScoreState.DONE, ScoreState.FAILED)


@dataclass(frozen=True)
class Mix:
    """How the layers are mixed: a gain per layer (dB), ducking of the music under the effects, and the
    integrated loudness the mix is normalised to (true peak at most -1 dBTP)."""

    original_db: float = 0.0
    effects_db: float = 0.0
    music_db: float = -6.0
    duck: bool = True
    target: float = DEFAULT_TARGET

    def gain(self, layer: str) -> float:
        return getattr(self, f"{layer}_db")


@dataclass(frozen=True)
class Part:
    """One vendor request of a score: the studio task that makes it, and where its sound sits on the video's
    time axis (an effects part covers [start, end]; the music bed starts at 0 and is looped to the end)."""

    task_id: str
    role: str  # "effects" | "music"
    start: float
    end: float
    cut: float | None = None  # effects: the centre of the crossfade into the next effects part; None: no overlap

    @property
    def name(self) -> str:
        """"The effects for 9–16 s", "The music bed": the part as a person reads it."""
        return "The music bed" if self.role == "music" else f"The effects for {self.start:g}–{self.end:g} s"


@dataclass(frozen=True)
class Source:
    """The video being scored: a finished video of the owner's history, or an upload, as the archive holds it."""

    name: str  # archive name of the video file, in the owner's folder
    duration: float  # seconds of picture: the score is exactly this long
    width: int
    height: int
    has_audio: bool  # whether the video brings sound of its own (the "original" layer)
    label: str  # what to call it: the video's prompt, or the uploaded file's name
    task_id: str | None = None  # the history video it came from; None for an upload
    frames: str | None = None  # archive name of the strip of frames along its time axis


@dataclass(frozen=True)
class Score:
    source: Source
    events: tuple[dict, ...]  # {from, to, prompt} on the video's time axis
    music_prompt: str  # "" for no music bed
    parts: tuple[Part, ...]
    mix: Mix = Mix()
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    owner: str = "local"
    group_id: str | None = None  # the takes of one request share it
    seed: int | None = None  # the first effects part's seed: what tells the takes apart
    state: ScoreState = ScoreState.GENERATING
    mix_version: int = 1  # the mix asked for; a re-mix asks for the next number
    mixed_version: int = 0  # the mix the files below hold (0: none yet)
    video: str | None = None  # archive name of the muxed MP4
    sound: str | None = None  # archive name of the WAV of the score alone
    peaks: str | None = None  # archive name of the score's waveform peaks
    receipt: dict = field(default_factory=dict)  # what was done, for people (lib.media.mixdown's facts)
    receipt_file: str | None = None  # archive name of the receipt as text (receipt_lines), beside the MP4
    error_message: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


# ---- the plan: which requests cover the video -------------------------------------------------------------------

SCORE_EVENTS_MAX = TIMING_EVENTS_MAX
WINDOW_MIN, WINDOW_MAX = (float(seconds) for seconds in VIDU_AUDIO_SECONDS)  # one timing-to-audio request
OVERLAP_SECONDS = 1.0  # consecutive windows share this much (at least), so their sounds can be crossfaded
CUT_MARGIN = 0.05  # half a short crossfade: a cut this far from an event leaves the event untouched
GAIN_RANGE = (-30.0, 12.0)  # dB a layer's gain may be set to
LAYER_NAMES = {"original": "the video's own sound", "effects": "the effects", "music": "the music"}


@dataclass(frozen=True)
class Window:
    """One timing-to-audio request's stretch of the video, [start, end] in video seconds, and the events it
    makes, in its own local time (0 = `start`); a window without events is not sent (silent effects there)."""

    start: float
    end: float
    events: tuple[dict, ...] = ()

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _span(event: dict) -> tuple[float, float]:
    return as_number(event.get("from")), as_number(event.get("to"))


def plan(events, duration: float) -> list[Window]:
    """The windows covering [0, duration], each WINDOW_MIN–WINDOW_MAX s, consecutive ones overlapping by at
    least OVERLAP_SECONDS, every event wholly inside exactly one (the one it is sent in), and as few windows as
    the events allow. `events` must be valid (see `problems`): inside [0, duration], at most WINDOW_MAX long.

    Each window reaches as far as it may; an event it cannot hold whole moves the next window's start back to
    the event's start, and the window then ends just past its own events. A video under WINDOW_MIN s gets one
    WINDOW_MIN s window: its sound is trimmed to the picture when mixed."""
    spans = sorted((*_span(event), index) for index, event in enumerate(events))
    starts, ends, owners = [], [], {}
    start, pending = 0.0, spans
    duration = float(duration)
    while True:
        if duration - start <= WINDOW_MAX:  # the last window reaches the end
            starts.append(min(start, max(duration - WINDOW_MIN, 0.0)))
            ends.append(float(max(duration, WINDOW_MIN)))
            owners.update((index, len(starts) - 1) for _, _, index in pending)
            break
        reach = start + WINDOW_MAX
        following = min([reach - OVERLAP_SECONDS] + [a for a, b, _ in pending if b > reach])
        mine = [(a, b, index) for a, b, index in pending if a < following]
        end = max([following + OVERLAP_SECONDS, start + WINDOW_MIN] + [b for _, b, _ in mine])
        starts.append(start)
        ends.append(end)
        owners.update((index, len(starts) - 1) for _, _, index in mine)
        start, pending = following, [span for span in pending if span[0] >= following]
    local = [[] for _ in starts]
    for index, event in enumerate(events):
        number = owners[index]
        a, b = _span(event)
        local[number].append({"from": a - starts[number], "to": b - starts[number], "prompt": event["prompt"]})
    return [Window(s, e, tuple(found)) for s, e, found in zip(starts, ends, local)]


def sent(windows: list[Window]) -> list[Window]:
    """The windows that make sound: those with events."""
    return [window for window in windows if window.events]


def _on_video(window: Window) -> list[tuple[float, float]]:
    return [(window.start + event["from"], window.start + event["to"]) for event in window.events]


def cut(first: Window, second: Window) -> float | None:
    """Where the sound passes from `first` to the later `second` (the centre of their crossfade), or None when
    they do not overlap: inside the overlap, after `first`'s events and before `second`'s where they allow it
    (CUT_MARGIN clear of both), as near the overlap's middle as that allows."""
    low, high = second.start, first.end
    if high <= low:
        return None
    middle = (low + high) / 2
    earliest = max([low] + [b + CUT_MARGIN for _, b in _on_video(first)])
    latest = min([high] + [a - CUT_MARGIN for a, _ in _on_video(second)])
    if earliest > latest:  # no quiet moment: the events' own edges, else the middle
        earliest = max([low] + [b for _, b in _on_video(first)])
        latest = min([high] + [a for a, _ in _on_video(second)])
    return min(max(middle, earliest), latest) if earliest <= latest else middle


def cuts(windows: list[Window]) -> list[float | None]:
    """For consecutive sent windows: the cut between each and the next (None: they do not overlap)."""
    made = sent(windows)
    return [cut(first, second) for first, second in zip(made, made[1:])]


def silent_stretches(spans: list[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """The stretches of [0, duration] that no span (a sent window's start and end) covers: the effects layer is
    silent there."""
    gaps, reached = [], 0.0
    for start, end in sorted(spans):
        if start > reached:
            gaps.append((reached, start))
        reached = max(reached, end)
    if reached < duration:
        gaps.append((reached, duration))
    return gaps


def music_seconds(duration: float) -> float:
    """How long a music bed request is: the video's length within a request's limits (it is looped after)."""
    return min(WINDOW_MAX, max(WINDOW_MIN, duration))


def effects_body(window: Window, seed: int) -> dict:
    """The timing-to-audio request of one window, in its local time (rounded to the millisecond, kept inside)."""
    seconds = round(window.seconds, 3)
    events = [{"from": min(max(round(event["from"], 3), 0.0), seconds),
               "to": min(round(event["to"], 3), seconds), "prompt": event["prompt"]} for event in window.events]
    return {"model": VIDU_AUDIO_MODEL, "duration": seconds, "timing_prompts": events} | ({"seed": seed} if seed else {})


def music_body(prompt: str, duration: float, seed: int) -> dict:
    return ({"model": VIDU_AUDIO_MODEL, "prompt": prompt, "duration": round(music_seconds(duration), 3)}
            | ({"seed": seed} if seed else {}))


def requests(events, music_prompt: str, duration: float, seed: int) -> list[tuple[str, Window | None, dict]]:
    """The requests one take of a score sends: (role, window or None for the music bed, body), effects first."""
    windows = sent(plan(events, duration))
    found = [("effects", window, effects_body(window, seed)) for window in windows]
    if music_prompt.strip():
        found.append(("music", None, music_body(music_prompt, duration, seed)))
    return found


# ---- what is wrong with a score before anything is sent -------------------------------------------------------

def mix_problems(mix) -> list[Problem]:
    """Every problem with a mix: each gain a number within GAIN_RANGE dB, ducking on or off, a known target."""
    found = []
    low, high = GAIN_RANGE
    for layer in LAYERS:
        gain = getattr(mix, f"{layer}_db", None)
        if as_number(gain) is None or isinstance(gain, str):
            found.append(Problem(f"{layer}_db", f"The gain of {LAYER_NAMES[layer]} must be a number of dB."))
        elif not low <= gain <= high:
            found.append(Problem(f"{layer}_db", f"The gain of {LAYER_NAMES[layer]} must be between "
                                                f"{low:g} and +{high:g} dB."))
    if not isinstance(getattr(mix, "duck", None), bool):
        found.append(Problem("duck", "Ducking must be on or off."))
    if getattr(mix, "target", None) not in TARGETS:
        found.append(Problem("target", "The loudness target must be one of: " + ", ".join(TARGETS.values()) + "."))
    return found


def problems(source: Source | None, events, music_prompt, mix) -> list[Problem]:
    """Every problem with a score as the person set it up, in plain words; empty: it can be sent."""
    found = []
    if source is None:
        found.append(Problem("source", "Choose a video to score first.", "missing"))
    duration = source.duration if source is not None else None
    if not isinstance(events, list):
        found.append(Problem("timing_prompts", "The timeline must be a list of events."))
        events = []
    if too_many := too_many_events(len(events)):
        return found + [too_many]  # and nothing per event: the list is not bounded
    for number, event in enumerate(events, start=1):
        one = event_problems(number, event, duration)
        if not one:
            start, end = _span(event)
            if end - start > WINDOW_MAX:
                one.append(Problem(f"timing_prompts[{number - 1}]",
                                   f"Event {number} lasts {end - start:g} s; one request makes at most "
                                   f"{WINDOW_MAX:g} s of sound, so split it into shorter events."))
        found += one
    if not isinstance(music_prompt, str):
        found.append(Problem("music_prompt", "The music description must be text."))
        music_prompt = ""
    elif problem := too_long(music_prompt, VIDU_AUDIO_PROMPT_MAX):
        found.append(Problem("music_prompt", f"The music description is {problem}."))
    if not events and not music_prompt.strip():
        found.append(Problem("timing_prompts", "Add a sound event or describe a music bed: there is nothing to "
                                               "make yet.", "missing"))
    found += mix_problems(mix)
    if not found:  # every request as it would go on the wire passes the vendor's rules too
        for role, _, body in requests(events, music_prompt, duration, 0):
            found += validate(Endpoint.VIDU_TIMING2AUDIO if role == "effects" else Endpoint.VIDU_TEXT2AUDIO, body)
    return list(dict.fromkeys(found))


# ---- the receipt: what was done, for people ---------------------------------------------------------------------

def _db(value: float) -> str:
    return f"{value:+.1f} dB".replace("-", "−") if value else "0 dB"


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


def _request_words(request: dict) -> str:
    """"effects 0–10 s, 10 s of sound, 20 credits" / "music bed, 10 s of sound, 20 credits"."""
    where = "music bed" if request["role"] == "music" else f"effects {request['start']:g}–{request['end']:g} s"
    return f"{where}, {request['seconds']:g} s of sound, {request['credits']:g} credits"


def receipt_lines(score: Score) -> list[str]:
    """The receipt of a mixed score in a few plain lines (the page shows them; the -receipt.txt holds them)."""
    receipt = score.receipt
    if not receipt:
        return []
    kept = "copied unchanged" if receipt.get("video_copied", True) else "re-encoded"
    lines = [f"Picture: {_seconds(receipt['video_seconds'])} ({receipt.get('video_codec') or 'video'}, {kept}). "
             f"Sound: {_seconds(receipt['sound_seconds'])}."]
    if receipt.get("fitted"):
        lines.append(receipt["fitted"])
    target = TARGETS.get(receipt["target"], f"{receipt['target']:g} LUFS")
    lines.append(f"Loudness: {receipt['loudness']:.1f} LUFS integrated, true peak {receipt['true_peak']:.1f} dBTP"
                 .replace("-", "−") + f"; target {target}, true peak at most −1 dBTP.")
    layers = [f"{LAYER_NAMES[layer['layer']]} {_db(layer['gain_db'])}" if layer["present"]
              else f"{LAYER_NAMES[layer['layer']]}: none" for layer in receipt.get("layers", ())]
    ducked = "; the music ducked under the effects" if receipt.get("ducked") else ""
    lines.append(f"Layers: {', '.join(layers)}{ducked}.")
    asked = receipt.get("requests", ())
    described = [_request_words(request) for request in asked]
    lines.append(f"Requests: {len(asked)} to Vidu ({'; '.join(described)}), {receipt.get('cost', 0):g} credits in all."
                 if asked else "Requests: none.")
    lines += list(receipt.get("notes", ()))
    return lines
