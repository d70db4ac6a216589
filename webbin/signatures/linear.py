"""Linear: ``Linear-Signature: <hex HMAC-SHA256 of the raw body>``.

Linear puts no timestamp in a header; the JSON body carries ``webhookTimestamp``
(milliseconds), which the signature covers because it is part of the body. It is used for
staleness when present (Linear's own SDK allows one minute; the bin's tolerance applies here).
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

HEADER = "Linear-Signature"
TIMESTAMP_FIELD = "webhookTimestamp"
CONSTRUCTION = "{body}"
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


class Linear:
    name = "linear"
    title = "Linear"

    def detect(self, request: SignedRequest) -> bool:
        return request.header(HEADER) is not None

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
        present, millis = _webhook_timestamp(request.body)
        if present and millis is None:
            return malformed(
                self.name,
                f"The body's {TIMESTAMP_FIELD} is not a time in milliseconds.",
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
                signatures=[value],
                message=request.body,
                resign_body=lambda body: body,
                timestamp=None if millis is None else millis // 1000,
            ),
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """Linear signs only the body; its timestamp lives in the body (``webhookTimestamp``),
        which this cannot change, so ``timestamp`` and ``url`` play no part."""
        return [(HEADER, hmac_hex(text_bytes(secret), body))]


SCHEME = Linear()
