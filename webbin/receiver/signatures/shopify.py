"""Shopify: ``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>``, keyed with the app's
client secret as text. No timestamp is signed, so replays can't be told apart."""

from __future__ import annotations

from ._common import BodyHmacScheme


class Shopify(BodyHmacScheme):
    name = "shopify"
    title = "Shopify"
    header = "X-Shopify-Hmac-Sha256"
    encoding = "base64"


SCHEME = Shopify()
