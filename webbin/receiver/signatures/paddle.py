"""Paddle Billing: ``Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>...]``.

h1 is HMAC-SHA256 of ``{ts}:{body}`` keyed with the notification destination's secret key as
text; several h1 entries appear while a secret is being rotated.
"""

from __future__ import annotations

from ._common import ParamHeaderScheme


class Paddle(ParamHeaderScheme):
    name = "paddle"
    title = "Paddle"
    header = "Paddle-Signature"
    separator = ";"
    timestamp_key = "ts"
    signature_key = "h1"
    joiner = ":"


SCHEME = Paddle()
