"""Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=<hex>]``.

v1 is HMAC-SHA256 of ``{t}.{body}`` keyed with the endpoint's whole signing secret, ``whsec_``
prefix included, as UTF-8 text. Several v1 entries appear while a secret is being rolled; v0
is a legacy test-mode signature Stripe's own libraries ignore, and so do we.
"""

from __future__ import annotations

from ._common import (
    MAX_HEADER_CHARS,
    MAX_SIGNATURES,
    HmacSpec,
    Variant,
    decode_base64,
    hmac_hex,
    malformed,
    parse_timestamp,
    split_pairs,
    text_bytes,
    text_key_variants,
    unsigned,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict

HEADER = "Stripe-Signature"
PREFIX = "whsec_"


def key_variants(secret: str) -> list[Variant]:
    """The ways a ``whsec_`` secret gets mangled: prefix dropped or missing, or decoded the
    Standard Webhooks way."""
    variants = []
    if secret.startswith(PREFIX):
        rest = secret.removeprefix(PREFIX)
        variants.append((
            "The signature was made with the secret minus its whsec_ prefix; Stripe signs with "
            "the whole whsec_… string, prefix included.", text_bytes(rest)))
        decoded = decode_base64(rest)
        if decoded:
            variants.append((
                "The signature was made by base64-decoding the secret after whsec_ (the "
                "Standard Webhooks convention); Stripe keys the HMAC with the whole whsec_… "
                "string as text.", decoded))
    else:
        variants.append((
            "The signature matches once whsec_ is put in front of the secret: save the whole "
            "signing secret, prefix included.", text_bytes(PREFIX + secret)))
    return variants + text_key_variants(secret)


class Stripe:
    name = "stripe"
    title = "Stripe"

    def detect(self, request: SignedRequest) -> bool:
        return request.header(HEADER) is not None

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(HEADER)
        if value is None:
            return unsigned(self.name, HEADER)
        headers_read, construction = [HEADER], "{t}.{body}"
        if len(value) > MAX_HEADER_CHARS:
            return malformed(self.name, f"{HEADER} is {len(value)} characters long, far more "
                             "than a signature header.", headers_read, construction=construction)
        pairs = split_pairs(value, ",")
        received = [f"{k}={v}" for k, v in pairs if k in ("v1", "v0")][:MAX_SIGNATURES]
        stamps = [v for k, v in pairs if k == "t"]
        if not stamps:
            return malformed(self.name, f"{HEADER} has no t= timestamp.", headers_read,
                             received=received, construction=construction)
        timestamp = parse_timestamp(stamps[0])
        if timestamp is None:
            return malformed(self.name, f"{HEADER}'s t= is not a Unix timestamp in seconds.",
                             headers_read, received=received, construction=construction)
        signatures = [v for k, v in pairs if k == "v1" and v][:MAX_SIGNATURES]
        if not signatures:
            only_v0 = " (only v0, which Stripe's libraries ignore)" if received else ""
            return malformed(self.name, f"{HEADER} has no v1 signature{only_v0}.",
                             headers_read, received=received, construction=construction)
        stamp = text_bytes(stamps[0])
        return verify_hmac(request, options, HmacSpec(
            scheme=self.name,
            headers_read=headers_read,
            construction=construction,
            received=received,
            signatures=signatures,
            message=stamp + b"." + request.body,
            prefix="v1=",
            resign_body=lambda body: stamp + b"." + body,
            key_variants=key_variants,
            timestamp=timestamp,
        ))

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        signature = hmac_hex(text_bytes(secret), f"{timestamp}.".encode() + body)
        return [(HEADER, f"t={timestamp},v1={signature}")]


SCHEME = Stripe()
