"""Deterministic procedural media for the vendor simulator.

The simulator cannot reach the real sound/video vendors, so it fabricates plausible output here: sounds
synthesised from the prompt's words (filtered noise, modal synthesis, envelopes; numpy only) over a quiet
room tone, in 48 kHz stereo, and simple animated scenes chosen from the words (encoded with PyAV). Every
result depends only on its arguments, so the same (prompt, seed) always gives identical bytes.
"""

import hashlib
import io
import os
import re
import tempfile
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from lib.media import mixdown
from lib.media.video import jpeg

SAMPLE_RATE = 48000
CHANNELS = 2
FPS = 24
PEAK = 0.8
FADE_SECONDS = 0.02
CLIP_RELEASE_SECONDS = 0.3  # a whole clip just eases out; its layers already let bells ring out inside it
EVENT_RELEASE_SECONDS = 1.0  # a timed event dies away before its window closes, whatever its layers do
AMBIENCE_GAIN = 0.3  # a video's own sound sits well under a peak-normalised clip: soft, like a scene's air
MUSIC_GAIN = 0.2
ROOM_TONE_DBFS = -72  # RMS of the pink-noise floor: not digital silence, yet 40+ dB below even a sparse event

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


def _pink(rng, n: int) -> np.ndarray:
    """Noise with equal energy per octave (1/f power), as a quiet room sounds."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum /= np.sqrt(np.maximum(freqs, 20.0))
    pink = np.fft.irfft(spectrum, n)
    return pink / max(float(np.sqrt(np.mean(pink**2))), 1e-12)  # RMS 1


def _drift(rng, n: int, changes_per_second: float) -> np.ndarray:
    """Slowly wandering random curve in [0, 1] (for modulating amplitude/pitch)."""
    points = rng.random(int(n / SAMPLE_RATE * changes_per_second) + 2)
    return np.interp(np.linspace(0, len(points) - 1, n), np.arange(len(points)), points)


def _event_times(rng, n: int, per_second: float) -> np.ndarray:
    """Random onsets (seconds); always at least one so short clips aren't empty."""
    seconds = n / SAMPLE_RATE
    count = max(1, rng.poisson(per_second * seconds))
    return np.sort(rng.uniform(0, seconds, count))


def _spaced_times(rng, n: int, low: float, high: float, first: float = 0.05) -> np.ndarray:
    """Onsets a random `low`..`high` seconds apart, the first at `first`: for sounds that take turns."""
    times, now = [], first
    while now < n / SAMPLE_RATE:
        times.append(now)
        now += rng.uniform(low, high)
    return np.array(times)


def _place(n: int, times, kernel: np.ndarray, gains) -> np.ndarray:
    """Sum copies of `kernel` starting at `times` (s), each scaled by its gain."""
    impulses = np.zeros(n)
    starts = np.clip((np.asarray(times) * SAMPLE_RATE).astype(int), 0, max(n - 1, 0))
    np.add.at(impulses, starts, gains)
    size = 1 << (n + len(kernel) - 2).bit_length()  # power of two: FFT stays fast
    return np.fft.irfft(np.fft.rfft(impulses, size) * np.fft.rfft(kernel, size), size)[:n]


def _add(out: np.ndarray, start: float, sound: np.ndarray, gain: float = 1.0) -> None:
    """Mix one `sound` into `out` at `start` seconds, cut at the end of `out`."""
    begin = _length(start)
    end = min(begin + len(sound), len(out))
    if begin < end:
        out[begin:end] += gain * sound[: end - begin]


def _decay(seconds: float, tau: float) -> np.ndarray:
    return np.exp(-_times(_length(seconds)) / tau)


def _hit(seconds: float, tau: float, attack: float = 0.002) -> np.ndarray:
    """A struck envelope: a few milliseconds' rise (no click), then an exponential decay."""
    t = _times(_length(seconds))
    return np.minimum(t / attack, 1) * np.exp(-t / tau)


def _midi_hz(note) -> float:
    return 440 * 2 ** ((note - 69) / 12)


def _tone(freqs, t: np.ndarray, harmonics=(1.0, 0.4, 0.15)) -> np.ndarray:
    """Sine plus a few harmonics; `freqs` may be a scalar or per-sample array."""
    phase = 2 * np.pi * (np.cumsum(np.broadcast_to(freqs, t.shape)) / SAMPLE_RATE)
    return sum(gain * np.sin(k * phase) for k, gain in enumerate(harmonics, start=1))


def _modes(freqs, taus, gains, seconds: float, rng=None) -> np.ndarray:
    """Modal synthesis: a struck object as a sum of decaying sines (frequency, decay time, gain per mode)."""
    t = _times(_length(seconds))[:, None]
    phases = rng.uniform(0, 2 * np.pi, len(freqs)) if rng is not None else 0
    partials = np.sin(2 * np.pi * np.asarray(freqs) * t + phases) * np.exp(-t / np.asarray(taus))
    return (partials * np.asarray(gains)).sum(axis=1) * np.minimum(t[:, 0] / 0.001, 1)


def _burst(rng, seconds: float, low: float, high: float, tau: float) -> np.ndarray:
    """A short band of noise that dies away: scrapes, crunches, the crack of a break."""
    n = _length(seconds)
    return _unit(_band(rng.standard_normal(n), low, high)) * _hit(seconds, tau, 0.0005)[:n]


# --------------------------------------------------------------------------
# Sound layers: each takes (rng, sample count, prompt) and returns a mono signal
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
    times = _spaced_times(rng, n, 2.5, 6, rng.uniform(0.05, 0.25) * n / SAMPLE_RATE)  # the first clap comes early
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


def _stream(rng, n, prompt):
    """Running water: a bed of noise and a babble of tiny bubbles, each a sine whose pitch rises as it pops."""
    out = 0.35 * _band_noise(rng, n, 300, 6000) * (0.8 + 0.2 * _drift(rng, n, 3))
    for start in _event_times(rng, n, rng.uniform(25, 50)):
        length = rng.uniform(0.01, 0.04)
        t = _times(_length(length))
        pitch = rng.uniform(500, 1800) * (1 + t / length * rng.uniform(0.3, 1.0))
        _add(out, start, np.sin(2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE) * np.hanning(len(t)), rng.uniform(0.1, 0.5))
    return out


def _drip(rng, n, prompt):
    """Drops falling into water: a quick upward "plink" with a short echo, one every second or so."""
    out = np.zeros(n)
    for start in _spaced_times(rng, n, 0.45, 1.3, rng.uniform(0.05, 0.4)):
        t = _times(_length(0.12))
        pitch = rng.uniform(700, 1400) * (1 + 1.5 * (1 - np.exp(-t / 0.015)))
        plink = np.sin(2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE) * _hit(0.12, 0.025)
        _add(out, start, plink, rng.uniform(0.6, 1))
        _add(out, start + 0.07, plink, 0.2)  # the room's first reflection
    return out


def _birds(rng, n, prompt):
    out = np.zeros(n)
    for start in _event_times(rng, n, rng.uniform(2, 5)):
        length = _length(rng.uniform(0.04, 0.14))
        first, last = rng.uniform(2500, 5000), rng.uniform(2000, 6500)
        chirp = _tone(np.linspace(first, last, length), _times(length), (1.0,)) * np.hanning(length)
        gain = rng.uniform(0.3, 1)
        for repeat in range(rng.integers(1, 4)):  # birds tend to repeat a chirp quickly
            _add(out, start + repeat * length * 1.6 / SAMPLE_RATE, chirp, gain)
    return out


def _crickets(rng, n, prompt):
    """Insects at night: trains of fast pulses near 4.5 kHz, a few chirps a second."""
    pitch, rate = rng.uniform(3800, 5200), rng.uniform(30, 60)
    t = _times(_length(0.25))
    chirp = np.sin(2 * np.pi * pitch * t) * (np.sin(np.pi * rate * t) ** 2) * np.hanning(len(t))
    times = _spaced_times(rng, n, 0.3, 0.6, rng.uniform(0, 0.3))
    return _place(n, times, chirp, rng.uniform(0.5, 1, len(times)))


def _bark(rng) -> np.ndarray:
    """One bark: a harsh harmonic tone whose pitch jumps up and falls, shaped into a vowel-like band."""
    seconds = rng.uniform(0.12, 0.22)
    t = _times(_length(seconds))
    contour = rng.uniform(320, 560) * (1 + 0.5 * np.sin(np.pi * np.minimum(t / seconds * 1.6, 1)))
    voice = _tone(contour, t, 1 / np.arange(1, 12)) + 0.4 * rng.standard_normal(len(t))  # rough, breathy
    return _unit(_band(voice, 400, 3200)) * _hit(seconds, seconds / 3, 0.006)


def _dog(rng, n, prompt):
    out = np.zeros(n)
    for start in _spaced_times(rng, n, 0.9, 2.2, rng.uniform(0.05, 0.3)):
        for repeat in range(rng.integers(1, 4)):  # dogs bark in short runs
            _add(out, start + repeat * rng.uniform(0.22, 0.32), _bark(rng), rng.uniform(0.7, 1))
    return out


def _cat(rng, n, prompt):
    """Meows: the pitch rises and falls while the vowel opens (mi-aa-ow), harmonics following a moving formant."""
    out = np.zeros(n)
    for start in _spaced_times(rng, n, 1.2, 2.6, rng.uniform(0.05, 0.4)):
        seconds = rng.uniform(0.5, 0.9)
        t = _times(_length(seconds))
        shape = np.sin(np.pi * t / seconds)
        pitch = rng.uniform(420, 600) * (1 + 0.45 * shape)
        formant = 700 + 1300 * shape**2
        phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
        meow = sum(np.exp(-(((k * pitch) - formant) / 700) ** 2) * np.sin(k * phase) + 0.1 / k * np.sin(k * phase)
                   for k in range(1, 9))
        _add(out, start, meow * np.minimum(t / 0.04, 1) * shape**0.5, rng.uniform(0.7, 1))
    return out


def _fire(rng, n, prompt):
    bed = 0.35 * _band_noise(rng, n, 40, 500) * (0.7 + 0.3 * _drift(rng, n, 2))
    crackle = _band(rng.standard_normal(_length(0.004)), 1500, 12000) * _decay(0.004, 0.0008)
    times = _event_times(rng, n, rng.uniform(6, 14))
    return bed + _unit(_place(n, times, crackle, rng.random(len(times)) ** 3))


def _step_wood(rng):
    """A hollow knock: the floorboard's low modes ring briefly under the heel."""
    modes = _modes(rng.uniform(150, 260) * np.array([1, 2.3, 3.9, 5.6]), [0.05, 0.03, 0.02, 0.012],
                   [1, 0.6, 0.35, 0.2], 0.25, rng)
    return modes + 0.2 * _burst(rng, 0.25, 800, 5000, 0.006)


def _step_gravel(rng):
    """A crunch: dozens of stones knocking together over a tenth of a second."""
    out = np.zeros(_length(0.25))
    for start in np.sort(rng.exponential(0.04, rng.integers(25, 45))):
        _add(out, start, _burst(rng, 0.012, 1500, 9000, 0.002), rng.uniform(0.2, 1))
    return out + 0.3 * _burst(rng, 0.25, 200, 1500, 0.03)


def _step_snow(rng):
    """Packed snow: a soft, muffled crunch that rises and falls, with no hard attack."""
    t = _times(_length(0.3))
    grains = _band(rng.standard_normal(len(t)) * (rng.random(len(t)) < 0.15), 300, 2500)
    return _unit(grains) * np.sin(np.pi * np.minimum(t / 0.22, 1)) ** 2


def _step_hard(rng):
    """Concrete or tiles: a sharp heel click over a short thump."""
    t = _times(_length(0.2))
    thump = np.sin(2 * np.pi * rng.uniform(70, 110) * t) * np.exp(-t / 0.03)
    return thump + 0.8 * _burst(rng, 0.2, 1000, 7000, 0.008)


_SURFACES = [("wood|wooden|floorboard|plank|deck|stair", _step_wood), ("gravel|stone|pebble|dirt|path", _step_gravel),
             ("snow|ice|frost", _step_snow), ("concrete|pavement|tile|marble|street|heel|asphalt", _step_hard)]


def _footsteps(rng, n, prompt):
    running = re.search(r"\brun", prompt, re.IGNORECASE)
    interval = 1 / (rng.uniform(2.8, 3.4) if running else rng.uniform(1.7, 2.2))
    times = np.arange(rng.uniform(0, interval), n / SAMPLE_RATE, interval)
    times = times + rng.normal(0, 0.01, len(times))
    step = next((make for words, make in _SURFACES if re.search(rf"\b(?:{words})", prompt, re.IGNORECASE)), _step_hard)
    out = np.zeros(n)
    for index, start in enumerate(np.maximum(times, 0)):
        _add(out, start, _unit(step(rng)), (0.8 if index % 2 else 1.0) * rng.uniform(0.8, 1))  # left/right differ
    return out


def _engine(rng, n, prompt):
    rpm_wobble = 1 + 0.04 * (2 * _drift(rng, n, 1.5) - 1)
    hum = _tone(rng.uniform(35, 70) * rpm_wobble, _times(n), 1 / np.arange(1, 7))
    return _unit(hum) + 0.3 * _band_noise(rng, n, 30, 800)


def _passby(rng, n, prompt):
    """A car going past: engine pitch falls as it passes (Doppler), tyre roar swells and fades."""
    seconds = n / SAMPLE_RATE
    middle, spread = rng.uniform(0.35, 0.65) * seconds, rng.uniform(0.12, 0.25) * seconds + 0.3
    t = _times(n)
    closeness = 1 / (1 + ((t - middle) / spread) ** 2)
    doppler = 1 + 0.12 * np.tanh((middle - t) / (spread / 2))
    engine = _tone(rng.uniform(70, 130) * doppler, t, 1 / np.arange(1, 8))
    tyres = _band_noise(rng, n, 250, 3500)
    return closeness * (_unit(engine) + 0.8 * tyres)


def _train(rng, n, prompt):
    """Wheels over rail joints (da-dum, da-dum) on a steady rumble."""
    clack = _modes([900, 1700, 2900], [0.03, 0.02, 0.01], [1, 0.5, 0.3], 0.15, rng) + _burst(rng, 0.15, 500, 4000, 0.01)
    period = rng.uniform(0.7, 1.0)
    joints = np.arange(rng.uniform(0, period), n / SAMPLE_RATE, period)
    times = np.sort(np.concatenate([joints, joints + rng.uniform(0.12, 0.18)]))
    rumble = _band_noise(rng, n, 30, 300) * (0.8 + 0.2 * _drift(rng, n, 1))
    return 0.6 * rumble + _unit(_place(n, times, _unit(clack), rng.uniform(0.7, 1, len(times))))


def _horn(rng, n, prompt):
    """Car horns are two reedy tones a third apart; a train horn is a long, low chord."""
    train = re.search(r"\b(?:train|ship|boat|truck)", prompt, re.IGNORECASE)
    base = rng.uniform(180, 260) if train else rng.uniform(340, 460)
    ratios = (1, 1.26, 1.5) if train else (1, 1.26)
    out = np.zeros(n)
    for start in _spaced_times(rng, n, 1.2, 2.5, rng.uniform(0.05, 0.3)):
        seconds = rng.uniform(1.0, 2.0) if train else rng.uniform(0.25, 0.7)
        t = _times(_length(seconds))
        reed = sum(np.sign(np.sin(2 * np.pi * base * ratio * t)) for ratio in ratios)  # square waves: reedy
        honk = _band(reed, 100, 4000) * np.minimum(np.minimum(t / 0.02, 1), (seconds - t) / 0.04)
        _add(out, start, honk, rng.uniform(0.8, 1))
    return out


def _siren(rng, n, prompt):
    """An emergency siren: a wail sweeping up and down every few seconds (or a fast yelp)."""
    period = rng.choice([rng.uniform(2.5, 4.5), rng.uniform(0.25, 0.4)])
    low, high = rng.uniform(550, 750), rng.uniform(1200, 1600)
    sweep = 0.5 - 0.5 * np.cos(2 * np.pi * _times(n) / period + rng.uniform(0, 6.3))
    return _tone(low + (high - low) * sweep, _times(n), (1, 0.5, 0.25, 0.12))


def _alarm(rng, n, prompt):
    """An alarm or buzzer: beep-beep-beep, pause, in a piercing square tone."""
    pitch, beep, count = rng.uniform(2000, 3200), rng.uniform(0.08, 0.15), rng.integers(2, 5)
    t = _times(_length(beep))
    tone = _band(np.sign(np.sin(2 * np.pi * pitch * t)), 200, 12000) * np.minimum(np.minimum(t, beep - t) / 0.004, 1)
    out = np.zeros(n)
    for start in _spaced_times(rng, n, count * beep * 2 + 0.3, count * beep * 2 + 0.6, 0.05):
        for index in range(count):
            _add(out, start + index * beep * 2, tone)
    return out


def _impact(rng, n, prompt):
    """Punches, hits and thuds: a low body whose pitch drops, a noisy smack, a short ring."""
    out = np.zeros(n)
    for start in _spaced_times(rng, n, 1.0, 2.5, rng.uniform(0.05, 0.3)):
        t = _times(_length(0.6))
        body = np.sin(2 * np.pi * np.cumsum(rng.uniform(45, 90) * (1 + 2 * np.exp(-t / 0.02))) / SAMPLE_RATE)
        ring = _modes(rng.uniform(180, 400) * np.array([1, 1.7, 2.6]), [0.08, 0.05, 0.03], [0.4, 0.25, 0.15], 0.6, rng)
        smack = _burst(rng, 0.6, 300, 6000, 0.015)
        _add(out, start, body * _hit(0.6, 0.12) + ring + 0.6 * smack, rng.uniform(0.7, 1))
    return out


def _explosion(rng, n, prompt):
    """A blast: a broadband crack, then a long low rumble with debris."""
    out = np.zeros(n)
    seconds = min(4.0, n / SAMPLE_RATE)
    for start in _spaced_times(rng, n, 3.0, 5.0, rng.uniform(0.05, 0.3)):
        crack = _burst(rng, seconds, 100, 12000, 0.05)
        rumble = _band(rng.standard_normal(_length(seconds)), 20, 250) * _hit(seconds, rng.uniform(0.6, 1.1), 0.02)
        _add(out, start, crack + 2.5 * _unit(rumble), rng.uniform(0.8, 1))
    return out


def _glass(rng, n, prompt):
    """Breaking glass: a crack, then shards ringing high and briefly (modal synthesis), settling over a second."""
    out = np.zeros(n)
    for start in _spaced_times(rng, n, 2.0, 3.5, rng.uniform(0.05, 0.4)):
        _add(out, start, _burst(rng, 0.08, 2000, 14000, 0.01))
        for offset in np.sort(rng.exponential(0.25, rng.integers(30, 60))):
            shard = _modes(rng.uniform(2500, 9000) * np.array([1, 1.59, 2.14]), rng.uniform(0.01, 0.06, 3),
                           [1, 0.5, 0.3], 0.2, rng)
            _add(out, start + offset, shard, rng.uniform(0.1, 1) * np.exp(-offset / 0.6))
    return out


def _whoosh(rng, n, prompt):
    """A swipe past the ear: noise whose band sweeps up and back down while it swells and fades."""
    out = np.zeros(n)
    bands = [(150, 500), (500, 1400), (1400, 3500), (3500, 9000)]
    for start in _spaced_times(rng, n, 1.2, 2.4, rng.uniform(0.05, 0.3)):
        seconds = rng.uniform(0.4, 1.0)
        t = _times(_length(seconds)) / seconds
        swell = np.sin(np.pi * t ** rng.uniform(0.6, 1.4)) ** 2
        centre = (len(bands) - 1) * np.sin(np.pi * t)  # which band is loudest, moving up then down
        sound = sum(_band_noise(rng, len(t), low, high) * np.exp(-((centre - index) ** 2))
                    for index, (low, high) in enumerate(bands))
        _add(out, start, sound * swell, rng.uniform(0.7, 1))
    return out


def _click(rng, n, prompt):
    """Mouse and button clicks: a millisecond tick with a tiny plastic resonance, pressed and released."""
    out = np.zeros(n)
    for start in _spaced_times(rng, n, 0.4, 1.2, rng.uniform(0.05, 0.2)):
        for release, gain in ((0.0, 1.0), (rng.uniform(0.06, 0.12), 0.5)):
            tick = _modes([rng.uniform(2500, 5000)], [0.004], [1], 0.03, rng) + _burst(rng, 0.03, 2000, 12000, 0.001)
            _add(out, start + release, tick, gain)
    return out


def _beep(rng, n, prompt):
    """Electronic beeps: a pure tone of a tenth of a second, one to three at a time."""
    out = np.zeros(n)
    pitch = rng.choice([880, 1000, 1200, 1500]) * rng.uniform(0.98, 1.02)
    for start in _spaced_times(rng, n, 0.8, 1.6, 0.05):
        for index in range(rng.integers(1, 4)):
            seconds = rng.uniform(0.08, 0.2)
            t = _times(_length(seconds))
            _add(out, start + index * seconds * 1.8, np.sin(2 * np.pi * pitch * t) * np.minimum(np.minimum(t, seconds - t) / 0.005, 1))
    return out


def _notification(rng, n, prompt):
    """A notification: two or three soft rising chime notes (sine plus an octave), ringing out."""
    out = np.zeros(n)
    root = rng.integers(72, 84)
    melodies = [(0, 4), (0, 7), (0, 4, 7), (0, 5, 9)]
    for start in _spaced_times(rng, n, 1.5, 3.0, 0.05):
        for index, step in enumerate(melodies[rng.integers(len(melodies))]):
            chime = _modes(_midi_hz(root + step) * np.array([1, 2, 3]), [0.35, 0.15, 0.08], [1, 0.3, 0.1], 0.8, rng)
            _add(out, start + index * 0.12, chime)
    return out


def _door(rng, n, prompt):
    """A door: a creak (stick-slip friction: a rough, wandering pulse train) and then the slam."""
    out = np.zeros(n)
    seconds = n / SAMPLE_RATE
    creak_seconds = min(rng.uniform(0.8, 1.6), 0.6 * seconds)
    t = _times(_length(creak_seconds))
    rate = rng.uniform(40, 90) * (1 + 0.5 * np.sin(2 * np.pi * t / creak_seconds * rng.uniform(0.5, 1.5)))
    pulses = (np.diff(np.floor(np.cumsum(rate) / SAMPLE_RATE), prepend=0) > 0).astype(float)
    creak = _band(pulses * (0.5 + rng.random(len(t))), 400, 3000) * np.sin(np.pi * t / creak_seconds)
    _add(out, 0.05, _unit(creak), 0.6)
    slam = _modes(rng.uniform(80, 140) * np.array([1, 2.2, 3.7]), [0.1, 0.05, 0.03], [1, 0.5, 0.3], 0.8, rng)
    _add(out, 0.1 + creak_seconds, slam + 0.5 * _burst(rng, 0.8, 200, 5000, 0.02))
    return out


def _knock(rng, n, prompt):
    """Knocks on a door: two to four knuckle raps on wood, then a pause."""
    out = np.zeros(n)
    for start in _spaced_times(rng, n, 1.5, 2.5, rng.uniform(0.05, 0.3)):
        for index in range(rng.integers(2, 5)):
            _add(out, start + index * rng.uniform(0.14, 0.2), _step_wood(rng), rng.uniform(0.7, 1))
    return out


def _typing(rng, n, prompt):
    """A keyboard: fast irregular key clicks, a slightly different key each time, a louder space bar now and then."""
    out = np.zeros(n)
    for start in _event_times(rng, n, rng.uniform(6, 10)):
        key = _modes([rng.uniform(1500, 4000), rng.uniform(400, 900)], [0.006, 0.01], [1, 0.5], 0.05, rng)
        _add(out, start, key + 0.5 * _burst(rng, 0.05, 2000, 10000, 0.002), 1.0 if rng.random() < 0.1 else rng.uniform(0.3, 0.6))
    return out


def _rustle(rng, n, prompt):
    """Cloth, paper, leaves: bright noise in quick irregular bursts, like something being handled."""
    handling = _drift(rng, n, rng.uniform(8, 16)) ** 3
    return _band_noise(rng, n, 1000, 10000) * handling + 0.3 * _band_noise(rng, n, 200, 1000) * handling


# Partial ratios of a church bell (hum, prime, tierce, quint, nominal, ...).
_BELL_PARTIALS = np.array([0.5, 1.0, 1.183, 1.506, 2.0, 2.514, 2.662, 3.011])


def _bell(rng, n, prompt):
    """Strikes that ring out: the ring is made short enough to die away inside the clip, never cut off."""
    seconds = n / SAMPLE_RATE
    ring = min(1.5, seconds / 6)  # the prime partial's decay time
    t = _times(min(n, _length(4.0)))[:, None]
    base = rng.uniform(250, 600)
    strike = np.sum(np.sin(2 * np.pi * base * _BELL_PARTIALS * t + rng.uniform(0, 6.3, 8))
                    * np.exp(-t * _BELL_PARTIALS / ring) / _BELL_PARTIALS**0.5, axis=1)
    strike *= np.minimum(t[:, 0] / 0.001, 1)
    times = _spaced_times(rng, n, 1.5, 3, 0.05)
    times = times[(times == times[0]) | (times < 0.6 * seconds)]  # no new strike too near the end
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
        _add(out, step * eighth, note)
    return out


def _pad(rng, n, prompt):
    """Fallback: a soft chord whose pitch and brightness come from the prompt itself (and vary with the seed)."""
    prompt_hash = _hash_int(prompt.lower())
    base = 110 * 2 ** ((prompt_hash % 24 + rng.integers(-2, 3)) / 12)
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
    (_keywords("stream", "river", "brook", "creek", "water", "babbling", "flowing", "fountain", "waterfall"), _stream),
    (_keywords("drip", "dripping", "drop", "leak", "faucet", "tap"), _drip),
    (_keywords("bird", "birdsong", "songbird", "song bird", "chirp", "tweet", "morning"), _birds),
    (_keywords("cricket", "insect", "cicada", "bug"), _crickets),
    (_keywords("dog", "bark", "puppy", "woof"), _dog),
    (_keywords("cat", "meow", "kitten", "kitty"), _cat),
    (_keywords("fire", "crackle", "crackling", "campfire", "fireplace", "flame"), _fire),
    (_keywords("footstep", "step", "walk", "run", "running", "boot"), _footsteps),
    (_keywords("engine", "car", "traffic", "motor", "train", "truck"), _engine),
    (_keywords("car", "vehicle", "traffic", "drive", "driving", "pass", "passing"), _passby),
    (_keywords("train", "railway", "rail", "tram", "subway"), _train),
    (_keywords("horn", "honk", "klaxon"), _horn),
    (_keywords("siren", "ambulance", "police"), _siren),
    (_keywords("alarm", "buzzer", "warning"), _alarm),
    (_keywords("impact", "hit", "punch", "thud", "slam", "smash", "crash", "kick", "bang"), _impact),
    (_keywords("explosion", "explode", "blast", "boom", "bomb", "grenade"), _explosion),
    (_keywords("glass", "shatter", "bottle"), _glass),
    (_keywords("whoosh", "swoosh", "swish", "swipe", "woosh", "swing", "sword"), _whoosh),
    (_keywords("click", "button", "mouse", "switch", "tick"), _click),
    (_keywords("beep", "bleep", "blip", "beeper"), _beep),
    (_keywords("notification", "ping", "alert", "message"), _notification),
    (_keywords("door", "creak"), _door),
    (_keywords("knock"), _knock),
    (_keywords("typing", "keyboard", "typewriter", "key"), _typing),
    (_keywords("rustle", "rustling", "paper", "cloth", "leaves", "foley", "clothes"), _rustle),
    (_keywords("bell", "chime", "ding", "church"), _bell),
    (_keywords("crowd", "people", "chatter", "applause", "cheer", "audience"), _crowd),
    (_keywords("music", "melody", "piano", "song", "bgm", "ambient", "soundtrack", "guitar", "chord"), _music),
]

# Common words of Chinese prompts and the English words the layers above know; longer words first, so 火车
# (train) is read before 火 (fire) and 车 (car).
_CHINESE = {
    "雷雨": "thunderstorm", "暴雨": "downpour", "雨": "rain", "雷": "thunder", "闪电": "lightning", "风": "wind",
    "海浪": "ocean waves", "海": "sea", "浪": "waves", "溪": "stream", "河": "river", "瀑布": "waterfall",
    "滴水": "dripping", "滴": "drip", "水": "water", "鸟": "bird", "蟋蟀": "cricket", "虫": "insect",
    "狗": "dog", "犬": "dog", "猫": "cat", "篝火": "campfire", "火车": "train", "地铁": "subway", "火": "fire",
    "脚步": "footsteps", "跑": "running", "走": "walking", "木地板": "wood floor", "木": "wood", "碎石": "gravel",
    "砾石": "gravel", "雪": "snow", "混凝土": "concrete", "水泥": "concrete", "汽车": "car", "车": "car",
    "引擎": "engine", "发动机": "engine", "喇叭": "horn", "鸣笛": "horn", "警笛": "siren", "警报": "alarm",
    "撞击": "impact", "爆炸": "explosion", "玻璃": "glass", "破碎": "shatter", "嗖": "whoosh", "点击": "click",
    "按钮": "button", "提示音": "notification", "通知": "notification", "哔": "beep", "门": "door", "敲": "knock",
    "键盘": "keyboard", "纸": "paper", "钟": "bell", "铃": "bell", "人群": "crowd", "掌声": "applause",
    "音乐": "music", "钢琴": "piano", "吉他": "guitar", "旋律": "melody",
    # words for pictures (videos read the same prompt)
    "夜晚": "night", "晚上": "night", "夜": "night", "日落": "sunset", "夕阳": "sunset", "日出": "sunrise",
    "森林": "forest", "树": "trees", "城市": "city", "街道": "street", "街": "street", "沙漠": "desert",
    "草地": "meadow", "船": "boat", "飞机": "plane", "气球": "balloon", "球": "ball", "红": "red", "橙": "orange",
    "黄": "yellow", "绿": "green", "蓝": "blue", "紫": "purple", "粉": "pink", "白": "white", "黑": "black",
    "灰": "grey", "金": "gold", "银": "silver", "行驶": "driving", "飞": "flying", "慢": "slow",
}
_CHINESE_ORDER = sorted(_CHINESE, key=len, reverse=True)


def english(prompt: str) -> str:
    """The prompt with the Chinese words it shares with the layers' vocabulary written in English."""
    for word in _CHINESE_ORDER:
        if word in prompt:
            prompt = prompt.replace(word, f" {_CHINESE[word]} ")
    return prompt


def layers_for(prompt: str) -> list:
    """The sound layers a prompt asks for (a prompt-coloured pad when it names none)."""
    words = english(prompt)
    return [layer for pattern, layer in _CATEGORY_LAYERS if pattern.search(words)] or [_pad]


# --------------------------------------------------------------------------
# Public sound API
# --------------------------------------------------------------------------

def _stereo(rng, mono: np.ndarray) -> np.ndarray:
    """Place a layer in the stereo field: a constant-power pan and a fraction of a millisecond between ears."""
    angle = (rng.uniform(-0.5, 0.5) + 1) * np.pi / 4
    delay = int(rng.integers(0, _length(0.0006) + 1))
    late = np.concatenate([np.zeros(delay), mono[: len(mono) - delay]])
    left, right = (mono, late) if rng.random() < 0.5 else (late, mono)
    return np.stack([np.cos(angle) * left, np.sin(angle) * right], axis=1)


def _content(prompt: str, n: int, seed: int) -> np.ndarray:
    """The prompt's layers, each at peak 1 and panned, summed into (n, 2)."""
    mix = np.zeros((n, CHANNELS))
    for layer in layers_for(prompt):
        rng = _rng(prompt, seed, layer.__name__)
        mix += _stereo(rng, _unit(layer(rng, n, english(prompt))))
    return mix


def _fitted(x: np.ndarray, longest_release: float) -> np.ndarray:
    """Shape a sound to its window: a soft start, and a release over the last quarter (at most
    `longest_release` seconds) that reaches silence at the window's end, so nothing is cut off mid-ring."""
    n = len(x)
    release = min(n // 4, _length(longest_release))
    attack = min(_length(0.005), n // 4)
    envelope = np.ones(n)
    envelope[:attack] = np.linspace(0, 1, attack)
    u = np.linspace(0, 1, release)
    envelope[n - release:] = (1 - u) * np.exp(-5 * u)
    return x * envelope[:, None]


def _room_tone(seed: int, n: int) -> np.ndarray:
    """The quiet floor of a room under every clip, different in each ear."""
    rng = _rng("room tone", seed)
    level = 10 ** (ROOM_TONE_DBFS / 20)
    return level * np.stack([_pink(rng, n) for _ in range(CHANNELS)], axis=1) if n else np.zeros((0, CHANNELS))


def _normalized(x: np.ndarray) -> np.ndarray:
    return PEAK * _unit(x)


def _faded(x: np.ndarray) -> np.ndarray:
    """Short fades so clips never start or stop with a click."""
    fade = min(_length(FADE_SECONDS), len(x) // 2)
    ramp = np.linspace(0, 1, fade)[:, None]
    x[:fade] *= ramp
    x[len(x) - fade:] *= ramp[::-1]
    return x


def render_sound(prompt: str, duration: float, seed: int) -> np.ndarray:
    """(samples, 2) float32 at SAMPLE_RATE: one layer per sound family the prompt names, over room tone."""
    n = _length(duration)
    if n == 0:
        return np.zeros((0, CHANNELS), np.float32)
    mix = _normalized(_fitted(_content(prompt, n, seed), CLIP_RELEASE_SECONDS))
    return _faded(mix + _room_tone(seed, n)).astype(np.float32)


def render_timeline(events: list[tuple[float, float, str]], duration: float, seed: int) -> np.ndarray:
    """Each (start, end, prompt) event shaped to its own window; room tone elsewhere."""
    n = _length(duration)
    mix = np.zeros((n, CHANNELS))
    for index, (start, end, prompt) in enumerate(events):
        first, last = min(_length(start), n), min(_length(end), n)
        if first < last:
            mix[first:last] += _normalized(_fitted(_content(prompt, last - first, seed + index), EVENT_RELEASE_SECONDS))
    return _faded(_normalized(mix) + _room_tone(seed, n)).astype(np.float32)


def encode_wav(samples) -> bytes:
    """16-bit PCM WAV of (samples, channels) audio."""
    samples = np.asarray(samples).reshape(len(samples), -1)
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(samples.shape[1])
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.tobytes())  # row-major (samples, channels) is WAV's interleaved order
    return buffer.getvalue()


def encode_mp3(samples) -> bytes:
    """MP3 of (samples, channels) audio (mono or stereo)."""
    samples = np.asarray(samples, dtype=np.float32).reshape(len(samples), -1)
    layout = "stereo" if samples.shape[1] == 2 else "mono"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=SAMPLE_RATE, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), format="fltp", layout=layout)
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


def _words(*words) -> re.Pattern:
    return re.compile(rf"\b(?:{'|'.join(words)})", re.IGNORECASE)


# Colour words and the colour a thing so named is painted.
_COLOURS = {
    "red": (0.85, 0.1, 0.08), "crimson": (0.7, 0.05, 0.1), "orange": (1.0, 0.5, 0.05), "yellow": (1.0, 0.85, 0.1),
    "gold": (0.95, 0.75, 0.2), "green": (0.15, 0.7, 0.2), "blue": (0.1, 0.3, 0.9), "cyan": (0.1, 0.8, 0.85),
    "teal": (0.05, 0.55, 0.55), "purple": (0.5, 0.15, 0.7), "violet": (0.55, 0.3, 0.85), "pink": (1.0, 0.45, 0.7),
    "white": (0.95, 0.95, 0.95), "black": (0.05, 0.05, 0.06), "grey": (0.5, 0.5, 0.52), "gray": (0.5, 0.5, 0.52),
    "silver": (0.75, 0.77, 0.8), "brown": (0.45, 0.28, 0.12),
}
_COLOUR_WORDS = re.compile(rf"\b({'|'.join(_COLOURS)})\b", re.IGNORECASE)
# Time of day and weather: (sky at the top, sky at the horizon).
_SKIES = [
    (_words("sunset", "sunrise", "dusk", "dawn", "golden hour", "evening"), ((0.3, 0.18, 0.45), (1.0, 0.55, 0.2))),
    (_words("night", "midnight", "star", "moon", "dark", "neon"), ((0.01, 0.02, 0.08), (0.07, 0.09, 0.22))),
    (_words("storm", "rain", "cloudy", "overcast", "fog", "mist", "thunder"), ((0.33, 0.35, 0.4), (0.58, 0.6, 0.64))),
]
_DAY_SKY = ((0.22, 0.48, 0.9), (0.7, 0.85, 1.0))
_FAST = _words("driv", "racing", "race", "speed", "fast", "rush", "running", "run", "flying", "fly", "chase", "zoom")
_SLOW = _words("slow", "calm", "gentle", "still", "static", "parked", "peaceful", "quiet", "resting", "sleep")


def _scene_words(prompt: str) -> dict:
    """What the words ask for: setting, subject, colour, sky and how fast things move."""
    words = english(prompt)

    def first(table):
        return next((name for name, pattern in table if pattern.search(words)), None)

    colour = _COLOUR_WORDS.search(words)
    settings = [("sea", _words("sea", "ocean", "wave", "beach", "surf", "lake", "boat", "ship", "sail", "shore")),
                ("forest", _words("forest", "tree", "wood", "jungle", "pine")),
                ("city", _words("city", "street", "road", "car", "traffic", "building", "town", "truck", "bus")),
                ("desert", _words("desert", "sand", "dune")),
                ("snow", _words("snow", "winter", "ice", "frozen", "mountain")),
                ("field", _words("field", "meadow", "grass", "garden", "farm", "park", "hill"))]
    subjects = [("car", _words("car", "truck", "bus", "vehicle", "taxi")), ("boat", _words("boat", "ship", "sail")),
                ("plane", _words("plane", "airplane", "jet", "rocket")), ("bird", _words("bird", "eagle", "gull")),
                ("balloon", _words("balloon")), ("ball", _words("ball")),
                ("figure", _words("person", "man", "woman", "girl", "boy", "dancer", "runner", "child", "cat", "dog"))]
    return {"setting": first(settings), "subject": first(subjects),
            "colour": np.array(_COLOURS[colour[1].lower()]) if colour else None,
            "sky": next((sky for pattern, sky in _SKIES if pattern.search(words)), _DAY_SKY),
            "night": bool(_SKIES[1][0].search(words)), "sunset": bool(_SKIES[0][0].search(words)),
            "rain": bool(_words("rain", "storm", "drizzle").search(words)),
            "snowfall": bool(_words("snow", "blizzard").search(words)),
            "fire": bool(_words("fire", "flame", "campfire", "burn", "lava").search(words)),
            "speed": 3.0 if _FAST.search(words) else 0.15 if _SLOW.search(words) else 1.0}


def _disc(x, y, cx, cy, radius, aspect):
    """A soft-edged disc's coverage (0..1) at every pixel."""
    return np.clip((radius - np.sqrt(((x - cx) * aspect) ** 2 + (y - cy) ** 2)) * 300, 0, 1)


def _box(x, y, left, top, right, bottom):
    return ((x >= left) & (x <= right) & (y >= top) & (y <= bottom)).astype(float)


def _paint(image, coverage, colour) -> None:
    image += coverage[..., None] * (np.asarray(colour) - image)


def _scene(prompt: str, seed: int, width: int, height: int):
    """Return frame(t) -> RGB float image: a scene built from the prompt's words, or soft blobs when it names none.

    What stands still (sky, ground, trees, buildings) is drawn once; each frame adds only what moves.
    """
    found = _scene_words(prompt)
    if not (found["setting"] or found["subject"] or found["fire"]):
        return _blobs(prompt, seed, width, height, found["colour"])
    # The layout comes from the words but its colour words: "a red car" and "a blue car" share one street.
    rng = _rng(_COLOUR_WORDS.sub("", english(prompt)).lower(), seed, "video")
    x, y = np.linspace(0, 1, width)[None, :], np.linspace(0, 1, height)[:, None]
    aspect, speed, night = width / height, found["speed"], found["night"]
    setting = found["setting"] or {"car": "city", "boat": "sea"}.get(found["subject"], "field")
    horizon = rng.uniform(0.48, 0.64)
    sea_top = int(np.ceil(horizon * (height - 1)))  # first row of water
    top, low = (np.array(c) * rng.uniform(0.9, 1.1, 3) for c in found["sky"])  # each take its own light
    backdrop = top + (low - top) * np.clip(y / horizon, 0, 1)[..., None] ** 1.3 + np.zeros((1, width, 1))
    ground = np.array({"sea": (0.04, 0.25, 0.55), "forest": (0.1, 0.32, 0.12), "city": (0.26, 0.26, 0.28),
                       "desert": (0.85, 0.68, 0.42), "snow": (0.9, 0.92, 0.97), "field": (0.3, 0.55, 0.2)}[setting])
    ground = ground * (0.45 if night else 1.0) * rng.uniform(0.9, 1.1, 3)
    if found["sunset"] and setting == "sea":
        ground = 0.88 * ground + 0.12 * low  # the water mirrors a little of the orange sky
    shade = 0.8 + 0.2 * np.clip((y - horizon) / (1 - horizon), 0, 1)
    if setting == "desert":
        shade = shade * (0.9 + 0.1 * np.sin(2 * np.pi * (3 * x + 5 * y)))
    below = (y >= horizon) + np.zeros((1, width), bool)
    backdrop[below] = (ground * shade[..., None] + np.zeros((1, width, 1)))[below]
    if setting == "forest":
        for centre, size in zip(rng.uniform(0, 1, 14), rng.uniform(0.08, 0.2, 14)):
            tip = horizon - 1.6 * size
            half = 0.35 * size * np.clip((y - tip) / (horizon - tip), 0, 1)
            _paint(backdrop, ((np.abs(x - centre) < half) & (y > tip) & (y <= horizon + 0.02)).astype(float),
                   (0.03, 0.2, 0.06))
    if setting == "city":
        for left, tall in zip(np.sort(rng.uniform(0, 1, 12)), rng.uniform(0.15, 0.4, 12)):
            block = _box(x, y, left, horizon - tall, left + 0.07, horizon)
            _paint(backdrop, block, (0.12, 0.12, 0.16) if night else (0.45, 0.47, 0.52))
            if night:  # lit windows
                _paint(backdrop, block * ((np.sin(300 * x) > 0.6) & (np.sin(260 * y) > 0.4)), (1.0, 0.85, 0.4))
    open_sky = np.all(np.isclose(backdrop, top + (low - top) * np.clip(y / horizon, 0, 1)[..., None] ** 1.3), axis=2)
    stars = np.nonzero((rng.random((height, width)) < 0.004) & open_sky) if night else None
    sun_x = rng.uniform(0.2, 0.8)
    clouds = [] if night else list(zip(rng.uniform(0, 1.4, 3), rng.uniform(0.08, 0.3, 3) * horizon, rng.uniform(0.04, 0.08, 3)))
    cloud_colour = 0.5 * low + 0.5 if found["sunset"] else (0.8, 0.8, 0.82) if found["rain"] else (1, 1, 1)
    sunny = found["sunset"] or found["sky"] is _DAY_SKY
    lane = 0.5 * (1 + horizon)
    lane_rows = slice(int(np.floor((lane - 0.006) * (height - 1))), int(np.ceil((lane + 0.006) * (height - 1))) + 1)
    flakes = rng.random((120, 2)) if found["rain"] or found["snowfall"] else None
    named = found["colour"] is not None
    colour = found["colour"] if named else _hsv_to_rgb(rng.random(), 0.75, 0.9)
    if found["subject"] == "bird" and not named:
        colour = np.full(3, 0.1)
    start = rng.uniform(0, 1)

    def frame(t: float) -> np.ndarray:
        image = backdrop.copy()
        if sunny:  # the sun, sinking slowly at sunset
            sun_y = horizon - 0.12 + 0.02 * t if found["sunset"] else horizon - 0.37
            _paint(image, _disc(x, y, sun_x, sun_y, 0.07, aspect) * open_sky,
                   (1.0, 0.8, 0.35) if found["sunset"] else (1, 1, 0.85))
        for cloud_x, cloud_y, size in clouds:  # soft clouds drifting with the wind
            cx = (cloud_x + 0.03 * (1 + speed) * t) % 1.4 - 0.2
            puff = np.exp(-(((x - cx) * aspect / (2.2 * size)) ** 2)) * np.exp(-(((y - cloud_y) / size) ** 2))
            _paint(image, 0.8 * puff * open_sky, cloud_colour)
        if stars is not None:
            twinkle = (0.6 + 0.4 * np.sin(7 * t + 40 * x[0, stars[1]]))[:, None]
            image[stars] += twinkle * (np.array([1, 1, 0.9]) - image[stars])
        if setting == "sea":  # bands of waves rolling towards the viewer
            depth = np.clip((y[sea_top:] - horizon) / (1 - horizon), 0, 1)
            crest = np.sin(2 * np.pi * (6 * depth ** 0.6 - 0.35 * speed * t) + 3 * np.sin(2 * np.pi * x + 0.3 * speed * t))
            image[sea_top:] = ground * (0.75 + 0.35 * depth[..., None]) + 0.18 * np.clip(crest, 0, 1)[..., None] ** 4
        if setting == "city":  # lane markings slide past
            dashes = np.sin(2 * np.pi * (8 * x + 0.6 * speed * t)) > 0
            _paint(image[lane_rows], dashes.astype(float) + np.zeros((image[lane_rows].shape[0], 1)), (0.9, 0.9, 0.8))
        if found["fire"]:
            flicker = 0.85 + 0.15 * np.sin(23 * t) * np.sin(7 * t + 1)
            flame = np.exp(-(((x - 0.5) * aspect / 0.12) ** 2)) * np.exp(-((y - 0.85) / (0.18 * flicker)) ** 2)
            flame *= 0.8 + 0.2 * np.sin(40 * y - 12 * t)
            _paint(image, np.clip(1.6 * flame, 0, 1), (1.0, 0.55, 0.1))
            _paint(image, np.clip(2.2 * flame - 1.2, 0, 1), (1.0, 0.95, 0.6))
        _draw_subject(image, found["subject"], colour, x, y, aspect, horizon, start, speed, t)
        if flakes is not None:
            rain = found["rain"]
            ys = ((flakes[:, 1] + (1.2 if rain else 0.12) * speed * t) % 1 * (height - 3)).astype(int)
            sway = 0 if rain else 0.02 * np.sin(t + flakes[:, 1] * 9)
            xs = ((flakes[:, 0] + sway) % 1 * (width - 1)).astype(int)
            for step in range(3 if rain else 1):  # rain falls in streaks, snow in flakes
                image[ys + step, xs] = 0.5 * image[ys + step, xs] + 0.5 * (0.85 if rain else 1.0)
        return np.clip(image, 0, 1)

    return frame


def _draw_subject(image, subject, colour, x, y, aspect, horizon, start, speed, t) -> None:
    """The thing the prompt is about, in its colour, moving as the motion words say."""
    travel = (start + 0.12 * speed * t) % 1.3 - 0.15  # left to right, coming round again
    if subject == "car":
        road = 0.5 * (1 + horizon) + 0.06
        _paint(image, _box(x, y, travel - 0.1, road - 0.07, travel + 0.1, road - 0.025), colour)
        _paint(image, _box(x, y, travel - 0.05, road - 0.11, travel + 0.05, road - 0.07), colour * 0.8)
        for wheel in (-0.065, 0.065):
            _paint(image, _disc(x, y, travel + wheel, road - 0.02, 0.022, aspect), (0.05, 0.05, 0.05))
    elif subject == "boat":
        bob = horizon + 0.14 + 0.01 * np.sin(2 * t)
        hull = _box(x, y, travel - 0.13, bob - 0.06, travel + 0.13, bob) * (np.abs(x - travel) < 0.13 - (bob - y) * 0.8)
        _paint(image, hull, colour)
        _paint(image, _box(x, y, travel - 0.004, bob - 0.22, travel + 0.004, bob - 0.06), (0.2, 0.15, 0.1))
        sail = _box(x, y, travel, bob - 0.21, travel + 0.09, bob - 0.08) * (x - travel < (y - bob + 0.21) * 0.7)
        _paint(image, sail, (0.95, 0.95, 0.9))
    elif subject in ("plane", "bird"):
        height_at = 0.18 + 0.05 * np.sin(start * 9)
        if subject == "plane":
            _paint(image, np.clip(1 - (((x - travel) * aspect / 0.09) ** 2 + ((y - height_at) / 0.018) ** 2), 0, 1) > 0, colour)
            _paint(image, _box(x, y, travel - 0.02, height_at - 0.05, travel + 0.01, height_at + 0.05) * (np.abs(y - height_at) < 0.05 - (x - travel + 0.02)), colour * 0.85)
        else:
            for index in range(5):  # a small flock of flapping V shapes
                cx, cy = travel - 0.05 * index, height_at + 0.04 * ((index % 2) - 0.5) + 0.01 * index
                flap = 0.5 + 0.5 * np.sin(10 * t + index)
                wing = (np.abs(x - cx) * aspect < 0.035) & (np.abs((y - cy) + flap * 0.4 * np.abs(x - cx) * aspect) < 0.006)
                _paint(image, wing.astype(float), colour)
    elif subject == "balloon":
        rise = 0.85 - (0.05 * speed * t + start * 0.2) % 1.0
        _paint(image, _disc(x, y, 0.3 + 0.4 * start, rise, 0.06, aspect), colour)
    elif subject == "ball":
        bounce = horizon + 0.3 - 0.3 * np.abs(np.sin(np.pi * t * 0.8 * max(speed, 0.3)))
        _paint(image, _disc(x, y, travel, bounce - 0.05, 0.05, aspect), colour)
    elif subject == "figure":
        feet = horizon + 0.22
        step = 0.01 * np.abs(np.sin(6 * t * max(speed, 0.3)))
        _paint(image, _box(x, y, travel - 0.02, feet - 0.2 - step, travel + 0.02, feet - step), colour)
        _paint(image, _disc(x, y, travel, feet - 0.24 - step, 0.03, aspect), colour * 0.9 + 0.1)


def _blobs(prompt: str, seed: int, width: int, height: int, colour):
    """For prompts that name no scene: a drifting gradient with soft moving blobs, in the prompt's colour if any."""
    rng = _rng(prompt, seed, "video")
    x, y = np.linspace(0, 1, width), np.linspace(0, 1, height)[:, None]
    aspect = width / height
    base_hue = rng.random()
    top, bottom = _hsv_to_rgb(base_hue + rng.uniform(-0.1, 0.1, 2), 0.55, 0.45)
    blob_count = 4
    blob_colors = _hsv_to_rgb(base_hue + rng.uniform(-0.25, 0.25, blob_count), 0.6, 0.95)
    if colour is not None:
        top, bottom = 0.4 * top + 0.6 * colour * 0.6, 0.4 * bottom + 0.6 * colour * 0.6
        blob_colors = 0.3 * blob_colors + 0.7 * colour
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


def render_soundtrack(prompt: str, duration: float, seed: int, ambience: bool, music: bool) -> np.ndarray | None:
    """A video's own sound, (samples, 2) float32, or None for a silent video: a soft ambience that follows the
    prompt (Vidu q3's native audio) and/or quiet background music (`bgm`)."""
    if not (ambience or music):
        return None
    sound = np.zeros((_length(duration), CHANNELS), np.float32)
    if ambience:
        sound += AMBIENCE_GAIN * render_sound(prompt, duration, seed)
    if music:
        sound += MUSIC_GAIN * render_sound("background music", duration, seed + 1)
    return sound


def render_video(prompt: str, duration: float, width: int, height: int, seed: int,
                 watermark: bool = False, ambience: bool = False, music: bool = False) -> tuple[bytes, bytes]:
    """Return (H.264 MP4 bytes, JPEG cover of the first frame); the MP4 carries an AAC stereo sound track when
    `ambience` or `music` is asked for (see render_soundtrack)."""
    if width % 2 or height % 2:
        raise ValueError(f"H.264 yuv420p needs even dimensions, got {width}x{height}")
    # The picture is soft, so draw a small canvas and let swscale upscale it: much faster.
    scale = max(1, min(width, height) // 180)
    canvas = _scene(prompt, seed, max(2, width // scale), max(2, height // scale))
    frames = max(1, round(duration * FPS))
    soundtrack = render_soundtrack(prompt, frames / FPS, seed, ambience, music)
    # The mp4 muxer rewrites the file for faststart, which needs a real path, not BytesIO.
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "video.mp4")
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "30"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = Fraction(1, FPS)
            for index in range(frames):
                image = canvas(index / FPS)
                if watermark:
                    _watermark(image)
                rgb = np.clip(image * 255, 0, 255).astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                    width, height, format="yuv420p", interpolation="BICUBIC")
                frame.pts = index
                if index == 0:
                    cover = jpeg(frame)
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        if soundtrack is not None:  # the picture's packets copied beside the sound, as the studio muxes a score
            with_sound = os.path.join(folder, "with-sound.mp4")
            mixdown.mux(Path(path), soundtrack.T, Path(with_sound))
            path = with_sound
        with open(path, "rb") as file:
            return file.read(), cover
