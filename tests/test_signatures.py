"""Callback signatures against the vendors' published test vectors, and tampering."""
import pytest

from lib.vendors.signatures import (
    vidu_callback_headers,
    vidu_signature,
    vidu_signature_valid,
    vidu_signing_string,
    webhook_signature,
    webhook_signature_valid,
)

# vidu_api.md §8.2
VIDU_SECRET = "vda_test_key"
VIDU_URL = "http://127.0.0.1:8080/vidu/callback?name=james&age=36"
VIDU_DATE = "Tue, 06 May 2025 12:09:42 GMT"
VIDU_NONCE = "123e4567-e89b-12d3-a456-426614174000"
VIDU_EXPECTED = "uDl3Wvgx6utIjKWRnCyt4OhsefE06Qj8cCg41RV4aeE="
VIDU_HEADERS = {"Date": VIDU_DATE, "x-request-nonce": VIDU_NONCE, "X-HMAC-SIGNED-HEADERS": "Date;x-request-nonce",
                "X-HMAC-SIGNATURE": VIDU_EXPECTED, "X-HMAC-ALGORITHM": "hmac-sha256", "X-HMAC-ACCESS-KEY": "vidu"}

# kling_api.md §8 (Standard Webhooks)
KLING_SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
KLING_ID, KLING_TS = "9876543210", "1781080794"
KLING_BODY = (b'{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,'
              b'"update_time":1781080794151}')
KLING_EXPECTED = "v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4="


def test_vidu_signing_string_matches_the_doc():
    assert vidu_signing_string("post", VIDU_URL, VIDU_HEADERS, ("Date", "x-request-nonce")) == (
        "POST\n/vidu/callback\nname=james&age=36\nvidu\nTue, 06 May 2025 12:09:42 GMT\n"
        "Date:Tue, 06 May 2025 12:09:42 GMT\nx-request-nonce:123e4567-e89b-12d3-a456-426614174000\n")


def test_vidu_vector():
    assert vidu_signature(VIDU_SECRET, "POST", VIDU_URL, VIDU_HEADERS) == VIDU_EXPECTED
    assert vidu_signature_valid(VIDU_SECRET, "POST", VIDU_URL, VIDU_HEADERS)
    assert vidu_callback_headers(VIDU_SECRET, VIDU_URL, VIDU_DATE, VIDU_NONCE) == VIDU_HEADERS


def test_vidu_headers_are_read_case_insensitively():
    lowered = {name.lower(): value for name, value in VIDU_HEADERS.items()}
    assert vidu_signature_valid(VIDU_SECRET, "POST", VIDU_URL, lowered)


@pytest.mark.parametrize("secret, url, changes", [
    ("vda_other_key", VIDU_URL, {}),
    (VIDU_SECRET, VIDU_URL.replace("james", "jane"), {}),
    (VIDU_SECRET, VIDU_URL.replace("/callback", "/other"), {}),
    (VIDU_SECRET, VIDU_URL, {"Date": "Tue, 06 May 2025 12:09:43 GMT"}),
    (VIDU_SECRET, VIDU_URL, {"x-request-nonce": "another"}),
    (VIDU_SECRET, VIDU_URL, {"X-HMAC-SIGNATURE": VIDU_EXPECTED.replace("u", "v", 1)}),
    (VIDU_SECRET, VIDU_URL, {"X-HMAC-SIGNED-HEADERS": ""}),
    (VIDU_SECRET, VIDU_URL, {"X-HMAC-SIGNED-HEADERS": "Date;x-missing"}),
])
def test_vidu_tampering_fails(secret, url, changes):
    assert not vidu_signature_valid(secret, "POST", url, {**VIDU_HEADERS, **changes})


def test_vidu_missing_date_fails():
    headers = {k: v for k, v in VIDU_HEADERS.items() if k != "Date"}
    assert not vidu_signature_valid(VIDU_SECRET, "POST", VIDU_URL, headers)


def test_kling_vector():
    assert webhook_signature(KLING_SECRET, KLING_ID, KLING_TS, KLING_BODY) == KLING_EXPECTED
    assert webhook_signature_valid(KLING_SECRET, KLING_ID, KLING_TS, KLING_BODY, KLING_EXPECTED)


def test_kling_rotation_header_with_several_signatures():
    assert webhook_signature_valid(KLING_SECRET, KLING_ID, KLING_TS, KLING_BODY, f"v1,b2xk {KLING_EXPECTED}")


@pytest.mark.parametrize("webhook_id, timestamp, body, header", [
    ("9876543211", KLING_TS, KLING_BODY, KLING_EXPECTED),
    (KLING_ID, "1781080795", KLING_BODY, KLING_EXPECTED),
    (KLING_ID, KLING_TS, KLING_BODY.replace(b"succeeded", b"failed"), KLING_EXPECTED),
    (KLING_ID, KLING_TS, KLING_BODY + b" ", KLING_EXPECTED),
    (KLING_ID, KLING_TS, KLING_BODY, KLING_EXPECTED.replace("U", "V", 1)),
    (KLING_ID, KLING_TS, KLING_BODY, ""),
])
def test_kling_tampering_fails(webhook_id, timestamp, body, header):
    assert not webhook_signature_valid(KLING_SECRET, webhook_id, timestamp, body, header)


def test_kling_other_secret_fails():
    other = "whsec_b3RoZXJzZWNyZXRvdGhlcnNlY3JldG90aGVyc2VjcmV0"
    assert not webhook_signature_valid(other, KLING_ID, KLING_TS, KLING_BODY, KLING_EXPECTED)
