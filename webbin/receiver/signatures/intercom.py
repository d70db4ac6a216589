"""Intercom: ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>``.

The key is the app's ``client_secret`` (Developer Hub, Basic Info), used as text. Intercom
signs no timestamp.

GitHub's legacy header and Bitbucket's have the same name, so ``detect`` claims a request
only when it also shows an Intercom sign: a ``User-Agent`` starting with ``intercom`` (Intercom
sends ``intercom-parrot-service-client/1.0``) or a JSON body whose ``type`` is
``notification_event`` (every Intercom webhook payload). A bin set to ``intercom`` explicitly
verifies any ``X-Hub-Signature`` this way. ``sign`` sends Intercom's User-Agent too, so that
a test webhook is told apart from GitHub's.
"""

from __future__ import annotations

import json

from ._common import BodyHmacScheme
from .base import SignedRequest

USER_AGENT = "intercom-parrot-service-client/1.0"


def _is_notification_event(body: bytes) -> bool:
    if b"notification_event" not in body:  # cheap test before parsing a large body
        return False
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("type") == "notification_event"


class Intercom(BodyHmacScheme):
    name = "intercom"
    title = "Intercom"
    header = "X-Hub-Signature"
    prefix = "sha1="
    algorithm = "sha1"

    def claims(self, request: SignedRequest) -> bool:
        user_agent = request.header("User-Agent") or ""
        return user_agent.lower().startswith("intercom") or _is_notification_event(request.body)

    def delivery_headers(self) -> list[tuple[str, str]]:
        return [("User-Agent", USER_AGENT)]


SCHEME = Intercom()
