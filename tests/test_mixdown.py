"""lib.media.mixdown: a score's sound made from its parts, to the sample, at a loudness target, under the picture."""
from __future__ import annotations

import json

import av
import numpy as np
import pytest

from lib.core.score import Mix
from lib.media import analysis, mixdown, video
from lib.sim import media
from tests.conftest import write_video

RATE = mixdown.RATE
FPS = 10  # every duration below is a whole number of frames at 10 fps, 7.3 s included


def _sine(seconds: float, hz: float = 440.0, level: float = 0.5, phase: float = 0.0) -> np.ndarray:
    t = np.arange(mixdown.samples_for(seconds)) / RATE
    return np.stack([level * np.sin(2 * np.pi * hz * t + phase)] * 2).astype(np.float32)


def _wav(path, sound: np.ndarray):
    path.write_bytes(media.encode_wav(sound.T))
    return path


def _largest_step(sound: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(sound, axis=1))))


def _loudness(sound: np.ndarray) -> tuple[float, float]:
    return analysis.loudness(sound.T, RATE), analysis.true_peak(sound.T)


def _impulses(seconds: float, every: float = 0.25, noise_db: float = -70.0) -> np.ndarray:
    """Peaky: single-sample clicks at full scale over a faint noise floor."""
    sound = np.zeros((2, mixdown.samples_for(seconds)), np.float32)
    sound[:, :: mixdown.samples_for(every)] = 1.0
    noise = np.random.default_rng(5).standard_normal(sound.shape) * 10 ** (noise_db / 20)
    return (sound + noise).astype(np.float32)


# --- reading sound ---------------------------------------------------------------------------------------------

def test_samples_for_rounds_to_the_nearest_sample():
    assert mixdown.samples_for(7.3) == 350400
    assert mixdown.samples_for(1 / 3) == 16000


def test_read_audio_resamples_duplicates_mono_and_fits_to_the_sample(tmp_path):
    path = tmp_path / "mono.wav"
    t = np.arange(44100) / 44100
    analysis.encode((0.5 * np.sin(2 * np.pi * 441 * t))[:, None].astype(np.float32), 44100, "wav", path)
    sound = mixdown.read_audio(path)
    assert sound.dtype == np.float32 and sound.shape[0] == 2
    assert abs(sound.shape[1] - RATE) <= 64  # one second, now at 48 kHz
    assert np.array_equal(sound[0], sound[1])
    assert 0.45 < np.max(np.abs(sound)) < 0.55
    assert mixdown.read_audio(path, 1000).shape == (2, 1000)
    padded = mixdown.read_audio(path, 2 * RATE)
    assert padded.shape == (2, 2 * RATE) and not padded[:, RATE + 100:].any()


def test_read_audio_of_a_video_without_sound_is_silence_and_a_broken_file_is_refused(tmp_path):
    silent = write_video(tmp_path / "silent.mp4", 1.0, fps=FPS)
    assert np.array_equal(mixdown.read_audio(silent, 4800), np.zeros((2, 4800), np.float32))
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF and nothing a decoder could use" * 10)
    with pytest.raises(mixdown.MixdownError, match="could not be read"):
        mixdown.read_audio(broken)


# --- stitch ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds", [2.0, 7.3, 16.0])
def test_stitched_track_is_exactly_the_videos_length_and_silent_where_no_part_lies(seconds):
    total = mixdown.samples_for(seconds)
    parts = [(0.5, _sine(1.0)), (1.2, _sine(1.0, 660)), (seconds - 0.4, _sine(1.0, 330))]  # the last runs past
    out = mixdown.stitch(parts, [1.45, None], total)
    assert out.shape == (2, total) and out.dtype == np.float32
    covered = np.zeros(total, bool)
    for start, sound in parts:
        first = mixdown.samples_for(start)
        covered[first:first + sound.shape[1]] = True
    assert not out[:, ~covered].any()  # exact zeros
    assert np.abs(out[:, covered]).max() > 0.4


def test_where_parts_do_not_overlap_each_fades_at_its_own_edges_and_nothing_clicks():
    parts = [(0.2, _sine(0.5, phase=1.0)), (1.0, _sine(0.5, phase=2.0))]
    out = mixdown.stitch(parts, [None], RATE * 2)
    signal_step = _largest_step(parts[0][1])
    assert _largest_step(out) <= signal_step * 1.01  # a sine cut at a peak would jump by 0.4 here
    edge = mixdown.samples_for(mixdown.EDGE_SECONDS)
    start = mixdown.samples_for(0.2)
    assert np.abs(out[:, start]).max() < 0.05  # fading in from silence
    assert np.allclose(out[:, start + edge:start + edge + 100], parts[0][1][:, edge:edge + 100])  # then untouched


def test_a_crossfade_has_no_discontinuity_and_keeps_the_level_of_uncorrelated_parts():
    # Two sines a quarter-period apart (uncorrelated over a cycle): an equal-power crossfade keeps their amplitude.
    first, second = _sine(2.0, 500, phase=0.0), _sine(2.0, 500, phase=np.pi / 2)
    total = mixdown.samples_for(3.5)
    out = mixdown.stitch([(0.0, first), (1.5, second)], [1.75], total)
    crossfade = slice(mixdown.samples_for(1.75 - 0.06), mixdown.samples_for(1.75 + 0.06))
    assert _largest_step(out[:, crossfade]) <= _largest_step(first) * 1.02
    cycle = RATE // 500
    envelope = np.array([np.abs(out[0, i:i + cycle]).max() for i in range(crossfade.start, crossfade.stop, cycle)])
    assert envelope.min() > 0.5 * 0.97 and envelope.max() < 0.5 * 1.03  # no dip, no bump
    # only one part sounds on either side of the crossfade
    before, after = mixdown.samples_for(1.75 - 0.05) - 1, mixdown.samples_for(1.75 + 0.05) + 1
    edge = mixdown.samples_for(mixdown.EDGE_SECONDS)  # the first part fades in from silence at 0
    assert np.allclose(out[:, edge:before], first[:, edge:before], atol=1e-6)
    offset, end = mixdown.samples_for(1.5), total - edge  # and the second fades out into silence at its end
    assert np.allclose(out[:, after:end], second[:, after - offset:end - offset], atol=1e-6)


def test_a_crossfade_between_constant_parts_is_a_smooth_envelope():
    ones = np.full((2, RATE), 0.5, np.float32)
    out = mixdown.stitch([(0.0, ones), (0.6, ones)], [0.8], mixdown.samples_for(1.6))
    seam = out[0, mixdown.samples_for(0.7):mixdown.samples_for(0.9)]
    assert _largest_step(seam[None]) < 0.001  # a hard cut from one part to the other would step by 0.5 here
    assert seam.max() <= 0.5 * np.sqrt(2) + 1e-6


def test_a_crossfade_is_moved_inside_the_overlap_when_its_centre_is_too_near_an_edge():
    ones = np.full((2, RATE), 0.5, np.float32)
    out = mixdown.stitch([(0.0, ones), (0.96, ones)], [0.99], mixdown.samples_for(2.0))  # overlap of 40 ms
    assert _largest_step(out[:, 1000:-1000]) < 0.05


# --- extend ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds", [2.0, 7.3, 16.0, 60.0])
def test_extend_gives_exactly_total(seconds):
    bed = _sine(3.0)
    total = mixdown.samples_for(seconds)
    assert mixdown.extend(bed, total).shape == (2, total)


def test_extend_crossfades_every_repeat():
    bed = np.ones((2, RATE), np.float32)
    total = mixdown.samples_for(3.5)
    out = mixdown.extend(bed, total, crossfade=0.2)
    overlap = mixdown.samples_for(0.2)
    seams = [k * (RATE - overlap) for k in (1, 2, 3)]
    for seam in seams:  # out = fade-out + fade-in: above 1 inside, exactly 1 outside
        inside = out[0, seam:seam + overlap]
        assert inside.min() >= 1 - 1e-6 and inside.max() > 1.3
        assert np.allclose(out[0, seam + overlap:seam + overlap + 100], 1.0)
    assert np.allclose(out[0, :seams[0]], 1.0)


def test_a_repeat_that_does_not_start_where_the_bed_ended_does_not_click():
    bed = _sine(1.013, 300, level=0.5)  # ends part-way through a cycle: butted end to start it would jump by 0.3
    out = mixdown.extend(bed, mixdown.samples_for(5.0))
    # Equal power: where the two happen to be in phase the level may rise by up to √2, but never jumps.
    assert _largest_step(out) <= _largest_step(bed) * np.sqrt(2) * 1.01


def test_a_bed_longer_than_the_picture_is_trimmed():
    bed = _sine(5.0)
    assert np.array_equal(mixdown.extend(bed, RATE), bed[:, :RATE])


# --- duck and mix ------------------------------------------------------------------------------------------------

def test_duck_lowers_the_music_under_the_effects_and_lets_it_back_up_smoothly():
    music = np.full((2, mixdown.samples_for(6.0)), 0.5, np.float32)
    key = np.zeros_like(music)
    key[:, mixdown.samples_for(2.0):mixdown.samples_for(3.0)] = _sine(1.0)
    ducked = mixdown.duck(music, key)
    gain_db = 20 * np.log10(ducked[0] / 0.5)
    assert gain_db[: mixdown.samples_for(1.5)] == pytest.approx(0, abs=0.01)  # untouched before
    assert gain_db[mixdown.samples_for(2.2):mixdown.samples_for(2.9)].max() < -mixdown.DUCK_DB + 0.5  # down
    assert gain_db[mixdown.samples_for(5.5):].min() > -0.1  # back up after the release
    assert np.max(np.abs(np.diff(gain_db))) < 0.01  # dB per sample: no steps, so no zipper noise


def test_room_tone_in_the_effects_does_not_duck_the_music():
    music = np.full((2, RATE * 2), 0.5, np.float32)
    key = (np.random.default_rng(1).standard_normal((2, RATE * 2)) * 10 ** (-72 / 20)).astype(np.float32)
    assert np.allclose(mixdown.duck(music, key), music)


def test_mix_applies_a_gain_per_layer():
    one = np.full((2, 100), 0.2, np.float32)
    out = mixdown.mix({"original": one, "effects": one, "music": one},
                      {"original": 0.0, "effects": -6.0206, "music": -120.0})
    assert np.allclose(out, 0.2 + 0.1, atol=1e-4)
    with pytest.raises(ValueError):
        mixdown.mix({"original": one, "effects": one[:, :50]}, {})


# --- normalise ---------------------------------------------------------------------------------------------------

def _dense_clicks(seconds: float) -> np.ndarray:
    """Keys typed fast, from the simulator: transients so close together that a slow limiter never lets go."""
    return (2 * media.render_timeline([(0.2, seconds - 0.2, "typing on a keyboard")], seconds, 1).T).astype(np.float32)


@pytest.mark.parametrize("target", [-14.0, -23.0])
@pytest.mark.parametrize("kind", ["impulses", "quiet", "dense clicks"])
def test_normalise_reaches_the_target_with_true_peak_under_the_ceiling(target, kind):
    sound = {"impulses": _impulses, "dense clicks": _dense_clicks}.get(kind, lambda s: _sine(s, 300, level=0.002))(5.0)
    out, level, peak = mixdown.normalise(sound, target)
    measured, true_peak = _loudness(out)
    assert abs(measured - target) <= 0.5 and measured == pytest.approx(level, abs=0.01)
    assert true_peak <= -1.0 and true_peak == pytest.approx(peak, abs=0.01)


def test_the_limiter_leaves_everything_away_from_a_peak_as_it_was():
    sound = _sine(3.0, 200, level=0.05)
    sound[:, RATE] = 1.0  # one click at 1 s
    out, _, _ = mixdown.normalise(sound, -23.0)
    ratio = out[0, mixdown.samples_for(2.0):] / sound[0, mixdown.samples_for(2.0):]
    assert np.allclose(ratio[np.abs(sound[0, mixdown.samples_for(2.0):]) > 0.01], ratio[0], rtol=1e-4)


def test_silence_stays_silence():
    out, level, peak = mixdown.normalise(np.zeros((2, RATE), np.float32), -14.0)
    assert not out.any()
    assert (level, peak) == (analysis.SILENT_LUFS, analysis.SILENT_DBTP)


# --- mux ---------------------------------------------------------------------------------------------------------

def _packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(container.streams.video[0]) if packet.size]


def _sound_stream(path) -> tuple[str, int, int, int]:
    """(codec, rate, channels, samples the container says the sound lasts)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return (stream.codec_context.name, stream.rate, stream.codec_context.channels,
                round(stream.duration * stream.time_base * RATE))


@pytest.mark.parametrize("name, codec", [("src.mp4", "libx264"), ("src.mov", "libx264"), ("src.webm", "libvpx-vp9")])
def test_mux_copies_every_video_packet_unchanged(tmp_path, name, codec):
    source = write_video(tmp_path / name, 3.0, fps=FPS, codec=codec, keyframe_every=8,
                         sound=_sine(3.0, 200, 0.1), audio_codec="libopus" if name.endswith("webm") else "aac")
    out = tmp_path / "out.mp4"
    assert mixdown.mux(source, _sine(3.0), out) == ""
    original, muxed = _packets(source), _packets(out)
    assert len(muxed) == len(original) == 30
    assert muxed == original


def test_mux_writes_aac_stereo_at_48k_exactly_as_long_as_the_picture_with_faststart(tmp_path):
    source = write_video(tmp_path / "src.mp4", 7.3, fps=FPS)
    sound = _sine(7.3)
    out = tmp_path / "out.mp4"
    mixdown.mux(source, sound, out)
    assert _sound_stream(out) == ("aac", 48000, 2, sound.shape[1])
    decoded = mixdown.read_audio(out)
    assert sound.shape[1] <= decoded.shape[1] < sound.shape[1] + 1024  # at most the encoder's last frame's padding
    assert np.abs(decoded[:, 2000:-2000] - sound[:, 2000:decoded.shape[1] - 2000]).max() < 0.05  # in step
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # playable while it downloads
    assert video.probe(out).duration == pytest.approx(7.3, abs=1e-6)


def test_mux_interleaves_sound_and_picture(tmp_path):
    source = write_video(tmp_path / "src.mp4", 4.0, fps=FPS)
    out = tmp_path / "out.mp4"
    mixdown.mux(source, _sine(4.0), out)
    with av.open(str(out)) as container:
        kinds = [packet.stream.type for packet in container.demux() if packet.size]
    first_sound = kinds.index("audio")
    assert first_sound < 5 and "video" in kinds[len(kinds) // 2:]
    assert kinds[: len(kinds) // 2].count("audio") > 10


def test_a_vp8_picture_is_re_encoded_as_h264_and_the_note_says_so(tmp_path):
    source = write_video(tmp_path / "src.webm", 2.0, fps=FPS, codec="libvpx")
    out = tmp_path / "out.mp4"
    note = mixdown.mux(source, _sine(2.0), out)
    assert note == "The picture was re-encoded as H.264, because an MP4 cannot carry its VP8 video as it is."
    facts = video.probe(out)
    assert (facts.codec, facts.duration) == ("h264", 2.0)
    assert len(_packets(out)) == 20


# --- render ------------------------------------------------------------------------------------------------------

def _render(tmp_path, source, effects=(), cuts=(), music=None, mix=Mix()):
    facts = video.probe(source)
    outputs = [tmp_path / name for name in ("score.mp4", "score.wav", "score-peaks.json")]
    rendered = mixdown.render(source, facts, list(effects), list(cuts), music, mix, *outputs)
    return facts, rendered, outputs


def _effect_parts(tmp_path, seconds: float) -> tuple[list, list]:
    """Two timed-sound parts from the simulator, overlapping by a second, the second running past the picture."""
    first = _wav(tmp_path / "part1.wav", media.render_timeline([(0.5, 2.5, "dog barking")], 4.0, 1).T)
    second = _wav(tmp_path / "part2.wav", media.render_timeline([(1.5, 3.0, "glass breaking")], 4.0, 2).T)
    return [(0.0, first), (seconds - 3.0, second)], [seconds - 2.5]


@pytest.mark.parametrize("seconds", [4.0, 7.3])
def test_render_makes_every_output_exactly_as_long_as_the_picture(tmp_path, seconds):
    own = media.render_sound("wind in the trees", seconds, 3).T * 0.2
    source = write_video(tmp_path / "src.mp4", seconds, fps=FPS, sound=own)
    music = tmp_path / "music.mp3"
    music.write_bytes(media.encode_mp3(media.render_sound("calm piano music", 2.5, 4)))
    effects, cuts = _effect_parts(tmp_path, seconds)
    facts, rendered, (mp4, wav, peaks) = _render(tmp_path, source, effects, cuts, music)
    total = mixdown.samples_for(seconds)
    with av.open(str(wav)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.rate, stream.codec_context.channels) == ("pcm_s16le", 48000, 2)
    assert mixdown.read_audio(wav).shape == (2, total)
    assert _sound_stream(mp4)[3] == total
    assert rendered.video_seconds == facts.duration == pytest.approx(seconds)
    assert rendered.sound_seconds == total / RATE
    assert _packets(mp4) == _packets(source)
    document = json.loads(peaks.read_bytes())
    assert document["duration"] == pytest.approx(seconds, abs=0.001) and len(document["peaks"]) == 2 * 1600
    assert [layer["present"] for layer in rendered.layers] == [True, True, True]
    assert rendered.ducked and rendered.video_codec == "h264"
    assert "The music bed (2.50 s) was repeated with crossfades" in rendered.fitted
    assert "The effects ran 1.00 s past the end of the picture" in rendered.fitted


@pytest.mark.parametrize("target", [-14.0, -23.0])
@pytest.mark.parametrize("kind", ["impulses", "quiet"])
def test_render_hits_the_target_on_the_wav_and_on_the_mp4s_sound(tmp_path, target, kind):
    seconds = 4.0
    sound = _impulses(seconds) if kind == "impulses" else _sine(seconds, 300, level=0.002)
    source = write_video(tmp_path / "src.mp4", seconds, fps=FPS, sound=sound)
    _, rendered, (mp4, wav, _) = _render(tmp_path, source, mix=Mix(target=target))
    total = mixdown.samples_for(seconds)
    for path in (wav, mp4):
        level, peak = _loudness(mixdown.read_audio(path, total))
        assert abs(level - target) <= 0.5, (path.name, level)
        assert peak <= -1.0, (path.name, peak)
    assert abs(rendered.loudness - target) <= 0.5 and rendered.true_peak <= -1.0
    assert rendered.target == target and rendered.notes == ()


def test_silence_where_there_are_no_events_and_no_original_sound(tmp_path):
    source = write_video(tmp_path / "src.mp4", 6.0, fps=FPS)  # no sound of its own
    part = _wav(tmp_path / "part.wav", _sine(1.5, 300, 0.3))
    _, rendered, (mp4, wav, _) = _render(tmp_path, source, [(2.0, part)], [], None)
    written = mixdown.read_audio(wav)
    first, last = mixdown.samples_for(2.0), mixdown.samples_for(3.5)
    assert not written[:, :first].any() and not written[:, last:].any()  # exact zeros
    assert np.abs(written[:, first:last]).max() > 0.1
    assert [layer["present"] for layer in rendered.layers] == [False, True, False]
    assert not rendered.ducked


def test_a_silent_mix_stays_silent_and_says_so(tmp_path):
    source = write_video(tmp_path / "src.mp4", 2.0, fps=FPS)
    _, rendered, (mp4, wav, _) = _render(tmp_path, source)
    assert not mixdown.read_audio(wav).any()
    assert rendered.loudness == analysis.SILENT_LUFS
    assert rendered.notes == ("The mix is silent, so there was no loudness to set: it stays silent.",)


def test_an_original_sound_shorter_than_the_picture_is_padded_and_the_receipt_says_so(tmp_path):
    source = write_video(tmp_path / "src.mp4", 5.0, fps=FPS, sound=_sine(3.5, 200, 0.2))
    _, rendered, (_, wav, _) = _render(tmp_path, source)
    assert rendered.fitted.startswith("The video's own sound ended 1.5")
    assert "before the picture, so silence fills the rest." in rendered.fitted
    assert not mixdown.read_audio(wav)[:, mixdown.samples_for(3.6):].any()


def test_the_gains_of_the_mix_shape_the_layers(tmp_path):
    source = write_video(tmp_path / "src.mp4", 3.0, fps=FPS, sound=_sine(3.0, 200, 0.2))
    part = _wav(tmp_path / "part.wav", _sine(3.0, 2000, 0.2))
    spectra = {}
    for effects_db in (0.0, -12.0):
        _, rendered, (_, wav, _) = _render(tmp_path, source, [(0.0, part)], [], None,
                                          Mix(original_db=0.0, effects_db=effects_db, duck=False))
        spectrum = np.abs(np.fft.rfft(mixdown.read_audio(wav)[0]))
        spectra[effects_db] = spectrum[2000 * 3] / spectrum[200 * 3]  # bins of 1/3 Hz
        assert rendered.layers[1] == {"layer": "effects", "gain_db": effects_db, "present": True}
    assert 20 * np.log10(spectra[0.0] / spectra[-12.0]) == pytest.approx(12.0, abs=0.2)
