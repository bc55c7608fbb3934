"""Callback signatures: Vidu's HMAC scheme and the Standard Webhooks scheme Kling uses.

The simulator signs with these functions and the studio verifies with them, so both sides share one definition,
checked against the vendors' published test vectors.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlparse

VIDU_ACCESS_KEY = "vidu"
VIDU_SIGNED_HEADERS = ("Date", "x-request-nonce")


def vidu_signing_string(method: str, url: str, headers: dict[str, str], signed: tuple[str, ...]) -> str:
    parsed = urlparse(url)
    lower = {name.lower(): value for name, value in headers.items()}
    lines = [method.upper(), parsed.path or "/", parsed.query or "", VIDU_ACCESS_KEY, lower["date"]]
    return "\n".join(lines) + "\n" + "".join(f"{name}:{lower[name.lower()]}\n" for name in signed)


def vidu_signature(secret: str, method: str, url: str, headers: dict[str, str],
                   signed: tuple[str, ...] = VIDU_SIGNED_HEADERS) -> str:
    digest = hmac.new(secret.encode(), vidu_signing_string(method, url, headers, signed).encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def vidu_callback_headers(secret: str, url: str, date: str, nonce: str) -> dict[str, str]:
    """The headers Vidu sends with a callback POST to `url`."""
    headers = {"Date": date, "x-request-nonce": nonce}
    return {**headers,
            "X-HMAC-SIGNED-HEADERS": ";".join(VIDU_SIGNED_HEADERS),
            "X-HMAC-SIGNATURE": vidu_signature(secret, "POST", url, headers),
            "X-HMAC-ALGORITHM": "hmac-sha256",
            "X-HMAC-ACCESS-KEY": VIDU_ACCESS_KEY}


def vidu_signature_valid(secret: str, method: str, url: str, headers: dict[str, str]) -> bool:
    lower = {name.lower(): value for name, value in headers.items()}
    signed = tuple(name for name in lower.get("x-hmac-signed-headers", "").split(";") if name)
    if not signed or "date" not in lower or any(name.lower() not in lower for name in signed):
        return False
    expected = vidu_signature(secret, method, url, headers, signed)
    return hmac.compare_digest(expected, lower.get("x-hmac-signature", ""))


def _webhook_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def webhook_signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks: `v1,` + base64 HMAC-SHA256 of "id.timestamp.body" under the decoded secret."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_webhook_key(secret), message, hashlib.sha256).digest()).decode()


def webhook_signature_valid(secret: str, webhook_id: str, timestamp: str, body: bytes, header: str) -> bool:
    """`header` may hold several space-separated signatures during a secret rotation; one match suffices."""
    expected = webhook_signature(secret, webhook_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in header.split())
