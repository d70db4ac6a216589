"""SendGrid Signed Event Webhook: ECDSA P-256/SHA-256 over {timestamp}{body}, base64 DER."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from signature_roundtrip import Provider

from webbin.receiver.signatures import sendgrid
from webbin.receiver.signatures._common import BODY_REENCODED_HINT
from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.sendgrid import SCHEME

# Known answer from SendGrid's Python SDK tests: sendgrid/sendgrid-python,
# test/unit/test_eventwebhook.py (PAYLOAD is json.dumps(..., sort_keys=True,
# separators=(',', ':')) + '\r\n', "Be sure to include the trailing carriage return and newline!").
SDK_PUBLIC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
    "2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SDK_SIGNATURE = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
SDK_TIMESTAMP = "1600112502"
SDK_PAYLOAD = (
    b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address",'
    b'"sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",'
    b'"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",'
    b'"smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n'
)
# test_verify_bad_key's key and test_verify_bad_signature's signature, from the same file.
SDK_OTHER_PUBLIC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDt"
    "hvj+y7GjUuFDb/R1NGe1OPzpA=="
)
SDK_OTHER_SIGNATURE = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0="
SDK_RECEIVED_AT = datetime.fromtimestamp(1600112505, UTC)

NOW = datetime.now(UTC)
TS = int(NOW.timestamp())
BODY = b'[{"email":"a@example.com","event":"delivered","timestamp":1700000000}]\r\n'
PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(
    PRIVATE.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
OTHER_PUBLIC = base64.b64encode(
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


def signed(body: bytes, timestamp: int = TS, key: ec.EllipticCurvePrivateKey = PRIVATE) -> str:
    """The test's own signer, with cryptography directly."""
    return base64.b64encode(
        key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    ).decode()


def headers_for(body: bytes = BODY, timestamp: int = TS):
    return [
        ("X-Twilio-Email-Event-Webhook-Signature", signed(body, timestamp)),
        ("X-Twilio-Email-Event-Webhook-Timestamp", str(timestamp)),
    ]


def request(
    headers: list[tuple[str, str]], body: bytes = BODY, received_at: datetime = NOW
) -> SignedRequest:
    return SignedRequest(
        method="POST",
        url="https://bin.example/sendgrid",
        headers=[("Content-Type", "application/json"), *headers],
        body=body,
        received_at=received_at,
    )


def signed_request(body: bytes = BODY, sent: bytes | None = None, **changes):
    return request(headers_for(body, **changes), body if sent is None else sent)


CASE = Provider(SCHEME, PUBLIC, signed_request, lambda: request(headers_for()[1:]))


def sdk_request(
    signature: str = SDK_SIGNATURE, payload: bytes = SDK_PAYLOAD, timestamp: str = SDK_TIMESTAMP
):
    return request(
        [
            ("X-Twilio-Email-Event-Webhook-Signature", signature),
            ("X-Twilio-Email-Event-Webhook-Timestamp", timestamp),
        ],
        payload,
        SDK_RECEIVED_AT,
    )


def test_known_answer():
    verdict = SCHEME.verify(sdk_request(), Options(secrets=(SDK_PUBLIC_KEY,)))
    assert verdict.status == "valid"
    assert verdict.expected is None  # public-key scheme
    assert verdict.received == [SDK_SIGNATURE]
    assert (verdict.timestamp, verdict.age_seconds) == (1600112502, 3.0)
    assert verdict.construction == "{X-Twilio-Email-Event-Webhook-Timestamp}{body}"


def test_known_answer_with_a_pem_key():
    der = base64.b64decode(SDK_PUBLIC_KEY)
    pem = (
        serialization.load_der_public_key(der)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert SCHEME.verify(sdk_request(), Options(secrets=(pem,))).status == "valid"


def test_known_answer_bad_key_signature_and_payload():
    # SDK tests test_verify_bad_key, test_verify_bad_signature and test_verify_bad_payload.
    assert (
        SCHEME.verify(sdk_request(), Options(secrets=(SDK_OTHER_PUBLIC_KEY,))).status == "invalid"
    )
    assert (
        SCHEME.verify(sdk_request(SDK_OTHER_SIGNATURE), Options(secrets=(SDK_PUBLIC_KEY,))).status
        == "invalid"
    )
    assert (
        SCHEME.verify(sdk_request(payload=b"payload"), Options(secrets=(SDK_PUBLIC_KEY,))).status
        == "invalid"
    )


def test_known_answer_bad_timestamp():
    # SDK test_verify_bad_timestamp: the timestamp "timestamp".
    verdict = SCHEME.verify(sdk_request(timestamp="timestamp"), Options(secrets=(SDK_PUBLIC_KEY,)))
    assert verdict.status == "invalid"
    assert "X-Twilio-Email-Event-Webhook-Timestamp" in verdict.reason


def test_hint_trailing_crlf_stripped():
    verdict = SCHEME.verify(
        sdk_request(payload=SDK_PAYLOAD[:-2]), Options(secrets=(SDK_PUBLIC_KEY,))
    )
    assert verdict.status == "invalid"
    assert "trailing CRLF" in verdict.hint


def test_round_trip_valid():
    CASE.valid()


def test_one_body_byte_changed_is_invalid():
    assert "another account" in CASE.hint(sent=BODY.replace(b"a@", b"b@"))


def test_timestamp_aged_past_tolerance_is_stale():
    CASE.stale(timestamp=TS - 301)


def test_header_removed_is_unsigned():
    assert CASE.header_removed().reason == "No X-Twilio-Email-Event-Webhook-Signature header."


def test_no_secret_is_unverified():
    assert CASE.no_secret().timestamp == TS


def test_second_key_matches():
    CASE.second_secret(OTHER_PUBLIC)


def test_unusable_key_is_skipped():
    CASE.second_secret("not a key")


def p384_key() -> str:
    der = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


def ed25519_pem() -> str:
    return (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize(
    "key",
    [
        "",
        "not a key",
        "MFkw",
        "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----",
        "00" * 32,
    ],
)
def test_no_usable_key_is_invalid(key):
    assert "Verification Key" in CASE.invalid(None, key).reason


def test_keys_of_another_type_are_unusable():
    for key in (p384_key(), ed25519_pem()):
        assert "P-256" in CASE.invalid(None, key).reason


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not base64!",
        "MEUC",
        "AAAA",
        base64.b64encode(b"\x30" * 72).decode(),
        "A" * 100_000,
        "\x00\xff\u202e",
    ],
)
def test_garbage_signature_is_invalid(garbage):
    headers = [
        ("X-Twilio-Email-Event-Webhook-Signature", garbage),
        ("X-Twilio-Email-Event-Webhook-Timestamp", str(TS)),
    ]
    CASE.invalid(request(headers))


@pytest.mark.parametrize("timestamp", [None, "", "-5", "1e9", "9" * 5000, "١٢٣"])
def test_garbage_timestamp_is_invalid(timestamp):
    headers = headers_for()[:1] + (
        [] if timestamp is None else [("X-Twilio-Email-Event-Webhook-Timestamp", timestamp)]
    )
    assert "X-Twilio-Email-Event-Webhook-Timestamp" in CASE.invalid(request(headers)).reason


def test_hint_body_reencoded():
    body = b'[{"email":"a@example.com","event":"delivered"}]'
    pretty = json.dumps(json.loads(body), indent=2).encode()
    assert CASE.hint(body=pretty, sent=body) == BODY_REENCODED_HINT


def test_hint_trailing_crlf_added():
    assert "without its final CRLF" in CASE.hint(body=BODY[:-2], sent=BODY)


def test_generate_keypair_and_sign_round_trip():
    private, public = sendgrid.generate_keypair()
    assert public.startswith("MFkw")  # as SendGrid shows its Verification Key
    headers = SCHEME.sign(BODY, private, TS, "https://bin.example/sendgrid", Options())
    assert headers[1] == ("X-Twilio-Email-Event-Webhook-Timestamp", str(TS))
    assert CASE.verify(request(headers), public).status == "valid"
    assert CASE.verify(request(headers), PUBLIC).status == "invalid"


def test_sign_accepts_a_pem_private_key():
    pem = PRIVATE.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    headers = SCHEME.sign(BODY, pem, TS, "", Options())
    assert CASE.verify(request(headers), PUBLIC).status == "valid"


def encrypted_pem() -> str:
    return PRIVATE.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()


@pytest.mark.parametrize("secret", ["not a key", PUBLIC, encrypted_pem(), ed25519_pem()])
def test_sign_rejects_what_is_not_a_private_key(secret):
    with pytest.raises(ValueError):
        SCHEME.sign(BODY, secret, TS, "", Options())


def test_detect():
    assert SCHEME.detect(request([("x-twilio-email-event-webhook-signature", "x")]))
    assert not SCHEME.detect(request([("X-Twilio-Email-Event-Webhook-Timestamp", "1")]))
