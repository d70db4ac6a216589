"""Discord interactions: ``X-Signature-Ed25519`` = hex Ed25519 signature of
``{X-Signature-Timestamp}{body}``.

This is a public-key scheme. ``verify`` takes the application's Public Key from the
Developer Portal (64 hex digits) as its secret; ``sign`` takes an Ed25519 private key as a
64-hex-digit seed, which only a test sender has (see ``generate_keypair``). There is no
``expected`` signature to show: only the holder of the private key can compute one.
"""

from __future__ import annotations

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

from ._common import PublicKeyScheme, decode_hex

SIGNATURE_BYTES = 64


def generate_keypair() -> tuple[str, str]:
    """A fresh (private seed hex for ``sign``, public key hex for ``verify``)."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return seed.hex(), private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


class Discord(PublicKeyScheme):
    name = "discord"
    title = "Discord"
    header = "X-Signature-Ed25519"
    timestamp_header = "X-Signature-Timestamp"
    not_a_signature = f"{header} is not an Ed25519 signature ({SIGNATURE_BYTES * 2} hex digits)."
    no_usable_key = (
        "No configured secret is an Ed25519 public key: enter the application's Public Key "
        "from the Developer Portal (64 hex digits)."
    )
    no_match = "The signature does not verify under any configured public key."
    other_key_cause = (
        "the request was probably signed for another application (each has its own key pair), "
        "so check which application's Public Key this bin has."
    )

    def decode_signature(self, value: str) -> bytes | None:
        signature = decode_hex(value)
        return signature if signature is not None and len(signature) == SIGNATURE_BYTES else None

    def public_key(self, secret: str) -> Ed25519PublicKey | None:
        raw = decode_hex(secret.strip())
        try:
            return None if raw is None else Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            return None

    def sign_message(self, secret: str, message: bytes) -> str:
        """``secret`` is a private key seed in hex, as from ``generate_keypair``."""
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret.strip()))
        return key.sign(message).hex()


SCHEME = Discord()
