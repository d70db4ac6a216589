"""Zoom: ``x-zm-signature: v0=<hex HMAC-SHA256 of "v0:{x-zm-request-timestamp}:{body}">``.

The key is the app's Secret Token, used as text; ``x-zm-request-timestamp`` is in seconds.
The ``endpoint.url_validation`` challenge is signed the same way (its response's
``encryptedToken`` is the receiver's business, not the request's signature).
"""

from __future__ import annotations

from ._common import (
    HeaderScheme,
    HmacSpec,
    header_timestamp,
    oversized,
    text_bytes,
    text_hmac,
    unprefixed,
    unsigned,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict

SIGNATURE_HEADER = "x-zm-signature"
TIMESTAMP_HEADER = "x-zm-request-timestamp"
PREFIX = "v0="
CONSTRUCTION = "v0:{x-zm-request-timestamp}:{body}"


def _message(timestamp: str, body: bytes) -> bytes:
    return b"v0:" + text_bytes(timestamp) + b":" + body


class Zoom(HeaderScheme):
    name = "zoom"
    title = "Zoom"
    header = SIGNATURE_HEADER

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(SIGNATURE_HEADER)
        if value is None:
            return unsigned(self.name, SIGNATURE_HEADER)
        headers_read = [SIGNATURE_HEADER, TIMESTAMP_HEADER]
        if refusal := oversized(self.name, SIGNATURE_HEADER, value, headers_read, CONSTRUCTION):
            return refusal
        value = value.strip()
        if refusal := unprefixed(
            self.name, SIGNATURE_HEADER, value, PREFIX, "hex", headers_read, CONSTRUCTION
        ):
            return refusal
        sent = header_timestamp(
            self.name, request, TIMESTAMP_HEADER, headers_read, [value], CONSTRUCTION
        )
        if isinstance(sent, Verdict):
            return sent
        sent_at, timestamp = sent
        return verify_hmac(
            request,
            options,
            HmacSpec(
                scheme=self.name,
                headers_read=headers_read,
                construction=CONSTRUCTION,
                received=[value],
                signatures=[value.removeprefix(PREFIX)],
                message=_message(sent_at, request.body),
                prefix=PREFIX,
                resign_body=lambda body: _message(sent_at, body),
                timestamp=timestamp,
            ),
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """``secret`` is the Secret Token; ``url`` plays no part."""
        signature = PREFIX + text_hmac(secret, _message(str(timestamp), body))
        return [(TIMESTAMP_HEADER, str(timestamp)), (SIGNATURE_HEADER, signature)]


SCHEME = Zoom()
