"""Linear: ``Linear-Signature: <hex HMAC-SHA256 of the raw body>``.

Linear puts no timestamp in a header; the JSON body carries ``webhookTimestamp``
(milliseconds), which the signature covers because it is part of the body. It is used for
staleness when present (Linear's own SDK allows one minute; the bin's tolerance applies here).
``sign`` cannot change that timestamp, so its ``timestamp`` plays no part.
"""

from __future__ import annotations

import json

from ._common import BodyHmacScheme, malformed
from .base import SignedRequest, Verdict

TIMESTAMP_FIELD = "webhookTimestamp"
_MAX_MS = 10**15  # milliseconds until the year 33658; more is junk, not a time


def _webhook_timestamp(body: bytes) -> tuple[bool, int | None]:
    """(present, milliseconds): ``(True, None)`` when the field is there but not a time."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False, None
    if not isinstance(data, dict) or TIMESTAMP_FIELD not in data:
        return False, None
    value = data[TIMESTAMP_FIELD]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _MAX_MS:
        return True, value
    return True, None


class Linear(BodyHmacScheme):
    name = "linear"
    title = "Linear"
    header = "Linear-Signature"

    def signed_timestamp(self, request: SignedRequest, value: str) -> int | None | Verdict:
        present, millis = _webhook_timestamp(request.body)
        if present and millis is None:
            return malformed(
                self.name,
                f"The body's {TIMESTAMP_FIELD} is not a time in milliseconds.",
                [self.header],
                received=[value],
                construction=self.construction,
            )
        return None if millis is None else millis // 1000


SCHEME = Linear()
