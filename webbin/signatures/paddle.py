"""Paddle Billing: ``Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>...]``.

h1 is HMAC-SHA256 of ``{ts}:{body}`` keyed with the notification destination's secret key as
text; several h1 entries appear while a secret is being rotated.
"""

from __future__ import annotations

from ._common import (
    MAX_HEADER_CHARS,
    MAX_SIGNATURES,
    HmacSpec,
    hmac_hex,
    malformed,
    parse_timestamp,
    split_pairs,
    text_bytes,
    unsigned,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict

HEADER = "Paddle-Signature"


class Paddle:
    name = "paddle"
    title = "Paddle"

    def detect(self, request: SignedRequest) -> bool:
        return request.header(HEADER) is not None

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(HEADER)
        if value is None:
            return unsigned(self.name, HEADER)
        headers_read, construction = [HEADER], "{ts}:{body}"
        if len(value) > MAX_HEADER_CHARS:
            return malformed(self.name, f"{HEADER} is {len(value)} characters long, far more "
                             "than a signature header.", headers_read, construction=construction)
        pairs = split_pairs(value, ";")
        signatures = [v for k, v in pairs if k == "h1" and v][:MAX_SIGNATURES]
        received = [f"h1={v}" for v in signatures]
        stamps = [v for k, v in pairs if k == "ts"]
        if not stamps:
            return malformed(self.name, f"{HEADER} has no ts= timestamp.", headers_read,
                             received=received, construction=construction)
        timestamp = parse_timestamp(stamps[0])
        if timestamp is None:
            return malformed(self.name, f"{HEADER}'s ts= is not a Unix timestamp in seconds.",
                             headers_read, received=received, construction=construction)
        if not signatures:
            return malformed(self.name, f"{HEADER} has no h1 signature.", headers_read,
                             construction=construction)
        stamp = text_bytes(stamps[0])
        return verify_hmac(request, options, HmacSpec(
            scheme=self.name,
            headers_read=headers_read,
            construction=construction,
            received=received,
            signatures=signatures,
            message=stamp + b":" + request.body,
            prefix="h1=",
            resign_body=lambda body: stamp + b":" + body,
            timestamp=timestamp,
        ))

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        signature = hmac_hex(text_bytes(secret), f"{timestamp}:".encode() + body)
        return [(HEADER, f"ts={timestamp};h1={signature}")]


SCHEME = Paddle()
