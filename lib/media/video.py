"""What the studio needs to know of a video before scoring it, and a strip of its frames along its time axis.

Pure over files (PyAV and numpy). The file's contents decide everything: its name and the container's claims
are not trusted, so the duration is the video stream's own extent, measured from its packets.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from lib.core.errors import StudioError
from lib.core.score import MAX_VIDEO_SECONDS

NOT_A_VIDEO = "This file is not a video the studio can read."
NO_PICTURE = "This file has no picture: it holds sound only."
UNREADABLE = "The studio could not read the picture in this video."
MAX_WIDTH, MAX_HEIGHT = 4096, 4096  # a side's longest; with the area below, 4K in either orientation
MAX_PIXELS = 3840 * 2160
TOO_LARGE = "This video's picture is larger than the studio scores (at most 3840×2160)."


class VideoError(StudioError):
    pass


@dataclass(frozen=True)
class VideoFacts:
    duration: float  # seconds of the video stream, from its first frame's start to its last frame's end
    width: int
    height: int
    fps: float
    codec: str  # the video codec ("h264", "vp8", ...)
    has_audio: bool
    container: str  # "mp4" | "mov" | "webm" | "matroska"


def _too_long(limit: float) -> str:
    return f"This video is longer than {limit:g} seconds, the longest the studio scores."


def _container(path: Path, format_names: str) -> str:
    """mp4 or mov (the ISO family), webm or matroska, told apart by the file's own first bytes."""
    with open(path, "rb") as file:
        head = file.read(64)
    names = set(format_names.split(","))
    if "mp4" in names:
        return "mov" if head[4:8] == b"ftyp" and head[8:12] == b"qt  " else "mp4"
    if "matroska" in names:
        return "webm" if b"webm" in head else "matroska"
    raise VideoError(NOT_A_VIDEO)


def _extent(container: av.container.InputContainer, stream: av.VideoStream, limit: float) -> tuple[float, int]:
    """(seconds from the first frame's start to the last frame's end, number of frames), from the packets alone
    (no decoding, so a container that does not state its duration is measured all the same); stops as soon as
    the extent passes `limit`."""
    first = last = None
    frames = 0
    for packet in container.demux(stream):
        if packet.pts is None or not packet.size:
            continue
        frames += 1
        start = packet.pts * packet.time_base
        end = start + (packet.duration or 0) * packet.time_base
        first = start if first is None else min(first, start)
        last = end if last is None else max(last, end)
        if last - first > limit:
            raise VideoError(_too_long(limit))
    if first is None:
        raise VideoError(UNREADABLE)
    return float(last - first), frames


def _pictures(container: av.container.InputContainer) -> list[av.VideoStream]:
    """The moving-picture streams (an album's cover art is a video stream too, of one still picture)."""
    return [stream for stream in container.streams.video
            if not stream.disposition & av.stream.Disposition.attached_pic]


def probe(path: Path, max_seconds: float = MAX_VIDEO_SECONDS) -> VideoFacts:
    """The facts of a video file; raises VideoError in plain words when it is not a video the studio can score:
    not a video, no picture, a picture that cannot be decoded or larger than 4K, or longer than `max_seconds`."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError):
        raise VideoError(NOT_A_VIDEO) from None
    with container:
        pictures = _pictures(container)
        if not pictures:
            raise VideoError(NO_PICTURE if container.streams.audio else NOT_A_VIDEO)
        kind = _container(path, container.format.name)
        stream = pictures[0]
        context = stream.codec_context
        if context is None or not (context.width and context.height):
            raise VideoError(UNREADABLE)
        if context.width > MAX_WIDTH or context.height > MAX_HEIGHT or context.width * context.height > MAX_PIXELS:
            raise VideoError(TOO_LARGE)  # before any decoding: a picture's size decides what decoding it costs
        try:
            next(container.decode(stream))
            container.seek(0)
            seconds, frames = _extent(container, stream, max_seconds)
        except (av.error.FFmpegError, StopIteration, ValueError):
            raise VideoError(UNREADABLE) from None
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else frames / seconds if seconds else 0.0
        if fps > 0 and abs(seconds - frames / fps) < 1 / fps:
            # A constant frame rate: WebM rounds times to milliseconds and may leave the last frame without a
            # duration, so the frames count is the exact measure.
            seconds = frames / fps
        if seconds <= 0:
            raise VideoError(UNREADABLE)
        has_audio = any(audio.codec_context is not None and audio.codec_context.sample_rate
                        for audio in container.streams.audio)
        return VideoFacts(duration=round(seconds, 6), width=context.width, height=context.height,
                          fps=round(fps, 3), codec=context.codec.canonical_name, has_audio=bool(has_audio),
                          container=kind)


class _Frames:
    """The frames showing at times that only increase, decoded with as little work as the keyframes allow: a seek
    to the keyframe before a time when that keyframe lies past what is decoded already, else decoding on."""

    def __init__(self, container: av.container.InputContainer, stream: av.VideoStream):
        self.container, self.stream = container, stream
        self.origin = stream.start_time or 0
        container.seek(0)
        self.keyframes = sorted(packet.pts for packet in container.demux(stream)
                                if packet.is_keyframe and packet.pts is not None)
        self.decoded = self.ahead = None  # an iterator of frames; the first frame past the last time asked
        self.shown = None  # the last frame at or before the last time asked

    def at(self, seconds: float) -> av.VideoFrame | None:
        target = self.origin + int(seconds / self.stream.time_base)
        before = [key for key in self.keyframes if key <= target]
        key = before[-1] if before else None
        position = self.ahead.pts if self.ahead is not None else self.shown.pts if self.shown is not None else None
        if self.decoded is None or (key is not None and (position is None or key > position)):
            self.container.seek(target, stream=self.stream, backward=True)
            self.decoded, self.ahead, self.shown = self.container.decode(self.stream), None, None
        if self.ahead is not None:
            if self.ahead.pts > target:
                return self.shown if self.shown is not None else self.ahead
            self.shown, self.ahead = self.ahead, None
        for frame in self.decoded:
            if frame.pts is not None and frame.pts > target:
                self.ahead = frame
                break
            self.shown = frame
        return self.shown if self.shown is not None else self.ahead


def frames_strip(path: Path, out: Path, count: int = 12, height: int = 72) -> None:
    """One JPEG of `count` frames side by side, frame k taken at (k + 0.5) * duration / count, so the strip
    stretched over [0, duration] lines each frame up with its time. Each frame is scaled down as soon as it is
    decoded, so memory holds the strip and a picture or two, whatever the video's size; no frame is decoded
    twice, and a seek skips any stretch between keyframes that holds none of the times."""
    facts = probe(path)
    width = max(2, 2 * round(height * facts.width / facts.height / 2))  # even, as 4:2:0 JPEG wants
    strip = np.zeros((height, width * count, 3), np.uint8)
    with av.open(str(path)) as container:
        stream = _pictures(container)[0]
        stream.thread_type = "AUTO"
        frames = _Frames(container, stream)
        for index in range(count):
            frame = frames.at((index + 0.5) * facts.duration / count)
            if frame is not None:
                picture = frame.reformat(width, height, format="rgb24", interpolation="AREA")
                strip[:, index * width:(index + 1) * width] = picture.to_ndarray()
    out.write_bytes(jpeg(av.VideoFrame.from_ndarray(strip, format="rgb24")))


def jpeg(frame: av.VideoFrame) -> bytes:
    """One picture as JPEG bytes."""
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    packets = encoder.encode(frame.reformat(format="yuvj420p")) + encoder.encode(None)
    return b"".join(bytes(packet) for packet in packets)
