"""Resend: replay a captured request to a URL of the user's choosing and keep the answer.

The request goes out as it came in: same method, same headers in the same order (less the
hop-by-hop ones, ``Host`` and ``Content-Length``, which belong to the new connection), and
the exact body bytes. :mod:`webbin.outbound` does the sending; this module decides what is
sent and records every attempt under its request.
"""

from __future__ import annotations

from flask import current_app

from webbin.outbound import client as outbound
from webbin.outbound import loopguard
from webbin.outbound import policy as profiles
from webbin.storage.models import Bin, CapturedRequest, ResendAttempt, db

# RFC 9110 section 7.6.1 connection-specific fields, plus the two the new request recomputes.
_NOT_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def forwarded_headers(headers: list[list[str]]) -> list[tuple[str, str]]:
    """The captured headers a resend carries, in order, repeats kept."""
    named_by_connection = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return [
        (name, value)
        for name, value in headers
        if name.lower() not in _NOT_FORWARDED and name.lower() not in named_by_connection
    ]


def target_url(captured: CapturedRequest, base: str) -> str:
    """``base`` as typed; ``{path}`` and ``{query}`` in it are replaced by the captured ones,
    so a user can point a whole bin at ``http://localhost:3000{path}``."""
    query = f"?{captured.query_string}" if captured.query_string else ""
    return base.replace("{path}", captured.path).replace("{query}", query)


def resend(captured: CapturedRequest, url: str) -> ResendAttempt:
    """Send ``captured`` to ``url``, store the attempt (also on failure) and return it."""
    config = current_app.config
    bin_ = db.session.get(Bin, captured.bin_id)
    # Marks the bin it left from, so it is refused if it ever comes back (no resend loops).
    loop_mark = (loopguard.HEADER, loopguard.mark(bin_.capture_token if bin_ else ""))
    result = outbound.send(
        captured.method,
        url,
        [*forwarded_headers(captured.headers), loop_mark],
        captured.body,
        policy=profiles.outbound_policy(),
        connect_timeout=float(config["RESEND_CONNECT_TIMEOUT"]),
        read_timeout=float(config["RESEND_READ_TIMEOUT"]),
        total_timeout=float(config["RESEND_TOTAL_TIMEOUT"]),
        max_response_bytes=int(config["RESEND_MAX_RESPONSE_BYTES"]),
    )
    attempt = ResendAttempt(
        request_id=captured.id,
        url=url,
        status=result.status,
        reason=result.reason,
        response_headers=[list(pair) for pair in result.headers],
        response_body=result.body,
        truncated=result.truncated,
        elapsed_ms=result.elapsed_ms,
        error=result.error,
        error_kind=result.error_kind,
    )
    db.session.add(attempt)
    db.session.commit()
    return attempt
