"""Standard Webhooks (and Svix, which uses the same scheme under ``svix-*`` headers).

``webhook-signature`` holds space-separated ``v1,<base64>`` entries (HMAC-SHA256 keyed with the
bytes of a ``whsec_<base64>`` secret) and/or ``v1a,<base64>`` entries (Ed25519, checked with a
``whpk_<base64>`` public key, or the public half of a ``whsk_<base64>`` signing key). Both sign
``{webhook-id}.{webhook-timestamp}.{body}``.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ._common import (
    BODY_REENCODED_HINT,
    MAX_HEADER_CHARS,
    MAX_SIGNATURES,
    decode_base64,
    digest_sized,
    encoding_hint,
    hmac_bytes,
    malformed,
    matched,
    mismatch_reason,
    other_endpoint_hint,
    parse_timestamp,
    reencoded_bodies,
    signature_verifies,
    text_bytes,
    timestamp_age,
    unsigned,
    unverified,
)
from .base import Options, SignedRequest, Verdict, constant_time_equal

HEADER_SETS = (
    ("webhook-id", "webhook-timestamp", "webhook-signature"),
    ("svix-id", "svix-timestamp", "svix-signature"),
)
SECRET_PREFIX, PUBLIC_PREFIX, PRIVATE_PREFIX = "whsec_", "whpk_", "whsk_"
CONSTRUCTION = "{webhook-id}.{webhook-timestamp}.{body}"

RAW_TEXT_KEY_HINT = (
    "The signature was made with the secret used as text; Standard Webhooks base64-decodes the "
    "part after whsec_ and keys the HMAC with those bytes."
)


@dataclass(frozen=True)
class Key:
    """A secret as this scheme reads it: an HMAC key, an Ed25519 key, or why it is neither."""

    hmac: bytes | None = None
    public: Ed25519PublicKey | None = None
    private: Ed25519PrivateKey | None = None
    problem: str | None = None


def read_secret(secret: str) -> Key:
    secret = secret.strip()
    if secret.startswith((PUBLIC_PREFIX, PRIVATE_PREFIX)):
        prefix = secret[:5]
        raw = decode_base64(secret.removeprefix(prefix))
        if raw is None or len(raw) != 32:
            return Key(problem=f"The {prefix} key is not 32 base64-encoded bytes (an Ed25519 key).")
        if prefix == PUBLIC_PREFIX:
            return Key(public=Ed25519PublicKey.from_public_bytes(raw))
        private = Ed25519PrivateKey.from_private_bytes(raw)
        return Key(public=private.public_key(), private=private)
    raw = decode_base64(secret.removeprefix(SECRET_PREFIX))
    if not raw:
        return Key(
            problem="The secret is not whsec_ followed by base64, so it can't key the "
            "HMAC the way Standard Webhooks does."
        )
    return Key(hmac=raw)


def hmac_signature(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac_bytes(key, message)).decode("ascii")


def ed25519_verifies(public: Ed25519PublicKey, signature: str, message: bytes) -> bool:
    raw = decode_base64(signature)
    return raw is not None and len(raw) == 64 and signature_verifies(public, raw, message)


def expected_entry(key: Key, message: bytes) -> str | None:
    """What this key would put in webhook-signature (None for a public key, which can't sign)."""
    if key.hmac is not None:
        return "v1," + hmac_signature(key.hmac, message)
    if key.private is not None:
        return "v1a," + base64.b64encode(key.private.sign(message)).decode("ascii")
    return None


@dataclass(frozen=True)
class Signatures:
    v1: list[str]
    v1a: list[str]

    def well_formed(self) -> bool:
        """Whether any entry could be a signature at all (right length once decoded)."""
        return any(digest_sized(s, 32) for s in self.v1) or any(
            len(decode_base64(s) or b"") == 64 for s in self.v1a
        )

    def match(self, key: Key, message: bytes) -> bool:
        if key.hmac is not None:
            value = hmac_signature(key.hmac, message)
            if any(constant_time_equal(value, s) for s in self.v1):
                return True
        return key.public is not None and any(
            ed25519_verifies(key.public, s, message) for s in self.v1a
        )


class StandardWebhooks:
    name = "standard-webhooks"
    title = "Standard Webhooks / Svix"

    def detect(self, request: SignedRequest) -> bool:
        return any(request.header(names[2]) is not None for names in HEADER_SETS)

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        names = next((n for n in HEADER_SETS if request.header(n[2]) is not None), None)
        if names is None:
            return unsigned(self.name, HEADER_SETS[0][2])
        id_name, timestamp_name, signature_name = names
        headers_read = list(names)
        values = [request.header(name) for name in names]
        msg_id, raw_stamp, value = values
        if any(v is not None and len(v) > MAX_HEADER_CHARS for v in values):
            return malformed(
                self.name,
                "A webhook header is far longer than any real one.",
                headers_read,
                construction=CONSTRUCTION,
            )
        received = value.split()[:MAX_SIGNATURES]
        if msg_id is None or raw_stamp is None:
            missing = id_name if msg_id is None else timestamp_name
            return malformed(
                self.name,
                f"No {missing} header to go with the signature.",
                headers_read,
                received=received,
                construction=CONSTRUCTION,
            )
        timestamp = parse_timestamp(raw_stamp)
        if timestamp is None:
            return malformed(
                self.name,
                f"{timestamp_name} is not a Unix timestamp in seconds.",
                headers_read,
                received=received,
                construction=CONSTRUCTION,
            )
        entries = [entry.partition(",") for entry in received]
        signatures = Signatures(
            v1=[s for v, _, s in entries if v == "v1" and s],
            v1a=[s for v, _, s in entries if v == "v1a" and s],
        )
        if not signatures.v1 and not signatures.v1a:
            return malformed(
                self.name,
                f"{signature_name} has no v1,<signature> or v1a,<signature> entry.",
                headers_read,
                received=received,
                construction=CONSTRUCTION,
            )
        prefix = text_bytes(f"{msg_id}.{raw_stamp.strip()}.")
        message = prefix + request.body
        age = timestamp_age(request, timestamp)
        if not options.secrets:
            return unverified(self.name, headers_read, received, CONSTRUCTION, timestamp, age)
        keys = [read_secret(secret) for secret in options.secrets]
        fields = dict(
            headers_read=headers_read,
            construction=CONSTRUCTION,
            received=received,
            timestamp=timestamp,
        )
        # What the first key able to sign would have sent: an HMAC or an Ed25519 signature
        # over the whole body, so only worked out to explain the verdict.
        expected = (
            next((e for k in keys if (e := expected_entry(k, message))), None)
            if options.explain
            else None
        )
        if not signatures.well_formed():
            return Verdict(
                scheme=self.name,
                status="invalid",
                reason="No entry is a base64 HMAC-SHA256 (v1) or Ed25519 signature (v1a).",
                expected=expected,
                age_seconds=age,
                **fields,
            )
        usable = [
            (k.hmac is not None and bool(signatures.v1))
            or (k.public is not None and bool(signatures.v1a))
            for k in keys
        ]
        if not any(usable):
            return self._no_usable_key(keys, signatures, age, **fields)
        for index, key in enumerate(keys):
            if usable[index] and signatures.match(key, message):
                return matched(
                    self.name,
                    options,
                    index,
                    expected=expected_entry(key, message) if options.explain else None,
                    age=age,
                    **fields,
                )
        return Verdict(
            scheme=self.name,
            status="invalid",
            reason=mismatch_reason(len(signatures.v1) + len(signatures.v1a), len(keys)),
            hint=self._hint(request.body, prefix, options.secrets, keys, signatures)
            if options.explain
            else None,
            expected=expected,
            age_seconds=age,
            **fields,
        )

    def _no_usable_key(
        self, keys: list[Key], signatures: Signatures, age: float, **fields: object
    ) -> Verdict:
        """``unverified`` when no secret can check the signature versions present."""
        problem = next((k.problem for k in keys if k.problem), None)
        if signatures.v1 and not signatures.v1a:
            reason = "Only v1 (HMAC) signatures are present, and no whsec_ secret is configured."
            hint = problem or "Add the endpoint's whsec_ signing secret."
        elif signatures.v1a and not signatures.v1:
            reason = (
                "Only v1a (Ed25519) signatures are present, and no whpk_ public key is configured."
            )
            hint = problem or "Add the endpoint's whpk_ public key."
        else:
            reason = "None of the configured secrets is a whsec_ secret or a whpk_ public key."
            hint = problem
        return Verdict(
            scheme=self.name,
            status="unverified",
            reason=reason,
            hint=hint,
            age_seconds=age,
            **fields,
        )

    def _hint(
        self,
        body: bytes,
        prefix: bytes,
        secret_texts: tuple[str, ...],
        keys: list[Key],
        signatures: Signatures,
    ) -> str:
        message = prefix + body
        for key in keys:
            if key.hmac is not None:
                hint = encoding_hint(signatures.v1, hmac_bytes(key.hmac, message), "base64")
                if hint:
                    return hint
        variants = reencoded_bodies(body)
        if any(signatures.match(key, prefix + variant) for key in keys for variant in variants):
            return BODY_REENCODED_HINT
        for secret in secret_texts:
            if secret.startswith((PUBLIC_PREFIX, PRIVATE_PREFIX)):
                continue
            for text in {secret, secret.removeprefix(SECRET_PREFIX)}:
                if signatures.match(Key(hmac=text_bytes(text)), message):
                    return RAW_TEXT_KEY_HINT
        return next((k.problem for k in keys if k.problem), None) or other_endpoint_hint(body)

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """v1 for a whsec_ secret, v1a for a whsk_ signing key; ``ValueError`` for a key that
        can't sign (a whpk_ public key, or a malformed secret)."""
        key = read_secret(secret)
        msg_id = "msg_" + secrets.token_hex(12)
        entry = expected_entry(key, f"{msg_id}.{timestamp}.".encode() + body)
        if entry is None:
            raise ValueError(key.problem or "a whpk_ public key verifies but cannot sign")
        return [
            ("webhook-id", msg_id),
            ("webhook-timestamp", str(timestamp)),
            ("webhook-signature", entry),
        ]


SCHEME = StandardWebhooks()
