"""Intercom: ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>``.

The key is the app's ``client_secret`` (Developer Hub, Basic Info), used as text. Intercom
signs no timestamp.

GitHub's legacy header and Bitbucket's have the same name, so ``detect`` claims a request
only when it also shows an Intercom sign: a ``User-Agent`` starting with ``intercom`` (Intercom
sends ``intercom-parrot-service-client/1.0``) or a JSON body whose ``type`` is
``notification_event`` (every Intercom webhook payload). A bin set to ``intercom`` explicitly
verifies any ``X-Hub-Signature`` this way.
"""

from __future__ import annotations

import json

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
PREFIX = "sha1="
USER_AGENT = "intercom-parrot-service-client/1.0"
CONSTRUCTION = "{body}"


def _is_notification_event(body: bytes) -> bool:
    if b"notification_event" not in body:  # cheap test before parsing a large body
        return False
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("type") == "notification_event"


class Intercom:
    name = "intercom"
    title = "Intercom"

    def detect(self, request: SignedRequest) -> bool:
        if request.header(HEADER) is None:
            return False
        user_agent = request.header("User-Agent") or ""
        return user_agent.lower().startswith("intercom") or _is_notification_event(request.body)

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
                algorithm="sha1",
                prefix=PREFIX,
                resign_body=lambda body: body,
            ),
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """``secret`` is the client_secret; ``timestamp`` and ``url`` play no part. Intercom's
        User-Agent is included so that the request is told apart from GitHub's."""
        signature = PREFIX + hmac_hex(text_bytes(secret), body, "sha1")
        return [("User-Agent", USER_AGENT), (HEADER, signature)]


SCHEME = Intercom()
