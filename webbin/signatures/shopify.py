"""Shopify: ``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>``, keyed with the app's
client secret as text. No timestamp is signed, so replays can't be told apart."""

from __future__ import annotations

from ._common import (
    MAX_HEADER_CHARS,
    HmacSpec,
    hmac_b64,
    malformed,
    text_bytes,
    unsigned,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict

HEADER = "X-Shopify-Hmac-Sha256"


class Shopify:
    name = "shopify"
    title = "Shopify"

    def detect(self, request: SignedRequest) -> bool:
        return request.header(HEADER) is not None

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(HEADER)
        if value is None:
            return unsigned(self.name, HEADER)
        if len(value) > MAX_HEADER_CHARS:
            return malformed(self.name, f"{HEADER} is {len(value)} characters long, far more "
                             "than a signature.", [HEADER], construction="{body}")
        value = value.strip()
        return verify_hmac(request, options, HmacSpec(
            scheme=self.name,
            headers_read=[HEADER],
            construction="{body}",
            received=[value],
            signatures=[value],
            message=request.body,
            encoding="base64",
            resign_body=lambda body: body,
        ))

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        return [(HEADER, hmac_b64(text_bytes(secret), body))]


SCHEME = Shopify()
