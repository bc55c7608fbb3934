"""Fixtures several test modules share."""
from __future__ import annotations

import pytest

from lib.sim import start

VENDOR_ENV = ("VIDU_API_KEY", "KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "STUDIO_PASSWORD")


@pytest.fixture(scope="module")
def sim():
    """The simulator at 50 times the vendors' pace, one per test module."""
    simulator = start(speed=50)
    yield simulator
    simulator.stop()


@pytest.fixture
def demo(tmp_path, monkeypatch):
    """A studio in demo mode for AppTest pages: no keys, its own data folder, a fast simulator, a fresh engine."""
    from lib.ui.runtime import services

    for name in VENDOR_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STUDIO_SIM_SPEED", "50")
    services.clear()
    yield
    services.clear()
