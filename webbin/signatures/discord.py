"""Discord interactions: ``X-Signature-Ed25519`` = hex Ed25519 signature of
``{X-Signature-Timestamp}{body}``.

This is a public-key scheme. ``verify`` takes the application's Public Key from the
Developer Portal (64 hex digits) as its secret; ``sign`` takes an Ed25519 private key as a
64-hex-digit seed, which only a test sender has (see ``generate_keypair``). There is no
``expected`` signature to show: only the holder of the private key can compute one.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from ._common import (
    BODY_REENCODED_HINT,
    MAX_HEADER_CHARS,
    decode_hex,
    malformed,
    matched,
    parse_timestamp,
    reencoded_bodies,
    text_bytes,
    timestamp_age,
    unsigned,
    unverified,
)
from .base import Options, SignedRequest, Verdict

SIGNATURE_HEADER = "X-Signature-Ed25519"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
CONSTRUCTION = "{X-Signature-Timestamp}{body}"
SIGNATURE_BYTES = 64
_OTHER_KEY_HINT = (
    "The body shows no sign of re-encoding: the request was probably signed for another "
    "application (each has its own key pair), so check which application's Public Key this "
    "bin has."
)


def generate_keypair() -> tuple[str, str]:
    """A fresh (private seed hex for ``sign``, public key hex for ``verify``)."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return seed.hex(), private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _public_key(secret: str) -> Ed25519PublicKey | None:
    raw = decode_hex(secret.strip())
    try:
        return None if raw is None else Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


def _verifies(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


class Discord:
    name = "discord"
    title = "Discord"

    def detect(self, request: SignedRequest) -> bool:
        return request.header(SIGNATURE_HEADER) is not None

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(SIGNATURE_HEADER)
        if value is None:
            return unsigned(self.name, SIGNATURE_HEADER)
        headers_read = [SIGNATURE_HEADER, TIMESTAMP_HEADER]
        if len(value) > MAX_HEADER_CHARS:
            return malformed(
                self.name,
                f"{SIGNATURE_HEADER} is {len(value)} characters long, far more than a signature.",
                headers_read,
                construction=CONSTRUCTION,
            )
        value = value.strip()
        signature = decode_hex(value)
        if signature is None or len(signature) != SIGNATURE_BYTES:
            return malformed(
                self.name,
                f"{SIGNATURE_HEADER} is not an Ed25519 signature "
                f"({SIGNATURE_BYTES * 2} hex digits).",
                headers_read,
                received=[value],
                construction=CONSTRUCTION,
            )
        sent_at = request.header(TIMESTAMP_HEADER)
        timestamp = parse_timestamp(sent_at)
        if sent_at is None or timestamp is None:
            reason = (
                f"No {TIMESTAMP_HEADER} header, which the signature covers."
                if sent_at is None
                else f"{TIMESTAMP_HEADER} is not a Unix time in seconds."
            )
            return malformed(
                self.name, reason, headers_read, received=[value], construction=CONSTRUCTION
            )
        age = timestamp_age(request, timestamp)
        if not options.secrets:
            return unverified(self.name, headers_read, [value], CONSTRUCTION, timestamp, age)
        fields = dict(
            headers_read=headers_read,
            construction=CONSTRUCTION,
            received=[value],
            timestamp=timestamp,
        )
        keys = [(index, _public_key(secret)) for index, secret in enumerate(options.secrets)]
        usable = [(index, key) for index, key in keys if key is not None]
        if not usable:
            return Verdict(
                scheme=self.name,
                status="invalid",
                reason="No configured secret is an Ed25519 public key: enter the application's "
                "Public Key from the Developer Portal (64 hex digits).",
                age_seconds=age,
                **fields,
            )
        prefix = text_bytes(sent_at.strip())
        index = next(
            (i for i, key in usable if _verifies(key, signature, prefix + request.body)), None
        )
        if index is not None:
            return matched(self.name, options, index, expected=None, age=age, **fields)
        reencoded = any(
            _verifies(key, signature, prefix + variant)
            for variant in reencoded_bodies(request.body)
            for _, key in usable
        )
        return Verdict(
            scheme=self.name,
            status="invalid",
            reason="The signature does not verify under any configured public key.",
            hint=BODY_REENCODED_HINT if reencoded else _OTHER_KEY_HINT,
            age_seconds=age,
            **fields,
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """``secret`` is a private key seed in hex (from ``generate_keypair``), not the public
        key ``verify`` takes; a malformed one raises ``ValueError``. ``url`` plays no part."""
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret.strip()))
        sent_at = str(timestamp)
        return [
            (SIGNATURE_HEADER, key.sign(sent_at.encode() + body).hex()),
            (TIMESTAMP_HEADER, sent_at),
        ]


SCHEME = Discord()
