"""What the studio measures once on its own copy of a result: the waveform's peaks, integrated loudness (LUFS, ITU-R
BS.1770 via pyloudnorm), true peak (dBTP, 4x oversampled as BS.1770 annex 2 says), sample rate, channels and
bitrate; and the loudness-normalised rendering of a copy. Pure: files in, numbers and files out, no Streamlit.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pyloudnorm
from scipy.signal import resample_poly

PEAK_BINS = 1600  # sharp at the width of a card's waveform, and a few tens of kB as JSON
MAX_SECONDS = 30 * 60  # decoding stops here: a result is seconds long, a hostile file may claim hours
# BS.1770's absolute gate: anything quieter reads as silence, stored as these floors (never -inf, which JSON lacks).
SILENT_LUFS = -70.0
SILENT_DBTP = -120.0
TARGETS = (-23, -16, -14)  # EBU R 128, podcasts / Apple, streaming
PEAK_CEILING = -1.0  # dBTP a normalised file may reach
ENCODERS = {"mp3": ("libmp3lame", "fltp"), "wav": ("pcm_s16le", "s16")}


class AnalysisError(Exception):
    pass


@dataclass(frozen=True)
class Sound:
    samples: np.ndarray  # float32 in [-1, 1], shape (frames, channels)
    rate: int
    bitrate: int | None


@dataclass(frozen=True)
class Analysis:
    sample_rate: int
    channels: int
    bitrate: int | None
    loudness: float  # LUFS; SILENT_LUFS for silence
    true_peak: float  # dBTP; SILENT_DBTP for silence
    peaks: list[float]  # min, max, min, max, ... per bin, over all channels


def decode(path: Path) -> Sound | None:
    """The audio of a file (its first audio stream; None for a video without one); raises AnalysisError when the
    file cannot be read."""
    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if not streams:
                return None
            stream = streams[0]
            rate = stream.rate or stream.codec_context.sample_rate
            if not rate or not 1000 <= rate <= 384000:
                raise AnalysisError("its sample rate is not one a sound has")
            resampler = av.AudioResampler(format="flt", layout=stream.layout.name if stream.layout else None,
                                          rate=rate)
            chunks, frames = [], 0
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    block = out.to_ndarray().reshape(-1, len(out.layout.channels))
                    chunks.append(block)
                    frames += len(block)
                if frames > MAX_SECONDS * rate:
                    raise AnalysisError("it is longer than the studio measures")
            bitrate = stream.bit_rate or container.bit_rate or None
    except (av.error.FFmpegError, ValueError, OSError) as error:
        raise AnalysisError(f"it could not be decoded ({error.__class__.__name__})") from None
    if not chunks:
        raise AnalysisError("it holds no sound")
    samples = np.clip(np.concatenate(chunks).astype(np.float32), -1.0, 1.0)
    return Sound(samples, int(rate), int(bitrate) if bitrate else None)


def peaks(samples: np.ndarray, bins: int = PEAK_BINS) -> list[float]:
    """Min and max per bin (interleaved), over all channels: what wavesurfer draws. Fewer bins than frames."""
    mono_min = samples.min(axis=1) if samples.ndim == 2 else samples
    mono_max = samples.max(axis=1) if samples.ndim == 2 else samples
    count = max(1, min(bins, len(mono_min)))
    edges = np.linspace(0, len(mono_min), count + 1).astype(int)
    starts = edges[:-1]
    lows, highs = np.minimum.reduceat(mono_min, starts), np.maximum.reduceat(mono_max, starts)
    return [round(float(v), 4) for pair in zip(lows, highs) for v in pair]


def loudness(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS; -inf for silence (or a clip shorter than BS.1770's 400 ms block)."""
    padded = samples
    block = int(0.4 * rate)
    if len(samples) < block:  # pyloudnorm refuses clips shorter than one gating block
        padded = np.concatenate([samples, np.zeros((block - len(samples), samples.shape[1]), samples.dtype)])
    with np.errstate(divide="ignore"):
        value = pyloudnorm.Meter(rate).integrated_loudness(padded.astype(np.float64))
    return float(value) if math.isfinite(value) else -math.inf


def true_peak(samples: np.ndarray) -> float:
    """True peak in dBTP: the largest magnitude after 4x oversampling (BS.1770-4 annex 2); -inf for silence."""
    oversampled = resample_poly(samples.astype(np.float64), 4, 1, axis=0)
    highest = float(np.max(np.abs(oversampled))) if oversampled.size else 0.0
    return 20 * math.log10(highest) if highest > 0 else -math.inf


def analyse(sound: Sound) -> Analysis:
    level, peak = loudness(sound.samples, sound.rate), true_peak(sound.samples)
    return Analysis(sample_rate=sound.rate, channels=sound.samples.shape[1], bitrate=sound.bitrate,
                    loudness=round(max(level, SILENT_LUFS), 2), true_peak=round(max(peak, SILENT_DBTP), 2),
                    peaks=peaks(sound.samples))


def peaks_document(analysis: Analysis, duration: float) -> bytes:
    """The peaks file the player fetches beside the audio (wavesurfer's `peaks` and `duration`)."""
    return json.dumps({"duration": round(duration, 3), "peaks": analysis.peaks}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Gain:
    db: float  # the gain applied
    limited: bool  # the gain was reduced to keep the true peak at PEAK_CEILING, so the target was not reached


def gain_for(measured: float, peak: float, target: float, ceiling: float = PEAK_CEILING) -> Gain:
    """The gain that brings `measured` LUFS to `target`, reduced when it would push the true peak above `ceiling`."""
    wanted = target - measured
    if peak + wanted > ceiling:
        return Gain(round(ceiling - peak, 2), True)
    return Gain(round(wanted, 2), False)


def normalise(sound: Sound, target: float) -> tuple[np.ndarray, Gain]:
    """`sound` brought to `target` LUFS, never past PEAK_CEILING dBTP; raises AnalysisError for silence."""
    measured = loudness(sound.samples, sound.rate)
    if not math.isfinite(measured):
        raise AnalysisError("it is silent, so there is no loudness to set")
    gain = gain_for(measured, true_peak(sound.samples), target)
    return np.clip(sound.samples * 10 ** (gain.db / 20), -1.0, 1.0).astype(np.float32), gain


def render_normalised(sound: Sound, target: float, format: str, path: Path) -> Gain:
    """Write `sound` at `target` LUFS as `format` to `path`. A lossy encoder changes the loudness a little (an MP3
    loses the highest frequencies), so the file written is measured and, when it misses, rendered once more with
    the gain corrected, the true peak still at most PEAK_CEILING."""
    samples, gain = normalise(sound, target)
    encode(samples, sound.rate, format, path)
    written = decode(path)
    miss = target - loudness(written.samples, written.rate)
    if not gain.limited and abs(miss) > 0.1:
        peak = true_peak(written.samples)
        gain = Gain(round(gain.db + min(miss, PEAK_CEILING - peak), 2), miss > PEAK_CEILING - peak)
        encode(np.clip(sound.samples * 10 ** (gain.db / 20), -1.0, 1.0).astype(np.float32), sound.rate, format, path)
    return gain


def encode(samples: np.ndarray, rate: int, format: str, target: Path) -> None:
    """Write `samples` (frames, channels) as an MP3 or WAV file at `target`."""
    codec, sample_format = ENCODERS[format]
    channels = samples.shape[1]
    layout = "mono" if channels == 1 else "stereo" if channels == 2 else f"{channels}c"
    with av.open(str(target), "w", format=format) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        if format == "mp3":
            stream.bit_rate = 192_000
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        step = 4096
        for start in range(0, len(samples), step):
            block = np.ascontiguousarray(samples[start:start + step])  # interleaved, as packed "flt" wants
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout=layout)
            frame.sample_rate = rate
            for out in resampler.resample(frame):
                container.mux(stream.encode(out))
        for out in resampler.resample(None):
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))
