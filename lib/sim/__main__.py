"""`python -m lib.sim --port 8765`: run the simulator until interrupted."""
from __future__ import annotations

import argparse
import threading

from lib.sim.options import DEFAULT_PORT, Options
from lib.sim.server import start


def _options(args: argparse.Namespace) -> dict:
    """Only what was given: key options replace the demo keys of their kind, everything else keeps its default."""
    chosen = {"speed": args.speed, "url_ttl": args.url_ttl, "vidu_keys": args.vidu_key,
              "kling_api_keys": args.kling_api_key, "kling_webhook_secret": args.kling_webhook_secret,
              "vidu_credits": args.vidu_credits, "kling_units": args.kling_units, "concurrency": args.concurrency,
              "queue_seconds": args.queue_seconds, "public_callbacks_only": args.public_callbacks_only or None}
    if args.kling_access_key:
        chosen["kling_keys"] = {args.kling_access_key: args.kling_secret_key}
    return {name: value for name, value in chosen.items() if value is not None}


def main(argv: list[str] | None = None) -> None:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m lib.sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--speed", type=float, help=f"divide vendor durations by this (default {defaults.speed:g})")
    parser.add_argument("--url-ttl", type=float, help=f"seconds media URLs stay valid (default {defaults.url_ttl:g})")
    parser.add_argument("--vidu-key", action="append", help="accepted Vidu API key (repeatable; default: demo key)")
    parser.add_argument("--kling-access-key", help="Kling AccessKey for JWT auth (default: demo AK)")
    parser.add_argument("--kling-secret-key", help="the SecretKey that signs its JWTs")
    parser.add_argument("--kling-api-key", action="append", help="accepted Kling API key (repeatable)")
    parser.add_argument("--kling-webhook-secret", help="whsec_... : sign Kling callbacks (Standard Webhooks)")
    parser.add_argument("--vidu-credits", type=int, help=f"starting Vidu balance (default {defaults.vidu_credits})")
    parser.add_argument("--kling-units", type=float, help=f"starting Kling balance (default {defaults.kling_units})")
    parser.add_argument("--concurrency", type=int, help=f"running tasks per vendor (default {defaults.concurrency})")
    parser.add_argument("--queue-seconds", type=float,
                        help="real seconds every new task waits queued before it runs, so it can be cancelled "
                             f"(default {defaults.queue_seconds:g})")
    parser.add_argument("--public-callbacks-only", action="store_true",
                        help="refuse callback addresses that are not public (loopback, private, this simulator)")
    args = parser.parse_args(argv)
    if bool(args.kling_access_key) != bool(args.kling_secret_key):
        parser.error("--kling-access-key and --kling-secret-key go together")
    sim = start(args.host, args.port, **_options(args))
    print(f"lib.sim: Vidu and Kling simulator listening on {sim.url} (speed {sim.options.speed:g})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
