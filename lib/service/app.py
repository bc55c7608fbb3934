"""The composition root: the whole studio engine built from its settings, with no Streamlit anywhere.

The server (through `lib/ui/runtime.py`, which only caches the result), the tests and `bench/` all get the
studio from `build`, so the parts are wired in this one place. In demo mode it starts the simulator, or uses the
one at STUDIO_SIM_URL that several replicas share: this is the only production module that imports `lib.sim`.

    with build(settings).start() as studio:
        studio.store, studio.vendors, studio.worker, ...
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from lib import sim
from lib.core.tasks import Provider
from lib.media.archive import Archiver
from lib.media.links import MediaLinks, server_secret
from lib.service.config import Settings
from lib.service.keyring import Keyring
from lib.service.poller import Poller
from lib.service.scoring import Scores
from lib.service.studio import Vendors
from lib.service.transfer import Exports
from lib.store import open_store
from lib.store.base import BaseStore
from lib.vendors.kling import KlingClient
from lib.vendors.vidu import ViduClient


@dataclass(frozen=True)
class Studio:
    settings: Settings
    store: BaseStore  # SQLite in the data folder, or PostgreSQL (STUDIO_DATABASE_URL)
    vendors: Vendors
    archive: Archiver
    keyring: Keyring
    worker: Poller
    simulator: sim.Simulator | None  # demo mode: the simulated vendors started here, on a free loopback port
    links: MediaLinks  # signed, expiring addresses of archived results and exports (lib.media.links.route)
    exports: Exports  # finished history exports, downloaded by signed link
    scores: Scores  # scores of videos: asked for by the Score page, followed by the worker's step

    @property
    def poller(self) -> Poller:
        """The worker, by the name the pages have always used."""
        return self.worker

    @property
    def vidu_key(self) -> str:
        """The key the studio's own Vidu tasks are created (and their callbacks signed) with."""
        return self.settings.vidu_api_key or sim.DEMO_VIDU_KEY

    def start(self) -> Studio:
        """Start the worker: tasks in flight, and copies not yet made, are followed from now on."""
        self.worker.start()
        return self

    def close(self) -> None:
        self.worker.stop()
        self.scores.close()
        self.store.close()
        if self.simulator:
            self.simulator.stop()

    def __enter__(self) -> Studio:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def live_client(settings: Settings, provider: Provider, credentials: dict):
    """A client for the real vendor (or whatever base URL is configured), with the studio's or a person's keys."""
    if provider is Provider.VIDU:
        return ViduClient(credentials.get("api_key"), profile=settings.vidu_profile, base_url=settings.vidu_base_url)
    return KlingClient(access_key=credentials.get("access_key"), secret_key=credentials.get("secret_key"),
                       api_key=credentials.get("api_key"), region=settings.kling_region,
                       base_url=settings.kling_base_url)


def _vendors(settings: Settings, simulated: str | None) -> Vendors:
    """The vendors' clients: live ones where keys are set, else the simulator's at `simulated` (its address)."""
    vidu = (live_client(settings, Provider.VIDU, {"api_key": settings.vidu_api_key}) if settings.vidu_live
            else ViduClient(sim.DEMO_VIDU_KEY, base_url=simulated))
    kling = (live_client(settings, Provider.KLING, {"api_key": settings.kling_api_key,
                                                    "access_key": settings.kling_access_key,
                                                    "secret_key": settings.kling_secret_key})
             if settings.kling_live else
             KlingClient(access_key=sim.DEMO_KLING_ACCESS_KEY, secret_key=sim.DEMO_KLING_SECRET_KEY,
                         base_url=simulated))
    return Vendors(vidu=vidu, kling=kling, vidu_live=settings.vidu_live, kling_live=settings.kling_live)


def build(settings: Settings) -> Studio:
    """Every part of the studio for `settings`, wired together; call `start()` to set the worker going.

    A vendor without keys is simulated: by the shared simulator at `settings.sim_url`, else by one started here,
    already running when this returns.
    """
    simulator = store = None
    if not (settings.vidu_live and settings.kling_live) and not settings.sim_url:
        # On a hosted studio anyone may name a callback address, so the simulator then calls back only public
        # ones (never itself or the LAN).
        simulator = sim.start(speed=settings.sim_speed, queue_seconds=settings.sim_queue_seconds,
                              kling_webhook_secret=settings.kling_webhook_secret,
                              public_callbacks_only=settings.hosted)
    simulated = None if settings.vidu_live and settings.kling_live else settings.sim_url or simulator.url
    try:
        store = open_store(settings.database_url, settings.data_dir, settings.pool_size)
        vendors = _vendors(settings, simulated)
        archive = Archiver(Path(settings.data_dir) / "media", allow_private=not settings.hosted,
                           trusted=(simulated,) if simulated else ())
        keyring = Keyring(lambda provider, credentials: live_client(settings, provider, credentials), store)
        secrets = [value for f in dataclasses.fields(settings) if f.metadata.get("secret")
                   and isinstance(value := getattr(settings, f.name), str)] + list(settings.database_passwords)
        scores = Scores(store, vendors, archive, quota_bytes=int(settings.media_quota_mb * 1024 ** 2),
                        secrets=secrets)
        worker = Poller(store, vendors, task_timeout=settings.task_timeout, on_success=archive.archive,
                        keyring=keyring, concurrency=settings.poll_concurrency, secrets=secrets,
                        measure=archive.measure, steps=(scores.advance,), renewals=(scores.renew,))
    except BaseException:
        if store is not None:
            store.close()
        if simulator:
            simulator.stop()
        raise
    links = MediaLinks(server_secret(Path(settings.data_dir)))
    exports = Exports(Path(settings.data_dir) / "exports")
    return Studio(settings, store, vendors, archive, keyring, worker, simulator, links, exports, scores)
