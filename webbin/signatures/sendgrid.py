"""SendGrid (Twilio) Signed Event Webhook: ``X-Twilio-Email-Event-Webhook-Signature`` =
base64 DER ECDSA P-256/SHA-256 signature of ``{X-Twilio-Email-Event-Webhook-Timestamp}{body}``.

This is a public-key scheme. ``verify`` takes the Verification Key as SendGrid shows it
(base64 DER SubjectPublicKeyInfo) or as PEM. ``sign`` takes a P-256 private key, base64 DER
PKCS#8 or PEM, which only a test sender has (see ``generate_keypair``). There is no
``expected`` signature to show: ECDSA signatures are randomised and need the private key.
"""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
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

from ._common import (
    BODY_REENCODED_HINT,
    MAX_HEADER_CHARS,
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

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
CONSTRUCTION = "{X-Twilio-Email-Event-Webhook-Timestamp}{body}"
_ECDSA = ec.ECDSA(hashes.SHA256())


def generate_keypair() -> tuple[str, str]:
    """A fresh (private key for ``sign``, public key for ``verify``), both base64 DER on one
    line: PKCS#8 and SubjectPublicKeyInfo, the latter as SendGrid shows its Verification Key."""
    private = ec.generate_private_key(ec.SECP256R1())
    private_der = private.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    public_der = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(private_der).decode(), base64.b64encode(public_der).decode()


def _public_key(secret: str) -> ec.EllipticCurvePublicKey | None:
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


def _decode_signature(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True) or None
    except ValueError:
        return None


def _verifies(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message, _ECDSA)
    except InvalidSignature:
        return False
    return True


def _hint(
    keys: list[ec.EllipticCurvePublicKey], signature: bytes, timestamp: bytes, body: bytes
) -> str:
    def verifies(payload: bytes) -> bool:
        return any(_verifies(key, signature, timestamp + payload) for key in keys)

    if body.endswith(b"\r\n") and verifies(body[:-2]):
        return (
            "The signature matches the body without its final CRLF: the sender signed the "
            "payload without SendGrid's trailing \\r\\n, or something on the way added one."
        )
    if verifies(body + b"\r\n"):
        return (
            "The signature matches the body with a trailing CRLF: SendGrid's payload ends with "
            "\\r\\n, and something on the way stripped it."
        )
    if any(verifies(variant) for variant in reencoded_bodies(body)):
        return BODY_REENCODED_HINT
    return (
        "The body shows no sign of re-encoding: the request was probably signed with another "
        "account's (or subuser's) key, or signing was re-enabled since, which issues a new "
        "Verification Key."
    )


class SendGrid:
    name = "sendgrid"
    title = "SendGrid"

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
        signature = _decode_signature(value)
        if signature is None:
            return malformed(
                self.name,
                f"{SIGNATURE_HEADER} is not a base64 ECDSA signature.",
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
                reason="No configured secret is an ECDSA P-256 public key: enter the "
                "Verification Key from SendGrid's Mail Settings (base64, starting MFkw) or a PEM "
                "public key.",
                age_seconds=age,
                **fields,
            )
        prefix = text_bytes(sent_at.strip())
        index = next(
            (i for i, key in usable if _verifies(key, signature, prefix + request.body)), None
        )
        if index is not None:
            return matched(self.name, options, index, expected=None, age=age, **fields)
        return Verdict(
            scheme=self.name,
            status="invalid",
            reason="The signature does not verify under any configured Verification Key.",
            hint=_hint([key for _, key in usable], signature, prefix, request.body),
            age_seconds=age,
            **fields,
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """``secret`` is a P-256 private key (base64 DER PKCS#8, as from ``generate_keypair``,
        or PEM), not the public Verification Key ``verify`` takes; a malformed one raises
        ``ValueError``. ``url`` plays no part."""
        sent_at = str(timestamp)
        signature = _private_key(secret).sign(sent_at.encode() + body, _ECDSA)
        return [
            (SIGNATURE_HEADER, base64.b64encode(signature).decode()),
            (TIMESTAMP_HEADER, sent_at),
        ]


SCHEME = SendGrid()
