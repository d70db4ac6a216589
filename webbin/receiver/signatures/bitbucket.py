"""Bitbucket Cloud: ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>``.

The key is the webhook's secret, used as text; Bitbucket signs no timestamp. GitHub and
Intercom use a header of the same name, so ``detect`` also wants Bitbucket Cloud's own
headers: ``X-Event-Key`` plus ``X-Request-UUID`` or ``X-Hook-UUID``. ``sign`` sends those of a
push from a fresh hook, so that a test webhook is told apart from GitHub's.
"""

from __future__ import annotations

import uuid

from ._common import BodyHmacScheme
from .base import SignedRequest


class Bitbucket(BodyHmacScheme):
    name = "bitbucket"
    title = "Bitbucket Cloud"
    header = "X-Hub-Signature"
    prefix = "sha256="

    def claims(self, request: SignedRequest) -> bool:
        return request.header("X-Event-Key") is not None and (
            request.header("X-Request-UUID") is not None
            or request.header("X-Hook-UUID") is not None
        )

    def delivery_headers(self) -> list[tuple[str, str]]:
        return [
            ("X-Event-Key", "repo:push"),
            ("X-Hook-UUID", str(uuid.uuid4())),
            ("X-Request-UUID", str(uuid.uuid4())),
        ]


SCHEME = Bitbucket()
