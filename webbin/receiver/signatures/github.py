"""GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``.

GitHub also sends the legacy ``X-Hub-Signature: sha1=<hex>``; it is read only when the SHA-256
header is absent (older GitHub Enterprise Server). Alone, that legacy header is claimed only
next to ``X-GitHub-Event``: Bitbucket and Intercom send ``X-Hub-Signature`` too. Without it, auto
mode tries each of the three (see the registry).
"""

from __future__ import annotations

from ._common import (
    HmacSpec,
    oversized,
    preferred_header,
    text_hmac,
    unprefixed,
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

    def carried_header(self, request: SignedRequest) -> str | None:
        """The signature header the request carries, claimed or not (see the registry)."""
        return next((h for h in (HEADER, LEGACY_HEADER) if request.header(h) is not None), None)

    def detect(self, request: SignedRequest) -> bool:
        carried = self.carried_header(request)
        return carried == HEADER or (
            carried == LEGACY_HEADER and request.header(EVENT_HEADER) is not None
        )

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        found = preferred_header(request, (HEADER, "sha256"), (LEGACY_HEADER, "sha1"))
        if found is None:
            return unsigned(self.name, HEADER)
        value, header, algorithm, headers_read = found
        if refusal := oversized(self.name, header, value, headers_read):
            return refusal
        prefix = f"{algorithm}="
        value = value.strip()
        if refusal := unprefixed(self.name, header, value, prefix, "hex", headers_read):
            return refusal
        return verify_hmac(
            request,
            options,
            HmacSpec(
                scheme=self.name,
                headers_read=headers_read,
                construction="{body}",
                received=[value],
                signatures=[value.removeprefix(prefix)],
                message=request.body,
                algorithm=algorithm,
                prefix=prefix,
                resign_body=lambda body: body,
            ),
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """Both headers, as GitHub sends both (the timestamp is not part of the scheme)."""
        return [
            (HEADER, "sha256=" + text_hmac(secret, body, "sha256")),
            (LEGACY_HEADER, "sha1=" + text_hmac(secret, body, "sha1")),
        ]


SCHEME = GitHub()
