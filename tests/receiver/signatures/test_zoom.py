"""Zoom: x-zm-signature v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures._common import BODY_REENCODED_HINT, OTHER_ENDPOINT_HINT
from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.zoom import SCHEME

SECRET = "6WkTv-F0TAGNRoQh6b_Hjg"
NOW = datetime.now(UTC)
TS = int(NOW.timestamp())
BODY = b'{"event":"meeting.started","payload":{"account_id":"abc","object":{"id":"1234567890"}}}'


def signed(body: bytes, secret: str | bytes, timestamp: int = TS) -> str:
    """The test's own signer, straight from Zoom's documented recipe."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "v0=" + hmac.new(key, f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


def headers_for(body: bytes = BODY, secret: str | bytes = SECRET, timestamp: int = TS):
    return [
        ("x-zm-request-timestamp", str(timestamp)),
        ("x-zm-signature", signed(body, secret, timestamp)),
    ]


def request(
    headers: list[tuple[str, str]], body: bytes = BODY, received_at: datetime = NOW
) -> SignedRequest:
    return SignedRequest(
        method="POST",
        url="https://bin.example/zoom",
        headers=[("Content-Type", "application/json; charset=utf-8"), *headers],
        body=body,
        received_at=received_at,
    )


def signed_request(body: bytes = BODY, sent: bytes | None = None, **changes):
    return request(headers_for(body, **changes), body if sent is None else sent)


CASE = Provider(SCHEME, SECRET, signed_request, lambda: request(headers_for()[:1]))


def test_known_answer():
    # Zoom publishes no test vector (https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events
    # gives only the recipe). Body modelled on the docs' endpoint.url_validation example; the
    # signature was computed independently with
    # printf '%s' "v0:1654503849:$BODY" | openssl dgst -sha256 -hmac 6WkTv-F0TAGNRoQh6b_Hjg
    body = (
        b'{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},'
        b'"event_ts":1654503849680}'
    )
    expected = "v0=88dc6c092ae21cbe82c3b4dded5d485f6c5b2340fc104b3beef2021438f5b94e"
    verdict = SCHEME.verify(
        request(
            [("x-zm-request-timestamp", "1654503849"), ("x-zm-signature", expected)],
            body,
            datetime.fromtimestamp(1654503851, UTC),
        ),
        Options(secrets=(SECRET,)),
    )
    assert verdict.status == "valid"
    assert verdict.expected == expected
    assert (verdict.timestamp, verdict.age_seconds) == (1654503849, 2.0)
    assert verdict.construction == "v0:{x-zm-request-timestamp}:{body}"
    assert verdict.headers_read == ["x-zm-signature", "x-zm-request-timestamp"]


def test_round_trip_valid():
    CASE.valid()


def test_one_body_byte_changed_is_invalid():
    tampered = BODY.replace(b"abc", b"abd")
    verdict = CASE.invalid(sent=tampered)
    assert verdict.expected == signed(tampered, SECRET)
    assert verdict.hint == OTHER_ENDPOINT_HINT


def test_timestamp_aged_past_tolerance_is_stale():
    verdict = CASE.stale(timestamp=TS - 301)
    assert verdict.age_seconds == pytest.approx(301, abs=1)


def test_timestamp_in_the_future_is_stale():
    assert "after" in CASE.stale(timestamp=TS + 3600).reason


def test_header_removed_is_unsigned():
    CASE.header_removed()


def test_no_secret_is_unverified():
    assert CASE.no_secret().timestamp == TS


def test_second_secret_matches():
    CASE.second_secret("old-token")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "v0=",
        "v1=" + "0" * 64,
        "v0=" + "Z" * 64,
        "0" * 64,
        "v0=" + "0" * 100_000,
        "\x00\xff\u202e",
    ],
)
def test_garbage_signature_is_invalid(garbage):
    CASE.invalid(request([("x-zm-request-timestamp", str(TS)), ("x-zm-signature", garbage)]))


@pytest.mark.parametrize("timestamp", ["", "abc", "-5", "1e9", "9" * 5000, "١٧٠٠٠٠٠٠٠٠"])
def test_garbage_timestamp_is_invalid(timestamp):
    headers = [("x-zm-request-timestamp", timestamp), ("x-zm-signature", signed(BODY, SECRET))]
    assert "x-zm-request-timestamp" in CASE.invalid(request(headers)).reason


def test_missing_timestamp_is_invalid():
    verdict = CASE.invalid(request(headers_for()[1:]))
    assert verdict.reason == "No x-zm-request-timestamp header, which the signature covers."


def test_hint_body_reencoded():
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    assert CASE.hint(body=pretty, sent=BODY) == BODY_REENCODED_HINT


def test_hint_secret_hex_decoded_by_sender():
    secret = "00112233445566778899aabbccddeeff"
    assert "hex-decoded" in CASE.hint(None, secret, secret=bytes.fromhex(secret))


def test_sign_round_trips():
    headers = SCHEME.sign(BODY, SECRET, TS, "https://bin.example/zoom", Options())
    assert headers == headers_for()
    assert CASE.verify(request(headers), SECRET).status == "valid"


def test_detect():
    assert SCHEME.detect(request([("X-Zm-Signature", "v0=x")]))
    assert not SCHEME.detect(request([("x-zm-request-timestamp", "1")]))
