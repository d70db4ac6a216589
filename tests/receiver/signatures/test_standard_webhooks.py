"""Standard Webhooks / Svix: the libraries' known answers (HMAC v1 and Ed25519 v1a), round
trips with our own signer, the secret-handling hints, and hostile header values."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from signature_roundtrip import Provider

from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.standard_webhooks import SCHEME

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
BODY = b'{"type": "invoice.paid", "data": {"id": "in_1"}}'
KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()

# standard-webhooks/standard-webhooks libraries/python/tests/test_webhooks.py
# (test_sign_function, and the constants shared by the other tests there)
LIB_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LIB_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
LIB_TIMESTAMP = 1614265330
LIB_PAYLOAD = b'{"test": 2432232314}'
LIB_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

# standard-webhooks/standard-webhooks libraries/go/webhook_asymmetric_test.go
# (TestAsymmetricWebhookSign: same message id, timestamp and payload as above)
LIB_SIGNING_SEED = "VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
LIB_V1A = (
    "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
)


def v1(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Independent signer: base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def public_key(seed_b64: str) -> str:
    private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64))
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "whpk_" + base64.b64encode(raw).decode()


def request(
    signature: str | None,
    msg_id: str | None = MSG_ID,
    timestamp: str | None = str(T),
    body: bytes = BODY,
    at: datetime = NOW,
    brand: str = "webhook",
) -> SignedRequest:
    headers = [
        (f"{brand}-{name}", value)
        for name, value in (("id", msg_id), ("timestamp", timestamp), ("signature", signature))
        if value is not None
    ]
    return SignedRequest(
        method="POST", url="https://bin.example/h/abc", headers=headers, body=body, received_at=at
    )


def signed(
    key: bytes = KEY, timestamp: int = T, body: bytes = BODY, sent: bytes | None = None
) -> SignedRequest:
    return request(
        v1(key, MSG_ID, timestamp, body),
        timestamp=str(timestamp),
        body=body if sent is None else sent,
    )


def lib_request(signature: str, brand: str = "webhook") -> SignedRequest:
    return request(
        signature,
        LIB_MSG_ID,
        str(LIB_TIMESTAMP),
        LIB_PAYLOAD,
        datetime.fromtimestamp(LIB_TIMESTAMP, UTC),
        brand,
    )


CASE = Provider(SCHEME, SECRET, signed, lambda: request(None))
verify = CASE.verify


# Known answers ----------------------------------------------------------------------------------


def test_library_hmac_vector() -> None:
    verdict = verify(lib_request(LIB_SIGNATURE), LIB_SECRET)
    assert verdict.status == "valid"
    assert verdict.expected == LIB_SIGNATURE
    assert verdict.construction == "{webhook-id}.{webhook-timestamp}.{body}"


def test_library_hmac_vector_without_prefix() -> None:
    # test_signature_verification_with_and_without_prefix
    assert verify(lib_request(LIB_SIGNATURE), LIB_SECRET.removeprefix("whsec_")).status == "valid"


def test_library_invalid_signature() -> None:
    # test_invalid_signature_raises_error: the last character changed.
    verdict = verify(lib_request("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="), LIB_SECRET)
    assert verdict.status == "invalid"


def test_library_multi_signature_header() -> None:
    # test_multi_sig_payload_is_valid
    header = " ".join(
        [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            LIB_SIGNATURE,
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        ]
    )
    verdict = verify(lib_request(header), LIB_SECRET)
    assert verdict.status == "valid"
    assert len(verdict.received) == 4


def test_svix_headers() -> None:
    verdict = verify(lib_request(LIB_SIGNATURE, brand="svix"), LIB_SECRET)
    assert verdict.status == "valid"
    assert verdict.headers_read == ["svix-id", "svix-timestamp", "svix-signature"]


def test_library_ed25519_vector_with_public_key() -> None:
    verdict = verify(lib_request(LIB_V1A), public_key(LIB_SIGNING_SEED))
    assert verdict.status == "valid"
    assert verdict.expected is None  # a public key can check but not produce a signature


def test_library_ed25519_vector_with_signing_key() -> None:
    verdict = verify(lib_request(LIB_V1A), "whsk_" + LIB_SIGNING_SEED)
    assert verdict.status == "valid"
    assert verdict.expected == LIB_V1A


def test_library_ed25519_wrong_signature_is_invalid() -> None:
    # webhook_asymmetric_test.go "invalid signature is invalid"
    verdict = verify(
        lib_request("v1a,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="),
        public_key(LIB_SIGNING_SEED),
    )
    assert verdict.status == "invalid"


# Round trips ------------------------------------------------------------------------------------


def test_signed_now_is_valid() -> None:
    verdict = CASE.valid()
    assert verdict.timestamp == T and verdict.age_seconds == 0


def test_one_body_byte_changed_is_invalid() -> None:
    assert "another endpoint" in CASE.hint(sent=BODY.replace(b"in_1", b"in_2"))


def test_aged_past_tolerance_is_stale() -> None:
    # test_old_timestamp_fails / test_new_timestamp_fails: tolerance + 1 s either way
    CASE.stale(timestamp=T - 301)
    CASE.stale(timestamp=T + 301)
    CASE.valid(timestamp=T - 300)


def test_header_removed_is_unsigned() -> None:
    assert "webhook-signature" in CASE.header_removed().reason


def test_no_secret_is_unverified() -> None:
    CASE.no_secret()


def test_second_secret_matches() -> None:
    CASE.second_secret("whsec_" + base64.b64encode(b"another key").decode())


def test_mixed_hmac_and_ed25519_secrets() -> None:
    private = Ed25519PrivateKey.generate()
    message = f"{MSG_ID}.{T}.".encode() + BODY
    v1a = "v1a," + base64.b64encode(private.sign(message)).decode()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    verdict = verify(request(v1a), SECRET, "whpk_" + base64.b64encode(raw).decode())
    assert verdict.status == "valid" and verdict.matched_secret == 1
    tampered = request(v1a, body=BODY + b" ")
    assert verify(tampered, SECRET, "whpk_" + base64.b64encode(raw).decode()).status == "invalid"


@pytest.mark.parametrize(
    ("signature", "msg_id", "timestamp"),
    [
        ("v1,", MSG_ID, str(T)),
        ("", MSG_ID, str(T)),
        ("v2,abc v3,def", MSG_ID, str(T)),
        ("v1,!!!not-base64!!!", MSG_ID, str(T)),
        ("v1a,AAAA", MSG_ID, str(T)),
        ("v1," + "A" * 9000, MSG_ID, str(T)),
        ("v1,abc", None, str(T)),
        ("v1,abc", MSG_ID, None),
        ("v1,abc", MSG_ID, "hello"),  # test_invalid_timestamp_raises_error
        ("v1,abc", MSG_ID, "1" * 30),
        ("v1,\udcff", "\udcff", str(T)),
        ("v1,abc", "x" * 20000, str(T)),
        (" ".join(["v1,AAAA"] * 5000), MSG_ID, str(T)),
    ],
)
def test_garbage_headers_are_invalid(
    signature: str, msg_id: str | None, timestamp: str | None
) -> None:
    CASE.invalid(request(signature, msg_id, timestamp))


# Hints and unusable secrets ---------------------------------------------------------------------


def test_secret_used_as_text_hint() -> None:
    assert "used as text" in CASE.hint(key=SECRET.encode())
    assert "used as text" in CASE.hint(key=SECRET.removeprefix("whsec_").encode())


def test_url_safe_base64_signature_hint() -> None:
    digest = hmac.new(KEY, f"{MSG_ID}.{T}.".encode() + BODY, hashlib.sha256).digest()
    value = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert "URL-safe or unpadded base64" in CASE.hint(request("v1," + value))


def test_reencoded_body_hint() -> None:
    compact = b'{"type":"invoice.paid","data":{"id":"in_1"}}'
    assert "re-serialised" in CASE.hint(body=compact, sent=BODY)


def test_only_ed25519_signatures_and_no_public_key_is_unverified() -> None:
    verdict = verify(lib_request(LIB_V1A), LIB_SECRET)
    assert verdict.status == "unverified"
    assert "whpk_" in verdict.reason


def test_only_hmac_signatures_and_only_a_public_key_is_unverified() -> None:
    verdict = verify(signed(), public_key(LIB_SIGNING_SEED))
    assert verdict.status == "unverified"
    assert "whsec_" in verdict.reason


def test_malformed_secret_is_explained() -> None:
    verdict = verify(signed(), "whsec_not base64!")
    assert verdict.status == "unverified"
    assert "not whsec_ followed by base64" in verdict.hint
    verdict = verify(lib_request(LIB_V1A), "whpk_AAAA")
    assert verdict.status == "unverified"
    assert "32 base64-encoded bytes" in verdict.hint


# sign -------------------------------------------------------------------------------------------


def test_sign_hmac_matches_independent_signer_and_verifies() -> None:
    headers = dict(SCHEME.sign(BODY, SECRET, T, "https://bin.example/h/abc", Options()))
    assert headers["webhook-timestamp"] == str(T)
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-signature"] == v1(KEY, headers["webhook-id"], T, BODY)
    req = request(headers["webhook-signature"], headers["webhook-id"])
    assert verify(req, SECRET).status == "valid"


def test_sign_ed25519_verifies_with_the_public_key() -> None:
    headers = dict(
        SCHEME.sign(LIB_PAYLOAD, "whsk_" + LIB_SIGNING_SEED, LIB_TIMESTAMP, "", Options())
    )
    assert headers["webhook-signature"].startswith("v1a,")
    req = request(
        headers["webhook-signature"],
        headers["webhook-id"],
        str(LIB_TIMESTAMP),
        LIB_PAYLOAD,
        datetime.fromtimestamp(LIB_TIMESTAMP, UTC),
    )
    assert verify(req, public_key(LIB_SIGNING_SEED)).status == "valid"


def test_sign_refuses_a_public_key() -> None:
    with pytest.raises(ValueError, match="cannot sign"):
        SCHEME.sign(BODY, public_key(LIB_SIGNING_SEED), T, "", Options())
