"""The studio's web server: Streamlit's ASGI app plus what runs once per process at start-up, and the vendor
callback routes (`POST /callbacks/vidu`, `POST /callbacks/kling`) served by the same process as the UI."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from streamlit.runtime.pages_manager import PagesManager

from lib import callbacks
from lib.tasks import Provider
from lib.ui.runtime import services


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
    """The callback routes; each one reads the request and hands it to `lib.callbacks` off the event loop
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


routes = make_routes(_receiver)
