"""Intercom: X-Hub-Signature sha1=<hex HMAC-SHA1 of the body> with the app's client_secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures._common import BODY_REENCODED_HINT, OTHER_ENDPOINT_HINT
from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.intercom import SCHEME

SECRET = "intercom-client-secret"
# The notification from the "Signed notifications" example in Intercom's webhook docs
# (https://developers.intercom.com/building-apps/docs/webhook-model#section-signed-notifications),
# compacted; the same example shows User-Agent intercom-parrot-service-client/1.0.
BODY = (
    b'{"type":"notification_event","id":"notif_78c122d0-23ba-11e4-9464-79b01267cc2e",'
    b'"topic":"user.created","app_id":"a86dr8yl","data":{"type":"notification_event_data",'
    b'"item":{"type":"user","id":"530370b477ad7120001d","user_id":"25","name":"Joe Example",'
    b'"unsubscribed_from_emails":false,"custom_attributes":{}}}}'
)
INTERCOM_UA = ("User-Agent", "intercom-parrot-service-client/1.0")


def signed(body: bytes, secret: str | bytes) -> str:
    """The test's own signer, straight from the documented recipe."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()


def request(headers: list[tuple[str, str]], body: bytes = BODY) -> SignedRequest:
    return SignedRequest(
        method="POST",
        url="https://bin.example/intercom",
        headers=[("Content-Type", "application/json"), *headers],
        body=body,
        received_at=datetime.now(UTC),
    )


def signed_request(body: bytes = BODY, secret: str | bytes = SECRET, sent: bytes | None = None):
    return request([("X-Hub-Signature", signed(body, secret))], body if sent is None else sent)


CASE = Provider(SCHEME, SECRET, signed_request, lambda: request([INTERCOM_UA]))


def test_known_answer():
    # The docs' example signature is for an unpublished client_secret, so it cannot be checked;
    # this one was computed independently with
    # printf '%s' "$BODY" | openssl dgst -sha1 -hmac intercom-client-secret
    expected = "sha1=dbbf1a51e388aa398aaf6d70306eb7d834fffe6b"
    verdict = SCHEME.verify(
        request([INTERCOM_UA, ("X-Hub-Signature", expected)]), Options(secrets=(SECRET,))
    )
    assert verdict.status == "valid"
    assert verdict.expected == expected
    assert verdict.construction == "{body}"
    assert verdict.headers_read == ["X-Hub-Signature"]


def test_round_trip_valid():
    CASE.valid()


def test_one_body_byte_changed_is_invalid():
    tampered = BODY.replace(b"Joe", b"Jon")
    verdict = CASE.invalid(sent=tampered)
    assert verdict.expected == signed(tampered, SECRET)
    assert verdict.hint == OTHER_ENDPOINT_HINT


def test_header_removed_is_unsigned():
    assert CASE.header_removed().reason == "No X-Hub-Signature header."


def test_no_secret_is_unverified():
    CASE.no_secret()


def test_second_secret_matches():
    CASE.second_secret("other-app")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "sha1=",
        "sha256=" + "0" * 64,
        "sha1=" + "G" * 40,
        "sha1=" + "0" * 39,
        "sha1=" + "0" * 100_000,
        "\x00\xff\u202e",
    ],
)
def test_garbage_header_is_invalid(garbage):
    CASE.invalid(request([("X-Hub-Signature", garbage)]))


def test_hint_body_reencoded():
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    assert CASE.hint(body=pretty, sent=BODY) == BODY_REENCODED_HINT


def test_hint_secret_hex_decoded_by_sender():
    secret = "5a3f0c9e7b21d4e8"
    assert "hex-decoded" in CASE.hint(None, secret, secret=bytes.fromhex(secret))


def test_sign_round_trips():
    headers = SCHEME.sign(BODY, SECRET, 1_700_000_000, "https://bin.example/intercom", Options())
    assert headers == [INTERCOM_UA, ("X-Hub-Signature", signed(BODY, SECRET))]
    sent = request(headers, b'{"type":"ping"}')
    assert SCHEME.detect(sent)
    assert CASE.verify(request(headers), SECRET).status == "valid"


@pytest.mark.parametrize(
    ("headers", "body", "claimed"),
    [
        ([INTERCOM_UA, ("X-Hub-Signature", "sha1=x")], b"{}", True),
        ([("User-Agent", "Intercom-Webhooks"), ("X-Hub-Signature", "sha1=x")], b"{}", True),
        ([("X-Hub-Signature", "sha1=x")], BODY, True),
        # GitHub's legacy signature: same header, no Intercom sign.
        (
            [("User-Agent", "GitHub-Hookshot/abc"), ("X-Hub-Signature", "sha1=x")],
            b'{"zen":"x"}',
            False,
        ),
        ([("X-Hub-Signature", "sha1=x")], b'{"note":"notification_event"}', False),
        ([("X-Hub-Signature", "sha1=x")], b"[notification_event", False),
        ([INTERCOM_UA], BODY, False),
    ],
)
def test_detect(headers, body, claimed):
    assert SCHEME.detect(request(headers, body)) is claimed
