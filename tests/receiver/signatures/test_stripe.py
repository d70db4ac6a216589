"""Stripe signatures: stripe-dotnet's known answer, round trips with our own signer, the
secret-encoding hints, and hostile Stripe-Signature values."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.stripe import SCHEME

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
BODY = b'{"id": "evt_1", "object": "event", "type": "invoice.paid"}'
SECRET = "whsec_c2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz"

# stripe/stripe-dotnet src/StripeTests/Resources/event_test_signature.json, byte for byte
# (LF line endings, final newline), signed in src/StripeTests/Services/Events/EventUtilityTest.cs.
DOTNET_FIXTURE = b"""{
  "id": "evt_123",
  "object": "event",
  "account": "acct_123",
  "api_version": "2017-05-25",
  "created": 1533204620,
  "data": {
    "object": {
      "id": "cus_123",
      "object": "customer",
      "created": 123456789,
      "email": "test@stripe.com",
      "livemode": false,
      "metadata": {}
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {
    "id": "req_123",
    "idempotency_key": "idempotency-key-123"
  },
  "type": "customer.created"
}
"""
DOTNET_HEADER = (
    "t=1533204620,"
    "v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,"
    "v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef"
)


def v1(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """Independent signer: HMAC-SHA256 of "{t}.{body}", keyed with the whole secret text."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def request(header: str | None, body: bytes = BODY, at: datetime = NOW) -> SignedRequest:
    headers = [("Content-Type", "application/json")]
    if header is not None:
        headers.append(("Stripe-Signature", header))
    return SignedRequest(
        method="POST", url="https://bin.example/h/abc", headers=headers, body=body, received_at=at
    )


def signed(
    secret: str | bytes = SECRET, timestamp: int = T, body: bytes = BODY, sent: bytes | None = None
) -> SignedRequest:
    return request(
        f"t={timestamp},v1={v1(secret, timestamp, body)}", body if sent is None else sent
    )


CASE = Provider(SCHEME, SECRET, signed, lambda: request(None))
verify = CASE.verify


# Known answers ----------------------------------------------------------------------------------


def test_stripe_dotnet_vector() -> None:
    # EventUtilityTest.ConstructEvent: secret "webhook_secret", checked 100 s after signing.
    req = request(DOTNET_HEADER, DOTNET_FIXTURE, datetime.fromtimestamp(1533204720, UTC))
    verdict = verify(req, "webhook_secret")
    assert verdict.status == "valid"
    assert verdict.timestamp == 1533204620
    assert verdict.age_seconds == 100
    assert verdict.received == [
        "v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7",
        "v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef",
    ]
    assert verdict.expected == (
        "v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7"
    )


def test_stripe_dotnet_outdated_timestamp_is_stale() -> None:
    # EventUtilityTest.RejectOutdatedTimestamp: now = t + tolerance + 100.
    req = request(DOTNET_HEADER, DOTNET_FIXTURE, datetime.fromtimestamp(1533204620 + 400, UTC))
    verdict = verify(req, "webhook_secret")
    assert verdict.status == "stale"
    assert "replay" in verdict.reason


def test_stripe_dotnet_changed_json_is_invalid() -> None:
    # EventUtilityTest.RejectIncorrectSignature appends to the JSON.
    req = request(
        DOTNET_HEADER,
        DOTNET_FIXTURE + b"this_changes_the_json",
        datetime.fromtimestamp(1533204720, UTC),
    )
    assert verify(req, "webhook_secret").status == "invalid"


@pytest.mark.parametrize(
    "header",
    [
        # EventUtilityTest.ValidateSignatureHandlesIncorrectHeaderValues
        "t=,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,"
        "v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef",
        "t,v1=,v0=",
        "t,v1=,v0",
        "t,v1=,",
        "t,,",
        ",,",
        "t",
        # and more of our own
        "",
        "t=abc,v1=00",
        "t=-5,v1=00",
        "t=1.5,v1=00",
        "t=99999999999999999999999,v1=00",
        f"t={T},v1=not-hex",
        f"t={T},v1=" + "f" * 5000,
        "t=" + "9" * 9000,
        "v1=" * 3000,
        f"t={T},v1=\udcff\x00",
        f"t={T}",
    ],
)
def test_garbage_header_is_invalid(header: str) -> None:
    CASE.invalid(request(header))


# Round trips ------------------------------------------------------------------------------------


def test_signed_now_is_valid() -> None:
    verdict = CASE.valid()
    assert verdict.construction == "{t}.{body}"
    assert verdict.headers_read == ["Stripe-Signature"]
    assert verdict.expected == "v1=" + v1(SECRET, T, BODY)


def test_one_body_byte_changed_is_invalid() -> None:
    verdict = CASE.invalid(sent=BODY.replace(b"paid", b"pain"))
    assert verdict.hint and "another endpoint" in verdict.hint


def test_aged_past_tolerance_is_stale() -> None:
    verdict = CASE.stale(timestamp=T - 301)
    assert verdict.age_seconds == 301
    assert "301 s before it was received" in verdict.reason


def test_from_the_future_past_tolerance_is_stale() -> None:
    assert "after it was received" in CASE.stale(timestamp=T + 900).reason


def test_tolerance_comes_from_options() -> None:
    assert verify(signed(timestamp=T - 301), SECRET, tolerance_seconds=600).status == "valid"


def test_header_removed_is_unsigned() -> None:
    CASE.header_removed()


def test_no_secret_is_unverified() -> None:
    assert CASE.no_secret().timestamp == T


def test_second_secret_matches_during_rotation() -> None:
    CASE.second_secret("whsec_old")


def test_rolled_secret_sends_two_v1_signatures() -> None:
    header = f"t={T},v1={v1('whsec_new', T, BODY)},v1={v1(SECRET, T, BODY)}"
    assert verify(request(header), SECRET).status == "valid"
    assert verify(request(header), "whsec_new").status == "valid"


def test_only_v0_is_invalid() -> None:
    assert "v0" in CASE.invalid(request(f"t={T},v0={v1(SECRET, T, BODY)}")).reason


# Hints ------------------------------------------------------------------------------------------


def test_prefix_dropped_by_the_signer_hint() -> None:
    assert "minus its whsec_ prefix" in CASE.hint(secret=SECRET.removeprefix("whsec_"))


def test_secret_saved_without_prefix_hint() -> None:
    assert "put in front of the secret" in CASE.hint(None, SECRET.removeprefix("whsec_"))


def test_standard_webhooks_decoding_hint() -> None:
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    assert "Standard Webhooks" in CASE.hint(secret=key)


def test_reencoded_body_hint() -> None:
    pretty = b'{\n  "id": "evt_1",\n  "object": "event",\n  "type": "invoice.paid"\n}'
    assert "re-serialised" in CASE.hint(body=pretty, sent=BODY)


# sign -------------------------------------------------------------------------------------------


def test_sign_matches_independent_signer_and_verifies() -> None:
    headers = SCHEME.sign(BODY, SECRET, T, "https://bin.example/h/abc", Options())
    assert headers == [("Stripe-Signature", f"t={T},v1={v1(SECRET, T, BODY)}")]
    assert verify(request(headers[0][1]), SECRET).status == "valid"
