"""Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=<hex>]``.

v1 is HMAC-SHA256 of ``{t}.{body}`` keyed with the endpoint's whole signing secret, ``whsec_``
prefix included, as UTF-8 text. Several v1 entries appear while a secret is being rolled; v0
is a legacy test-mode signature Stripe's own libraries ignore, and so do we.
"""

from __future__ import annotations

from ._common import (
    MAX_SIGNATURES,
    ParamHeaderScheme,
    Variant,
    decode_base64,
    text_bytes,
    text_key_variants,
)

PREFIX = "whsec_"


def key_variants(secret: str) -> list[Variant]:
    """The ways a ``whsec_`` secret gets mangled: prefix dropped or missing, or decoded the
    Standard Webhooks way."""
    variants = []
    if secret.startswith(PREFIX):
        rest = secret.removeprefix(PREFIX)
        variants.append(
            (
                "The signature was made with the secret minus its whsec_ prefix; Stripe signs with "
                "the whole whsec_… string, prefix included.",
                text_bytes(rest),
            )
        )
        decoded = decode_base64(rest)
        if decoded:
            variants.append(
                (
                    "The signature was made by base64-decoding the secret after whsec_ (the "
                    "Standard Webhooks convention); Stripe keys the HMAC with the whole whsec_… "
                    "string as text.",
                    decoded,
                )
            )
    else:
        variants.append(
            (
                "The signature matches once whsec_ is put in front of the secret: save the whole "
                "signing secret, prefix included.",
                text_bytes(PREFIX + secret),
            )
        )
    return variants + text_key_variants(secret)


class Stripe(ParamHeaderScheme):
    name = "stripe"
    title = "Stripe"
    header = "Stripe-Signature"
    separator = ","
    timestamp_key = "t"
    signature_key = "v1"
    joiner = "."
    key_variants = staticmethod(key_variants)

    def shown(self, pairs: list[tuple[str, str]], signatures: list[str]) -> list[str]:
        """v0 entries too, though they are not checked."""
        return [f"{k}={v}" for k, v in pairs if k in ("v1", "v0")][:MAX_SIGNATURES]

    def no_signature(self, shown: list[str]) -> str:
        only_v0 = " (only v0, which Stripe's libraries ignore)" if shown else ""
        return f"{self.header} has no v1 signature{only_v0}."


SCHEME = Stripe()
