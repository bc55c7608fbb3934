"""One task model for every vendor and endpoint.

Vendor modules translate their wire format into `Task`; the store, the poller and the pages only ever see
`Task`. The vendor's own state word is kept in `raw_state` so nothing is lost in translation.
"""
from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    SUBMITTED = "submitted"  # record written, create request not yet answered (outcome unknown if we died)
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self not in IN_FLIGHT


# The states a task is still being followed in: every other state is an end it never leaves.
IN_FLIGHT = (State.SUBMITTED, State.QUEUED, State.RUNNING)


class Provider(StrEnum):
    VIDU = "vidu"
    KLING = "kling"


class Endpoint(StrEnum):
    VIDU_TEXT2AUDIO = "vidu.text2audio"
    VIDU_TIMING2AUDIO = "vidu.timing2audio"
    VIDU_TEXT2VIDEO = "vidu.text2video"
    KLING_TEXT2AUDIO = "kling.text2audio"

    @property
    def provider(self) -> Provider:
        from lib.core.endpoints import spec  # the specs import this module

        return spec(self).provider

    @property
    def media_kind(self) -> str:
        from lib.core.endpoints import spec

        return spec(self).media_kind


@dataclass(frozen=True)
class Media:
    kind: str  # "audio" | "video"
    url: str
    format: str  # "mp3" | "wav" | "mp4"
    duration: float | None = None
    cover_url: str | None = None
    watermarked_url: str | None = None
    archived: str | None = None  # path inside the archive folder once the studio has its own copy
    archived_cover: str | None = None
    archived_watermarked: str | None = None  # the studio's copy of `watermarked_url`, when one was asked for
    # What the studio measured once on its own copy (lib.media.analysis); None until then, or for a video.
    sample_rate: int | None = None
    channels: int | None = None
    bitrate: int | None = None  # bits per second
    loudness: float | None = None  # integrated loudness, LUFS (ITU-R BS.1770)
    true_peak: float | None = None  # dBTP
    peaks: str | None = None  # archive name of the waveform peaks file written beside the copy


@dataclass(frozen=True)
class Task:
    endpoint: Endpoint
    params: dict
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # the studio's own id, known before the vendor's
    owner: str = "local"
    vendor_id: str | None = None  # the vendor's id for the task, once its create is answered
    external_id: str | None = None
    state: State = State.SUBMITTED
    raw_state: str = ""
    progress: int | None = None
    credits: float | None = None
    media: tuple[Media, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    trace_id: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    started_at: float | None = None  # first seen running: splits "time queued" from "time processing"
    finished_at: float | None = None
    own_key: bool = False  # sent with the person's own key, not the studio's
    imported: bool = False  # came from a history export: a finished record, never polled nor called back
    group_id: str | None = None  # the takes of one request (several seeds, or both vendors) share it
    seed: int | None = None  # the seed sent, or the one the vendor chose and echoed when 0 was sent
    # The person's choices: written only through Store.choose, never by a poll's or a callback's save.
    verdict: str = ""  # "" | "kept" | "rejected"
    starred: bool = False
    hidden: bool = False
    score_id: str | None = None  # a part of a score (lib.core.score): shown with its score, not in the library

    @property
    def provider(self) -> Provider:
        return self.endpoint.provider

    @property
    def copying(self) -> bool:
        """A success whose result the studio is still copying: media not yet archived and no problem said."""
        return self.state is State.SUCCEEDED and self.error_message is None and any(
            not media.archived for media in self.media)

    def replace(self, **changes) -> Task:
        return dataclasses.replace(self, **changes)

    def merged(self, update: Task) -> Task:
        """This task with the state a fresh vendor answer reports, keeping what the answer does not carry."""
        now = time.time()
        return self.replace(
            vendor_id=update.vendor_id or self.vendor_id,
            external_id=update.external_id or self.external_id,
            state=update.state,
            raw_state=update.raw_state,
            progress=update.progress if update.progress is not None else self.progress,
            credits=update.credits if update.credits is not None else self.credits,
            media=update.media or self.media,
            error_code=update.error_code,
            error_message=update.error_message,
            trace_id=update.trace_id or self.trace_id,
            seed=update.seed or self.seed,
            updated_at=now,
            started_at=self.started_at or (now if update.state is State.RUNNING or update.state.terminal else None),
            finished_at=self.finished_at or (now if update.state.terminal else None),
        )
