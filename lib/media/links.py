"""Signed, expiring addresses for archived results, served by the studio's own route (`GET /files/<name>`).

Pages hand these absolute URLs to `st.audio`, `st.video` and download links, so result bytes go from the
archive's files to the browser through Starlette's `FileResponse` (HTTP Range requests included) and never
through Streamlit's in-memory media store. The signature is an HMAC over the file name, the owner's folder, the
expiry and the download name, with a secret made once in the data directory that never leaves the server.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

ROUTE = "/files"  # Streamlit reserves /media/ for its own media store
LIFETIME_SECONDS = 6 * 3600
# Expiries are rounded up to a whole hour, so a card keeps the same address across reruns (a new address would
# make the browser reload a playing clip) while every address still expires within LIFETIME + 1 h.
STEP_SECONDS = 3600
SECRET_FILE = "media-url-secret"
TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "mp4": "video/mp4", "jpg": "image/jpeg", "zip": "application/zip",
         "json": "application/json", "mov": "video/quicktime", "webm": "video/webm", "txt": "text/plain; charset=utf-8"}
EXPORTS_ROUTE = "/exports"
ASSETS_ROUTE = "/assets"  # the studio's own scripts (lib/ui/static): the waveform player's wavesurfer.js
DOWNLOAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
REFUSED = "This link has expired or is not valid. Reload the page for a fresh one."


def server_secret(data_dir: Path) -> bytes:
    """The signing secret, created once (owner-only permissions) and then read, so links survive restarts.

    Replicas starting together on a new data folder must all end up with the same one: each writes a candidate
    in full to a file of its own, then links it into place, which succeeds for the first only (never replacing
    a secret already there); everyone then reads the winner, which is never seen half written."""
    path = Path(data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        candidate = path.with_name(f".{SECRET_FILE}-{secrets.token_hex(8)}")
        descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32))
                file.flush()
                os.fsync(file.fileno())
            os.link(candidate, path)
        except FileExistsError:  # another process linked its own first
            pass
        finally:
            candidate.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


@dataclass(frozen=True)
class Grant:
    """What a valid link allows: one archived file, optionally as a download under a given name."""

    name: str
    download_as: str | None


class MediaLinks:
    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time,
                 lifetime: float = LIFETIME_SECONDS):
        self._secret, self._clock, self._lifetime = secret, clock, lifetime

    def path(self, name: str, owner_folder: str, download_as: str | None = None, route: str = ROUTE) -> str:
        """`<route>/<name>?…`: a link to the file `name` (which lies in `owner_folder`) served by `route`."""
        if download_as is not None and not DOWNLOAD_NAME.fullmatch(download_as):
            raise ValueError(f"not a safe download name: {download_as!r}")
        expires = math.ceil((self._clock() + self._lifetime) / STEP_SECONDS) * STEP_SECONDS
        query = {"o": owner_folder, "e": str(expires), **({"dl": download_as} if download_as else {})}
        query["s"] = self._signature(route, name, query)
        return f"{route}/{name}?{urlencode(query)}"

    def check(self, name: str, query: Mapping[str, str], route: str = ROUTE) -> Grant | None:
        """The grant a request's name and query carry, or None when tampered with, expired or not the owner's."""
        owner, expires, signature = query.get("o", ""), query.get("e", ""), query.get("s", "")
        if not (owner and expires.isdigit() and signature) or not name.startswith(f"{owner}/"):
            return None
        if int(expires) < self._clock():
            return None
        wanted = {key: query[key] for key in ("o", "e", "dl") if key in query}
        if not hmac.compare_digest(signature, self._signature(route, name, wanted)):
            return None
        return Grant(name, query.get("dl"))

    def _signature(self, route: str, name: str, query: Mapping[str, str]) -> str:
        message = "\n".join([route, name, query["o"], query["e"], query.get("dl", "")]).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def route(links: Callable[[], MediaLinks], resolve: Callable[[str], Path | None], path: str = ROUTE) -> Route:
    """`GET <path>/<name>`: the file a valid link names; `resolve` maps a name to a file the studio wrote there
    (the archive's copies, or finished exports; None for anything else), so a link never reaches elsewhere.
    `resolve` runs off the event loop: it may render the file first (a loudness-normalised download)."""
    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        grant = links().check(name, request.query_params, path)
        found = await run_in_threadpool(resolve, name) if grant else None
        if found is None:
            return PlainTextResponse(REFUSED, status_code=403)
        kind = TYPES.get(found.suffix.lstrip(".").lower(), "application/octet-stream")
        return FileResponse(found, media_type=kind, filename=grant.download_as,
                            content_disposition_type="attachment" if grant.download_as else "inline",
                            headers={"Cache-Control": "private, max-age=3600"})

    return Route(f"{path}/{{name:path}}", serve, methods=["GET", "HEAD"])
