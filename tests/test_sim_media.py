"""Tests for the simulator's procedural media (lib/sim/media.py)."""

import io
import wave

import av
import numpy as np
import pytest

from lib.sim import media
from lib.sim.media import (
    SAMPLE_RATE,
    encode_mp3,
    encode_wav,
    render_sound,
    render_timeline,
    render_video,
    video_size,
)

# One prompt per synonym, with the layer it must trigger.
KEYWORDS = {
    "_rain": ["rain", "drizzle", "raindrops", "downpour", "storm"],
    "_thunder": ["thunder", "storm", "lightning"],
    "_wind": ["wind", "breeze", "gust", "howl"],
    "_waves": ["wave", "ocean", "sea", "surf", "beach", "shore"],
    "_birds": ["bird", "chirp", "tweet", "song bird", "morning"],
    "_fire": ["fire", "crackle", "campfire", "fireplace", "flame"],
    "_footsteps": ["footstep", "steps", "walking", "running", "boots"],
    "_engine": ["engine", "car", "traffic", "motor", "train", "truck"],
    "_bell": ["bell", "chime", "ding", "church"],
    "_crowd": ["crowd", "people", "chatter", "applause", "cheering", "audience"],
    "_music": ["music", "melody", "piano", "song", "bgm", "ambient", "soundtrack", "guitar", "chords"],
}
KEYWORD_CASES = [(layer, word) for layer, words in KEYWORDS.items() for word in words]


def mono(x):
    """The two channels of a stereo render mixed down, for measures of one signal."""
    return x.mean(axis=1) if x.ndim == 2 else x


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def window(x, start, end):
    return x[round(start * SAMPLE_RATE): round(end * SAMPLE_RATE)]


def spectral_centroid(x):
    magnitude = np.abs(np.fft.rfft(mono(x)))
    return float(np.sum(magnitude * np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)) / np.sum(magnitude))


def step_period(x):
    """Dominant repetition period (s) of the loudness envelope, and its strength."""
    hop = SAMPLE_RATE // 100
    x = mono(x)
    envelope = np.sqrt(np.mean(x[: len(x) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    envelope -= envelope.mean()
    corr = np.correlate(envelope, envelope, "full")[len(envelope) - 1:]
    corr /= corr[0]
    search = corr[20:100]  # lags 0.2 s .. 1 s
    peaks = [i for i in range(1, len(search) - 1) if search[i - 1] <= search[i] >= search[i + 1]]
    if not peaks:
        return None, 0.0
    # The first strong peak is one step; later ones are strides (left+right) and multiples.
    lag = next(i for i in peaks if search[i] >= 0.8 * max(search[j] for j in peaks))
    return (20 + lag) / 100, float(search[lag])


# ---------------------------------------------------------------- sound

@pytest.mark.parametrize("duration", [2, 5.5, 10])
def test_render_sound_has_exact_length(duration):
    samples = render_sound("rain on a tin roof", duration, seed=1)
    assert samples.dtype == np.float32
    assert samples.shape == (round(duration * SAMPLE_RATE), 2)  # stereo


def test_render_sound_is_deterministic_per_seed():
    first = render_sound("wind and birds", 3, seed=7)
    assert first.tobytes() == render_sound("wind and birds", 3, seed=7).tobytes()
    assert not np.allclose(first, render_sound("wind and birds", 3, seed=8))


@pytest.mark.parametrize("prompt", ["thunder", "campfire", "church bell", "piano music", "zzz"])
def test_render_sound_peak_is_normalized_without_clipping(prompt):
    peak = np.max(np.abs(render_sound(prompt, 4, seed=3)))
    assert 0.75 <= peak <= 0.85


def test_render_sound_fades_in_and_out():
    samples = render_sound("car engine", 2, seed=0)
    assert np.all(np.abs(samples[[0, -1]]) < 1e-6)
    assert rms(samples[:100]) < rms(samples[5000:10000])


@pytest.mark.parametrize("layer, word", KEYWORD_CASES)
def test_every_keyword_triggers_its_layer_and_sounds(layer, word):
    prompt = f"Some {word.upper()} in the distance"  # case-insensitive, embedded in a sentence
    matched = {fn.__name__ for pattern, fn in media._CATEGORY_LAYERS if pattern.search(prompt)}
    assert layer in matched
    assert rms(render_sound(prompt, 5, seed=0)) > 0.01


def test_unrecognised_prompt_gets_a_prompt_dependent_pad():
    samples = render_sound("a quiet spaceship cabin", 3, seed=0)
    assert not any(pattern.search("a quiet spaceship cabin") for pattern, _ in media._CATEGORY_LAYERS)
    assert rms(samples) > 0.05
    other = render_sound("the hum of a server room", 3, seed=0)
    assert abs(spectral_centroid(samples) - spectral_centroid(other)) > 1


def test_thunder_is_much_darker_than_birds():
    thunder = spectral_centroid(render_sound("thunder", 5, seed=0))
    birds = spectral_centroid(render_sound("birds chirping", 5, seed=0))
    assert thunder * 5 < birds


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_footsteps_are_periodic_and_running_is_faster(seed):
    walk_period, walk_strength = step_period(render_sound("footsteps on gravel", 10, seed))
    run_period, run_strength = step_period(render_sound("running footsteps", 10, seed))
    assert 0.4 <= walk_period <= 0.65 and walk_strength > 0.5
    assert 0.25 <= run_period <= 0.4 and run_strength > 0.5
    _, rain_strength = step_period(render_sound("rain", 10, seed))
    assert rain_strength < 0.3  # a non-rhythmic sound must not look periodic


def test_matching_categories_are_mixed():
    def low_share(x):  # fraction of spectral energy below 200 Hz
        power = np.abs(np.fft.rfft(mono(x))) ** 2
        return power[np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE) < 200].sum() / power.sum()

    rain, thunder = render_sound("rain", 8, seed=2), render_sound("thunder", 8, seed=2)
    both = render_sound("rain with thunder", 8, seed=2)
    assert low_share(rain) < low_share(both) < low_share(thunder)


# ---------------------------------------------------------------- timeline

def test_timeline_places_events_in_their_windows():
    mix = render_timeline([(0, 3, "birds"), (5, 9.5, "waves")], 10, seed=4)
    assert len(mix) == 10 * SAMPLE_RATE
    assert np.max(np.abs(mix)) == pytest.approx(0.8, abs=0.01)
    assert rms(window(mix, 3.1, 4.9)) < 0.001
    assert rms(window(mix, 9.6, 10)) < 0.001
    assert rms(window(mix, 0, 3)) > 0.01
    assert rms(window(mix, 5, 9.5)) > 0.01


def test_timeline_overlapping_events_sum():
    birds, engine = (0, 4, "birds"), (2, 6, "engine")
    pair = render_timeline([birds, engine], 6, seed=1)
    assert np.max(np.abs(pair)) == pytest.approx(0.8, abs=0.01)  # the sum is renormalized
    alone_birds = render_timeline([birds], 6, seed=1)
    alone_engine = render_timeline([(0, 0, "placeholder"), engine], 6, seed=1)  # keeps engine at index 1
    basis = np.stack([mono(alone_birds), mono(alone_engine)], axis=1).astype(np.float64)
    weights, *_ = np.linalg.lstsq(basis, mono(pair), rcond=None)
    assert np.all(weights > 0.1)
    assert np.max(np.abs(basis @ weights - mono(pair))) < 2e-3  # the room tone under each render does not add up
    overlap = window(pair, 2.1, 3.9)
    assert rms(overlap) > rms(window(alone_birds, 2.1, 3.9)) * weights[0] * 0.9


# ---------------------------------------------------------------- audio encoding

def test_encode_wav_roundtrip():
    samples = render_sound("bell", 1.5, seed=0)
    with wave.open(io.BytesIO(encode_wav(samples))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (48000, 2, 2)
        assert wav.getnframes() == len(samples)
        decoded = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2) / 32767
    assert np.max(np.abs(decoded - samples)) < 1e-4


@pytest.mark.parametrize("duration", [1, 4.5])
def test_encode_mp3_decodes_with_matching_duration(duration):
    data = encode_mp3(render_sound("wind", duration, seed=0))
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.codec.canonical_name == "mp3"
        assert stream.codec_context.sample_rate == 48000
        assert stream.codec_context.channels == 2
        decoded = sum(frame.samples for frame in container.decode(stream))
    assert abs(decoded / SAMPLE_RATE - duration) < 0.15


# ---------------------------------------------------------------- video

@pytest.mark.parametrize("size", [
    ("360p", "16:9"), ("360p", "9:16"), ("360p", "1:1"), ("540p", "4:3"), ("720p", "3:4"),
])
def test_render_video_is_browser_playable_h264(size):
    width, height = video_size(*size)
    mp4, _ = render_video("neon city at night", 2, width, height, seed=1)
    assert mp4.find(b"moov") < mp4.find(b"mdat")  # faststart: index before the media data
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context
        assert codec.codec.canonical_name == "h264"
        assert (codec.width, codec.height, codec.pix_fmt) == (width, height, "yuv420p")
        assert abs(float(stream.duration * stream.time_base) - 2) < 0.15
        frames = sum(1 for _ in container.decode(stream))
    assert abs(frames / float(stream.average_rate) - 2) < 0.15


def test_render_video_cover_is_first_frame_jpeg():
    mp4, cover = render_video("forest", 1, 320, 240, seed=2)
    assert cover.startswith(b"\xff\xd8")
    with av.open(io.BytesIO(cover)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    with av.open(io.BytesIO(mp4)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert image.shape == (240, 320, 3)
    assert np.mean(np.abs(image.astype(int) - first)) < 8


def first_frame(mp4):
    with av.open(io.BytesIO(mp4)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)


def test_watermark_marks_only_the_bottom_right_corner():
    plain = first_frame(render_video("desert", 1, 640, 360, seed=5)[0])
    marked = first_frame(render_video("desert", 1, 640, 360, seed=5, watermark=True)[0])
    assert np.mean(np.abs(marked[-40:, -100:] - plain[-40:, -100:])) > 20
    assert np.mean(np.abs(marked[:180, :320] - plain[:180, :320])) < 2


def test_render_video_depends_on_prompt_and_seed_and_animates():
    base = render_video("lava lamp", 2, 320, 180, seed=0)[0]
    assert base == render_video("lava lamp", 2, 320, 180, seed=0)[0]
    assert np.mean(np.abs(first_frame(base) - first_frame(render_video("lava lamp", 2, 320, 180, seed=1)[0]))) > 5
    assert np.mean(np.abs(first_frame(base) - first_frame(render_video("glacier", 2, 320, 180, seed=0)[0]))) > 5
    with av.open(io.BytesIO(base)) as container:
        frames = [frame.to_ndarray(format="rgb24").astype(int) for frame in container.decode(video=0)]
    assert np.mean(np.abs(frames[0] - frames[-1])) > 2


def test_render_video_rejects_odd_sizes():
    with pytest.raises(ValueError):
        render_video("x", 1, 641, 360, seed=0)


# ---------------------------------------------------------------- sizes

@pytest.mark.parametrize("resolution, aspect, expected", [
    ("720p", "16:9", (1280, 720)),
    ("1080p", "9:16", (1080, 1920)),
    ("540p", "4:3", (720, 540)),
    ("360p", "16:9", (640, 360)),
    ("360p", "1:1", (360, 360)),
    ("720p", "3:4", (720, 960)),
    ("1080p", "16:9", (1920, 1080)),
    ("540p", "16:9", (960, 540)),
    ("540p", "9:16", (540, 960)),
])
def test_video_size_table(resolution, aspect, expected):
    assert video_size(resolution, aspect) == expected


@pytest.mark.parametrize("resolution", media.RESOLUTIONS)
@pytest.mark.parametrize("aspect", media.ASPECT_RATIOS)
def test_video_size_is_even_with_short_side_as_resolution(resolution, aspect):
    width, height = video_size(resolution, aspect)
    assert width % 2 == 0 and height % 2 == 0
    assert min(width, height) == media.RESOLUTIONS[resolution]
