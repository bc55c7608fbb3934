"""HTTP test doubles for the client and transport tests: canned answers, a recording transport, a scripted session."""
from __future__ import annotations

import json
from pathlib import Path

import requests

FIXTURES = Path(__file__).parent / "fixtures"


def examples(vendor: str) -> dict:
    return json.loads((FIXTURES / f"{vendor}_examples.json").read_text())


def response(status: int = 200, body=None, *, text: str | None = None, headers: dict | None = None) -> requests.Response:
    """A requests.Response with a JSON body (or raw `text`), as a session would return it."""
    resp = requests.Response()
    resp.status_code = status
    resp._content = (text if text is not None else json.dumps(body)).encode()
    resp._content_consumed = True
    resp.headers.update(headers or {})
    resp.encoding = "utf-8"
    return resp


class FakeTransport:
    """Stands in for lib.transport.Transport: answers from a queue and records each request."""

    def __init__(self, *answers: requests.Response):
        self.answers = list(answers)
        self.calls: list[dict] = []

    def request(self, method, url, *, headers=None, json=None, params=None, retry):
        self.calls.append({"method": method, "url": url, "headers": headers, "json": json, "params": params,
                           "retry": retry})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeSession:
    """Stands in for requests.Session inside a real Transport: answers (or raises) from a queue."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls: list[dict] = []

    def request(self, method, url, **kwargs):
        self.calls.append({"method": method, "url": url, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer
