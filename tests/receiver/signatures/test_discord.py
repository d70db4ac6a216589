"""Discord: Ed25519 over {X-Signature-Timestamp}{body}, verified with the application's public key."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from signature_roundtrip import Provider

from webbin.receiver.signatures import discord
from webbin.receiver.signatures._common import BODY_REENCODED_HINT
from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.discord import SCHEME

NOW = datetime.now(UTC)
TS = int(NOW.timestamp())
# discord/discord-interactions-js, src/__tests__/utils/SharedTestUtils.ts: pingRequestBody.
BODY = b'{"id":"787053080478613555","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":1,"version":1}'
# RFC 8032 section 7.1, TEST 1: an Ed25519 key pair with a published public key.
SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
OTHER = Ed25519PrivateKey.generate()
OTHER_PUBLIC = OTHER.public_key().public_bytes_raw().hex()


def signed(body: bytes, timestamp: int = TS, seed: str = SEED) -> str:
    """The test's own signer, with cryptography directly."""
    return (
        Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))
        .sign(str(timestamp).encode() + body)
        .hex()
    )


def headers_for(body: bytes = BODY, timestamp: int = TS, seed: str = SEED):
    return [
        ("X-Signature-Ed25519", signed(body, timestamp, seed)),
        ("X-Signature-Timestamp", str(timestamp)),
    ]


def request(
    headers: list[tuple[str, str]], body: bytes = BODY, received_at: datetime = NOW
) -> SignedRequest:
    return SignedRequest(
        method="POST",
        url="https://bin.example/interactions",
        headers=[
            ("Content-Type", "application/json"),
            ("User-Agent", "Discord-Interactions/1.0"),
            *headers,
        ],
        body=body,
        received_at=received_at,
    )


def signed_request(body: bytes = BODY, sent: bytes | None = None, **changes):
    return request(headers_for(body, **changes), body if sent is None else sent)


CASE = Provider(SCHEME, PUBLIC, signed_request, lambda: request(headers_for()[1:]))


def test_known_answer():
    # Discord publishes no fixed vector: discord-interactions-js (src/__tests__/verifyKey.ts) signs
    # with key pairs generated at run time. This one uses the RFC 8032 TEST 1 key pair and a
    # signature computed independently with OpenSSL:
    # printf '%s' "1700000000$BODY" | openssl pkeyutl -sign -inkey rfc8032-test1.pem -rawin -in /dev/stdin
    signature = (
        "f0bd878adcef1f6d475c9644421905bd02b5de38e0d3ecfc6f58a711962c69cc"
        "c8dd7c9db312f9bdf08b1e1b8182e27a844da728c5e0dbb5507bf9931c1ed80b"
    )
    verdict = SCHEME.verify(
        request(
            [("X-Signature-Ed25519", signature), ("X-Signature-Timestamp", "1700000000")],
            received_at=datetime.fromtimestamp(1_700_000_003, UTC),
        ),
        Options(secrets=(PUBLIC,)),
    )
    assert verdict.status == "valid"
    assert verdict.expected is None  # public-key scheme
    assert verdict.received == [signature]
    assert (verdict.timestamp, verdict.age_seconds) == (1_700_000_000, 3.0)
    assert verdict.construction == "{X-Signature-Timestamp}{body}"
    assert verdict.headers_read == ["X-Signature-Ed25519", "X-Signature-Timestamp"]


def test_round_trip_valid():
    CASE.valid()


def test_one_body_byte_changed_is_invalid():
    assert "another application" in CASE.hint(sent=BODY.replace(b'"type":1', b'"type":2'))


def test_timestamp_aged_past_tolerance_is_stale():
    CASE.stale(timestamp=TS - 301)


def test_header_removed_is_unsigned():
    assert CASE.header_removed().reason == "No X-Signature-Ed25519 header."


def test_no_secret_is_unverified():
    assert CASE.no_secret().timestamp == TS


def test_second_key_matches():
    CASE.second_secret(OTHER_PUBLIC)


def test_unusable_key_is_skipped():
    CASE.second_secret("not a key")


@pytest.mark.parametrize(
    "key", ["", "application-id-1234", "zz" * 32, "00" * 31, PUBLIC + "00", SEED[:10]]
)
def test_no_usable_key_is_invalid(key):
    assert "Public Key" in CASE.invalid(None, key).reason


@pytest.mark.parametrize(
    "garbage", ["", "zz" * 64, "00" * 63, "00" * 64, "ff" * 64, "0" * 100_000, "\x00\xff\u202e"]
)
def test_garbage_signature_is_invalid(garbage):
    CASE.invalid(request([("X-Signature-Ed25519", garbage), ("X-Signature-Timestamp", str(TS))]))


@pytest.mark.parametrize("timestamp", [None, "", "abc", "-5", "1e9", "9" * 5000, "١٢٣"])
def test_garbage_timestamp_is_invalid(timestamp):
    headers = headers_for()[:1] + (
        [] if timestamp is None else [("X-Signature-Timestamp", timestamp)]
    )
    assert "X-Signature-Timestamp" in CASE.invalid(request(headers)).reason


def test_hint_body_reencoded():
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    assert CASE.hint(body=pretty, sent=BODY) == BODY_REENCODED_HINT


def test_generate_keypair_and_sign_round_trip():
    private, public = discord.generate_keypair()
    assert Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
    headers = SCHEME.sign(BODY, private, TS, "https://bin.example/interactions", Options())
    assert headers[1] == ("X-Signature-Timestamp", str(TS))
    assert CASE.verify(request(headers), public).status == "valid"
    assert CASE.verify(request(headers), PUBLIC).status == "invalid"


def test_sign_is_deterministic_ed25519():
    headers = SCHEME.sign(BODY, SEED, TS, "", Options())
    assert headers == headers_for()


def test_sign_rejects_a_malformed_private_key():
    with pytest.raises(ValueError):
        SCHEME.sign(BODY, "not hex", TS, "", Options())


def test_detect():
    assert SCHEME.detect(request([("x-signature-ed25519", "x")]))
    assert not SCHEME.detect(request([("X-Signature-Timestamp", "1")]))
