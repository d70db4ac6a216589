"""Typeform: ``Typeform-Signature: sha256=<base64 HMAC-SHA256 of the raw body>``.

The HMAC key is the webhook's ``secret`` exactly as set through the Webhooks API, used as
text. Typeform signs no timestamp, so a valid signature says nothing about replays.
"""

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

HEADER = "Typeform-Signature"
PREFIX = "sha256="
CONSTRUCTION = "{body}"


class Typeform:
    name = "typeform"
    title = "Typeform"

    def detect(self, request: SignedRequest) -> bool:
        return request.header(HEADER) is not None

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(HEADER)
        if value is None:
            return unsigned(self.name, HEADER)
        if len(value) > MAX_HEADER_CHARS:
            return malformed(
                self.name,
                f"{HEADER} is {len(value)} characters long, far more than a signature.",
                [HEADER],
                construction=CONSTRUCTION,
            )
        value = value.strip()
        if not value.startswith(PREFIX) or value == PREFIX:
            return malformed(
                self.name,
                f"{HEADER} is not of the form {PREFIX}<base64 digest>.",
                [HEADER],
                received=[value],
                construction=CONSTRUCTION,
            )
        return verify_hmac(
            request,
            options,
            HmacSpec(
                scheme=self.name,
                headers_read=[HEADER],
                construction=CONSTRUCTION,
                received=[value],
                signatures=[value.removeprefix(PREFIX)],
                message=request.body,
                encoding="base64",
                prefix=PREFIX,
                resign_body=lambda body: body,
            ),
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """Typeform signs only the body: ``timestamp`` and ``url`` play no part."""
        return [(HEADER, PREFIX + hmac_b64(text_bytes(secret), body))]


SCHEME = Typeform()
