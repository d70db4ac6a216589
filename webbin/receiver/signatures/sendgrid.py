"""SendGrid (Twilio) Signed Event Webhook: ``X-Twilio-Email-Event-Webhook-Signature`` =
base64 DER ECDSA P-256/SHA-256 signature of ``{X-Twilio-Email-Event-Webhook-Timestamp}{body}``.

This is a public-key scheme. ``verify`` takes the Verification Key as SendGrid shows it
(base64 DER SubjectPublicKeyInfo) or as PEM. ``sign`` takes a P-256 private key, base64 DER
PKCS#8 or PEM, which only a test sender has (see ``generate_keypair``). There is no
``expected`` signature to show: ECDSA signatures are randomised and need the private key.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_der_private_key,
    load_der_public_key,
    load_pem_private_key,
    load_pem_public_key,
)

from ._common import PublicKeyScheme, signature_verifies

_ECDSA = ec.ECDSA(hashes.SHA256())


def generate_keypair() -> tuple[str, str]:
    """A fresh (private key for ``sign``, public key for ``verify``), both base64 DER on one
    line: PKCS#8 and SubjectPublicKeyInfo, the latter as SendGrid shows its Verification Key."""
    private = ec.generate_private_key(ec.SECP256R1())
    private_der = private.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    public_der = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(private_der).decode(), base64.b64encode(public_der).decode()


def _private_key(secret: str) -> ec.EllipticCurvePrivateKey:
    try:
        if "-----BEGIN" in secret:
            key = load_pem_private_key(secret.strip().encode(), password=None)
        else:
            der = base64.b64decode("".join(secret.split()), validate=True)
            key = load_der_private_key(der, password=None)
    except (TypeError, UnsupportedAlgorithm) as error:  # an encrypted or exotic key
        raise ValueError(f"not a usable private key: {error}") from error
    if not (isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)):
        raise ValueError("not an ECDSA P-256 private key")
    return key


class SendGrid(PublicKeyScheme):
    name = "sendgrid"
    title = "SendGrid"
    header = "X-Twilio-Email-Event-Webhook-Signature"
    timestamp_header = "X-Twilio-Email-Event-Webhook-Timestamp"
    not_a_signature = f"{header} is not a base64 ECDSA signature."
    no_usable_key = (
        "No configured secret is an ECDSA P-256 public key: enter the Verification Key from "
        "SendGrid's Mail Settings (base64, starting MFkw) or a PEM public key."
    )
    no_match = "The signature does not verify under any configured Verification Key."
    other_key_cause = (
        "the request was probably signed with another account's (or subuser's) key, or signing "
        "was re-enabled since, which issues a new Verification Key."
    )

    def decode_signature(self, value: str) -> bytes | None:
        try:
            return base64.b64decode(value, validate=True) or None
        except ValueError:
            return None

    def public_key(self, secret: str) -> ec.EllipticCurvePublicKey | None:
        try:
            if "-----BEGIN" in secret:
                key = load_pem_public_key(secret.strip().encode())
            else:
                key = load_der_public_key(base64.b64decode("".join(secret.split()), validate=True))
        except (ValueError, UnsupportedAlgorithm):
            return None
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            return key
        return None

    def verifies(self, key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
        return signature_verifies(key, signature, message, _ECDSA)

    def sign_message(self, secret: str, message: bytes) -> str:
        """``secret`` is a P-256 private key: base64 DER PKCS#8, as from ``generate_keypair``,
        or PEM."""
        return base64.b64encode(_private_key(secret).sign(message, _ECDSA)).decode()

    def mismatch_hint(self, verifies: Callable[[bytes], bool], body: bytes) -> str:
        """SendGrid's payload ends with CRLF, which a proxy or a hand-made signer may drop."""
        if body.endswith(b"\r\n") and verifies(body[:-2]):
            return (
                "The signature matches the body without its final CRLF: the sender signed the "
                "payload without SendGrid's trailing \\r\\n, or something on the way added one."
            )
        if verifies(body + b"\r\n"):
            return (
                "The signature matches the body with a trailing CRLF: SendGrid's payload ends "
                "with \\r\\n, and something on the way stripped it."
            )
        return super().mismatch_hint(verifies, body)


SCHEME = SendGrid()
