"""Paddle Billing signatures: the SDK's known answer, round trips with our own signer, hints
and hostile Paddle-Signature values."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.paddle import SCHEME

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
BODY = b'{"event_id": "evt_01", "event_type": "transaction.completed"}'
SECRET = "pdl_ntfset_01hv0000000000000000000000_abcdefghijklmnopqrstuvwxyz012345"


def h1(secret: str, ts: int, body: bytes) -> str:
    """Independent signer: hex HMAC-SHA256 of "{ts}:{body}"."""
    return hmac.new(secret.encode(), f"{ts}:".encode() + body, hashlib.sha256).hexdigest()


def request(header: str | None, body: bytes = BODY, at: datetime = NOW) -> SignedRequest:
    headers = [] if header is None else [("Paddle-Signature", header)]
    return SignedRequest(
        method="POST", url="https://bin.example/h/abc", headers=headers, body=body, received_at=at
    )


def signed(
    secret: str = SECRET, ts: int = T, body: bytes = BODY, sent: bytes | None = None
) -> SignedRequest:
    return request(f"ts={ts};h1={h1(secret, ts, body)}", body if sent is None else sent)


CASE = Provider(SCHEME, SECRET, signed, lambda: request(None))
verify = CASE.verify


def test_paddle_sdk_vector() -> None:
    # PaddleHQ/paddle-python-sdk tests/Unit/Notification/test_Verifier.py: the third of three
    # secrets matches the second h1 (the first h1 is "dummy").
    req = request(
        "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02",
        b"hello-world",
        datetime.fromtimestamp(1696195954, UTC),
    )
    verdict = verify(
        req,
        "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4",
        "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_vB/yIOnTOCWIvpBadM5jzBZPHc7OmdSo",
        "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh",
    )
    assert verdict.status == "valid"
    assert verdict.matched_secret == 2
    assert verdict.construction == "{ts}:{body}"
    assert verdict.expected == (
        "h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02"
    )


def test_signed_now_is_valid() -> None:
    verdict = CASE.valid()
    assert verdict.received == [f"h1={h1(SECRET, T, BODY)}"]


def test_one_body_byte_changed_is_invalid() -> None:
    CASE.invalid(sent=BODY.replace(b"01", b"02"))


def test_aged_past_tolerance_is_stale() -> None:
    assert CASE.stale(ts=T - 3600).age_seconds == 3600


def test_header_removed_is_unsigned() -> None:
    CASE.header_removed()


def test_no_secret_is_unverified() -> None:
    CASE.no_secret()


def test_second_secret_matches() -> None:
    CASE.second_secret("pdl_ntfset_old")


@pytest.mark.parametrize(
    "header",
    [
        "",
        ";;",
        "ts=;h1=",
        f"ts={T}",
        "h1=" + "0" * 64,
        f"ts=abc;h1={'0' * 64}",
        f"ts={T};h1=zz",
        f"ts={T};h1=" + "0" * 9000,
        "ts=1e9;h1=00",
        "\udcff=\x00;ts",
        f"ts={T};h1=\udcff",
    ],
)
def test_garbage_header_is_invalid(header: str) -> None:
    CASE.invalid(request(header))


def test_reencoded_body_hint() -> None:
    compact = b'{"event_id":"evt_01","event_type":"transaction.completed"}'
    assert "re-serialised" in CASE.hint(body=compact, sent=BODY)


def test_unknown_secret_hint() -> None:
    assert "another endpoint" in CASE.hint(secret="pdl_ntfset_other")


def test_sign_matches_independent_signer_and_verifies() -> None:
    headers = SCHEME.sign(BODY, SECRET, T, "https://bin.example/h/abc", Options())
    assert headers == [("Paddle-Signature", f"ts={T};h1={h1(SECRET, T, BODY)}")]
    assert verify(request(headers[0][1]), SECRET).status == "valid"
