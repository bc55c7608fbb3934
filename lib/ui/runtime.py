"""The studio's per-process services: settings, store, vendor clients, the poller and, in demo mode, the simulator.

Built once per server process (`st.cache_resource`), shared by every session.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from lib import archive, sim
from lib.config import Settings, load_settings
from lib.keyring import Keyring
from lib.kling import KlingClient
from lib.poller import Poller
from lib.store import Store
from lib.studio import Vendors
from lib.tasks import Provider
from lib.vidu import ViduClient


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    vendors: Vendors
    poller: Poller
    archive: archive.Archiver
    keyring: Keyring
    simulator: sim.Simulator | None

    def close(self) -> None:
        self.poller.stop()
        if self.simulator:
            self.simulator.stop()


def _secrets() -> dict:
    return st.secrets.to_dict() if st.secrets.load_if_toml_exists() else {}


def _live_client(settings: Settings, provider: Provider, credentials: dict):
    """A client for the real vendor (or whatever base URL is configured), with the studio's or a person's keys."""
    if provider is Provider.VIDU:
        return ViduClient(credentials.get("api_key"), profile=settings.vidu_profile, base_url=settings.vidu_base_url)
    return KlingClient(access_key=credentials.get("access_key"), secret_key=credentials.get("secret_key"),
                       api_key=credentials.get("api_key"), region=settings.kling_region,
                       base_url=settings.kling_base_url)


def _vendors(settings: Settings, simulator_url: str | None) -> Vendors:
    vidu = (_live_client(settings, Provider.VIDU, {"api_key": settings.vidu_api_key}) if settings.vidu_live
            else ViduClient(sim.DEMO_VIDU_KEY, base_url=simulator_url))
    kling = (_live_client(settings, Provider.KLING, {"api_key": settings.kling_api_key,
                                                     "access_key": settings.kling_access_key,
                                                     "secret_key": settings.kling_secret_key})
             if settings.kling_live else
             KlingClient(access_key=sim.DEMO_KLING_ACCESS_KEY, secret_key=sim.DEMO_KLING_SECRET_KEY,
                         base_url=simulator_url))
    return Vendors(vidu=vidu, kling=kling, vidu_live=settings.vidu_live, kling_live=settings.kling_live)


@st.cache_resource(show_spinner=False, on_release=Services.close)
def services() -> Services:
    settings = load_settings(os.environ, _secrets())
    simulator = None
    if not (settings.vidu_live and settings.kling_live):
        # Demo mode: one simulator per server process, on a free loopback port. On a hosted studio anyone may
        # name a callback address, so the simulator then calls back only public ones (never itself or the LAN).
        simulator = sim.start(speed=float(os.environ.get("STUDIO_SIM_SPEED", "4")),
                              kling_webhook_secret=settings.kling_webhook_secret,
                              public_callbacks_only=settings.hosted)
    store = Store(Path(settings.data_dir) / "studio.db")
    vendors = _vendors(settings, simulator.url if simulator else None)
    archiver = archive.Archiver(Path(settings.data_dir) / "media", allow_private=not settings.hosted,
                                trusted=(simulator.url,) if simulator else ())
    keyring = Keyring(lambda provider, credentials: _live_client(settings, provider, credentials))
    poller = Poller(store, vendors, task_timeout=settings.task_timeout, on_success=archiver.archive,
                    keyring=keyring).start()
    return Services(settings, store, vendors, poller, archiver, keyring, simulator)
