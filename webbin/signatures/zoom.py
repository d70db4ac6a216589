"""Zoom: ``x-zm-signature: v0=<hex HMAC-SHA256 of "v0:{x-zm-request-timestamp}:{body}">``.

The key is the app's Secret Token, used as text; ``x-zm-request-timestamp`` is in seconds.
The ``endpoint.url_validation`` challenge is signed the same way (its response's
``encryptedToken`` is the receiver's business, not the request's signature).
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

SIGNATURE_HEADER = "x-zm-signature"
TIMESTAMP_HEADER = "x-zm-request-timestamp"
PREFIX = "v0="
CONSTRUCTION = "v0:{x-zm-request-timestamp}:{body}"


def _message(timestamp: str, body: bytes) -> bytes:
    return b"v0:" + text_bytes(timestamp) + b":" + body


class Zoom:
    name = "zoom"
    title = "Zoom"

    def detect(self, request: SignedRequest) -> bool:
        return request.header(SIGNATURE_HEADER) is not None

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(SIGNATURE_HEADER)
        if value is None:
            return unsigned(self.name, SIGNATURE_HEADER)
        headers_read = [SIGNATURE_HEADER, TIMESTAMP_HEADER]
        if len(value) > MAX_HEADER_CHARS:
            return malformed(
                self.name,
                f"{SIGNATURE_HEADER} is {len(value)} characters long, far more than a signature.",
                headers_read,
                construction=CONSTRUCTION,
            )
        value = value.strip()
        if not value.startswith(PREFIX) or value == PREFIX:
            return malformed(
                self.name,
                f"{SIGNATURE_HEADER} is not of the form {PREFIX}<hex digest>.",
                headers_read,
                received=[value],
                construction=CONSTRUCTION,
            )
        sent_at = request.header(TIMESTAMP_HEADER)
        timestamp = parse_timestamp(sent_at)
        if sent_at is None or timestamp is None:
            reason = (
                f"No {TIMESTAMP_HEADER} header, which the signature covers."
                if sent_at is None
                else f"{TIMESTAMP_HEADER} is not a Unix time in seconds."
            )
            return malformed(
                self.name, reason, headers_read, received=[value], construction=CONSTRUCTION
            )
        sent_at = sent_at.strip()
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
        signature = PREFIX + hmac_hex(text_bytes(secret), _message(str(timestamp), body))
        return [(TIMESTAMP_HEADER, str(timestamp)), (SIGNATURE_HEADER, signature)]


SCHEME = Zoom()
