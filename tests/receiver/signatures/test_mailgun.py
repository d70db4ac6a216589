"""Mailgun signatures (carried in the body): mailgun-php's known answer, JSON, form and
multipart bodies, round trips with our own signer, and hostile bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.mailgun import SCHEME

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
KEY = "key-0123456789abcdef0123456789abcdef"
TOKEN = "b2c0b1f8e2a4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3"

# mailgun/mailgun-php tests/Api/WebhookTest.php (testVerifyWebhookGood / testVerifyWebhookBad)
PHP_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
PHP_TIMESTAMP = 1403645220
PHP_TOKEN = "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6"
PHP_SIGNATURE = "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33"


def mailgun_signature(key: str, timestamp: int | str, token: str) -> str:
    """Independent signer: hex HMAC-SHA256 of "{timestamp}{token}"."""
    return hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def json_body(signature: dict[str, object] | object, **event: object) -> bytes:
    return json.dumps(
        {"signature": signature, "event-data": {"event": "delivered", **event}}
    ).encode()


def request(
    body: bytes, content_type: str = "application/json", at: datetime = NOW
) -> SignedRequest:
    return SignedRequest(
        method="POST",
        url="https://bin.example/h/abc",
        headers=[("Content-Type", content_type)],
        body=body,
        received_at=at,
    )


def signed(key: str = KEY, timestamp: int = T) -> SignedRequest:
    return request(
        json_body(
            {
                "timestamp": str(timestamp),
                "token": TOKEN,
                "signature": mailgun_signature(key, timestamp, TOKEN),
            }
        )
    )


CASE = Provider(SCHEME, KEY, signed, lambda: request(b'{"event-data": {"event": "delivered"}}'))
verify = CASE.verify


def test_mailgun_php_vector() -> None:
    body = json_body(
        {"timestamp": str(PHP_TIMESTAMP), "token": PHP_TOKEN, "signature": PHP_SIGNATURE}
    )
    verdict = verify(request(body, at=datetime.fromtimestamp(PHP_TIMESTAMP, UTC)), PHP_KEY)
    assert verdict.status == "valid"
    assert verdict.construction == "{timestamp}{token}"
    assert verdict.expected == PHP_SIGNATURE
    assert verdict.headers_read == [
        "body: signature.timestamp",
        "body: signature.token",
        "body: signature.signature",
    ]


def test_mailgun_php_bad_token_vector() -> None:
    body = json_body(
        {
            "timestamp": PHP_TIMESTAMP,
            "token": "owyldpe6nxhmrn78epljl6bj0orrki1u3d2v5e6cnlmmuox8jr",
            "signature": PHP_SIGNATURE,
        }
    )
    verdict = verify(request(body, at=datetime.fromtimestamp(PHP_TIMESTAMP, UTC)), PHP_KEY)
    assert verdict.status == "invalid"


def test_signed_now_is_valid() -> None:
    verdict = CASE.valid()
    assert verdict.timestamp == T and verdict.age_seconds == 0


def test_signed_token_changed_is_invalid() -> None:
    body = json_body(
        {
            "timestamp": str(T),
            "token": TOKEN[:-1] + "4",
            "signature": mailgun_signature(KEY, T, TOKEN),
        }
    )
    CASE.invalid(request(body))


def test_aged_past_tolerance_is_stale() -> None:
    CASE.stale(timestamp=T - 900)


def test_no_signature_is_unsigned() -> None:
    CASE.header_removed()
    assert not SCHEME.detect(CASE.unsigned())


def test_detect_needs_all_three_fields() -> None:
    assert SCHEME.detect(signed())
    lone = request(json_body({"signature": "0" * 64}))
    assert not SCHEME.detect(lone)
    assert CASE.verify(lone, KEY).status == "invalid"


def test_no_secret_is_unverified() -> None:
    CASE.no_secret()


def test_second_key_matches() -> None:
    CASE.second_secret("key-old")


def test_parent_signature_of_a_subaccount() -> None:
    body = json_body(
        {
            "timestamp": str(T),
            "token": TOKEN,
            "signature": "0" * 64,
            "parent-signature": mailgun_signature("key-parent", T, TOKEN),
        }
    )
    verdict = verify(request(body), "key-parent")
    assert verdict.status == "valid"
    assert len(verdict.received) == 2


def test_form_encoded_body() -> None:
    body = urlencode(
        {
            "event": "delivered",
            "timestamp": T,
            "token": TOKEN,
            "signature": mailgun_signature(KEY, T, TOKEN),
        }
    ).encode()
    req = request(body, "application/x-www-form-urlencoded")
    assert SCHEME.detect(req)
    verdict = verify(req, KEY)
    assert verdict.status == "valid"
    assert verdict.headers_read == ["body: timestamp", "body: token", "body: signature"]


def test_multipart_body() -> None:
    fields = {
        "timestamp": str(T),
        "token": TOKEN,
        "signature": mailgun_signature(KEY, T, TOKEN),
        "body-plain": "hi",
    }
    body = (
        b"".join(
            b'--XyZ\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
            % (name.encode(), value.encode())
            for name, value in fields.items()
        )
        + b"--XyZ--\r\n"
    )
    req = request(body, "multipart/form-data; boundary=XyZ")
    assert SCHEME.detect(req)
    assert verify(req, KEY).status == "valid"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"signature": "abc"}', "application/json"),
        (b'{"signature": []}', "application/json"),
        (b'["signature"]', "application/json"),
        (b'{"signature": {"signature": "ab"', "application/json"),
        (b"[" * 100000 + b'"signature"', "application/json"),
        (b"signature=abc&timestamp=1", "text/plain"),
        (
            b'--B\r\nContent-Disposition: form-data; name="signature"\r\n\r\nx',
            "multipart/form-data",
        ),
        (b"\xff\xfesignature", "multipart/form-data; boundary=\udcff"),
    ],
)
def test_unreadable_bodies_are_unsigned(body: bytes, content_type: str) -> None:
    assert verify(request(body, content_type), KEY).status == "unsigned"


@pytest.mark.parametrize(
    "signature",
    [
        {"timestamp": str(T), "token": TOKEN, "signature": ""},
        {"timestamp": str(T), "signature": "00"},
        {"token": TOKEN, "signature": "00"},
        {"timestamp": "soon", "token": TOKEN, "signature": "00"},
        {"timestamp": True, "token": TOKEN, "signature": "00"},
        {"timestamp": str(T), "token": TOKEN, "signature": "zz"},
        {"timestamp": str(T), "token": TOKEN, "signature": "a" * 10000},
        {"timestamp": str(T), "token": {"x": 1}, "signature": "00"},
        {"timestamp": str(T), "token": "\udcff", "signature": "\udcff"},
    ],
)
def test_garbage_signature_fields_are_invalid(signature: dict[str, object]) -> None:
    CASE.invalid(request(json_body(signature)))


def test_unknown_key_hint() -> None:
    assert "another endpoint" in CASE.hint(key="key-other")


def test_sign_body_round_trip() -> None:
    body = SCHEME.sign_body(b'{"event-data": {"event": "opened"}}', KEY, T)
    signature = json.loads(body)["signature"]
    assert signature["timestamp"] == str(T)
    assert signature["signature"] == mailgun_signature(KEY, T, signature["token"])
    headers = SCHEME.sign(body, KEY, T, "https://bin.example/h/abc", Options())
    req = SignedRequest(
        method="POST", url="https://bin.example/h/abc", headers=headers, body=body, received_at=NOW
    )
    assert verify(req, KEY).status == "valid"
    with pytest.raises(ValueError):
        SCHEME.sign_body(b"[1, 2]", KEY, T)
