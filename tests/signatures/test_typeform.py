"""Typeform: sha256=<base64 HMAC-SHA256 of the body> in Typeform-Signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from webbin.signatures._common import BODY_REENCODED_HINT, OTHER_ENDPOINT_HINT
from webbin.signatures.base import Options, SignedRequest
from webbin.signatures.typeform import SCHEME

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
    verdict = SCHEME.verify(
        request([("Typeform-Signature", signed(BODY, SECRET))]), Options(secrets=(SECRET,))
    )
    assert (verdict.status, verdict.matched_secret, verdict.hint) == ("valid", 0, None)


def test_one_body_byte_changed_is_invalid():
    tampered = BODY.replace(b"lT4Z3j", b"lT4Z3k")
    verdict = SCHEME.verify(
        request([("Typeform-Signature", signed(BODY, SECRET))], tampered),
        Options(secrets=(SECRET,)),
    )
    assert verdict.status == "invalid"
    assert verdict.expected == signed(tampered, SECRET)
    assert verdict.hint == OTHER_ENDPOINT_HINT


def test_header_removed_is_unsigned():
    verdict = SCHEME.verify(request([]), Options(secrets=(SECRET,)))
    assert verdict.status == "unsigned"
    assert verdict.reason == "No Typeform-Signature header."


def test_no_secret_is_unverified():
    signature = signed(BODY, SECRET)
    verdict = SCHEME.verify(request([("Typeform-Signature", signature)]), Options())
    assert verdict.status == "unverified"
    assert verdict.received == [signature]


def test_second_secret_matches():
    verdict = SCHEME.verify(
        request([("Typeform-Signature", signed(BODY, SECRET))]),
        Options(secrets=("old-secret", SECRET)),
    )
    assert (verdict.status, verdict.matched_secret) == ("valid", 1)
    assert verdict.expected == signed(BODY, SECRET)


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
    verdict = SCHEME.verify(request([("Typeform-Signature", garbage)]), Options(secrets=(SECRET,)))
    assert verdict.status == "invalid"
    assert verdict.reason


def test_hint_body_reencoded():
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    verdict = SCHEME.verify(
        request([("Typeform-Signature", signed(pretty, SECRET))]), Options(secrets=(SECRET,))
    )
    assert verdict.status == "invalid"
    assert verdict.hint == BODY_REENCODED_HINT


def test_hint_secret_hex_decoded_by_sender():
    verdict = SCHEME.verify(
        request([("Typeform-Signature", signed(BODY, bytes.fromhex(SECRET)))]),
        Options(secrets=(SECRET,)),
    )
    assert verdict.status == "invalid"
    assert "hex-decoded" in verdict.hint


def test_sign_round_trips():
    headers = SCHEME.sign(BODY, SECRET, 1_700_000_000, "https://bin.example/typeform", Options())
    assert headers == [("Typeform-Signature", signed(BODY, SECRET))]
    assert SCHEME.verify(request(headers), Options(secrets=(SECRET,))).status == "valid"


def test_detect():
    assert SCHEME.detect(request([("typeform-signature", "sha256=x")]))
    assert not SCHEME.detect(request([("X-Hub-Signature", "sha256=x")]))
