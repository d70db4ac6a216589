"""Shopify signatures: a known answer, round trips with our own signer, hints and hostile
header values."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from webbin.signatures.base import Options, SignedRequest
from webbin.signatures.shopify import SCHEME

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BODY = b'{"id": 820982911946154508, "email": "jon@doe.ca", "total_price": "10.00"}'
SECRET = "shpss_0123456789abcdef0123456789abcdef"


def shopify_hmac(secret: str | bytes, body: bytes) -> str:
    """Independent signer: base64 HMAC-SHA256 of the raw body, keyed with the client secret."""
    key = secret.encode() if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def request(value: str | None, body: bytes = BODY) -> SignedRequest:
    headers = [("X-Shopify-Topic", "orders/create")]
    if value is not None:
        headers.append(("X-Shopify-Hmac-Sha256", value))
    return SignedRequest(method="POST", url="https://bin.example/h/abc", headers=headers,
                         body=body, received_at=NOW)


def verify(req: SignedRequest, *secrets: str):
    return SCHEME.verify(req, Options(secrets=secrets))


def test_known_answer() -> None:
    # Shopify publishes no test vector (shopify.dev/docs/apps/build/webhooks/verify-deliveries
    # describes the algorithm only, and Shopify/shopify-api-ruby's tests compute theirs at run
    # time), so this one was computed independently with Python's hmac module.
    req = request("fp5HwmAHEVGQQwJU1KRpk57Ts2YHF6/TLOCczCtB5bs=",
                  b'{"id":820982911946154508,"email":"jon@doe.ca"}')
    verdict = verify(req, "hush")
    assert verdict.status == "valid"
    assert verdict.expected == "fp5HwmAHEVGQQwJU1KRpk57Ts2YHF6/TLOCczCtB5bs="


def test_signed_is_valid() -> None:
    verdict = verify(request(shopify_hmac(SECRET, BODY)), SECRET)
    assert verdict.status == "valid"
    assert verdict.construction == "{body}"
    assert verdict.timestamp is None


def test_one_body_byte_changed_is_invalid() -> None:
    req = request(shopify_hmac(SECRET, BODY), BODY.replace(b"10.00", b"10.01"))
    assert verify(req, SECRET).status == "invalid"


def test_header_removed_is_unsigned() -> None:
    assert verify(request(None), SECRET).status == "unsigned"


def test_no_secret_is_unverified() -> None:
    assert verify(request(shopify_hmac(SECRET, BODY))).status == "unverified"


def test_second_secret_matches() -> None:
    verdict = verify(request(shopify_hmac(SECRET, BODY)), "previous-secret", SECRET)
    assert verdict.status == "valid" and verdict.matched_secret == 1


@pytest.mark.parametrize("value", [
    "", "=", "not base64 at all", "AAAA", "\udcff\x00", "A" * 50000,
    "0" * 64,  # hex-sized, but not this body's HMAC
])
def test_garbage_header_is_invalid(value: str) -> None:
    verdict = verify(request(value), SECRET)
    assert verdict.status == "invalid"
    assert verdict.reason


def test_hex_instead_of_base64_hint() -> None:
    value = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert "written as hex" in verify(request(value), SECRET).hint


def test_reencoded_body_hint() -> None:
    compact = b'{"id":820982911946154508,"email":"jon@doe.ca","total_price":"10.00"}'
    assert "re-serialised" in verify(request(shopify_hmac(SECRET, compact)), SECRET).hint


def test_unknown_secret_hint() -> None:
    assert "another endpoint" in verify(request(shopify_hmac("x", BODY)), SECRET).hint


def test_sign_matches_independent_signer_and_verifies() -> None:
    headers = SCHEME.sign(BODY, SECRET, 0, "https://bin.example/h/abc", Options())
    assert headers == [("X-Shopify-Hmac-Sha256", shopify_hmac(SECRET, BODY))]
    assert verify(request(headers[0][1]), SECRET).status == "valid"
