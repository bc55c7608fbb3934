"""Fixtures several test modules share."""
from __future__ import annotations

import os
import uuid

import pytest

from lib.service import studio
from lib.sim import DEMO_KLING_API_KEY, DEMO_VIDU_KEY, start
from lib.store.sqlite import Store
from lib.vendors.kling import KlingClient
from lib.vendors.transport import Transport
from lib.vendors.vidu import ViduClient

VENDOR_ENV = ("VIDU_API_KEY", "KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "STUDIO_PASSWORD")


@pytest.fixture(scope="module")
def sim():
    """The simulator at 50 times the vendors' pace, one per test module."""
    simulator = start(speed=50)
    yield simulator
    simulator.stop()


@pytest.fixture
def fresh_sim(sim):
    """The module's simulator with no tasks and no faults left from an earlier test."""
    sim.reset()
    sim.clear_faults()
    return sim


@pytest.fixture
def clients(sim):
    """Both vendors' clients against the simulator, as if live; retries cost no time."""
    fast = {"sleep": lambda seconds: None}
    return studio.Vendors(ViduClient(DEMO_VIDU_KEY, base_url=sim.url, transport=Transport(vendor="Vidu", **fast)),
                          KlingClient(api_key=DEMO_KLING_API_KEY, base_url=sim.url,
                                      transport=Transport(vendor="Kling", **fast)),
                          vidu_live=True, kling_live=True)


@pytest.fixture
def postgres_url():
    """A connection string to a fresh, empty schema on the test run's PostgreSQL (./test.sh starts one and sets
    STUDIO_TEST_DATABASE_URL), dropped after the test."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    base = os.environ.get("STUDIO_TEST_DATABASE_URL")
    if not base:
        pytest.fail("The PostgreSQL tests need a database: run ./test.sh (it starts a throwaway one), or set "
                    "STUDIO_TEST_DATABASE_URL to a database they may fill.")
    schema = f"test_{uuid.uuid4().hex}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    yield make_conninfo(base, options=f"-csearch_path={schema}")
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    """The store on each backend in turn: SQLite in the test's folder, PostgreSQL in a fresh schema."""
    if request.param == "sqlite":
        yield Store(tmp_path / "studio.db")
        return
    from lib.store.postgres import PostgresStore

    postgres = PostgresStore(request.getfixturevalue("postgres_url"), pool_size=4)
    yield postgres
    postgres.close()


@pytest.fixture
def demo(tmp_path, monkeypatch):
    """A studio in demo mode for AppTest pages: no keys, its own data folder, a fast simulator, a fresh engine."""
    from lib.ui.runtime import services

    for name in VENDOR_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STUDIO_SIM_SPEED", "50")
    monkeypatch.setenv("STUDIO_SIM_QUEUE_SECONDS", "0")  # the demo's queue, long enough to show Cancel, is not for tests
    services.clear()
    yield
    services.clear()


def write_video(path, seconds: float, width: int = 64, height: int = 48, fps: int = 24, codec: str = "libx264",
                sound=None, audio_codec: str = "aac", keyframe_every: int | None = None, sound_delay: float = 0.0):
    """A tiny synthetic video made with PyAV: each frame a flat grey whose level is its index, so a frame can be
    told by its colour; `sound` (float32 (2, n) at 48 kHz) is muxed as its audio track when given, starting
    `sound_delay` seconds after the picture. The container
    follows the file's extension (.mp4, .mov, .webm, .mkv)."""
    from fractions import Fraction

    import av
    import numpy as np

    frames = round(seconds * fps)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = Fraction(1, fps)
        if keyframe_every:
            video.codec_context.gop_size = keyframe_every
        audio = None
        if sound is not None:
            audio = container.add_stream(audio_codec, rate=48000, layout="stereo")
        for index in range(frames):
            level = round(255 * index / max(1, frames - 1))
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), level, np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            planar = np.ascontiguousarray(np.asarray(sound, np.float32))
            step = 1024
            for start in range(0, planar.shape[1], step):
                block = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, start:start + step]),
                                                   format="fltp", layout="stereo")
                block.sample_rate, block.pts = 48000, start + round(sound_delay * 48000)
                container.mux(audio.encode(block))
            container.mux(audio.encode(None))
    return path


@pytest.fixture
def reopen():
    """`reopen(store)`: another store on the same database, as a restarted process opens it (closed after the
    test)."""
    from lib.store.postgres import PostgresStore

    opened = []

    def again(store):
        opened.append(PostgresStore(store.conninfo, pool_size=2) if isinstance(store, PostgresStore)
                      else Store(store.path))
        return opened[-1]
    yield again
    for store in opened:
        store.close()
