"""Bitbucket Cloud: ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>``.

The key is the webhook's secret, used as text; Bitbucket signs no timestamp. GitHub and
Intercom use a header of the same name, so ``detect`` also wants Bitbucket Cloud's own
headers: ``X-Event-Key`` plus ``X-Request-UUID`` or ``X-Hook-UUID``.
"""

from __future__ import annotations

import uuid

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

HEADER = "X-Hub-Signature"
PREFIX = "sha256="
CONSTRUCTION = "{body}"


class Bitbucket:
    name = "bitbucket"
    title = "Bitbucket Cloud"

    def detect(self, request: SignedRequest) -> bool:
        return (
            request.header(HEADER) is not None
            and request.header("X-Event-Key") is not None
            and (
                request.header("X-Request-UUID") is not None
                or request.header("X-Hook-UUID") is not None
            )
        )

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
                f"{HEADER} is not of the form {PREFIX}<hex digest>.",
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
                prefix=PREFIX,
                resign_body=lambda body: body,
            ),
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """``timestamp`` and ``url`` play no part. The event key and UUIDs are those of a push
        from a fresh hook, so that the request is told apart from GitHub's."""
        return [
            ("X-Event-Key", "repo:push"),
            ("X-Hook-UUID", str(uuid.uuid4())),
            ("X-Request-UUID", str(uuid.uuid4())),
            (HEADER, PREFIX + hmac_hex(text_bytes(secret), body)),
        ]


SCHEME = Bitbucket()
