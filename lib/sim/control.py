"""The control plane under /_sim/: health, request log, reset, fault rules and balances (moto-style switches).

Every call here maps onto a Simulator method, so tests can use either HTTP or the in-process API.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from lib.sim.messages import Reply, Request

if TYPE_CHECKING:
    from lib.sim.server import Simulator


def _bad(message: str) -> Reply:
    return Reply.json(400, {"error": message})


def _health(sim: Simulator, request: Request) -> Reply:
    return Reply(200, b"ok", "text/plain; charset=utf-8")


def _requests(sim: Simulator, request: Request) -> Reply:
    return Reply.json(200, [asdict(entry) for entry in sim.requests])


def _reset(sim: Simulator, request: Request) -> Reply:
    sim.reset()
    return Reply.json(200, {})


def _faults(sim: Simulator, request: Request) -> Reply:
    return Reply.json(200, [fault.to_json() for fault in sim.faults.active()])


def _add_fault(sim: Simulator, request: Request) -> Reply:
    rule = request.json_object()
    if rule is None:
        return _bad("send a JSON object, e.g. {\"match\": \"/ent/v2/tasks/\", \"status\": 429, \"times\": 2}")
    try:
        return Reply.json(200, sim.add_fault(**rule).to_json())
    except (TypeError, ValueError) as problem:
        return _bad(str(problem))


def _clear_faults(sim: Simulator, request: Request) -> Reply:
    sim.clear_faults()
    return Reply.json(200, {})


def _credits(sim: Simulator, request: Request) -> Reply:
    balances = {name: sim.engine.balance(name) for name in ("vidu", "kling")}
    return Reply.json(200, {name: int(value) if value == int(value) else float(value)  # Kling units are Decimal
                            for name, value in balances.items()})


def _set_credits(sim: Simulator, request: Request) -> Reply:
    balances = request.json_object()
    if balances is None:
        return _bad("send a JSON object, e.g. {\"vidu\": 0}")
    try:
        sim.set_credits(**balances)
    except (TypeError, ValueError, ArithmeticError) as problem:
        return _bad(str(problem))
    return _credits(sim, request)


ROUTES = {
    ("GET", "/_sim/health"): _health,
    ("GET", "/_sim/requests"): _requests,
    ("POST", "/_sim/reset"): _reset,
    ("GET", "/_sim/faults"): _faults,
    ("POST", "/_sim/faults"): _add_fault,
    ("DELETE", "/_sim/faults"): _clear_faults,
    ("GET", "/_sim/credits"): _credits,
    ("POST", "/_sim/credits"): _set_credits,
}


def handle(sim: Simulator, request: Request) -> Reply:
    action = ROUTES.get((request.method, request.path))
    return action(sim, request) if action else Reply.json(404, {"error": "no such control endpoint",
                                                                "endpoints": [" ".join(key) for key in ROUTES]})
