"""The simulator's sounds for demo prompts (lib/sim/media.py): each family has its own character, seeds make
audibly different takes, 48 kHz stereo over a quiet room tone, events shaped to their windows, Chinese words."""
from __future__ import annotations

import io
import time
import wave

import av
import numpy as np
import pytest
import requests

from lib.sim import DEMO_KLING_API_KEY, media
from lib.sim.media import (
    ROOM_TONE_DBFS,
    SAMPLE_RATE,
    layers_for,
    render_sound,
    render_timeline,
)

KLING_PATH = "/v1/audio/text-to-audio"

# Words a demo visitor types, and the layer each must bring in.
FAMILY_WORDS = {
    "_dog": ["dog", "barking", "puppy"], "_cat": ["cat", "meowing", "kitten"], "_crickets": ["crickets", "insects"],
    "_glass": ["glass", "shattering", "bottle"], "_impact": ["impact", "punch", "thud", "slam"],
    "_explosion": ["explosion", "blast", "boom"], "_whoosh": ["whoosh", "swoosh", "swish"],
    "_click": ["click", "button", "mouse"], "_beep": ["beep", "blip"], "_notification": ["notification", "ping"],
    "_door": ["door", "creaking"], "_knock": ["knocking"], "_typing": ["typing", "keyboard"],
    "_rustle": ["rustling", "paper", "cloth", "foley"], "_passby": ["car", "vehicle", "driving"],
    "_train": ["train", "railway"], "_horn": ["horn", "honking"], "_siren": ["siren", "ambulance", "police"],
    "_alarm": ["alarm", "buzzer"], "_stream": ["stream", "river", "water", "brook"],
    "_drip": ["dripping", "drip", "faucet"], "_footsteps": ["footsteps", "walking"],
}
FAMILY_CASES = [(layer, word) for layer, words in FAMILY_WORDS.items() for word in words]
SEEDS = [0, 1, 2]


def mono(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def dbfs(x: np.ndarray) -> float:
    return 20 * np.log10(max(rms(x), 1e-12))


def window(x: np.ndarray, start: float, end: float) -> np.ndarray:
    return x[round(start * SAMPLE_RATE): round(end * SAMPLE_RATE)]


def spectral_centroid(x: np.ndarray) -> float:
    magnitude = np.abs(np.fft.rfft(mono(x)))
    return float(np.sum(magnitude * np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)) / np.sum(magnitude))


def envelope(x: np.ndarray, hop_seconds: float = 0.01) -> np.ndarray:
    """Loudness every 10 ms."""
    hop = round(SAMPLE_RATE * hop_seconds)
    signal = mono(x)[: len(x) // hop * hop]
    return np.sqrt(np.mean(signal.reshape(-1, hop) ** 2, axis=1))


def crest(x: np.ndarray) -> float:
    """Loudest 10 ms against the average: high for sparse hits, near 1 for steady beds."""
    loudness = envelope(x)
    return float(loudness.max() / loudness.mean())


def band_share(x: np.ndarray, low: float, high: float) -> float:
    power = np.abs(np.fft.rfft(mono(x))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())


def dominant_pitches(x: np.ndarray, frame_seconds: float = 0.1) -> np.ndarray:
    """The strongest frequency of each 100 ms frame."""
    size = round(SAMPLE_RATE * frame_seconds)
    frames = mono(x)[: len(x) // size * size].reshape(-1, size) * np.hanning(size)
    return np.fft.rfftfreq(size, 1 / SAMPLE_RATE)[np.argmax(np.abs(np.fft.rfft(frames, axis=1)), axis=1)]


def log_spectrum(x: np.ndarray, bands: int = 64) -> np.ndarray:
    power = np.abs(np.fft.rfft(mono(x))) ** 2
    return np.log10(np.array([part.sum() for part in np.array_split(power, bands)]) + 1e-12)


# --- families -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer, word", FAMILY_CASES)
def test_every_family_word_brings_in_its_layer_and_sounds(layer, word):
    prompt = f"A {word.upper()} close to the microphone"
    assert layer in [found.__name__ for found in layers_for(prompt)]
    assert rms(render_sound(prompt, 4, seed=0)) > 0.01


def test_a_prompt_naming_nothing_known_still_gets_a_sound_of_its_own():
    assert [layer.__name__ for layer in layers_for("the hum of a spaceship")] == ["_pad"]


@pytest.mark.parametrize("seed", SEEDS)
def test_glass_rings_brighter_than_footsteps_and_rain_is_steady_where_steps_are_hits(seed):
    glass = render_sound("glass shattering", 6, seed)
    steps = render_sound("footsteps on wood", 6, seed)
    rain = render_sound("steady rain", 6, seed)
    assert spectral_centroid(glass) > 3 * spectral_centroid(steps)
    assert crest(rain) < 3
    assert crest(steps) > 5


@pytest.mark.parametrize("seed", SEEDS)
def test_footsteps_sound_of_their_surface(seed):
    centroid = {surface: spectral_centroid(render_sound(f"footsteps on {surface}", 6, seed))
                for surface in ("wood", "snow", "concrete", "gravel")}
    assert centroid["wood"] < centroid["concrete"] < centroid["gravel"]
    assert centroid["snow"] < centroid["gravel"] / 2
    assert crest(render_sound("footsteps on snow", 6, seed)) < crest(render_sound("footsteps on concrete", 6, seed))


@pytest.mark.parametrize("seed", SEEDS)
def test_a_siren_sweeps_its_pitch_and_a_horn_holds_it(seed):
    siren = dominant_pitches(render_sound("police siren", 8, seed))
    assert siren.max() - siren.min() > 400
    horn = render_sound("a horn honking", 8, seed)
    assert band_share(horn, 300, 1500) > 0.5


@pytest.mark.parametrize("seed", SEEDS)
def test_ui_sounds_are_short_and_clean(seed):
    beep = render_sound("a beep", 4, seed)
    pitch = np.median(dominant_pitches(beep)[envelope(beep, 0.1) > 0.5 * envelope(beep, 0.1).max()])
    assert 800 < pitch < 1600 and band_share(beep, pitch - 30, pitch + 30) > 0.8  # one pure tone
    assert crest(render_sound("a mouse click", 4, seed)) > 20  # a few milliseconds in a second of quiet


@pytest.mark.parametrize("seed", SEEDS)
def test_an_explosion_is_low_and_a_whoosh_is_not(seed):
    assert band_share(render_sound("an explosion", 5, seed), 0, 250) > 0.4
    assert band_share(render_sound("a whoosh", 5, seed), 0, 250) < 0.2


@pytest.mark.parametrize("seed", SEEDS)
def test_dogs_bark_in_short_bursts_and_cats_meow_long(seed):
    def loud_share(x):  # how much of the clip is within 20 dB of its loudest moment
        loudness = envelope(x)
        return float(np.mean(loudness > loudness.max() / 10))

    assert loud_share(render_sound("a dog barking", 8, seed)) < loud_share(render_sound("a cat meowing", 8, seed))


# --- seeds ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt", ["a dog barking", "glass shattering", "footsteps on gravel", "church bell",
                                    "notification ping", "a quiet spaceship cabin"])
def test_seeds_make_audibly_different_takes_and_one_seed_the_same_take(prompt):
    first, again, other = (render_sound(prompt, 5, seed) for seed in (11, 11, 12))
    assert first.tobytes() == again.tobytes()
    spectra_apart = np.mean(np.abs(log_spectrum(first) - log_spectrum(other)))
    envelopes_alike = np.corrcoef(envelope(first), envelope(other))[0, 1]
    assert spectra_apart > 0.1 or envelopes_alike < 0.8  # a different pitch or texture, or a different rhythm


# --- format, room tone, windows -------------------------------------------------------------------------------

def test_renders_are_48_khz_stereo_with_two_different_ears():
    samples = render_sound("birds in a forest by a stream", 3, seed=1)
    assert SAMPLE_RATE == 48000 and samples.shape == (3 * 48000, 2) and samples.dtype == np.float32
    assert not np.allclose(samples[:, 0], samples[:, 1], atol=1e-3)


def test_mp3_and_wav_decode_as_48_khz_stereo():
    samples = render_sound("rain", 2, seed=0)
    with av.open(io.BytesIO(media.encode_mp3(samples))) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.sample_rate, stream.codec_context.channels) == (48000, 2)
        decoded = np.concatenate([frame.to_ndarray() for frame in container.decode(stream)], axis=1)
    assert decoded.shape[0] == 2 and abs(decoded.shape[1] / 48000 - 2) < 0.1
    with wave.open(io.BytesIO(media.encode_wav(samples))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (48000, 2, len(samples))


def test_outside_events_is_a_quiet_room_tone_far_below_the_events():
    mix = render_timeline([(3, 5, "a mouse click"), (6, 8, "a dog barking")], 10, seed=2)
    for start, end in ((0.1, 2.9), (8.05, 9.9)):
        quiet = window(mix, start, end)
        assert ROOM_TONE_DBFS - 3 < dbfs(quiet) < ROOM_TONE_DBFS + 3  # not digital silence, and not more
        assert np.count_nonzero(quiet) > 0.99 * quiet.size
    for start, end in ((3, 5), (6, 8)):  # even a sparse click, on average over its window
        assert dbfs(window(mix, start, end)) > ROOM_TONE_DBFS + 40
        assert 20 * np.log10(envelope(window(mix, start, end)).max()) > ROOM_TONE_DBFS + 55


@pytest.mark.parametrize("seed", SEEDS)
def test_a_bell_in_a_timed_window_rings_out_before_the_window_ends(seed):
    start, end = 1.0, 3.5
    mix = render_timeline([(start, end, "a church bell")], 5, seed)
    inside = window(mix, start, end)
    peak = envelope(inside).max()
    last_tenth = window(mix, end - 0.1 * (end - start), end)
    assert rms(last_tenth) < peak / 30  # faded far below its strike (30 dB) before the window closes
    assert dbfs(window(mix, end + 0.02, end + 0.5)) < ROOM_TONE_DBFS + 3  # only room tone right after it
    assert np.argmax(envelope(inside)) < len(envelope(inside)) / 4  # struck at the start, then ringing


def test_a_bell_clip_rings_out_inside_the_clip():
    clip = render_sound("a church bell", 3, seed=4)
    assert rms(window(clip, 2.7, 3.0)) < envelope(clip).max() / 30


# --- Chinese prompts ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("chinese, english", [
    ("雨", "rain"), ("雷", "thunder"), ("狗", "dog"), ("猫", "cat"), ("鸟", "bird"), ("玻璃", "glass"),
    ("脚步", "footsteps"), ("汽车", "car"), ("警报", "alarm"), ("水", "water"), ("风", "wind"), ("门", "door"),
    ("钟", "bell"), ("爆炸", "explosion"), ("音乐", "music"), ("钢琴", "piano"), ("火车", "train"),
])
def test_chinese_words_sound_like_their_english_counterparts(chinese, english):
    assert layers_for(f"很大的{chinese}声") == layers_for(english)


def test_a_chinese_prompt_renders_like_the_same_words_in_english():
    spoken = render_sound("雨中的狗", 3, seed=5)
    assert [layer.__name__ for layer in layers_for("雨中的狗")] == ["_rain", "_dog"]
    assert rms(spoken) > 0.01


# --- Kling takes ----------------------------------------------------------------------------------------------

def kling(sim, method: str, path: str = KLING_PATH, body=None):
    return requests.request(method, sim.url + path, json=body, timeout=10,
                            headers={"Authorization": f"Bearer {DEMO_KLING_API_KEY}"})


def kling_result(sim, task_id: str) -> dict:
    deadline = time.monotonic() + 20
    while (data := kling(sim, "GET", f"{KLING_PATH}/{task_id}").json()["data"])["task_status"] != "succeed":
        assert time.monotonic() < deadline and data["task_status"] != "failed", data
        time.sleep(0.02)
    return data["task_result"]["audios"][0]


def test_two_kling_tasks_with_one_prompt_are_two_takes_and_each_stays_the_same(fresh_sim):
    body = {"prompt": "A dog barking at the door", "duration": 3}
    ids = [kling(fresh_sim, "POST", body=body).json()["data"]["task_id"] for _ in range(2)]
    first, second = (kling_result(fresh_sim, task_id) for task_id in ids)
    first_mp3 = requests.get(first["url_mp3"], timeout=10).content
    assert first_mp3 != requests.get(second["url_mp3"], timeout=10).content
    again = kling_result(fresh_sim, ids[0])
    assert again["url_mp3"] == first["url_mp3"]
    assert requests.get(again["url_mp3"], timeout=10).content == first_mp3
    with wave.open(io.BytesIO(requests.get(first["url_wav"], timeout=10).content)) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (48000, 2)
