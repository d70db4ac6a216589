"""Square: ``x-square-hmacsha256-signature: <base64 HMAC-SHA256 of notification URL + body>``.

The key is the subscription's signature key as text, and the URL is the notification URL
exactly as configured in Square, so a proxy that changes scheme, slash or port breaks it. The
legacy ``x-square-signature`` (HMAC-SHA1, same payload) is read only when the SHA-256 header
is absent.
"""

from __future__ import annotations

from ._common import (
    MAX_HEADER_CHARS,
    HmacSpec,
    hmac_b64,
    malformed,
    text_bytes,
    unsigned,
    url_hint,
    url_variants,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict

HEADER = "x-square-hmacsha256-signature"
LEGACY_HEADER = "x-square-signature"


class Square:
    name = "square"
    title = "Square"

    def detect(self, request: SignedRequest) -> bool:
        return request.header(HEADER) is not None or request.header(LEGACY_HEADER) is not None

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value, header, algorithm = request.header(HEADER), HEADER, "sha256"
        if value is None:
            value, header, algorithm = request.header(LEGACY_HEADER), LEGACY_HEADER, "sha1"
        if value is None:
            return unsigned(self.name, HEADER)
        headers_read = [HEADER] if header == HEADER else [HEADER, LEGACY_HEADER]
        construction = "{notification_url}{body}"
        if len(value) > MAX_HEADER_CHARS:
            return malformed(self.name, f"{header} is {len(value)} characters long, far more "
                             "than a signature.", headers_read, construction=construction)
        value = value.strip()
        url = text_bytes(request.url)
        return verify_hmac(request, options, HmacSpec(
            scheme=self.name,
            headers_read=headers_read,
            construction=construction,
            received=[value],
            signatures=[value],
            message=url + request.body,
            algorithm=algorithm,
            encoding="base64",
            resign_body=lambda body: url + body,
            message_variants=[
                (url_hint(changes, variant), text_bytes(variant) + request.body)
                for changes, variant in url_variants(request.url)
            ],
        ))

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """Both headers, as Square sends both."""
        key, payload = text_bytes(secret), text_bytes(url) + body
        return [(HEADER, hmac_b64(key, payload, "sha256")),
                (LEGACY_HEADER, hmac_b64(key, payload, "sha1"))]


SCHEME = Square()
