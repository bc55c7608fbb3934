"""The studio's web server: Streamlit's ASGI app plus what runs once per process at start-up, the vendor
callback routes (`POST /callbacks/vidu`, `POST /callbacks/kling`), the archived results (`GET /files/…`, by
signed link) and the sign-in cookie (`POST /session/start`, `POST /session/end`) served by the same process as the
UI, and the security headers every answer carries."""
from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import streamlit
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from streamlit.runtime.pages_manager import PagesManager

from lib.core.tasks import Provider
from lib.media import links as media_urls
from lib.service import callbacks, sessions
from lib.ui import auth
from lib.ui.runtime import services

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app):
    # Our `pages/` folder holds functions for st.navigation, not legacy page scripts; without this a fresh
    # server treats the first request for a page URL the legacy way and shows "Page not found".
    PagesManager.uses_pages_directory = False
    # Start the poller (and, in demo mode, the simulator) now, so tasks still in flight before a restart are
    # followed again even before anyone opens the studio.
    services()
    yield


def make_routes(receiver: Callable[[], callbacks.Receiver]) -> list[Route]:
    """The callback routes; each one reads the request and hands it to `lib.service.callbacks` off the event loop
    (verifying, the store and archiving a result all block)."""
    async def body_of(request: Request) -> bytes | None:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > callbacks.MAX_BODY_BYTES:
                return None
        return bytes(body)

    async def vidu(request: Request) -> JSONResponse:
        body = await body_of(request)
        # Vidu signs the path and query as it called them, so they are taken as they arrived.
        path = request.scope["raw_path"].decode("latin-1") if request.scope.get("raw_path") else request.url.path
        answer = callbacks.too_large(Provider.VIDU) if body is None else await run_in_threadpool(
            lambda: callbacks.receive_vidu(receiver(), path, request.url.query, request.headers, body))
        return JSONResponse(answer.body, status_code=answer.status)

    async def kling(request: Request) -> JSONResponse:
        body = await body_of(request)
        answer = callbacks.too_large(Provider.KLING) if body is None else await run_in_threadpool(
            lambda: callbacks.receive_kling(receiver(), request.headers, body))
        return JSONResponse(answer.body, status_code=answer.status)

    return [Route(callbacks.PATHS[Provider.VIDU], vidu, methods=["POST"]),
            Route(callbacks.PATHS[Provider.KLING], kling, methods=["POST"])]


def _receiver() -> callbacks.Receiver:
    current = services()
    return callbacks.receiver_for(current.settings, current.store, current.worker, current.vidu_key)


# The studio's own scripts, by exact name: only what lib/ui/static holds (wavesurfer.js for the waveform player).
_STATIC = Path(__file__).parent / "static"
_ASSETS = {path.relative_to(_STATIC).as_posix(): path for path in _STATIC.rglob("*.js")}


async def _asset(request: Request):
    found = _ASSETS.get(request.path_params["name"])
    if found is None:
        return PlainTextResponse("Not found.", status_code=404)
    return FileResponse(found, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


MAX_SESSION_BODY_BYTES = 4096  # a ticket is about 400 characters


def _same_origin(request: Request) -> bool:
    """Only the studio's own page may set or clear its sign-in (no sign-in forced on someone from another site)."""
    site, origin = request.headers.get("sec-fetch-site"), request.headers.get("origin")
    return site in (None, "same-origin") and origin is not None and urlsplit(origin).netloc == request.headers.get(
        "host")


def _cookie_flags(request: Request) -> dict:
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"
    return {"path": "/", "httponly": True, "samesite": "lax", "secure": secure}


async def _session_start(request: Request) -> Response:
    """Swaps a one-time ticket (lib.ui.auth hands it to the page after a password sign-in) for the cookie. It
    answers, never redirects: there is no address in it to send anyone to."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SESSION_BODY_BYTES:
            break
    ticket = parse_qs(body.decode("latin-1")).get("ticket", [""])[0] if len(body) <= MAX_SESSION_BODY_BYTES else ""
    cookie = auth.signer().redeem(ticket) if _same_origin(request) else None
    if cookie is None:
        log.warning("refused a sign-in ticket: expired, used before, altered, or sent from another site")
        return PlainTextResponse("This sign-in has expired. Please sign in again.", status_code=403)
    answer = Response(status_code=204, headers={"Cache-Control": "no-store"})
    answer.set_cookie(sessions.COOKIE, cookie, max_age=sessions.LIFETIME_SECONDS, **_cookie_flags(request))
    return answer


async def _session_end(request: Request) -> Response:
    if not _same_origin(request):
        return PlainTextResponse("Not allowed.", status_code=403)
    answer = Response(status_code=204, headers={"Cache-Control": "no-store"})
    answer.delete_cookie(sessions.COOKIE, **_cookie_flags(request))
    return answer


routes = [*make_routes(_receiver),
          Route(auth.START_ROUTE, _session_start, methods=["POST"]),
          Route(auth.END_ROUTE, _session_end, methods=["POST"]),
          Route(f"{media_urls.ASSETS_ROUTE}/{{name:path}}", _asset, methods=["GET", "HEAD"]),
          media_urls.route(lambda: services().links, lambda name: services().archive.served(name)),
          media_urls.route(lambda: services().links, lambda name: services().exports.file(name),
                           media_urls.EXPORTS_ROUTE)]


def _inline_script_hashes() -> str:
    """CSP hashes of the inline scripts in Streamlit's own index.html (one line today), read from the installed
    Streamlit so an upgrade cannot silently break the page."""
    page = (Path(streamlit.__file__).parent / "static" / "index.html").read_text()
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
                    for body in re.findall(r"<script>(.*?)</script>", page, re.S))


# The tightest policy the studio still works under (checked in Chromium by tests/e2e/test_headers.py): scripts
# only from the studio itself (plus Streamlit's one inline line, by hash, and blob: modules, which is how Streamlit
# loads a components-v2 script such as the waveform player's: only the page's own scripts can make one); inline
# styles, which Streamlit's styling library writes at run time; media and images also from the vendors' (or the simulator's) addresses,
# which the players fall back to when no copy was kept; no framing, plugins, or foreign form targets.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    f"script-src 'self' 'wasm-unsafe-eval' blob: {_inline_script_hashes()}",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob: http: https:",
    "media-src 'self' data: blob: http: https:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_RAW_HEADERS = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items()]
_STARTS = ("http.response.start", "websocket.accept", "websocket.http.response.start")


class SecurityHeaders:
    """ASGI middleware: the headers above on every answer (pages, static files, health, callbacks, and the
    WebSocket handshake's answer), replacing any of the same name a route set. A WebSocket refused before its
    handshake (another origin, say) gets a plain 403 with these headers too, where the server can send one."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        can_answer = "websocket.http.response" in scope.get("extensions", {})
        answered = False

        async def send_with_headers(message):
            nonlocal answered
            kind = message["type"]
            if kind == "websocket.close" and not answered and can_answer:
                answered = True  # a later close has nothing left to refuse
                await send({"type": "websocket.http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *_RAW_HEADERS]})
                await send({"type": "websocket.http.response.body", "body": b"Forbidden"})
                return
            if kind in _STARTS:
                answered = True
                ours = {name for name, _ in _RAW_HEADERS}
                kept = [(name, value) for name, value in message.get("headers", []) if name.lower() not in ours]
                message = {**message, "headers": kept + _RAW_HEADERS}
            await send(message)

        await self.app(scope, receive, send_with_headers)


middleware = [Middleware(SecurityHeaders)]
