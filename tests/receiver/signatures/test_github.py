"""GitHub signatures: known answers from GitHub and octokit, then round trips with our own
signer, the hints, and hostile header values."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.github import SCHEME

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BODY = b'{"action": "opened", "number": 7}'
SECRET = "gh-webhook-secret"


def github_signature(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    """Independent signer: GitHub's documented construction, written out with hmac."""
    return f"{algorithm}=" + hmac.new(secret.encode(), body, algorithm).hexdigest()


def request(headers: list[tuple[str, str]], body: bytes = BODY) -> SignedRequest:
    return SignedRequest(
        method="POST", url="https://bin.example/h/abc", headers=headers, body=body, received_at=NOW
    )


def signed(body: bytes = BODY, secret: str = SECRET) -> SignedRequest:
    return request(
        [("X-GitHub-Event", "issues"), ("X-Hub-Signature-256", github_signature(secret, body))],
        body,
    )


CASE = Provider(SCHEME, SECRET, signed, lambda: request([("X-GitHub-Event", "issues")]))
verify = CASE.verify


# Known answers ----------------------------------------------------------------------------------


def test_github_documented_vector() -> None:
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    # ("Testing the webhook payload validation")
    req = request(
        [
            (
                "X-Hub-Signature-256",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            )
        ],
        b"Hello, World!",
    )
    verdict = verify(req, "It's a Secret to Everybody")
    assert verdict.status == "valid"
    assert verdict.expected == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_octokit_sha256_vector() -> None:
    # octokit/webhooks-methods.js, test/sign.test.ts ("mysecret", JSON.stringify({foo: "bar"}))
    req = request(
        [
            (
                "X-Hub-Signature-256",
                "sha256=4864d2759938a15468b5df9ade20bf161da9b4f737ea61794142f3484236bda3",
            )
        ],
        b'{"foo":"bar"}',
    )
    assert verify(req, "mysecret").status == "valid"


def test_octokit_legacy_sha1_vector() -> None:
    # octokit/webhooks-methods.js, README.md: sign({secret: "mysecret", algorithm: "sha1"}, ...)
    req = request(
        [
            ("X-GitHub-Event", "ping"),
            ("X-Hub-Signature", "sha1=d03207e4b030cf234e3447bac4d93add4c6643d8"),
        ],
        b'{"foo":"bar"}',
    )
    verdict = verify(req, "mysecret")
    assert verdict.status == "valid"
    assert verdict.headers_read == ["X-Hub-Signature-256", "X-Hub-Signature"]
    assert verdict.expected == "sha1=d03207e4b030cf234e3447bac4d93add4c6643d8"


# Round trips ------------------------------------------------------------------------------------


def test_signed_now_is_valid() -> None:
    verdict = CASE.valid()
    assert verdict.construction == "{body}"
    assert verdict.received == [github_signature(SECRET, BODY)]
    assert verdict.timestamp is None and verdict.age_seconds is None


def test_one_body_byte_changed_is_invalid() -> None:
    req = request(signed().headers, BODY.replace(b"7", b"8"))
    verdict = CASE.invalid(req)
    assert verdict.expected == github_signature(SECRET, BODY.replace(b"7", b"8"))


def test_header_removed_is_unsigned() -> None:
    assert "X-Hub-Signature-256" in CASE.header_removed().reason


def test_no_secret_is_unverified() -> None:
    assert CASE.no_secret().received == [github_signature(SECRET, BODY)]


def test_second_secret_matches_during_rotation() -> None:
    assert "secret 2 of 2" in CASE.second_secret("old-secret").reason


def test_sha256_header_wins_over_legacy() -> None:
    req = request(
        [
            ("X-Hub-Signature", "sha1=" + "0" * 40),
            ("X-Hub-Signature-256", github_signature(SECRET, BODY)),
        ]
    )
    assert verify(req, SECRET).status == "valid"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha256=",
        "sha256",
        "sha1=" + "a" * 40,
        "sha256=zz",
        "sha256=" + "g" * 64,
        "sha256=" + "a" * 20000,
        "sha256=\udcff\x00",
        "sha256=" + "é" * 64,
    ],
)
def test_garbage_header_is_invalid(value: str) -> None:
    CASE.invalid(request([("X-Hub-Signature-256", value)]))


def test_detect() -> None:
    assert SCHEME.detect(signed())
    # Bitbucket and Intercom also send X-Hub-Signature; only GitHub adds X-GitHub-Event.
    assert not SCHEME.detect(request([("X-Hub-Signature", "sha256=" + "0" * 64)]))
    assert SCHEME.detect(request([("X-Hub-Signature", "sha1=0"), ("X-GitHub-Event", "ping")]))
    assert not SCHEME.detect(request([]))


# Hints ------------------------------------------------------------------------------------------


def test_base64_encoded_signature_hint() -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()
    req = request([("X-Hub-Signature-256", "sha256=" + base64.b64encode(digest).decode())])
    assert "written as base64" in CASE.hint(req)


def test_uppercase_hex_hint() -> None:
    value = github_signature(SECRET, BODY).upper().replace("SHA256=", "sha256=")
    assert "uppercase hex" in CASE.hint(request([("X-Hub-Signature-256", value)]))


def test_reencoded_body_hint() -> None:
    compact = b'{"action":"opened","number":7}'
    req = request([("X-Hub-Signature-256", github_signature(SECRET, compact))], BODY)
    assert "re-serialised" in CASE.hint(req)


def test_secret_with_stray_whitespace_hint() -> None:
    assert "whitespace" in CASE.hint(None, SECRET + "\n")


def test_hex_decoded_secret_hint() -> None:
    secret = "8f742231b10e8888abcd99aaaeee85a5"
    signature = "sha256=" + hmac.new(bytes.fromhex(secret), BODY, hashlib.sha256).hexdigest()
    assert "hex-decoded" in CASE.hint(request([("X-Hub-Signature-256", signature)]), secret)


def test_unknown_secret_hint() -> None:
    assert "another endpoint" in CASE.hint(secret="someone-elses")


# sign -------------------------------------------------------------------------------------------


def test_sign_sends_both_headers_and_verifies() -> None:
    headers = SCHEME.sign(BODY, SECRET, 1714564800, "https://bin.example/h/abc", Options())
    assert dict(headers) == {
        "X-Hub-Signature-256": github_signature(SECRET, BODY),
        "X-Hub-Signature": github_signature(SECRET, BODY, "sha1"),
    }
    assert verify(request(headers), SECRET).status == "valid"
    legacy_only = [(n, v) for n, v in headers if n == "X-Hub-Signature"]
    assert verify(request(legacy_only), SECRET).status == "valid"
