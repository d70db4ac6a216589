"""GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``.

GitHub also sends the legacy ``X-Hub-Signature: sha1=<hex>``; it is read only when the SHA-256
header is absent (older GitHub Enterprise Server). Alone, that legacy header is claimed only
next to ``X-GitHub-Event``: Bitbucket and Intercom send ``X-Hub-Signature`` too.
"""

from __future__ import annotations

from ._common import (
    MAX_HEADER_CHARS,
    HmacSpec,
    hmac_hex,
    malformed,
    text_bytes,
    unsigned,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict

HEADER = "X-Hub-Signature-256"
LEGACY_HEADER = "X-Hub-Signature"
EVENT_HEADER = "X-GitHub-Event"


class GitHub:
    name = "github"
    title = "GitHub"

    def detect(self, request: SignedRequest) -> bool:
        if request.header(HEADER) is not None:
            return True
        return request.header(LEGACY_HEADER) is not None and (
            request.header(EVENT_HEADER) is not None)

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value, header, algorithm = request.header(HEADER), HEADER, "sha256"
        if value is None:
            value, header, algorithm = request.header(LEGACY_HEADER), LEGACY_HEADER, "sha1"
        if value is None:
            return unsigned(self.name, HEADER)
        headers_read = [HEADER] if header == HEADER else [HEADER, LEGACY_HEADER]
        if len(value) > MAX_HEADER_CHARS:
            return malformed(self.name, f"{header} is {len(value)} characters long, far more "
                             "than a signature.", headers_read)
        prefix = f"{algorithm}="
        value = value.strip()
        if not value.startswith(prefix) or value == prefix:
            return malformed(self.name, f"{header} is not of the form {prefix}<hex digest>.",
                             headers_read, received=[value])
        return verify_hmac(request, options, HmacSpec(
            scheme=self.name,
            headers_read=headers_read,
            construction="{body}",
            received=[value],
            signatures=[value.removeprefix(prefix)],
            message=request.body,
            algorithm=algorithm,
            prefix=prefix,
            resign_body=lambda body: body,
        ))

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """Both headers, as GitHub sends both (the timestamp is not part of the scheme)."""
        key = text_bytes(secret)
        return [
            (HEADER, "sha256=" + hmac_hex(key, body, "sha256")),
            (LEGACY_HEADER, "sha1=" + hmac_hex(key, body, "sha1")),
        ]


SCHEME = GitHub()
