"""Bitbucket Cloud: X-Hub-Signature sha256=<hex HMAC-SHA256 of the body>."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures._common import BODY_REENCODED_HINT, OTHER_ENDPOINT_HINT
from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.bitbucket import SCHEME

SECRET = "bitbucket-webhook-secret"
BODY = b'{"push":{"changes":[]},"repository":{"full_name":"team/repo","type":"repository"}}'
CLOUD = [
    ("X-Event-Key", "repo:push"),
    ("X-Hook-UUID", "f3b1c0de-7d33-4c4e-9a0b-5f1d2e3c4b5a"),
    ("X-Request-UUID", "0c2b9f6e-1a44-4d2f-8e3b-7a6c5d4e3f21"),
]


def signed(body: bytes, secret: str | bytes) -> str:
    """The test's own signer, straight from the documented recipe."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def request(headers: list[tuple[str, str]], body: bytes = BODY) -> SignedRequest:
    return SignedRequest(
        method="POST",
        url="https://bin.example/bitbucket",
        headers=[("Content-Type", "application/json"), *CLOUD, *headers],
        body=body,
        received_at=datetime.now(UTC),
    )


def signed_request(body: bytes = BODY, secret: str | bytes = SECRET, sent: bytes | None = None):
    return request([("X-Hub-Signature", signed(body, secret))], body if sent is None else sent)


CASE = Provider(SCHEME, SECRET, signed_request, lambda: request([]))


def test_known_answer():
    # Bitbucket publishes no test vector (https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/
    # describes only the recipe), so this one was computed independently with
    # printf '%s' "$BODY" | openssl dgst -sha256 -hmac bitbucket-webhook-secret
    expected = "sha256=696fd571ebf0d1ed80818c4cbca86bf26fc698666f98649d2d062ac0c0a59f04"
    verdict = SCHEME.verify(request([("X-Hub-Signature", expected)]), Options(secrets=(SECRET,)))
    assert verdict.status == "valid"
    assert verdict.expected == expected
    assert verdict.construction == "{body}"


def test_round_trip_valid():
    CASE.valid()


def test_one_body_byte_changed_is_invalid():
    tampered = BODY.replace(b"team/repo", b"team/repp")
    verdict = CASE.invalid(sent=tampered)
    assert verdict.expected == signed(tampered, SECRET)
    assert verdict.hint == OTHER_ENDPOINT_HINT


def test_header_removed_is_unsigned():
    CASE.header_removed()


def test_no_secret_is_unverified():
    CASE.no_secret()


def test_second_secret_matches():
    CASE.second_secret("previous")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "sha256=",
        "sha1=" + "0" * 40,
        "sha256=" + "0" * 63,
        "sha256=" + "0" * 100_000,
        "SHA256=" + "0" * 64,
        "\x00\xff\u202e",
    ],
)
def test_garbage_header_is_invalid(garbage):
    CASE.invalid(request([("X-Hub-Signature", garbage)]))


def test_hint_body_reencoded():
    spaced = json.dumps(json.loads(BODY)).encode()
    assert CASE.hint(body=spaced, sent=BODY) == BODY_REENCODED_HINT


def test_hint_secret_base64_decoded_by_sender():
    secret = "c2VjcmV0LWJ5dGVz"  # base64 of b"secret-bytes"
    assert "base64-decoded" in CASE.hint(None, secret, secret=b"secret-bytes")


def test_hint_digest_written_in_uppercase():
    upper = "sha256=" + signed(BODY, SECRET).removeprefix("sha256=").upper()
    assert "uppercase hex" in CASE.hint(request([("X-Hub-Signature", upper)]))


def test_sign_round_trips():
    headers = SCHEME.sign(BODY, SECRET, 1_700_000_000, "https://bin.example/bitbucket", Options())
    assert headers[-1] == ("X-Hub-Signature", signed(BODY, SECRET))
    sent = SignedRequest("POST", "https://bin.example/bitbucket", headers, BODY, datetime.now(UTC))
    assert SCHEME.detect(sent)
    assert CASE.verify(sent, SECRET).status == "valid"


@pytest.mark.parametrize(
    ("headers", "claimed"),
    [
        (
            [
                ("X-Hub-Signature", "sha256=x"),
                ("X-Event-Key", "repo:push"),
                ("X-Request-UUID", "u"),
            ],
            True,
        ),
        (
            [("X-Hub-Signature", "sha256=x"), ("X-Event-Key", "repo:push"), ("X-Hook-UUID", "u")],
            True,
        ),
        # GitHub: same header, no Bitbucket headers.
        ([("X-Hub-Signature", "sha256=x"), ("X-GitHub-Event", "push")], False),
        ([("X-Hub-Signature", "sha256=x"), ("X-Event-Key", "repo:push")], False),
        ([("X-Event-Key", "repo:push"), ("X-Request-UUID", "u")], False),
    ],
)
def test_detect(headers, claimed):
    assert (
        SCHEME.detect(
            SignedRequest("POST", "https://bin.example/", headers, b"{}", datetime.now(UTC))
        )
        is claimed
    )
