"""lib.media.video: what a video is (from its contents, never its name), refusals in plain words, the frames strip."""
from __future__ import annotations

import av
import numpy as np
import pytest

from lib.media import video
from lib.sim import media
from tests.conftest import write_video


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * 48000)) / 48000
    return np.stack([0.1 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)


@pytest.mark.parametrize("name, codec, audio_codec, container", [
    ("clip.mp4", "libx264", "aac", "mp4"),
    ("clip.mov", "libx264", "aac", "mov"),
    ("clip.webm", "libvpx", "libopus", "webm"),
    ("clip.mkv", "libx264", "aac", "matroska"),
])
def test_probe_reads_the_container_codec_size_rate_duration_and_sound(tmp_path, name, codec, audio_codec, container):
    path = write_video(tmp_path / name, 2.5, width=80, height=44, fps=24, codec=codec, sound=_tone(2.5),
                       audio_codec=audio_codec)
    facts = video.probe(path)
    assert facts == video.VideoFacts(duration=2.5, width=80, height=44, fps=24.0,
                                     codec={"libx264": "h264", "libvpx": "vp8"}[codec], has_audio=True,
                                     container=container)


def test_a_video_without_sound_says_so_and_a_non_integer_duration_is_kept(tmp_path):
    facts = video.probe(write_video(tmp_path / "clip.mp4", 7.3, fps=10))
    assert facts.has_audio is False
    assert facts.duration == pytest.approx(7.3, abs=1e-6)


def test_the_name_is_not_trusted(tmp_path):
    webm = write_video(tmp_path / "clip.webm", 1.0, codec="libvpx")
    disguised = tmp_path / "clip.mp4"
    disguised.write_bytes(webm.read_bytes())
    assert video.probe(disguised).container == "webm"
    assert video.probe(disguised).codec == "vp8"


def test_the_simulators_video_is_probed_as_rendered(tmp_path):
    path = tmp_path / "sim.mp4"
    path.write_bytes(media.render_video("a red car on a street", 3, 320, 180, 7)[0])
    facts = video.probe(path)
    assert (facts.duration, facts.width, facts.height, facts.codec, facts.container) == (3.0, 320, 180, "h264", "mp4")


def test_a_text_file_is_refused_in_plain_words(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video at all, just some words\n" * 20)
    with pytest.raises(video.VideoError, match="^This file is not a video the studio can read.$"):
        video.probe(path)


def test_a_sound_file_is_refused_for_having_no_picture(tmp_path):
    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w") as container:  # an MP4 with sound only
        stream = container.add_stream("aac", rate=48000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(_tone(1.0)), format="fltp", layout="stereo")
        frame.sample_rate = 48000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(video.VideoError, match="^This file has no picture: it holds sound only.$"):
        video.probe(path)
    mp3 = tmp_path / "sound.mp3"
    mp3.write_bytes(media.encode_mp3(_tone(1.0).T))
    with pytest.raises(video.VideoError, match="no picture"):
        video.probe(mp3)


def test_a_picture_alone_is_not_a_video(tmp_path):
    path = tmp_path / "cover.mp4"
    path.write_bytes(media.render_video("a field", 1, 64, 36, 1)[1])  # the JPEG cover, named as a video
    with pytest.raises(video.VideoError, match="^This file is not a video the studio can read.$"):
        video.probe(path)


def test_a_video_longer_than_the_limit_is_refused(tmp_path):
    path = write_video(tmp_path / "long.mp4", 61, width=16, height=16, fps=2)
    with pytest.raises(video.VideoError,
                       match="^This video is longer than 60 seconds, the longest the studio scores.$"):
        video.probe(path)
    assert video.probe(path, max_seconds=62).duration == 61.0


def test_a_picture_larger_than_4k_is_refused_before_it_is_decoded(tmp_path):
    path = write_video(tmp_path / "huge.mp4", 0.2, width=4096, height=2304, fps=10)
    with pytest.raises(video.VideoError,
                       match=r"^This video's picture is larger than the studio scores \(at most 3840×2160\)\.$"):
        video.probe(path)
    assert video.probe(write_video(tmp_path / "tall.mp4", 0.2, width=1080, height=1920, fps=10)).height == 1920


def test_a_truncated_video_is_refused(tmp_path):
    whole = write_video(tmp_path / "whole.mp4", 2.0).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(video.VideoError):
        video.probe(path)


def _strip(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="gray")


@pytest.mark.parametrize("count, height", [(12, 72), (5, 40)])
def test_the_frames_strip_is_count_frames_wide_each_taken_at_its_time(tmp_path, count, height):
    seconds, fps = 6.0, 10
    path = write_video(tmp_path / "clip.mp4", seconds, width=96, height=54, fps=fps, keyframe_every=12)
    out = tmp_path / "strip.jpg"
    video.frames_strip(path, out, count=count, height=height)
    assert out.read_bytes()[:2] == b"\xff\xd8"
    strip = _strip(out)
    width = 2 * round(height * 96 / 54 / 2)
    assert strip.shape == (height, count * width)
    frames = round(seconds * fps)
    for k in range(count):  # frame k's grey level says which frame it is
        index = int((k + 0.5) * seconds / count * fps)
        expected = 255 * index / (frames - 1)
        middle = strip[height // 2, k * width + width // 2]
        assert abs(int(middle) - expected) <= 6, (k, middle, expected)


def test_the_frames_strip_of_a_webm(tmp_path):
    path = write_video(tmp_path / "clip.webm", 3.0, width=64, height=48, codec="libvpx")
    out = tmp_path / "strip.jpg"
    video.frames_strip(path, out, count=4, height=48)
    assert _strip(out).shape == (48, 4 * 64)
