"""What the archive measures on its copies (lib.media.analysis): peaks, loudness, true peak, the file's facts, and
loudness-normalised renderings; and that the archiver measures each copy once, keeps what it cannot measure, and
measures older copies when the worker starts."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lib.core.tasks import Endpoint, Media, State, Task
from lib.media import analysis
from lib.media.archive import Archiver, is_archive_name, media_name, normalised_name, peaks_name
from lib.media.naming import read_tags
from lib.service.poller import Poller
from lib.sim.media import render_video
from tests.test_worker import wait_for

RATE = 48000


def sine(level_db: float, seconds: float = 3.0, rate: int = RATE, channels: int = 1, hz: float = 1000.0,
         phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (10 ** (level_db / 20) * np.sin(2 * np.pi * hz * t + phase)).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1)


def noise(level_db: float, seconds: float = 3.0, channels: int = 2, seed: int = 1) -> np.ndarray:
    samples = np.random.default_rng(seed).uniform(-1, 1, (int(seconds * RATE), channels))
    return (samples * 10 ** (level_db / 20)).astype(np.float32)


# ---- loudness, true peak, peaks ----

def test_a_full_scale_1khz_sine_reads_3_01_db_below_full_scale():
    assert analysis.loudness(sine(0.0), RATE) == pytest.approx(-3.01, abs=0.05)


@pytest.mark.parametrize("level", [-20.0, -6.0, -40.0])
def test_a_sine_at_a_known_level_reads_that_level_less_3_01_db(level):
    assert analysis.loudness(sine(level), RATE) == pytest.approx(level - 3.01, abs=0.05)


def test_two_identical_channels_read_3_db_louder_than_one():
    mono, stereo = analysis.loudness(sine(-20.0), RATE), analysis.loudness(sine(-20.0, channels=2), RATE)
    assert stereo - mono == pytest.approx(3.01, abs=0.05)


def test_loudness_holds_at_another_sample_rate():
    assert analysis.loudness(sine(-20.0, rate=44100), 44100) == pytest.approx(-23.01, abs=0.05)


def test_silence_reads_minus_infinity_and_is_stored_as_the_floors():
    silent = np.zeros((RATE * 2, 2), np.float32)
    assert analysis.loudness(silent, RATE) == -math.inf and analysis.true_peak(silent) == -math.inf
    measured = analysis.analyse(analysis.Sound(silent, RATE, None))
    assert (measured.loudness, measured.true_peak) == (analysis.SILENT_LUFS, analysis.SILENT_DBTP)
    assert set(measured.peaks) == {0.0}


def test_a_clip_shorter_than_one_gating_block_is_measured():
    assert math.isfinite(analysis.loudness(sine(-20.0, seconds=0.2), RATE))


def test_true_peak_finds_the_peak_between_samples():
    # A quarter-rate sine at 45 degrees: every sample sits at 0.707 of the wave's real crest (-3 dB).
    samples = sine(0.0, hz=RATE / 4, phase=math.pi / 4)
    assert 20 * math.log10(np.max(np.abs(samples))) == pytest.approx(-3.01, abs=0.05)
    assert analysis.true_peak(samples) == pytest.approx(0.0, abs=0.3)


def test_true_peak_of_a_sine_at_a_known_level():
    assert analysis.true_peak(sine(-6.0)) == pytest.approx(-6.0, abs=0.1)


def test_peaks_show_the_silence_outside_a_timed_event():
    samples = np.zeros((RATE * 6, 2), np.float32)
    samples[RATE * 2:RATE * 4] = noise(-10.0, seconds=2.0)  # an event from 2 s to 4 s
    peaks = np.array(analysis.peaks(samples, bins=600)).reshape(-1, 2)  # 10 ms per bin
    assert len(peaks) == 600
    assert np.all(peaks[:199] == 0) and np.all(peaks[401:] == 0)
    assert np.all(peaks[201:399, 1] > 0.1) and np.all(peaks[201:399, 0] < -0.1)


def test_peaks_are_min_and_max_of_each_bin_over_every_channel():
    samples = np.array([[0.5, -0.25], [0.1, 0.2], [-0.9, 0.0], [0.3, 0.4]], np.float32)
    assert analysis.peaks(samples, bins=2) == [-0.25, 0.5, -0.9, 0.4]


def test_fewer_frames_than_bins_give_one_bin_per_frame():
    assert len(analysis.peaks(np.ones((5, 1), np.float32))) == 10


# ---- files ----

@pytest.mark.parametrize("format", ["wav", "mp3"])
@pytest.mark.parametrize("rate,channels", [(48000, 2), (44100, 1)])
def test_a_file_is_decoded_and_measured_at_any_rate_and_channels(tmp_path, format, rate, channels):
    path = tmp_path / f"tone.{format}"
    analysis.encode(sine(-20.0, rate=rate, channels=channels), rate, format, path)
    measured = analysis.analyse(analysis.decode(path))
    assert (measured.sample_rate, measured.channels) == (rate, channels)
    assert measured.loudness == pytest.approx(-23.01 + 3.01 * (channels == 2), abs=0.5)
    assert measured.true_peak == pytest.approx(-20.0, abs=0.5)
    expected_bitrate = rate * channels * 16 if format == "wav" else 192_000
    assert measured.bitrate == expected_bitrate
    assert len(measured.peaks) == 2 * analysis.PEAK_BINS


def test_a_video_without_sound_has_nothing_to_measure(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(render_video("a red ball", 1, 64, 64, seed=1)[0])
    assert analysis.decode(path) is None


def test_a_file_that_is_not_media_cannot_be_decoded(tmp_path):
    path = tmp_path / "junk.mp3"
    path.write_bytes(b"x" * 2000)
    with pytest.raises(analysis.AnalysisError):
        analysis.decode(path)


# ---- normalisation ----

@pytest.mark.parametrize("target", analysis.TARGETS)
@pytest.mark.parametrize("format", ["wav", "mp3"])
def test_normalising_hits_the_target_within_half_a_unit(tmp_path, target, format):
    sound = analysis.Sound(noise(-40.0), RATE, None)  # quiet noise: about -35 LUFS, peaks far below -1 dBTP
    path = tmp_path / f"normalised.{format}"
    assert not analysis.render_normalised(sound, target, format, path).limited
    assert analysis.loudness(analysis.decode(path).samples, RATE) == pytest.approx(target, abs=0.5)


def test_normalising_never_pushes_the_true_peak_past_the_ceiling():
    # Sparse clicks: quiet overall, so reaching -14 LUFS would need far more headroom than the peaks leave.
    samples = np.zeros((RATE * 3, 1), np.float32)
    samples[::RATE // 4] = 0.5
    sound = analysis.Sound(samples, RATE, None)
    normalised, gain = analysis.normalise(sound, -14)
    assert gain.limited
    assert analysis.true_peak(normalised) == pytest.approx(analysis.PEAK_CEILING, abs=0.05)
    assert analysis.loudness(normalised, RATE) < -14


def test_gain_for_says_when_the_peak_limits_it():
    assert analysis.gain_for(-30.0, -20.0, -23) == analysis.Gain(7.0, False)
    assert analysis.gain_for(-20.0, -3.0, -14) == analysis.Gain(2.0, True)


def test_silence_cannot_be_normalised():
    with pytest.raises(analysis.AnalysisError):
        analysis.normalise(analysis.Sound(np.zeros((RATE, 1), np.float32), RATE, None), -23)


# ---- the archive measures its copies ----

def archived_task(archive: Archiver, samples: np.ndarray | None = None, format: str = "wav", raw: bytes | None = None,
                  **fields) -> Task:
    task = Task(Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": "Heavy rain on a roof", "duration": 3.0},
                state=State.SUCCEEDED, seed=1234,
                **fields)
    name = media_name(task.owner, task.id, 1, format)
    archive.path(name).parent.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        archive.path(name).write_bytes(raw)
    else:
        analysis.encode(samples, RATE, format, archive.path(name))
    return task.replace(media=(Media("audio", "http://media.test/a", format, duration=3.0, archived=name),))


def test_the_archiver_tags_and_measures_a_copy_and_writes_its_peaks_beside_it(tmp_path):
    archive = Archiver(tmp_path)
    task = archived_task(archive, sine(-20.0, channels=2))
    (media,) = archive.measure(task).media
    assert (media.sample_rate, media.channels, media.bitrate) == (RATE, 2, RATE * 2 * 16)
    assert media.loudness == pytest.approx(-20.0, abs=0.1) and media.true_peak == pytest.approx(-20.0, abs=0.1)
    assert media.peaks == peaks_name(media.archived) and is_archive_name(media.peaks)
    assert archive.resolve(media.peaks, task.owner) is not None
    assert read_tags(archive.path(media.archived), "wav") == {"prompt": "Heavy rain on a roof", "seed": 1234,
                                                               "vendor": "vidu"}


def test_a_measured_copy_is_not_measured_again(tmp_path):
    archive = Archiver(tmp_path)
    measured = archive.measure(archived_task(archive, sine(-20.0)))
    archive.path(measured.media[0].archived).write_bytes(b"changed")  # would fail to decode if read again
    assert archive.measure(measured) == measured


def test_a_copy_that_cannot_be_measured_is_kept_as_it_came(tmp_path):
    archive = Archiver(tmp_path)
    task = archived_task(archive, raw=b"x" * 2000, format="mp3")
    assert archive.measure(task) == task
    assert archive.path(task.media[0].archived).read_bytes() == b"x" * 2000


def test_a_peaks_name_from_elsewhere_is_not_taken_for_a_measurement(tmp_path):
    archive = Archiver(tmp_path)
    task = archived_task(archive, sine(-20.0))
    forged = task.replace(media=(Media(**{**task.media[0].__dict__, "peaks": "../../etc/passwd"}),))
    assert archive.measure(forged).media[0].peaks == peaks_name(task.media[0].archived)


def test_the_archiver_renders_a_normalised_download_once_on_request(tmp_path):
    archive = Archiver(tmp_path)
    task = archive.measure(archived_task(archive, noise(-40.0), format="mp3"))
    name = normalised_name(task.media[0].archived, -16)
    assert archive.file(name) is None and is_archive_name(name)
    rendered = archive.served(name)
    assert rendered is not None and rendered == archive.file(name)
    assert analysis.loudness(analysis.decode(rendered).samples, RATE) == pytest.approx(-16, abs=0.5)
    assert read_tags(rendered, "mp3") == {"prompt": "Heavy rain on a roof", "seed": 1234, "vendor": "vidu"}
    before = rendered.stat().st_mtime_ns
    assert archive.served(name) == rendered and rendered.stat().st_mtime_ns == before


def test_no_normalised_download_of_silence_or_of_a_copy_that_is_not_there(tmp_path):
    archive = Archiver(tmp_path)
    silent = archived_task(archive, np.zeros((RATE, 1), np.float32))
    assert archive.served(normalised_name(silent.media[0].archived, -23)) is None
    missing = normalised_name(media_name("local", "0" * 32, 1, "wav"), -23)
    assert archive.served(missing) is None
    with pytest.raises(ValueError):
        normalised_name(silent.media[0].archived, -20)


def test_the_worker_measures_older_copies_once_when_it_starts(store, tmp_path):
    archive = Archiver(tmp_path / "media")
    older = archived_task(archive, sine(-20.0))
    store.add(older)
    calls = []

    def measure(task):
        calls.append(task.id)
        return archive.measure(task)

    worker = Poller(store, vendors=None, measure=measure, tick=0.01).start()
    try:
        measured = wait_for(lambda: (t := store.get(older.id)).media[0].peaks and t, what="the older copy measured")
    finally:
        worker.stop()
    assert measured.media[0].loudness == pytest.approx(-23.01, abs=0.1) and calls == [older.id]
