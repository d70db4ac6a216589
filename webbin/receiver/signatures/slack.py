"""Slack: ``X-Slack-Signature: v0=<hex>`` over ``v0:{X-Slack-Request-Timestamp}:{body}``.

HMAC-SHA256 keyed with the app's signing secret as text.
"""

from __future__ import annotations

from ._common import (
    PAIRED_TIME,
    HeaderScheme,
    HmacSpec,
    header_timestamp,
    oversized,
    text_hmac,
    unprefixed,
    unsigned,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict

HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
VERSION = "v0"


class Slack(HeaderScheme):
    name = "slack"
    title = "Slack"
    header = HEADER

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(HEADER)
        if value is None:
            return unsigned(self.name, HEADER)
        headers_read, construction = [HEADER, TIMESTAMP_HEADER], "v0:{timestamp}:{body}"
        if refusal := oversized(self.name, HEADER, value, headers_read, construction):
            return refusal
        value = value.strip()
        sent = header_timestamp(
            self.name, request, TIMESTAMP_HEADER, headers_read, [value], construction, PAIRED_TIME
        )
        if isinstance(sent, Verdict):
            return sent
        sent_at, timestamp = sent
        prefix = f"{VERSION}="
        if refusal := unprefixed(
            self.name, HEADER, value, prefix, "hex", headers_read, construction
        ):
            return refusal
        base = f"{VERSION}:{sent_at}:".encode()
        return verify_hmac(
            request,
            options,
            HmacSpec(
                scheme=self.name,
                headers_read=headers_read,
                construction=construction,
                received=[value],
                signatures=[value.removeprefix(prefix)],
                message=base + request.body,
                prefix=prefix,
                resign_body=lambda body: base + body,
                timestamp=timestamp,
            ),
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        signature = text_hmac(secret, f"{VERSION}:{timestamp}:".encode() + body)
        return [(TIMESTAMP_HEADER, str(timestamp)), (HEADER, f"{VERSION}={signature}")]


SCHEME = Slack()
