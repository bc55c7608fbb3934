"""HTTP test doubles for the client and transport tests: canned answers and a scripted, recording stand-in."""
from __future__ import annotations

import json
from pathlib import Path

import requests

FIXTURES = Path(__file__).parent / "fixtures"


def examples(vendor: str) -> dict:
    return json.loads((FIXTURES / f"{vendor}_examples.json").read_text())


def response(status: int = 200, body=None, *, text: str | None = None, headers: dict | None = None):
    """A requests.Response with a JSON body (or raw `text`), as a session would return it."""
    resp = requests.Response()
    resp.status_code = status
    resp._content = (text if text is not None else json.dumps(body)).encode()
    resp._content_consumed = True
    resp.headers.update(headers or {})
    resp.encoding = "utf-8"
    return resp


class ScriptedHTTP:
    """Stands in for a Transport (client tests) or a requests.Session (transport tests): answers, or raises,
    from a queue and records each request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls: list[dict] = []

    def request(self, method, url, **kwargs):
        self.calls.append({"method": method, "url": url, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
