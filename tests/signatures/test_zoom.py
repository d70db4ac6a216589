"""Zoom: x-zm-signature v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from webbin.signatures._common import BODY_REENCODED_HINT, OTHER_ENDPOINT_HINT
from webbin.signatures.base import Options, SignedRequest
from webbin.signatures.zoom import SCHEME

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
    verdict = SCHEME.verify(request(headers_for()), Options(secrets=(SECRET,)))
    assert (verdict.status, verdict.matched_secret, verdict.hint) == ("valid", 0, None)


def test_one_body_byte_changed_is_invalid():
    tampered = BODY.replace(b"abc", b"abd")
    verdict = SCHEME.verify(request(headers_for(), tampered), Options(secrets=(SECRET,)))
    assert verdict.status == "invalid"
    assert verdict.expected == signed(tampered, SECRET)
    assert verdict.hint == OTHER_ENDPOINT_HINT


def test_timestamp_aged_past_tolerance_is_stale():
    verdict = SCHEME.verify(
        request(headers_for(timestamp=TS - 301)), Options(secrets=(SECRET,), tolerance_seconds=300)
    )
    assert verdict.status == "stale"
    assert verdict.matched_secret == 0
    assert verdict.age_seconds == pytest.approx(301, abs=1)


def test_timestamp_in_the_future_is_stale():
    verdict = SCHEME.verify(request(headers_for(timestamp=TS + 3600)), Options(secrets=(SECRET,)))
    assert verdict.status == "stale"
    assert "after" in verdict.reason


def test_header_removed_is_unsigned():
    verdict = SCHEME.verify(request(headers_for()[:1]), Options(secrets=(SECRET,)))
    assert verdict.status == "unsigned"


def test_no_secret_is_unverified():
    verdict = SCHEME.verify(request(headers_for()), Options())
    assert verdict.status == "unverified"
    assert verdict.timestamp == TS


def test_second_secret_matches():
    verdict = SCHEME.verify(request(headers_for()), Options(secrets=("old-token", SECRET)))
    assert (verdict.status, verdict.matched_secret) == ("valid", 1)


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
    verdict = SCHEME.verify(
        request([("x-zm-request-timestamp", str(TS)), ("x-zm-signature", garbage)]),
        Options(secrets=(SECRET,)),
    )
    assert verdict.status == "invalid"
    assert verdict.reason


@pytest.mark.parametrize("timestamp", ["", "abc", "-5", "1e9", "9" * 5000, "١٧٠٠٠٠٠٠٠٠"])
def test_garbage_timestamp_is_invalid(timestamp):
    verdict = SCHEME.verify(
        request([("x-zm-request-timestamp", timestamp), ("x-zm-signature", signed(BODY, SECRET))]),
        Options(secrets=(SECRET,)),
    )
    assert verdict.status == "invalid"
    assert "x-zm-request-timestamp" in verdict.reason


def test_missing_timestamp_is_invalid():
    verdict = SCHEME.verify(request(headers_for()[1:]), Options(secrets=(SECRET,)))
    assert verdict.status == "invalid"
    assert verdict.reason == "No x-zm-request-timestamp header, which the signature covers."


def test_hint_body_reencoded():
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    verdict = SCHEME.verify(request(headers_for(pretty)), Options(secrets=(SECRET,)))
    assert verdict.status == "invalid"
    assert verdict.hint == BODY_REENCODED_HINT


def test_hint_secret_hex_decoded_by_sender():
    secret = "00112233445566778899aabbccddeeff"
    verdict = SCHEME.verify(
        request(headers_for(secret=bytes.fromhex(secret))), Options(secrets=(secret,))
    )
    assert verdict.status == "invalid"
    assert "hex-decoded" in verdict.hint


def test_sign_round_trips():
    headers = SCHEME.sign(BODY, SECRET, TS, "https://bin.example/zoom", Options())
    assert headers == headers_for()
    assert SCHEME.verify(request(headers), Options(secrets=(SECRET,))).status == "valid"


def test_detect():
    assert SCHEME.detect(request([("X-Zm-Signature", "v0=x")]))
    assert not SCHEME.detect(request([("x-zm-request-timestamp", "1")]))
