"""Deterministic procedural media for the vendor simulator.

The simulator cannot reach the real sound/video vendors, so it fabricates
plausible output here: keyword-driven synthesized ambience (numpy only) and
soft animated abstract videos (encoded with PyAV). Every result depends only
on its arguments, so the same (prompt, seed) always gives identical bytes.
"""

import hashlib
import io
import os
import re
import tempfile
import wave
from fractions import Fraction

import av
import numpy as np

SAMPLE_RATE = 44100
FPS = 24
PEAK = 0.8
FADE_SECONDS = 0.02

# Short sides of the offered resolutions and the offered aspect ratios.
RESOLUTIONS = {"360p": 360, "540p": 540, "720p": 720, "1080p": 1080}
ASPECT_RATIOS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "3:4": (3, 4), "4:3": (4, 3)}


# --------------------------------------------------------------------------
# Signal helpers (numpy only: no scipy in the environment)
# --------------------------------------------------------------------------

def _hash_int(*parts) -> int:
    """Stable 64-bit hash; builtin hash() is salted per process."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(_hash_int(*parts))


def _length(seconds: float) -> int:
    return max(0, round(seconds * SAMPLE_RATE))


def _times(n: int) -> np.ndarray:
    return np.arange(n) / SAMPLE_RATE


def _unit(x: np.ndarray) -> np.ndarray:
    """Scale to peak 1 so layers mix at comparable loudness."""
    peak = np.max(np.abs(x), initial=0.0)
    return x / peak if peak > 0 else x


def _band(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Zero-phase band-pass via an FFT mask; fine for the noise beds used here."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    spectrum[(freqs < low) | (freqs > high)] = 0
    return np.fft.irfft(spectrum, len(x))


def _band_noise(rng, n: int, low: float, high: float) -> np.ndarray:
    return _unit(_band(rng.standard_normal(n), low, high))


def _drift(rng, n: int, changes_per_second: float) -> np.ndarray:
    """Slowly wandering random curve in [0, 1] (for modulating amplitude/pitch)."""
    points = rng.random(int(n / SAMPLE_RATE * changes_per_second) + 2)
    return np.interp(np.linspace(0, len(points) - 1, n), np.arange(len(points)), points)


def _event_times(rng, n: int, per_second: float) -> np.ndarray:
    """Random onsets (seconds); always at least one so short clips aren't empty."""
    seconds = n / SAMPLE_RATE
    count = max(1, rng.poisson(per_second * seconds))
    return np.sort(rng.uniform(0, seconds, count))


def _place(n: int, times, kernel: np.ndarray, gains) -> np.ndarray:
    """Sum copies of `kernel` starting at `times` (s), each scaled by its gain."""
    impulses = np.zeros(n)
    starts = np.clip((np.asarray(times) * SAMPLE_RATE).astype(int), 0, max(n - 1, 0))
    np.add.at(impulses, starts, gains)
    size = 1 << (n + len(kernel) - 2).bit_length()  # power of two: FFT stays fast
    return np.fft.irfft(np.fft.rfft(impulses, size) * np.fft.rfft(kernel, size), size)[:n]


def _decay(seconds: float, tau: float) -> np.ndarray:
    return np.exp(-_times(_length(seconds)) / tau)


def _midi_hz(note) -> float:
    return 440 * 2 ** ((note - 69) / 12)


def _tone(freqs, t: np.ndarray, harmonics=(1.0, 0.4, 0.15)) -> np.ndarray:
    """Sine plus a few harmonics; `freqs` may be a scalar or per-sample array."""
    phase = 2 * np.pi * (np.cumsum(np.broadcast_to(freqs, t.shape)) / SAMPLE_RATE)
    return sum(gain * np.sin(k * phase) for k, gain in enumerate(harmonics, start=1))


# --------------------------------------------------------------------------
# Sound layers: each takes (rng, sample count, prompt) and returns a signal
# --------------------------------------------------------------------------

def _rain(rng, n, prompt):
    hiss = 0.5 * _band_noise(rng, n, 400, 9000)
    droplet = _band(rng.standard_normal(_length(0.01)), 2000, 12000) * _decay(0.01, 0.002)
    times = _event_times(rng, n, rng.uniform(40, 90))
    drops = _place(n, times, droplet, rng.random(len(times)) ** 2)
    return hiss + _unit(drops)


def _thunder(rng, n, prompt):
    rumble = _band_noise(rng, n, 20, 160)
    attack = np.linspace(0, 1, _length(0.08))
    burst = np.concatenate([attack, _decay(4.0, rng.uniform(0.8, 1.6))])
    times = _event_times(rng, n, 0.25)
    return rumble * _place(n, times, burst, rng.uniform(0.5, 1, len(times)))


def _wind(rng, n, prompt):
    low, high = _band_noise(rng, n, 150, 500), _band_noise(rng, n, 500, 1800)
    brightness = _drift(rng, n, 0.3)  # sweeping the blend sounds like a moving cutoff
    gusts = 0.25 + 0.75 * _drift(rng, n, 0.2)
    return gusts * (low * (1 - brightness) + 0.6 * high * brightness)


def _waves(rng, n, prompt):
    period, phase = rng.uniform(6, 10), rng.uniform(0, 2 * np.pi)
    swell = 0.5 - 0.5 * np.cos(2 * np.pi * _times(n) / period + phase)
    body = _band_noise(rng, n, 60, 2500) * (0.1 + swell**2)
    foam = _band_noise(rng, n, 2500, 10000) * 0.3 * swell**4  # hiss as each wave breaks
    return body + foam


def _birds(rng, n, prompt):
    out = np.zeros(n)
    for start in _event_times(rng, n, rng.uniform(2, 5)):
        length = _length(rng.uniform(0.04, 0.14))
        first, last = rng.uniform(2500, 5000), rng.uniform(2000, 6500)
        chirp = _tone(np.linspace(first, last, length), _times(length), (1.0,)) * np.hanning(length)
        gain = rng.uniform(0.3, 1)
        for repeat in range(rng.integers(1, 4)):  # birds tend to repeat a chirp quickly
            begin = _length(start) + repeat * int(length * 1.6)
            end = min(begin + length, n)
            if begin < end:
                out[begin:end] += gain * chirp[: end - begin]
    return out


def _fire(rng, n, prompt):
    bed = 0.35 * _band_noise(rng, n, 40, 500) * (0.7 + 0.3 * _drift(rng, n, 2))
    crackle = _band(rng.standard_normal(_length(0.004)), 1500, 12000) * _decay(0.004, 0.0008)
    times = _event_times(rng, n, rng.uniform(6, 14))
    return bed + _unit(_place(n, times, crackle, rng.random(len(times)) ** 3))


def _footsteps(rng, n, prompt):
    running = re.search(r"\brun", prompt, re.IGNORECASE)
    interval = 1 / (rng.uniform(2.8, 3.4) if running else rng.uniform(1.7, 2.2))
    times = np.arange(rng.uniform(0, interval), n / SAMPLE_RATE, interval)
    times = times + rng.normal(0, 0.01, len(times))
    t = _times(_length(0.25))
    thump = np.sin(2 * np.pi * rng.uniform(70, 110) * t) * np.exp(-t / 0.04)
    scuff = 0.3 * _band(rng.standard_normal(len(t)), 300, 3000) * np.exp(-t / 0.01)
    feet = np.where(np.arange(len(times)) % 2, 0.8, 1.0)  # left/right foot differ
    return _place(n, times, thump + scuff, feet * rng.uniform(0.8, 1, len(times)))


def _engine(rng, n, prompt):
    rpm_wobble = 1 + 0.04 * (2 * _drift(rng, n, 1.5) - 1)
    hum = _tone(rng.uniform(35, 70) * rpm_wobble, _times(n), 1 / np.arange(1, 7))
    return _unit(hum) + 0.3 * _band_noise(rng, n, 30, 800)


# Partial ratios of a church bell (hum, prime, tierce, quint, nominal, ...).
_BELL_PARTIALS = np.array([0.5, 1.0, 1.183, 1.506, 2.0, 2.514, 2.662, 3.011])


def _bell(rng, n, prompt):
    t = _times(min(n, _length(4.0)))[:, None]
    base = rng.uniform(250, 600)
    strike = np.sum(np.sin(2 * np.pi * base * _BELL_PARTIALS * t + rng.uniform(0, 6.3, 8))
                    * np.exp(-t * _BELL_PARTIALS / 1.5) / _BELL_PARTIALS**0.5, axis=1)
    interval = rng.uniform(1.5, 3)
    times = np.arange(0.05, n / SAMPLE_RATE, interval)
    return _place(n, times, strike, rng.uniform(0.7, 1, len(times)))


def _crowd(rng, n, prompt):
    babble = np.zeros(n)
    for _ in range(4):  # a few "voices" in different formant bands, each with its own syllable rhythm
        low = rng.uniform(200, 500)
        syllables = _drift(rng, n, rng.uniform(3, 6)) ** 2
        babble += _band_noise(rng, n, low, low * rng.uniform(3, 6)) * syllables
    return babble * (0.6 + 0.4 * _drift(rng, n, 0.5))


# I-V-vi-IV style progression as semitone offsets of chord tones from the key root.
_PROGRESSION = [(0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12)]


def _music(rng, n, prompt):
    out = np.zeros(n)
    eighth = 30 / rng.uniform(72, 120)
    root = rng.integers(55, 67)  # MIDI note
    shift = rng.integers(len(_PROGRESSION))
    pattern = rng.permutation([0, 1, 2, 1, 0, 2, 1, 2])  # arpeggio order within a bar
    note_t = _times(_length(eighth * 2))
    note_env = np.minimum(note_t / 0.005, 1) * np.exp(-note_t / 0.35)
    for step in range(int(n / SAMPLE_RATE / eighth) + 1):
        chord = _PROGRESSION[(step // 8 + shift) % len(_PROGRESSION)]
        midi = root + chord[pattern[step % 8]] + 12 * (step % 8 >= 4)
        note = _tone(_midi_hz(midi), note_t) * note_env
        if step % 8 == 0:  # soft sustained pad under each bar
            bar_t = _times(_length(eighth * 8))
            pad = sum(_tone(_midi_hz(root + tone - 12), bar_t) for tone in chord)
            note = 0.3 * pad * np.sin(np.pi * bar_t / bar_t[-1]) + np.pad(note, (0, len(bar_t) - len(note)))
        begin = _length(step * eighth)
        end = min(begin + len(note), n)
        if begin < end:
            out[begin:end] += note[: end - begin]
    return out


def _pad(rng, n, prompt):
    """Fallback: a soft chord whose pitch and brightness come from the prompt itself."""
    prompt_hash = _hash_int(prompt.lower())
    base = 110 * 2 ** ((prompt_hash % 24) / 12)
    harmonics = 0.5 ** np.arange(2 + prompt_hash // 24 % 4)  # more harmonics = brighter
    t = _times(n)
    chord = sum(_tone(base * ratio * rng.uniform(0.997, 1.003), t, harmonics) for ratio in (1, 1.5, 2))
    swell = 0.6 + 0.4 * _drift(rng, n, 0.3)
    return _unit(chord) * swell + 0.1 * _band_noise(rng, n, 200, 2000)


def _keywords(*words) -> re.Pattern:
    """Whole words, allowing common suffixes (birds, chirping, rainy, ...)."""
    return re.compile(r"\b(?:%s)(?:s|es|ing|ed|y)?\b" % "|".join(words), re.IGNORECASE)


_CATEGORY_LAYERS = [
    (_keywords("rain", "drizzle", "drizzling", "raindrop", "downpour", "storm", "thunderstorm", "rainfall"), _rain),
    (_keywords("thunder", "thunderstorm", "storm", "lightning"), _thunder),
    (_keywords("wind", "breeze", "gust", "howl"), _wind),
    (_keywords("wave", "ocean", "sea", "surf", "beach", "shore"), _waves),
    (_keywords("bird", "birdsong", "songbird", "song bird", "chirp", "tweet", "morning"), _birds),
    (_keywords("fire", "crackle", "crackling", "campfire", "fireplace", "flame"), _fire),
    (_keywords("footstep", "step", "walk", "run", "running", "boot"), _footsteps),
    (_keywords("engine", "car", "traffic", "motor", "train", "truck"), _engine),
    (_keywords("bell", "chime", "ding", "church"), _bell),
    (_keywords("crowd", "people", "chatter", "applause", "cheer", "audience"), _crowd),
    (_keywords("music", "melody", "piano", "song", "bgm", "ambient", "soundtrack", "guitar", "chord"), _music),
]


# --------------------------------------------------------------------------
# Public sound API
# --------------------------------------------------------------------------

def _normalized(x: np.ndarray) -> np.ndarray:
    return (PEAK * _unit(x)).astype(np.float32)


def _faded(x: np.ndarray) -> np.ndarray:
    """Short fades so clips never start or stop with a click."""
    fade = min(_length(FADE_SECONDS), len(x) // 2)
    ramp = np.linspace(0, 1, fade)
    x[:fade] *= ramp
    x[len(x) - fade:] *= ramp[::-1]
    return x


def render_sound(prompt: str, duration: float, seed: int) -> np.ndarray:
    """Mix one layer per keyword category found in the prompt (a pad if none)."""
    n = _length(duration)
    if n == 0:
        return np.zeros(0, np.float32)
    layers = [layer for pattern, layer in _CATEGORY_LAYERS if pattern.search(prompt)] or [_pad]
    mix = sum(_unit(layer(_rng(prompt, seed, layer.__name__), n, prompt)) for layer in layers)
    return _normalized(_faded(mix))


def render_timeline(events: list[tuple[float, float, str]], duration: float, seed: int) -> np.ndarray:
    """Place each (start, end, prompt) event in its own window; silence elsewhere."""
    n = _length(duration)
    mix = np.zeros(n)
    for index, (start, end, prompt) in enumerate(events):
        first, last = min(_length(start), n), min(_length(end), n)
        if first < last:
            mix[first:last] += render_sound(prompt, (last - first) / SAMPLE_RATE, seed + index)
    return _normalized(mix)


def encode_wav(samples) -> bytes:
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.tobytes())
    return buffer.getvalue()


def encode_mp3(samples) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=SAMPLE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            np.asarray(samples, dtype=np.float32)[None, :], format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


# --------------------------------------------------------------------------
# Video
# --------------------------------------------------------------------------

def video_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """(width, height) with `resolution` as the short side, both even."""
    short = RESOLUTIONS[resolution]
    across, down = ASPECT_RATIOS[aspect_ratio]
    long = 2 * round(short * max(across, down) / min(across, down) / 2)
    return (long, short) if across >= down else (short, long)


def _hsv_to_rgb(hue: np.ndarray, saturation: float, value: float) -> np.ndarray:
    k = (np.array([5, 3, 1]) + np.asarray(hue)[..., None] * 6) % 6
    return value - value * saturation * np.clip(np.minimum(k, 4 - k), 0, 1)


def _scene(prompt: str, seed: int, width: int, height: int):
    """Return frame(t) -> RGB float image: a drifting gradient with soft moving blobs."""
    rng = _rng(prompt, seed, "video")
    x, y = np.linspace(0, 1, width), np.linspace(0, 1, height)[:, None]
    aspect = width / height
    base_hue = rng.random()
    top, bottom = _hsv_to_rgb(base_hue + rng.uniform(-0.1, 0.1, 2), 0.55, 0.45)
    blob_count = 4
    blob_colors = _hsv_to_rgb(base_hue + rng.uniform(-0.25, 0.25, blob_count), 0.6, 0.95)
    radii = rng.uniform(0.12, 0.3, blob_count)
    speeds = rng.uniform(0.03, 0.12, (blob_count, 2))
    phases = rng.uniform(0, 2 * np.pi, (blob_count, 2))
    vignette = 1 - 0.35 * (((x - 0.5) * 2) ** 2 + ((y - 0.5) * 2) ** 2)[..., None] / 2
    angle = rng.uniform(0, 2 * np.pi)

    def frame(t: float) -> np.ndarray:
        direction = angle + 0.15 * t  # slowly rotating gradient
        mix = np.clip(0.5 + (x - 0.5) * np.cos(direction) + (y - 0.5) * np.sin(direction), 0, 1)
        image = top + mix[..., None] * (bottom - top)
        for color, radius, speed, phase in zip(blob_colors, radii, speeds, phases):
            cx, cy = 0.5 + 0.35 * np.sin(2 * np.pi * speed * t + phase)
            # Gaussians are separable, so each blob is an outer product of two 1-D profiles.
            glow = np.exp(-(((x - cx) * aspect / radius) ** 2)) * np.exp(-(((y - cy) / radius) ** 2))
            image += 0.7 * glow[..., None] * (color - image)
        return image * vignette

    return frame


def _watermark(image: np.ndarray) -> None:
    """Semi-opaque light badge with a dark bar in the bottom-right corner."""
    height, width = image.shape[:2]
    margin = max(1, height // 30)
    badge = image[height - margin - max(2, height // 12): height - margin,
                  width - margin - max(4, width // 7): width - margin]
    badge[:] = 0.45 * badge + 0.55
    inner = max(1, badge.shape[0] // 3)
    badge[inner:-inner, inner:-inner] *= 0.4


def _jpeg(frame: av.VideoFrame) -> bytes:
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, "yuvj420p"
    encoder.time_base = Fraction(1, FPS)
    packets = encoder.encode(frame.reformat(format="yuvj420p")) + encoder.encode(None)
    return b"".join(bytes(packet) for packet in packets)


def render_video(prompt: str, duration: float, width: int, height: int, seed: int,
                 watermark: bool = False) -> tuple[bytes, bytes]:
    """Return (H.264 MP4 bytes, JPEG cover of the first frame)."""
    if width % 2 or height % 2:
        raise ValueError(f"H.264 yuv420p needs even dimensions, got {width}x{height}")
    # The picture is soft, so draw a small canvas and let swscale upscale it: much faster.
    scale = max(1, min(width, height) // 180)
    canvas = _scene(prompt, seed, max(2, width // scale), max(2, height // scale))
    # The mp4 muxer rewrites the file for faststart, which needs a real path, not BytesIO.
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "video.mp4")
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "30"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = Fraction(1, FPS)
            for index in range(max(1, round(duration * FPS))):
                image = canvas(index / FPS)
                if watermark:
                    _watermark(image)
                rgb = np.clip(image * 255, 0, 255).astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                    width, height, format="yuv420p", interpolation="BICUBIC")
                frame.pts = index
                if index == 0:
                    cover = _jpeg(frame)
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        with open(path, "rb") as file:
            return file.read(), cover
