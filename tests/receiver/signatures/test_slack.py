"""Slack signatures: the documented known answer, round trips with our own signer, hints and
hostile header values."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.slack import SCHEME

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
BODY = b'{"type": "event_callback", "event": {"type": "app_mention", "text": "hi"}}'
SECRET = "e1f0c3b9a2d44f6c8b7a9e0d1c2b3a4f"

# slackapi/python-slack-sdk tests/signature/test_signature_verifier.py, which takes it from
# https://api.slack.com/authentication/verifying-requests-from-slack
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = 1531420618
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
    b"collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F39770088"
    b"5554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c44"
    b"7fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def slack_signature(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """Independent signer: "v0=" + hex HMAC-SHA256 of "v0:{timestamp}:{body}"."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "v0=" + hmac.new(key, f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


def request(
    signature: str | None, timestamp: str | None, body: bytes = BODY, at: datetime = NOW
) -> SignedRequest:
    headers = [("Content-Type", "application/json")]
    if timestamp is not None:
        headers.append(("X-Slack-Request-Timestamp", timestamp))
    if signature is not None:
        headers.append(("X-Slack-Signature", signature))
    return SignedRequest(
        method="POST", url="https://bin.example/h/abc", headers=headers, body=body, received_at=at
    )


def signed(
    secret: str | bytes = SECRET, timestamp: int = T, body: bytes = BODY, sent: bytes | None = None
) -> SignedRequest:
    return request(
        slack_signature(secret, timestamp, body), str(timestamp), body if sent is None else sent
    )


CASE = Provider(SCHEME, SECRET, signed, lambda: request(None, str(T)))
verify = CASE.verify


def test_slack_documented_vector() -> None:
    req = request(
        SLACK_SIGNATURE,
        str(SLACK_TIMESTAMP),
        SLACK_BODY,
        datetime.fromtimestamp(SLACK_TIMESTAMP, UTC),
    )
    verdict = verify(req, SLACK_SECRET)
    assert verdict.status == "valid"
    assert verdict.expected == SLACK_SIGNATURE
    assert verdict.construction == "v0:{timestamp}:{body}"
    assert verdict.headers_read == ["X-Slack-Signature", "X-Slack-Request-Timestamp"]


def test_slack_documented_vector_with_a_modified_body_is_invalid() -> None:
    # test_is_valid_request_invalid_body appends "------".
    req = request(
        SLACK_SIGNATURE,
        str(SLACK_TIMESTAMP),
        SLACK_BODY + b"------",
        datetime.fromtimestamp(SLACK_TIMESTAMP, UTC),
    )
    assert verify(req, SLACK_SECRET).status == "invalid"


def test_slack_documented_vector_checked_today_is_stale() -> None:
    # test_is_valid_request_expiration: the real clock is long past the 2018 timestamp.
    req = request(SLACK_SIGNATURE, str(SLACK_TIMESTAMP), SLACK_BODY, NOW)
    assert verify(req, SLACK_SECRET).status == "stale"


def test_signed_now_is_valid() -> None:
    verdict = CASE.valid()
    assert verdict.timestamp == T and verdict.age_seconds == 0


def test_one_body_byte_changed_is_invalid() -> None:
    CASE.invalid(sent=BODY.replace(b"hi", b"ho"))


def test_aged_past_tolerance_is_stale() -> None:
    assert CASE.stale(timestamp=T - 400).age_seconds == 400


def test_header_removed_is_unsigned() -> None:
    CASE.header_removed()


def test_no_secret_is_unverified() -> None:
    CASE.no_secret()


def test_second_secret_matches() -> None:
    CASE.second_secret("rotated-out")


def test_missing_timestamp_is_invalid() -> None:
    verdict = CASE.invalid(request(slack_signature(SECRET, T, BODY), None))
    assert "X-Slack-Request-Timestamp" in verdict.reason


@pytest.mark.parametrize(
    ("signature", "timestamp"),
    [
        ("v0=", str(T)),
        ("", str(T)),
        ("v1=" + "0" * 64, str(T)),
        ("v0=xyz", str(T)),
        ("v0=" + "0" * 64, "yesterday"),
        ("v0=" + "0" * 64, "-1"),
        ("v0=" + "0" * 64, "1" * 40),
        ("v0=" + "a" * 100000, str(T)),
        ("v0=\udcff", "\udcff"),
    ],
)
def test_garbage_headers_are_invalid(signature: str, timestamp: str) -> None:
    CASE.invalid(request(signature, timestamp))


def test_reencoded_body_hint() -> None:
    compact = b'{"type":"event_callback","event":{"type":"app_mention","text":"hi"}}'
    assert "re-serialised" in CASE.hint(body=compact, sent=BODY)


def test_base64_signature_hint() -> None:
    digest = hmac.new(SECRET.encode(), f"v0:{T}:".encode() + BODY, hashlib.sha256).digest()
    req = request("v0=" + base64.b64encode(digest).decode(), str(T))
    assert "written as base64" in CASE.hint(req)


def test_hex_decoded_secret_hint() -> None:
    assert "hex-decoded" in CASE.hint(secret=bytes.fromhex(SECRET))


def test_unknown_secret_hint() -> None:
    assert "another endpoint" in CASE.hint(secret="other")


def test_sign_matches_independent_signer_and_verifies() -> None:
    headers = SCHEME.sign(BODY, SECRET, T, "https://bin.example/h/abc", Options())
    assert dict(headers) == {
        "X-Slack-Request-Timestamp": str(T),
        "X-Slack-Signature": slack_signature(SECRET, T, BODY),
    }
    req = SignedRequest(
        method="POST", url="https://bin.example/h/abc", headers=headers, body=BODY, received_at=NOW
    )
    assert verify(req, SECRET).status == "valid"
