"""An offline stand-in for the Vidu and Kling APIs, following their documents, serving real playable media.

Run it alone with `python -m lib.sim --port 8765`, or in-process with `start()` (tests, the studio's demo mode).
"""
from lib.sim.options import (
                             DEFAULT_PORT,
                             DEMO_KLING_ACCESS_KEY,
                             DEMO_KLING_API_KEY,
                             DEMO_KLING_SECRET_KEY,
                             DEMO_VIDU_KEY,
                             Options,
)
from lib.sim.server import LoggedRequest, Simulator, start

__all__ = ["DEFAULT_PORT", "DEMO_KLING_ACCESS_KEY", "DEMO_KLING_API_KEY", "DEMO_KLING_SECRET_KEY", "DEMO_VIDU_KEY",
           "LoggedRequest", "Options", "Simulator", "start"]
