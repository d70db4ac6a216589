"""Square: ``x-square-hmacsha256-signature: <base64 HMAC-SHA256 of notification URL + body>``.

The key is the subscription's signature key as text, and the URL is the notification URL
exactly as configured in Square, so a proxy that changes scheme, slash or port breaks it. The
legacy ``x-square-signature`` (HMAC-SHA1, same payload) is read only when the SHA-256 header
is absent.
"""

from __future__ import annotations

from ._common import (
    HmacSpec,
    oversized,
    preferred_header,
    text_bytes,
    text_hmac,
    unsigned,
    url_hint,
    url_variants,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict

HEADER = "x-square-hmacsha256-signature"
LEGACY_HEADER = "x-square-signature"
CONSTRUCTION = "{notification_url}{body}"


class Square:
    name = "square"
    title = "Square"

    def detect(self, request: SignedRequest) -> bool:
        return request.header(HEADER) is not None or request.header(LEGACY_HEADER) is not None

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        found = preferred_header(request, (HEADER, "sha256"), (LEGACY_HEADER, "sha1"))
        if found is None:
            return unsigned(self.name, HEADER)
        value, header, algorithm, headers_read = found
        if refusal := oversized(self.name, header, value, headers_read, CONSTRUCTION):
            return refusal
        value = value.strip()
        url = text_bytes(request.url)
        return verify_hmac(
            request,
            options,
            HmacSpec(
                scheme=self.name,
                headers_read=headers_read,
                construction=CONSTRUCTION,
                received=[value],
                signatures=[value],
                message=url + request.body,
                algorithm=algorithm,
                encoding="base64",
                resign_body=lambda body: url + body,
                message_variants=lambda: (
                    (url_hint(changes, variant), text_bytes(variant) + request.body)
                    for changes, variant in url_variants(request.url)
                ),
            ),
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """Both headers, as Square sends both."""
        payload = text_bytes(url) + body
        return [
            (HEADER, text_hmac(secret, payload, "sha256", "base64")),
            (LEGACY_HEADER, text_hmac(secret, payload, "sha1", "base64")),
        ]


SCHEME = Square()
