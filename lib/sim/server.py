"""HTTP plumbing: one ThreadingHTTPServer serving both vendors' routes, the media files and the control plane.

Every vendor request goes: route -> auth -> request log -> fault rules -> handler. Vendor modules expose the same
small interface (NAME, PREFIX, ROUTES, authenticate, status_error, on_change), so this module never needs to
know either wire format.
"""
from __future__ import annotations

import re
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from lib.sim import control, kling, vidu
from lib.sim.assets import MEDIA_PREFIX, AssetStore
from lib.sim.callbacks import MARK_HEADER, Dispatcher
from lib.sim.engine import Engine, Task
from lib.sim.faults import Fault, FaultTable
from lib.sim.messages import Reply, Request
from lib.sim.options import Options

VENDORS = {vidu.NAME: vidu, kling.NAME: kling}
LOG_SIZE = 10_000
_BYTE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_PROXY_PAGE = ("<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n<center><h1>{status} {phrase}"
               "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    time: float
    vendor: str | None  # None for media downloads and unknown paths
    auth_valid: bool | None  # None where no auth is asked for


class Simulator:
    """A running simulator. Create it with `start()`; `stop()` (or a `with` block) shuts it down."""

    def __init__(self, host: str, port: int, options: Options):
        self.options = options
        self.started = time.time()
        self.assets = AssetStore(options.media_cache_mb * 2**20)
        self.dispatcher = Dispatcher(options.speed, options.public_callbacks_only)
        self.faults = FaultTable()
        self.engine = Engine(options.speed, options.concurrency,
                             {vidu.NAME: options.vidu_credits, kling.NAME: options.kling_units},
                             self.assets, self._on_change, queue_seconds=options.queue_seconds)
        self._log: deque[LoggedRequest] = deque(maxlen=LOG_SIZE)
        self._http = ThreadingHTTPServer((host, port), _Handler)
        self._http.daemon_threads = True
        self._http.simulator = self
        self.dispatcher.own = self._http.server_address[:2]
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self.url = f"http://{shown}:{self._http.server_port}"
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,),  # quick to stop
                                        name="sim-http", daemon=True)
        self._thread.start()

    # --- in-process control (the same switches as /_sim/...) --------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        return list(self._log)

    def add_fault(self, **rule) -> Fault:
        fault = Fault.from_json(rule)
        self.faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_credits(self, **balances) -> None:
        """Set balances by vendor, e.g. `set_credits(vidu=0)` to test running out (Kling counts units)."""
        for name, amount in balances.items():
            if name not in VENDORS:
                raise ValueError(f"unknown vendor: {name}")
            self.engine.set_balance(name, Decimal(str(amount)) if name == kling.NAME else int(amount))

    def reset(self) -> None:
        """Forget tasks, media, faults and the request log; balances go back to their starting values."""
        self.engine.reset()
        self.assets.reset()
        self.faults.clear()
        self._log.clear()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self.engine.stop()
        self.dispatcher.stop()
        self.assets.stop()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- request handling -------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply | None:
        """The reply to send, or None to drop the connection."""
        if request.headers.get(MARK_HEADER) == self.dispatcher.mark:  # one of our own callbacks, aimed at us
            self._log.append(LoggedRequest(request.method, request.path, time.time(), None, None))
            return _plain(403)
        if request.path.startswith("/_sim/") and not request.path.startswith(MEDIA_PREFIX):
            return control.handle(self, request)
        vendor, handler, params = self._route(request)
        identity = vendor.authenticate(self, request) if vendor else None
        self._log.append(LoggedRequest(request.method, request.path, time.time(), vendor and vendor.NAME,
                                       None if vendor is None else not isinstance(identity, Reply)))
        fault = self.faults.take(request.method, request.path)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.drop:
                return None
        reply = (fault and self._fault_reply(fault, vendor)) or self._answer(request, vendor, handler, identity, params)
        if fault is not None and fault.body == "malformed":
            reply.body = reply.body[:len(reply.body) // 2]
        return reply

    def _answer(self, request: Request, vendor, handler, identity, params: dict) -> Reply:
        try:
            if isinstance(identity, Reply):
                return identity
            if handler is not None:
                return handler(self, request, identity, **params)
            return vendor.status_error(404) if vendor else _plain(404)
        except Exception:  # a simulator bug must still answer in the vendor's format
            traceback.print_exc(file=sys.stderr)
            return vendor.status_error(500) if vendor else _plain(500)

    def _route(self, request: Request):
        """(vendor module or None, handler or None, path parameters)."""
        if request.path.startswith(MEDIA_PREFIX) and request.method in ("GET", "HEAD"):
            return None, serve_media, {}
        for vendor in VENDORS.values():
            if request.path.startswith(vendor.PREFIX):
                for method, pattern, handler in vendor.ROUTES:
                    match = pattern.fullmatch(request.path)
                    if match and method == request.method:
                        # Decode ids only now: an encoded "/" in an external id must not split the path.
                        params = {name: unquote(value) for name, value in match.groupdict().items()}
                        return vendor, handler, params
                return vendor, None, {}
        return None, None, {}

    @staticmethod
    def _fault_reply(fault: Fault, vendor) -> Reply | None:
        """The canned answer a fault rule asks for, or None when the real handler should answer."""
        if fault.body == "html":
            status = fault.status or 502
            page = _PROXY_PAGE.format(status=status, phrase=HTTPStatus(status).phrase)
            reply = Reply(status, page.encode(), "text/html")
        elif fault.kling_code_in_200 is not None:
            reply = kling.error(fault.kling_code_in_200, status=200)
        elif fault.redirect is not None:
            reply = Reply(302, b"", "text/plain; charset=utf-8", {"Location": fault.redirect})
        elif fault.status is not None:
            reply = vendor.status_error(fault.status, fault.code, fault.message) if vendor else _plain(fault.status)
        else:
            return None
        if fault.retry_after is not None:
            reply.headers["Retry-After"] = f"{fault.retry_after:g}"
        return reply

    def _on_change(self, task: Task) -> None:
        VENDORS[task.vendor].on_change(self, task)


def _plain(status: int) -> Reply:
    return Reply(status, HTTPStatus(status).phrase.encode(), "text/plain; charset=utf-8")


def serve_media(sim: Simulator, request: Request, identity: None) -> Reply:
    """A signed media URL, like a CDN: 403 once expired or tampered with; byte ranges so players can seek."""
    name = request.path[len(MEDIA_PREFIX):]
    verdict = sim.assets.check(name, request.query.get("Expires", ""), request.query.get("Signature", ""))
    if verdict != "ok":
        message = "Request has expired" if verdict == "expired" else "Invalid signature"
        body = f"<Error><Code>AccessDenied</Code><Message>{message}</Message></Error>"
        return Reply(403, body.encode(), "application/xml")
    found = sim.assets.read(name)
    if found is None:  # issued before a reset
        return _plain(404)
    data, content_type = found
    headers = {"Accept-Ranges": "bytes"}
    match = _BYTE_RANGE.fullmatch((request.headers.get("Range") or "").strip())
    if not match or match.groups() == ("", ""):  # no range, or a form we do not serve: the whole file
        return Reply(200, data, content_type, headers)
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last), len(data) - 1) if last else len(data) - 1
    else:  # "bytes=-N": the last N bytes
        start, end = max(0, len(data) - int(last)), len(data) - 1
    if start > end or start >= len(data):
        return Reply(416, b"", content_type, {**headers, "Content-Range": f"bytes */{len(data)}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
    return Reply(206, data[start:end + 1], content_type, headers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, which media players rely on when seeking
    server_version = "lib.sim"

    def _serve(self) -> None:
        sim: Simulator = self.server.simulator
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        host = self.headers.get("Host")
        request = Request(self.command, url.path,
                          {name: values[0] for name, values in parse_qs(url.query, keep_blank_values=True).items()},
                          self.headers, self.rfile.read(length) if length else b"",
                          f"http://{host}" if host else sim.url)
        reply = sim.handle(request)
        if reply is None:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format, *args) -> None:
        """Quiet: the request log is at /_sim/requests."""


def start(host: str = "127.0.0.1", port: int = 0, **options) -> Simulator:
    """Start a simulator in daemon threads; port 0 picks a free port (see `.url`)."""
    return Simulator(host, port, Options(**options))
