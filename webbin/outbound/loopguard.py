"""Resend loops: a resend that comes back to the bin it left from is refused.

Every resend carries ``X-Webbin-Resend: <mark>``, where the mark is an HMAC of the sending
bin's capture token under the server's secret key: it names the bin to this server only and
tells a third-party target nothing (a bin id would be a read key). Marks already on the
captured request travel on with it, so a chain A -> B -> A is caught when it reaches A again,
however long it is. Capture answers a request that carries its own bin's mark with
508 Loop Detected and stores nothing.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, Response, current_app, jsonify, request

HEADER = "X-Webbin-Resend"
# Where WSGI servers put it: checked before anything else, on every capture.
_ENVIRON_KEY = "HTTP_" + HEADER.upper().replace("-", "_")


def mark(capture_token: str, app: Flask | None = None) -> str:
    key = str((app or current_app).config["SECRET_KEY"]).encode()
    message = b"webbin-resend-loop:" + capture_token.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def marks_on_request() -> set[str]:
    """Every mark on this request; repeated headers may arrive joined with commas."""
    values = request.headers.getlist(HEADER)
    return {part.strip() for value in values for part in value.split(",") if part.strip()}


def refusal(capture_token: str) -> Response | None:
    """508 when this request is a resend coming back to the bin it left from, else None."""
    if _ENVIRON_KEY not in request.environ or mark(capture_token) not in marks_on_request():
        return None
    response = jsonify(
        error="loop_detected",
        message="This request is a resend that came back to the bin it was sent from; "
        "webbin refuses it so that resends cannot loop. Nothing was stored.",
    )
    response.status_code = 508
    response.headers["Connection"] = "close"
    return response
