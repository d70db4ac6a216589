"""Linear: hex HMAC-SHA256 of the body in Linear-Signature; webhookTimestamp (ms) in the body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures._common import BODY_REENCODED_HINT, OTHER_ENDPOINT_HINT
from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.linear import SCHEME

SECRET = "lin_wh_5f2b9c0e8a7d4e1f"
NOW = datetime.now(UTC)

# Body and secret from Linear's SDK tests (linear/linear, packages/sdk/src/_tests/LinearWebhooks.test.ts:
# JSON.stringify of its requestBody, secret "SECRET"). The SDK computes its signature at run
# time, so the signature below was computed independently with
# printf '%s' "$BODY" | openssl dgst -sha256 -hmac SECRET
SDK_BODY = (
    b'{"action":"create","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",'
    b'"createdAt":"2020-01-23T12:53:18.084Z","updatedAt":"2020-01-23T12:53:18.084Z",'
    b'"archivedAt":null,"body":"Indeed, I think this is definitely an improvement over the '
    b'previous version.","edited":false,"issueId":"539068e2-ae88-4d09-bd75-22eb4a59612f",'
    b'"userId":"aacdca22-6266-4c0a-ab3c-8fa70a26765c"},"type":"Comment",'
    b'"url":"https://linear.app/issue/LIN-1778/foo-bar#comment-77217de3-fb52-4dad-bb9a-b356beb93de8",'
    b'"createdAt":"2020-01-23T12:53:18.084Z","webhookTimestamp":1677611643000}'
)
SDK_SIGNATURE = "8790fcbbea809950be9198408593c2a13f7591bba6c61adb589f709b5e1b186a"


def body_at(millis: int) -> bytes:
    return json.dumps(
        {"action": "create", "type": "Issue", "data": {"id": "i1"}, "webhookTimestamp": millis},
        separators=(",", ":"),
    ).encode()


BODY = body_at(int(NOW.timestamp() * 1000))


def signed(body: bytes, secret: str | bytes) -> str:
    """The test's own signer, straight from the documented recipe."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def request(
    headers: list[tuple[str, str]], body: bytes = BODY, received_at: datetime = NOW
) -> SignedRequest:
    return SignedRequest(
        method="POST",
        url="https://bin.example/linear",
        headers=[("Content-Type", "application/json; charset=utf-8"), *headers],
        body=body,
        received_at=received_at,
    )


def signed_request(body: bytes = BODY, secret: str | bytes = SECRET, sent: bytes | None = None):
    return request([("Linear-Signature", signed(body, secret))], body if sent is None else sent)


CASE = Provider(SCHEME, SECRET, signed_request, lambda: request([]))


def test_known_answer():
    verdict = SCHEME.verify(
        request(
            [("Linear-Signature", SDK_SIGNATURE)], SDK_BODY, datetime.fromtimestamp(1677611650, UTC)
        ),
        Options(secrets=("SECRET",)),
    )
    assert verdict.status == "valid"
    assert verdict.expected == SDK_SIGNATURE
    assert verdict.timestamp == 1677611643
    assert verdict.age_seconds == pytest.approx(7.0)


def test_known_answer_received_much_later_is_stale():
    # The SDK test "correct signature, incorrect timestamp should fail verification".
    verdict = SCHEME.verify(
        request([("Linear-Signature", SDK_SIGNATURE)], SDK_BODY), Options(secrets=("SECRET",))
    )
    assert (verdict.status, verdict.matched_secret, verdict.timestamp) == ("stale", 0, 1677611643)
    assert "possibly a replay" in verdict.reason


def test_round_trip_valid():
    assert CASE.valid().timestamp == int(NOW.timestamp())


def test_body_without_timestamp_is_valid_without_age():
    body = b'{"action":"remove","type":"Issue"}'
    verdict = CASE.valid(body=body)
    assert (verdict.status, verdict.timestamp, verdict.age_seconds) == ("valid", None, None)


def test_one_body_byte_changed_is_invalid():
    tampered = BODY.replace(b'"i1"', b'"i2"')
    verdict = CASE.invalid(sent=tampered)
    assert verdict.expected == signed(tampered, SECRET)
    assert verdict.hint == OTHER_ENDPOINT_HINT


def test_timestamp_aged_past_tolerance_is_stale():
    verdict = CASE.stale(body=body_at(int(NOW.timestamp() * 1000) - 301_000))
    assert verdict.age_seconds == pytest.approx(301, abs=1)


def test_header_removed_is_unsigned():
    CASE.header_removed()


def test_no_secret_is_unverified():
    assert CASE.no_secret().timestamp == int(NOW.timestamp())


def test_second_secret_matches():
    CASE.second_secret("lin_wh_old")


@pytest.mark.parametrize(
    "garbage",
    ["", "zz", "sha256=" + "0" * 64, "A" * 64, "0" * 63, "0" * 100_000, "\x00\xff\u202e"],
)
def test_garbage_header_is_invalid(garbage):
    CASE.invalid(request([("Linear-Signature", garbage)]))


@pytest.mark.parametrize(
    "timestamp",
    ['"1677611643000"', "-1", "1e300", "true", "null", "9" * 4000, "1677611643000.5"],
)
def test_garbled_body_timestamp_is_invalid(timestamp):
    body = b'{"type":"Issue","webhookTimestamp":' + timestamp.encode() + b"}"
    assert "webhookTimestamp" in CASE.invalid(body=body).reason


@pytest.mark.parametrize("body", [b"\xff\xfe not json", b"[" * 100_000, b""])
def test_non_json_body_does_not_raise(body):
    CASE.valid(body=body)


def test_hint_body_reencoded():
    spaced = json.dumps(json.loads(BODY)).encode()
    assert CASE.hint(body=spaced, sent=BODY) == BODY_REENCODED_HINT


def test_hint_secret_base64_decoded_by_sender():
    secret = base64.b64encode(b"raw signing key bytes").decode()
    assert "base64-decoded" in CASE.hint(None, secret, secret=b"raw signing key bytes")


def test_sign_round_trips():
    headers = SCHEME.sign(
        BODY, SECRET, int(NOW.timestamp()), "https://bin.example/linear", Options()
    )
    assert headers == [("Linear-Signature", signed(BODY, SECRET))]
    assert CASE.verify(request(headers), SECRET).status == "valid"


def test_detect():
    assert SCHEME.detect(request([("linear-signature", "x")]))
    assert not SCHEME.detect(request([]))
