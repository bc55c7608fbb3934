"""Fixtures several test modules share."""
from __future__ import annotations

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
def store(tmp_path):
    return Store(tmp_path / "studio.db")


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
