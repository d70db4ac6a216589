"""Typeform: sha256=<base64 HMAC-SHA256 of the body> in Typeform-Signature."""

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
from webbin.receiver.signatures.typeform import SCHEME

SECRET = "abc123"
BODY = (
    b'{"event_id":"LtWXD3crgy","event_type":"form_response",'
    b'"form_response":{"form_id":"lT4Z3j","token":"a3a12ec67a1365927098a606107fac15"}}'
)


def signed(body: bytes, secret: str | bytes) -> str:
    """The test's own signer, straight from the documented recipe."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def request(headers: list[tuple[str, str]], body: bytes = BODY) -> SignedRequest:
    return SignedRequest(
        method="POST",
        url="https://bin.example/typeform",
        headers=[("Content-Type", "application/json"), *headers],
        body=body,
        received_at=datetime.now(UTC),
    )


def signed_request(body: bytes = BODY, secret: str | bytes = SECRET, sent: bytes | None = None):
    return request([("Typeform-Signature", signed(body, secret))], body if sent is None else sent)


CASE = Provider(SCHEME, SECRET, signed_request, lambda: request([]))


def test_known_answer():
    # Typeform publishes no test vector (https://www.typeform.com/developers/webhooks/secure-your-webhooks/
    # gives only the recipe), so this one was computed independently with
    # printf '%s' "$BODY" | openssl dgst -sha256 -hmac abc123 -binary | base64
    expected = "sha256=CrFGL7ItZX8w8V4DNmgqgjS7TQ1Mp7lZuHlGY6breG0="
    verdict = SCHEME.verify(request([("Typeform-Signature", expected)]), Options(secrets=(SECRET,)))
    assert verdict.status == "valid"
    assert verdict.expected == expected
    assert verdict.received == [expected]
    assert verdict.construction == "{body}"
    assert verdict.headers_read == ["Typeform-Signature"]


def test_round_trip_valid():
    CASE.valid()


def test_one_body_byte_changed_is_invalid():
    tampered = BODY.replace(b"lT4Z3j", b"lT4Z3k")
    verdict = CASE.invalid(sent=tampered)
    assert verdict.expected == signed(tampered, SECRET)
    assert verdict.hint == OTHER_ENDPOINT_HINT


def test_header_removed_is_unsigned():
    assert CASE.header_removed().reason == "No Typeform-Signature header."


def test_no_secret_is_unverified():
    assert CASE.no_secret().received == [signed(BODY, SECRET)]


def test_second_secret_matches():
    assert CASE.second_secret("old-secret").expected == signed(BODY, SECRET)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "sha256=",
        "sha256=not base64!",
        "sha1=" + signed(BODY, SECRET).removeprefix("sha256="),
        signed(BODY, SECRET).removeprefix("sha256="),
        "sha256=" + "A" * 100_000,
        "\x00\xff\u202e",
    ],
)
def test_garbage_header_is_invalid(garbage):
    CASE.invalid(request([("Typeform-Signature", garbage)]))


def test_hint_body_reencoded():
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    assert CASE.hint(body=pretty, sent=BODY) == BODY_REENCODED_HINT


def test_hint_secret_hex_decoded_by_sender():
    assert "hex-decoded" in CASE.hint(secret=bytes.fromhex(SECRET))


def test_sign_round_trips():
    headers = SCHEME.sign(BODY, SECRET, 1_700_000_000, "https://bin.example/typeform", Options())
    assert headers == [("Typeform-Signature", signed(BODY, SECRET))]
    assert CASE.verify(request(headers), SECRET).status == "valid"


def test_detect():
    assert SCHEME.detect(request([("typeform-signature", "sha256=x")]))
    assert not SCHEME.detect(request([("X-Hub-Signature", "sha256=x")]))
