"""Simulator settings and the demo keys it accepts when no keys are configured.

The studio's demo mode imports the demo keys from here, so the simulator and the studio agree without a
secrets file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

DEMO_VIDU_KEY = "vda_demo_key"
DEMO_KLING_ACCESS_KEY = "demo-access-key"
DEMO_KLING_SECRET_KEY = "demo-secret-key-for-the-cue-simulator"  # 32+ bytes, as HS256 wants
DEMO_KLING_API_KEY = "kling_demo_key"

DEFAULT_PORT = 8765


@dataclass
class Options:
    speed: float = 1.0  # every vendor duration is divided by this; tests use 50 or more
    url_ttl: float = 86400  # seconds a media URL stays valid (Vidu documents 24 h)
    vidu_keys: tuple[str, ...] = (DEMO_VIDU_KEY,)
    kling_keys: dict[str, str] = field(default_factory=lambda: {DEMO_KLING_ACCESS_KEY: DEMO_KLING_SECRET_KEY})
    kling_api_keys: tuple[str, ...] = (DEMO_KLING_API_KEY,)
    kling_webhook_secret: str | None = None  # "whsec_..."; Kling signs callbacks only when one is set
    vidu_credits: int = 10_000
    kling_units: Decimal = Decimal(1_000_000)
    concurrency: int = 5  # running tasks per vendor account; both vendors document 5 by default
    queue_seconds: float = 0.0  # real seconds (not divided by speed) every new task waits queued before it runs
    media_cache_mb: int = 256  # rendered media kept in memory; evicted files are re-rendered on request
    public_callbacks_only: bool = False  # a hosted studio's simulator: callbacks only to public addresses

    def __post_init__(self):
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        if self.queue_seconds < 0:
            raise ValueError("queue_seconds must not be negative")
        self.vidu_keys = tuple(self.vidu_keys)
        self.kling_api_keys = tuple(self.kling_api_keys)
        self.kling_units = Decimal(str(self.kling_units))
