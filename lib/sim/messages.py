"""The request and reply values the route handlers see, so vendor modules stay free of http.server plumbing."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]  # first value of each query parameter
    headers: Message  # case-insensitive .get()
    body: bytes
    base_url: str  # scheme://host:port as the client addressed us, for media URLs it can reach

    def json_object(self) -> dict | None:
        """The body as a JSON object, or None when it is empty, not JSON or not an object."""
        try:
            value = json.loads(self.body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value) -> Reply:
        return cls(status, json.dumps(value, ensure_ascii=False).encode())
