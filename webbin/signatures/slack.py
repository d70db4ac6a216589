"""Slack: ``X-Slack-Signature: v0=<hex>`` over ``v0:{X-Slack-Request-Timestamp}:{body}``.

HMAC-SHA256 keyed with the app's signing secret as text.
"""

from __future__ import annotations

from ._common import (
    MAX_HEADER_CHARS,
    HmacSpec,
    hmac_hex,
    malformed,
    parse_timestamp,
    text_bytes,
    unsigned,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict

HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
VERSION = "v0"


class Slack:
    name = "slack"
    title = "Slack"

    def detect(self, request: SignedRequest) -> bool:
        return request.header(HEADER) is not None

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(HEADER)
        if value is None:
            return unsigned(self.name, HEADER)
        headers_read, construction = [HEADER, TIMESTAMP_HEADER], "v0:{timestamp}:{body}"
        raw_stamp = request.header(TIMESTAMP_HEADER)
        if len(value) > MAX_HEADER_CHARS:
            return malformed(self.name, f"{HEADER} is {len(value)} characters long, far more "
                             "than a signature.", headers_read, construction=construction)
        value = value.strip()
        if raw_stamp is None:
            return malformed(self.name, f"No {TIMESTAMP_HEADER} header to go with the signature.",
                             headers_read, received=[value], construction=construction)
        timestamp = parse_timestamp(raw_stamp)
        if timestamp is None:
            return malformed(self.name, f"{TIMESTAMP_HEADER} is not a Unix timestamp in seconds.",
                             headers_read, received=[value], construction=construction)
        prefix = f"{VERSION}="
        if not value.startswith(prefix) or value == prefix:
            return malformed(self.name, f"{HEADER} is not of the form v0=<hex digest>.",
                             headers_read, received=[value], construction=construction)
        base = f"{VERSION}:{raw_stamp.strip()}:".encode()
        return verify_hmac(request, options, HmacSpec(
            scheme=self.name,
            headers_read=headers_read,
            construction=construction,
            received=[value],
            signatures=[value.removeprefix(prefix)],
            message=base + request.body,
            prefix=prefix,
            resign_body=lambda body: base + body,
            timestamp=timestamp,
        ))

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        signature = hmac_hex(text_bytes(secret), f"{VERSION}:{timestamp}:".encode() + body)
        return [(TIMESTAMP_HEADER, str(timestamp)), (HEADER, f"{VERSION}={signature}")]


SCHEME = Slack()
