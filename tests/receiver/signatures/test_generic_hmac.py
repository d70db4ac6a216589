"""Generic HMAC: RFC known answers for each algorithm, the bin's header/encoding/prefix
settings, round trips with our own signer, hints and hostile values."""

from __future__ import annotations

import base64
import hmac
from datetime import UTC, datetime

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.generic_hmac import SCHEME

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BODY = b'{"order": 42, "status": "shipped"}'
SECRET = "generic-secret"
HEADER = "X-Acme-Signature"

# RFC 4231 section 4.3 (test case 2) for SHA-256 and SHA-512, RFC 2202 section 3 (test case 2)
# for SHA-1: key "Jefe", data "what do ya want for nothing?".
RFC_KEY, RFC_DATA = "Jefe", b"what do ya want for nothing?"
RFC_VECTORS = {
    "sha1": "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
    "sha256": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    "sha512": "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a"
    "6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
}


def signature(
    secret: str, body: bytes, algorithm: str = "sha256", encoding: str = "hex", prefix: str = ""
) -> str:
    """Independent signer for the configured construction."""
    digest = hmac.new(secret.encode(), body, algorithm).digest()
    return prefix + (digest.hex() if encoding == "hex" else base64.b64encode(digest).decode())


def options(*secrets: str, header: str | None = HEADER, **settings: str) -> Options:
    return Options(secrets=secrets, header=header, **settings)


def request(value: str | None, body: bytes = BODY) -> SignedRequest:
    headers = [] if value is None else [(HEADER, value)]
    return SignedRequest(
        method="POST", url="https://bin.example/h/abc", headers=headers, body=body, received_at=NOW
    )


def signed(body: bytes = BODY, sent: bytes | None = None, **construction: str) -> SignedRequest:
    return request(signature(SECRET, body, **construction), body if sent is None else sent)


CASE = Provider(SCHEME, SECRET, signed, lambda: request(None), settings={"header": HEADER})


@pytest.mark.parametrize("algorithm", sorted(RFC_VECTORS))
def test_rfc_vectors(algorithm: str) -> None:
    req = request(RFC_VECTORS[algorithm], RFC_DATA)
    verdict = SCHEME.verify(req, options(RFC_KEY, algorithm=algorithm))
    assert verdict.status == "valid"
    assert verdict.expected == RFC_VECTORS[algorithm]


def test_rfc_vector_base64_with_prefix() -> None:
    value = "sha256=" + base64.b64encode(bytes.fromhex(RFC_VECTORS["sha256"])).decode()
    verdict = SCHEME.verify(
        request(value, RFC_DATA), options(RFC_KEY, encoding="base64", prefix="sha256=")
    )
    assert verdict.status == "valid"
    assert verdict.construction == "sha256=base64(sha256 HMAC of {body})"


def test_signed_is_valid() -> None:
    CASE.valid()


def test_one_body_byte_changed_is_invalid() -> None:
    CASE.invalid(sent=BODY.replace(b"42", b"43"))


def test_header_removed_is_unsigned() -> None:
    assert HEADER in CASE.header_removed().reason


def test_no_header_configured_is_unsigned() -> None:
    verdict = SCHEME.verify(request(signature(SECRET, BODY)), options(SECRET, header=None))
    assert verdict.status == "unsigned"
    assert verdict.hint


def test_no_secret_is_unverified() -> None:
    CASE.no_secret()


def test_second_secret_matches() -> None:
    CASE.second_secret("old")


def test_missing_prefix_is_invalid() -> None:
    verdict = SCHEME.verify(request(signature(SECRET, BODY)), options(SECRET, prefix="sha256="))
    assert verdict.status == "invalid"
    assert "prefix" in verdict.reason


def test_unsupported_settings_are_invalid() -> None:
    req = request(signature(SECRET, BODY))
    assert SCHEME.verify(req, options(SECRET, algorithm="md5")).status == "invalid"
    assert SCHEME.verify(req, options(SECRET, encoding="base32")).status == "invalid"


@pytest.mark.parametrize("value", ["", "zz", "\udcff", "0" * 9000, "AAAA", "0" * 64])
def test_garbage_header_is_invalid(value: str) -> None:
    CASE.invalid(request(value))


def test_encoding_mixup_hint() -> None:
    assert "written as base64" in CASE.hint(encoding="base64")


def test_reencoded_body_hint() -> None:
    assert "re-serialised" in CASE.hint(body=b'{"order":42,"status":"shipped"}', sent=BODY)


def test_never_detected() -> None:
    assert not SCHEME.detect(request(signature(SECRET, BODY)))


def test_sign_round_trip() -> None:
    settings = options(SECRET, algorithm="sha512", encoding="base64", prefix="v1=")
    headers = SCHEME.sign(BODY, SECRET, 0, "https://bin.example/h/abc", settings)
    assert headers == [(HEADER, signature(SECRET, BODY, "sha512", "base64", "v1="))]
    assert SCHEME.verify(request(headers[0][1]), settings).status == "valid"
    with pytest.raises(ValueError):
        SCHEME.sign(BODY, SECRET, 0, "", options(SECRET, header=None))
