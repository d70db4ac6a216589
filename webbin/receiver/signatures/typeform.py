"""Typeform: ``Typeform-Signature: sha256=<base64 HMAC-SHA256 of the raw body>``.

The HMAC key is the webhook's ``secret`` exactly as set through the Webhooks API, used as
text. Typeform signs no timestamp, so a valid signature says nothing about replays.
"""

from __future__ import annotations

from ._common import BodyHmacScheme


class Typeform(BodyHmacScheme):
    name = "typeform"
    title = "Typeform"
    header = "Typeform-Signature"
    prefix = "sha256="
    encoding = "base64"


SCHEME = Typeform()
