"""A score's sound, made from its parts, and the one MP4 that carries it under the picture.

Pure over arrays and files (PyAV, numpy, scipy; loudness and true peak from lib.media.analysis). Sound here is
float32 of shape (2, samples) at 48 kHz: the layout the AAC encoder takes (planar), the transpose of analysis's.

The pieces, in the order `render` uses them: `read_audio` (any sound file or a video's sound, resampled),
`stitch` (the effects parts laid on the video's time axis with crossfades at given centres), `extend` (the music
bed looped to the length of the picture), `duck` (the music lowered under the effects), `mix` (a gain per
layer), `normalise` (to a loudness target, a true-peak limiter when needed) and `mux` (the picture's packets
copied, the sound encoded as AAC).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import firwin, resample_poly

from lib.core.errors import StudioError
from lib.core.score import LAYERS, MAX_VIDEO_SECONDS, Mix
from lib.media import analysis
from lib.media.video import VideoFacts

RATE = 48000
CHANNELS = 2
# Crossfades are equal-power (a quarter sine and cosine): the parts joined are separate renders, uncorrelated, and
# for uncorrelated sound equal power keeps the level steady through the seam where a linear fade dips by 3 dB.
CROSSFADE_SECONDS = 0.1  # between two effects parts: short, inside their overlap, away from any event
MUSIC_CROSSFADE_SECONDS = 1.0  # between two repeats of the music bed: long enough to hide the loop
EDGE_SECONDS = 0.005  # a part's own start and end, where it meets silence: long enough never to click
MUSIC_END_SECONDS = 1.0  # the music bed fades out with the picture rather than stopping dead
DUCK_DB = 9.0  # how far the music drops under the effects
DUCK_ATTACK = 0.05
DUCK_RELEASE = 0.4
DUCK_BLOCK = 0.01  # the envelope is followed in 10 ms blocks and interpolated between them: smooth, and cheap
KEY_FLOOR_DB = -50.0  # effects quieter than this (their room tone) do not duck the music; full depth 20 dB above
KEY_KNEE_DB = 20.0
PEAK_CEILING = analysis.PEAK_CEILING
LIMIT_MARGIN_DB = 0.3  # the limiter aims this far under the ceiling: gain riding changes the true peak a little
AAC_HEADROOM_DB = 1.0  # the AAC encoder raises sharp transients' true peaks by up to about this much
# The limiter's 4x oversampling: resample_poly's own filter (as analysis.true_peak uses), in float32 for speed.
OVERSAMPLER = firwin(81, 1 / 4, window=("kaiser", 5.0)).astype(np.float32)
LOOK_AHEAD = 0.003  # the limiter's gain ramps down over this before a peak and back up over it after
LIMIT_HOLD = 0.01  # and holds the reduction this long after the peak, so dense peaks do not make it flutter
LOUDNESS_TOLERANCE = 0.5  # LU either side of the target
AAC_LOUDNESS_MISS = 0.2  # LU the MP4's decoded sound may differ from the WAV's before it is encoded again
VIDEO_INTO_MP4 = ("h264", "hevc", "mpeg4", "vp9", "av1")  # picture codecs an MP4 carries as they are
AAC_BITRATE = 192_000
# Timestamps in 1/48000 s throughout the file's header, so the sound track's length (and the edit list that
# hides the AAC encoder's priming) is exact to the sample; the default, milliseconds, would round it.
MP4_OPTIONS = {"movflags": "+faststart", "movie_timescale": str(RATE)}
MAX_SOUND_SECONDS = int(2 * MAX_VIDEO_SECONDS)  # decoding stops here, whatever a file claims


class MixdownError(StudioError):
    pass


def samples_for(duration: float) -> int:
    return round(duration * RATE)


def _silence(samples: int) -> np.ndarray:
    return np.zeros((CHANNELS, samples), np.float32)


def _decode(path: Path, limit: int) -> np.ndarray:
    """At most `limit` samples of a file's sound (its first audio stream), float32 (2, n) at 48 kHz stereo;
    (2, 0) for a file without sound."""
    chunks, count = [], 0
    try:
        with av.open(str(path)) as container:
            if container.streams.audio:
                stream = container.streams.audio[0]
                mono = stream.codec_context.channels == 1  # duplicated as it is: a resampler would lower it 3 dB
                resampler = av.AudioResampler(format="fltp", layout="mono" if mono else "stereo", rate=RATE)
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        chunks.append(out.to_ndarray())
                        count += out.samples
                    if count >= limit:
                        break
                else:
                    chunks += [out.to_ndarray() for out in resampler.resample(None)]
    except (av.error.FFmpegError, OSError, ValueError):
        raise MixdownError("One of the score's sounds could not be read.") from None
    sound = np.concatenate(chunks, axis=1) if chunks else _silence(0)
    if sound.shape[0] == 1:
        sound = np.repeat(sound, CHANNELS, axis=0)
    return np.ascontiguousarray(sound[:, :limit], np.float32)


def read_audio(path: Path, samples: int | None = None) -> np.ndarray:
    """The sound of a file (its first audio stream; a video's sound), float32 (2, n) at 48 kHz stereo: resampled,
    mono duplicated to both sides, at most MAX_SOUND_SECONDS. With `samples`, padded with zeros or trimmed to
    exactly that many (and decoding stops there). A file without sound is silence."""
    if samples is None:
        return _decode(path, MAX_SOUND_SECONDS * RATE)
    return _fit(_decode(path, samples), samples)


def _fit(sound: np.ndarray, samples: int) -> np.ndarray:
    if sound.shape[1] >= samples:
        return np.ascontiguousarray(sound[:, :samples])
    return np.concatenate([sound, _silence(samples - sound.shape[1])], axis=1)


def _rise(samples: int) -> np.ndarray:
    """The equal-power fade-in curve over `samples` (the fade-out is its reverse): sin² + cos² = 1 throughout."""
    return np.sin(0.5 * np.pi * (np.arange(samples) + 0.5) / samples).astype(np.float32) if samples else \
        np.zeros(0, np.float32)


def _seam(overlap_start: int, overlap_end: int, centre: float, crossfade: int) -> tuple[int, int]:
    """[first, last) of a crossfade of `crossfade` samples centred at `centre` (a sample position), moved and
    narrowed as needed to lie inside the overlap [overlap_start, overlap_end)."""
    width = min(crossfade, overlap_end - overlap_start)
    first = int(round(centre - width / 2))
    first = min(max(first, overlap_start), overlap_end - width)
    return first, first + width


def stitch(parts: list[tuple[float, np.ndarray]], cuts: list[float | None], total: int,
           crossfade: float = CROSSFADE_SECONDS) -> np.ndarray:
    """The parts laid on the video's time axis, exactly `total` samples. `parts` are (start seconds, sound)
    sorted by start; `cuts[i]` is the centre (seconds) of the crossfade between parts i and i + 1 where they
    overlap, None where they do not. Inside a crossfade the earlier part fades out as the later fades in, and
    only one part sounds on either side of it; where a part meets silence it fades over EDGE_SECONDS. Exact
    zeros wherever no part lies."""
    out = _silence(total)
    spans = [(samples_for(start), samples_for(start) + sound.shape[1]) for start, sound in parts]
    # Where each part is heard: [begin, end), with the seam it fades over at either side (None: its own edge).
    seams: list[tuple[int, int] | None] = [None] * max(0, len(parts) - 1)
    for index, centre in enumerate(cuts[: len(seams)]):
        (_, end), (start, _) = spans[index], spans[index + 1]
        if centre is not None and start < end:
            seams[index] = _seam(start, end, centre * RATE, samples_for(crossfade))
    edge = samples_for(EDGE_SECONDS)
    for index, (start, sound) in enumerate(parts):
        begin, end = spans[index]
        gain = np.ones(sound.shape[1], np.float32)
        before = seams[index - 1] if index > 0 else None
        after = seams[index] if index < len(seams) else None
        if before is not None:
            first, last = before
            gain[: first - begin] = 0
            gain[first - begin:last - begin] = _rise(last - first)
        else:
            ramp = min(edge, len(gain) // 2)
            gain[:ramp] *= _rise(ramp)
        if after is not None:
            first, last = after
            gain[first - begin:last - begin] *= _rise(last - first)[::-1]
            gain[last - begin:] = 0
        else:
            ramp = min(edge, len(gain) // 2)
            gain[len(gain) - ramp:] *= _rise(ramp)[::-1]
        _add(out, begin, sound * gain)
    return out


def _add(out: np.ndarray, begin: int, sound: np.ndarray) -> None:
    """Add `sound` into `out` from sample `begin`, cut at both ends of `out`."""
    skip = max(0, -begin)
    first, last = max(begin, 0), min(begin + sound.shape[1], out.shape[1])
    if first < last:
        out[:, first:last] += sound[:, skip:skip + last - first]


def extend(sound: np.ndarray, total: int, crossfade: float = MUSIC_CROSSFADE_SECONDS) -> np.ndarray:
    """The music bed repeated to exactly `total` samples, each repeat crossfaded (equal power) into the next
    over `crossfade`; trimmed when the bed is longer than that already."""
    length = sound.shape[1]
    if length >= total:
        return np.ascontiguousarray(sound[:, :total], np.float32)
    if length == 0:
        return _silence(total)
    overlap = min(samples_for(crossfade), length // 2)
    rise = _rise(overlap)
    out = _silence(total)
    position = 0
    while position < total:
        repeat = sound.astype(np.float32, copy=True)
        if position > 0 and overlap:
            repeat[:, :overlap] *= rise
        if position + length - overlap < total and overlap:  # another repeat follows: fade into it
            repeat[:, length - overlap:] *= rise[::-1]
        _add(out, position, repeat)
        position += length - overlap
    return out


def _level_db(key: np.ndarray, block: int) -> np.ndarray:
    """The key's peak level per block of samples, in dBFS (both channels)."""
    blocks = -(-key.shape[1] // block)
    padded = np.zeros((key.shape[0], blocks * block), np.float32)
    padded[:, : key.shape[1]] = np.abs(key)
    peak = padded.reshape(key.shape[0], blocks, block).max(axis=(0, 2))
    with np.errstate(divide="ignore"):
        return 20 * np.log10(np.maximum(peak, 1e-9))


def duck(music: np.ndarray, key: np.ndarray, depth_db: float = DUCK_DB, attack: float = DUCK_ATTACK,
         release: float = DUCK_RELEASE) -> np.ndarray:
    """`music` lowered under `key` (the effects): an envelope follower on the key's level drives up to `depth_db`
    of gain reduction, reaching it within `attack` and letting go over `release`. The follower runs on 10 ms
    blocks and the gain is interpolated sample by sample between them, so it moves smoothly (no zipper noise);
    it starts its attack one attack time early, so the music is already down when an effect begins."""
    samples = music.shape[1]
    if samples == 0:
        return music
    block = samples_for(DUCK_BLOCK)
    wanted = depth_db * np.clip((_level_db(key[:, :samples], block) - KEY_FLOOR_DB) / KEY_KNEE_DB, 0, 1)
    early = max(1, round(attack / DUCK_BLOCK))
    wanted = np.concatenate([wanted[early:], np.zeros(early)])  # look ahead by one attack time
    down = 1 - math.exp(-DUCK_BLOCK / max(attack, 1e-6))
    up = 1 - math.exp(-DUCK_BLOCK / max(release, 1e-6))
    reduction = np.empty_like(wanted)
    level = 0.0
    for index, target in enumerate(wanted):
        level += (target - level) * (down if target > level else up)
        reduction[index] = level
    centres = (np.arange(len(reduction)) + 0.5) * block
    gain_db = np.interp(np.arange(samples), centres, reduction)
    return (music * 10 ** (-gain_db / 20)).astype(np.float32)


def mix(layers: dict[str, np.ndarray], gains_db: dict[str, float]) -> np.ndarray:
    """The layers summed, each at its gain (dB); every layer the same length."""
    lengths = {sound.shape[1] for sound in layers.values()}
    if len(lengths) > 1:
        raise ValueError(f"layers of different lengths: {sorted(lengths)}")
    out = _silence(lengths.pop() if lengths else 0)
    for name, sound in layers.items():
        out += sound * np.float32(10 ** (gains_db.get(name, 0.0) / 20))
    return out


_sum = mix  # `render` takes a Mix called `mix`, as the studio names it, so it calls this function by another name


def _measure(samples: np.ndarray) -> tuple[float, float]:
    """(integrated loudness LUFS, true peak dBTP), -inf for silence."""
    return analysis.loudness(samples.T, RATE), analysis.true_peak(samples.T)


def _limit(samples: np.ndarray, ceiling_db: float) -> np.ndarray:
    """A look-ahead true-peak limiter: the gain each sample needs to keep its 4x-oversampled peak under
    `ceiling_db`, held for LIMIT_HOLD, then ramped down ahead of the peak and up after it (two moving averages
    of LOOK_AHEAD each, which round the ramps' corners). Every averaged value is the minimum over a window that
    contains the sample, so the gain is never more than the sample needs."""
    ceiling = 10 ** (ceiling_db / 20)
    oversampled = np.abs(resample_poly(samples, 4, 1, axis=1, window=OVERSAMPLER)).max(axis=0)
    peak = oversampled[: samples.shape[1] * 4].reshape(-1, 4).max(axis=1)
    needed = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    ramp, hold = samples_for(LOOK_AHEAD), samples_for(LIMIT_HOLD)
    ahead = 2 * ramp - 2  # the averages below look back 2 * ramp - 2 samples in all
    window = ahead + hold + 1
    # minimum over [n - hold, n + ahead]: scipy centres its window, `origin` moves it
    floor = minimum_filter1d(needed, window, mode="nearest", origin=(hold - ahead) // 2 if window % 2 else
                             (hold - ahead - 1) // 2)
    for _ in range(2):  # moving averages over [n - ramp + 1, n]
        floor = uniform_filter1d(floor, ramp, mode="nearest", origin=(ramp - 1) // 2)
    return (samples * np.minimum(floor, needed)).astype(np.float32)


def normalise(samples: np.ndarray, target: float, ceiling: float = PEAK_CEILING) -> tuple[np.ndarray, float, float]:
    """`samples` brought to `target` LUFS (within LOUDNESS_TOLERANCE) with a true peak at most `ceiling` dBTP:
    a gain, then, when that gain would pass the ceiling, the true-peak limiter, re-measured and corrected until
    both hold. Returns (samples, loudness, true peak); silence stays silence (measured as analysis's floors)."""
    return _normalised(samples, target, ceiling)[:3]


def _normalised(samples: np.ndarray, target: float, ceiling: float) -> tuple[np.ndarray, float, float, float]:
    """normalise's (samples, loudness, true peak), and how far (dB) the limiter held the loudest peak down."""
    level, peak = _measure(samples)
    if not math.isfinite(level):
        return samples, analysis.SILENT_LUFS, max(peak, analysis.SILENT_DBTP), 0.0
    limit = ceiling - LIMIT_MARGIN_DB
    raw_level, raw_peak = level, peak

    def tried(gain: float) -> tuple[np.ndarray, float]:
        """The samples at `gain`, limited if need be, and their loudness (the true peak is checked once, below)."""
        out = (samples * np.float32(10 ** (gain / 20))).astype(np.float32)
        if raw_peak + gain > limit:  # a gain scales the true peak with it
            out = _limit(out, limit)
        return out, analysis.loudness(out.T, RATE)

    # The limiter takes back part of any gain, so loudness rises slower than the gain, and at most to where
    # everything is limited: the gain is searched for, stepping up along the slope of the last two tries until
    # the target is passed, then narrowing the bracket (false position and halving in turn).
    gain = target - raw_level
    quieter = louder = None  # (gain, loudness) of the loudest try under the target, the quietest over it
    best = None
    for attempt in range(12):
        out, level = tried(gain)
        if best is None or abs(level - target) < abs(best[1] - target):
            best = (out, level, gain)
        if abs(level - target) <= 0.1:
            break
        previous = quieter
        if level < target:
            quieter = (gain, level)
        else:
            louder = (gain, level)
        if quieter and louder:
            (low, low_level), (high, high_level) = quieter, louder
            interpolated = low + (target - low_level) * (high - low) / (high_level - low_level)
            gain = (low + high) / 2 if attempt % 2 else interpolated
        elif quieter:
            slope = 1.0 if previous is None else (level - previous[1]) / (gain - previous[0])
            gain += min((target - level) / max(slope, 0.25), 12.0)
        else:
            gain -= level - target
    out, level, gain = best
    peak = analysis.true_peak(out.T)
    while peak > ceiling:  # the limiter's last pass may leave a hair over: trade loudness for the ceiling
        out = (out * np.float32(10 ** ((ceiling - peak - 0.05) / 20))).astype(np.float32)
        level, peak = _measure(out)
    return out, round(level, 2), round(peak, 2), round(max(0.0, raw_peak + gain - limit), 1)


def _aac_packets(container: av.container.OutputContainer, audio: np.ndarray) -> tuple[av.AudioStream, list]:
    """An AAC 48 kHz stereo stream in `container` and every packet of `audio` encoded for it, in order."""
    stream = container.add_stream("aac", rate=RATE, layout="stereo")
    stream.bit_rate = AAC_BITRATE
    packets, step = [], 1024 * 16
    for start in range(0, audio.shape[1], step):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[:, start:start + step], np.float32),
                                           format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
        packets += stream.encode(frame)
    packets += stream.encode(None)
    return stream, packets


def _seconds(packet: av.Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float(stamp * packet.time_base) if stamp is not None else 0.0


def mux(video: Path, audio: np.ndarray, out: Path) -> str:
    """Write `out`, an MP4 of `video`'s picture and `audio` (float32 (2, n) at 48 kHz) as AAC 48 kHz stereo, with
    +faststart. The picture's packets are copied unchanged when an MP4 can carry its codec, else re-encoded as
    H.264. Returns "" or, in plain words, what was done to the picture. Packets are written interleaved in time,
    so a player streaming the file has sound and picture together."""
    with av.open(str(video)) as source, \
            av.open(str(out), "w", format="mp4", options=MP4_OPTIONS) as target:
        picture = source.streams.video[0]
        codec = picture.codec_context.codec.canonical_name
        copied = codec in VIDEO_INTO_MP4
        if copied:
            picture_out = target.add_stream_from_template(picture)
            note = ""
        else:
            rate = picture.average_rate or picture.guessed_rate or Fraction(24)
            picture_out = target.add_stream("libx264", rate=rate, options={"preset": "veryfast", "crf": "20"})
            picture_out.width, picture_out.height = picture.codec_context.width, picture.codec_context.height
            picture_out.pix_fmt = "yuv420p"
            picture_out.time_base = picture.time_base
            note = (f"The picture was re-encoded as H.264, because an MP4 cannot carry its {codec.upper()} video "
                    f"as it is.")
        sound_out, sound = _aac_packets(target, audio)
        origin = picture.start_time or 0
        pending = iter(sound)
        upcoming = next(pending, None)

        def write(packet: av.Packet, stream: av.Stream) -> None:
            nonlocal upcoming
            while upcoming is not None and _seconds(upcoming) <= _seconds(packet):
                target.mux(upcoming)
                upcoming = next(pending, None)
            packet.stream = stream
            target.mux(packet)

        for packet in source.demux(picture):
            if packet.size == 0:
                continue  # the demuxer's end-of-stream marker
            if copied:
                packet.pts = None if packet.pts is None else packet.pts - origin  # the picture starts at 0,
                packet.dts = None if packet.dts is None else packet.dts - origin  # as the sound does
                write(packet, picture_out)
            else:
                for frame in packet.decode():
                    frame.pts = None if frame.pts is None else frame.pts - origin
                    for encoded in picture_out.encode(frame.reformat(format="yuv420p")):
                        write(encoded, picture_out)
        if not copied:
            for encoded in picture_out.encode(None):
                write(encoded, picture_out)
        while upcoming is not None:
            target.mux(upcoming)
            upcoming = next(pending, None)
    return note


@dataclass(frozen=True)
class Rendered:
    """What `render` did, for the score's receipt."""

    video_seconds: float  # the picture's length
    sound_seconds: float  # the score's: equal to the picture's, to the sample
    fitted: str  # "" or plain words: what was padded or trimmed to match the picture
    loudness: float  # LUFS of the MP4's sound as decoded (the WAV's is the same within a few hundredths)
    true_peak: float  # dBTP, the higher of the WAV's and the decoded MP4 sound's
    target: float
    layers: tuple[dict, ...]  # {"layer": "original" | "effects" | "music", "gain_db": float, "present": bool}
    ducked: bool
    video_codec: str  # the MP4's picture codec
    video_copied: bool  # the picture's packets are the source's, unchanged (else re-encoded, said in `notes`)
    notes: tuple[str, ...]  # anything else worth telling: a re-encoded picture, a silent mix, a missed target


def _own_sound(video: Path, total: int) -> tuple[np.ndarray, str]:
    """The video's own sound on the picture's time axis, exactly `total` samples, and what was done to fit it. A
    sound that starts after the picture (or before it) is kept in step with it: silence before it (or its lead cut)."""
    with av.open(str(video)) as container:
        sound, picture = container.streams.audio[0], container.streams.video[0]
        stated = round(sound.duration * sound.time_base * RATE) if sound.duration is not None else None
        # When the sound starts is its first decoded frame's time: the first packet's is earlier by the
        # encoder's priming, which the decoder drops.
        first = next(container.decode(sound), None)
        begins = first.pts * first.time_base if first is not None and first.pts is not None else _start(sound)
        delay = round(float(begins - _start(picture)) * RATE)
    decoded = _decode(video, total + RATE + max(0, -delay))  # a second more tells a longer sound from an exact one
    # What the decoder gives past the container's stated duration is an encoder's padding of its last frame.
    length = min(decoded.shape[1], stated) if stated is not None else decoded.shape[1]
    placed = np.concatenate([_silence(delay), decoded], axis=1) if delay > 0 else decoded[:, -delay:]
    words = []
    if abs(delay) >= samples_for(0.001):
        words.append(f"The video's own sound starts {_length_words(abs(delay) / RATE)} "
                     f"{'after' if delay > 0 else 'before'} its picture, and is kept in step with it.")
    words.append(_fitted("The video's own sound", length + delay, total))
    return _fit(placed, total), " ".join(word for word in words if word)


def _start(stream: av.Stream) -> Fraction:
    return stream.start_time * stream.time_base if stream.start_time is not None else Fraction(0)


def _length_words(seconds: float) -> str:
    return f"{seconds:.2f} s"


def _fitted(name: str, had: int, total: int) -> str:
    """Plain words for a layer padded or trimmed to the picture's `total` samples ("" when it fitted)."""
    difference = (had - total) / RATE
    if abs(had - total) < samples_for(0.001):  # under a millisecond: the rounding of the container's clock
        return ""
    if difference < 0:
        return f"{name} ended {_length_words(-difference)} before the picture, so silence fills the rest."
    return f"{name} ran {_length_words(difference)} past the end of the picture; what was past it was cut."


def _effects(effects: list[tuple[float, Path]], cuts: list[float | None], total: int) -> tuple[np.ndarray, str]:
    parts = sorted(((start, read_audio(path)) for start, path in effects), key=lambda part: part[0])
    if not parts:
        return _silence(total), ""
    end = max(samples_for(start) + sound.shape[1] for start, sound in parts)
    return stitch(parts, cuts, total), _fitted("The effects", end, total) if end > total else ""


def _music(path: Path, total: int) -> tuple[np.ndarray, str]:
    bed = read_audio(path)
    music = extend(bed, total)
    fade = min(samples_for(MUSIC_END_SECONDS), total // 2)
    if fade:
        music[:, total - fade:] *= _rise(fade)[::-1]
    if bed.shape[1] < total:
        words = (f"The music bed ({_length_words(bed.shape[1] / RATE)}) was repeated with crossfades to fill the "
                 f"{_length_words(total / RATE)} of the picture.")
    else:
        words = _fitted("The music bed", bed.shape[1], total)
    return music, words


def _score_files(samples: np.ndarray, duration: float, wav: Path, peaks: Path) -> None:
    """The WAV of the score alone and its waveform's peaks."""
    analysis.encode(samples.T, RATE, "wav", wav)
    measured = analysis.Analysis(RATE, CHANNELS, None, 0.0, 0.0, analysis.peaks(samples.T))
    peaks.write_bytes(analysis.peaks_document(measured, duration))


def _muxed(video: Path, samples: np.ndarray, mp4: Path) -> tuple[str, float, float]:
    """Mux `samples` under the picture; (the picture's note, loudness, true peak of the MP4's sound as decoded)."""
    note = mux(video, samples, mp4)
    level, peak = _measure(read_audio(mp4, samples.shape[1]))
    return note, level, peak


def render(video: Path, facts: VideoFacts, effects: list[tuple[float, Path]], cuts: list[float | None],
           music: Path | None, mix: Mix, mp4: Path, wav: Path, peaks: Path) -> Rendered:
    """The whole mix of a score, written to `mp4` (the picture with the mix), `wav` (pcm_s16le 48 kHz stereo, the
    score alone) and `peaks` (its waveform). The layers: the video's own sound (if any), the effects parts
    stitched at their starts (seconds on the video's axis) with crossfades centred at `cuts`, and the music bed
    extended to the picture (and ducked under the effects when `mix.duck`); each fitted to exactly the picture's
    length, never the other way round, and the fitting said in `fitted`. Gains from `mix`, then normalised to
    `mix.target`. Raises MixdownError when a sound cannot be read."""
    total = samples_for(facts.duration)
    fitted, notes = [], []
    layers: dict[str, np.ndarray] = {}
    if facts.has_audio:
        layers["original"], words = _own_sound(video, total)
        fitted.append(words)
    if effects:
        layers["effects"], words = _effects(effects, cuts, total)
        fitted.append(words)
    if music is not None:
        layers["music"], words = _music(music, total)
        fitted.append(words)
    ducked = bool(mix.duck and "music" in layers and "effects" in layers)
    if ducked:
        layers["music"] = duck(layers["music"], layers["effects"])
    mixed = _sum(layers, {name: mix.gain(name) for name in layers}) if layers else _silence(total)
    ceiling = PEAK_CEILING - AAC_HEADROOM_DB
    samples, level, peak, limited = _normalised(mixed, mix.target, ceiling)
    silent = level <= analysis.SILENT_LUFS
    _score_files(samples, facts.duration, wav, peaks)
    note, heard_level, heard_peak = _muxed(video, samples, mp4)
    overshoot, miss = heard_peak - PEAK_CEILING, mix.target - heard_level
    if not silent and (overshoot > 0 or abs(miss) > AAC_LOUDNESS_MISS):
        # The encoder moved the loudness (it drops the highest frequencies) or the peaks: the MP4's sound is made
        # again from the mix, aimed so that what is decoded lands on the target and under the ceiling.
        encoded, _, _, _ = _normalised(mixed, mix.target + miss, ceiling - max(0.0, overshoot + 0.1))
        note, heard_level, heard_peak = _muxed(video, encoded, mp4)
    if note:
        notes.append(note)
    if silent:
        notes.append("The mix is silent, so there was no loudness to set: it stays silent.")
        heard_level, heard_peak = analysis.SILENT_LUFS, analysis.SILENT_DBTP
    if not silent and limited >= 0.1:
        notes.append(f"To reach {mix.target:g} LUFS with its true peak under {PEAK_CEILING:g} dBTP, the loudest "
                     f"peaks were held down by up to {limited:.1f} dB.")
    if not silent and abs(heard_level - mix.target) > LOUDNESS_TOLERANCE:
        notes.append(f"The mix reaches {heard_level:.1f} LUFS, not {mix.target:g}: any louder and its peaks "
                     f"would pass {PEAK_CEILING:g} dBTP.")
    with av.open(str(mp4)) as written:
        codec = written.streams.video[0].codec_context.codec.canonical_name
    return Rendered(video_seconds=facts.duration, sound_seconds=total / RATE,
                    fitted=" ".join(words for words in fitted if words), loudness=round(heard_level, 2),
                    true_peak=round(max(peak, heard_peak), 2), target=mix.target,
                    layers=tuple({"layer": name, "gain_db": mix.gain(name), "present": name in layers}
                                 for name in LAYERS),
                    ducked=ducked, video_codec=codec, video_copied=not note, notes=tuple(notes))
