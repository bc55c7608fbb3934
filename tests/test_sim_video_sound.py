"""The simulator's videos carry a sound of their own when asked (Vidu q3's native audio, or bgm), so a score has an
"original" layer to mix under; without either, a video stays silent."""
from __future__ import annotations

import io
import time

import av
import numpy as np
import pytest
import requests

from lib.media import analysis
from lib.sim import DEMO_VIDU_KEY, media

WIDTH, HEIGHT = 160, 90


def _sound(mp4: bytes, folder) -> tuple[np.ndarray, float, dict] | None:
    """(samples (n, 2), the picture's seconds, the sound stream's facts), or None for a silent video."""
    with av.open(io.BytesIO(mp4)) as container:
        picture = container.streams.video[0]
        seconds = float(picture.duration * picture.time_base)
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        facts = {"codec": stream.codec_context.name, "rate": stream.rate, "channels": stream.codec_context.channels,
                 "seconds": float(stream.duration * stream.time_base)}
    path = folder / "video.mp4"
    path.write_bytes(mp4)
    return analysis.decode(path).samples, seconds, facts


def test_a_video_asked_for_native_audio_has_an_aac_stereo_ambience_as_long_as_its_picture(tmp_path):
    mp4, _ = media.render_video("rain falling on a city street", 3, WIDTH, HEIGHT, 4, ambience=True)
    samples, seconds, facts = _sound(mp4, tmp_path)
    assert facts == {"codec": "aac", "rate": 48000, "channels": 2, "seconds": seconds}
    assert seconds == 3.0
    level = analysis.loudness(samples, 48000)
    assert -40 < level < -14  # soft: something to mix under, not over
    assert analysis.true_peak(samples) < -3


def test_the_ambience_follows_the_prompt_and_the_seed_and_is_deterministic():
    rain = media.render_soundtrack("heavy rain", 2, 1, ambience=True, music=False)
    birds = media.render_soundtrack("birds in the morning", 2, 1, ambience=True, music=False)
    assert rain.shape == birds.shape == (96000, 2)
    assert not np.allclose(rain, birds)
    assert np.array_equal(rain, media.render_soundtrack("heavy rain", 2, 1, ambience=True, music=False))
    first = media.render_video("heavy rain", 1, WIDTH, HEIGHT, 2, ambience=True)[0]
    assert first == media.render_video("heavy rain", 1, WIDTH, HEIGHT, 2, ambience=True)[0]


def test_bgm_adds_music_and_a_video_asked_for_neither_stays_silent(tmp_path):
    ambience = media.render_soundtrack("a quiet field", 2, 3, ambience=True, music=False)
    both = media.render_soundtrack("a quiet field", 2, 3, ambience=True, music=True)
    music = media.render_soundtrack("a quiet field", 2, 3, ambience=False, music=True)
    assert np.allclose(both, ambience + music, atol=1e-6) and np.abs(music).max() > 0.01
    assert media.render_soundtrack("a quiet field", 2, 3, ambience=False, music=False) is None
    assert _sound(media.render_video("a quiet field", 1, WIDTH, HEIGHT, 3)[0], tmp_path) is None


def test_the_picture_is_the_same_with_or_without_sound():
    def pictures(mp4: bytes) -> list[bytes]:
        with av.open(io.BytesIO(mp4)) as container:
            return [bytes(packet) for packet in container.demux(video=0) if packet.size]

    silent = media.render_video("a red car on a street", 2, WIDTH, HEIGHT, 5)[0]
    sounding = media.render_video("a red car on a street", 2, WIDTH, HEIGHT, 5, ambience=True)[0]
    assert pictures(sounding) == pictures(silent)


def _video_of(sim, body: dict) -> bytes:
    headers = {"Authorization": f"Token {DEMO_VIDU_KEY}"}
    created = requests.post(f"{sim.url}/ent/v2/text2video", json=body, headers=headers, timeout=10)
    assert created.status_code == 200, created.text
    task_id = created.json()["task_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task = requests.get(f"{sim.url}/ent/v2/tasks/{task_id}/creations", headers=headers, timeout=10).json()
        if task["state"] in ("success", "failed"):
            break
    assert task["state"] == "success", task
    return requests.get(task["creations"][0]["url"], timeout=30).content


@pytest.mark.parametrize("body, sounds", [
    ({"model": "viduq3-turbo", "duration": 1, "resolution": "540p"}, True),  # q3: native audio unless told off
    ({"model": "viduq3-turbo", "duration": 1, "resolution": "540p", "audio": False}, False),
    ({"model": "viduq2", "duration": 1, "resolution": "540p", "bgm": True}, True),
    ({"model": "viduq2", "duration": 1, "resolution": "540p"}, False),
])
def test_the_simulators_text2video_sounds_as_the_request_asks(fresh_sim, tmp_path, body, sounds):
    mp4 = _video_of(fresh_sim, {"prompt": "waves on a beach", **body})
    found = _sound(mp4, tmp_path)
    assert (found is not None) == sounds
    if sounds:
        assert found[2]["seconds"] == found[1] == 1.0
