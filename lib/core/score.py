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
    error_message: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
