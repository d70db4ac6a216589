"""Capture: take any request to a capture URL, store it exactly as sent, then tell the viewers.

The hot path is deliberately lean: read the body (bounded), then one transaction of two Core
statements. The first bumps the bin's sequence number and so takes the bin's write lock,
which makes ids and sequence numbers grow in commit order within a bin; live viewers rely on
that to replay "everything after id N" without a gap.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import insert, update
from werkzeug.routing import Rule

from .broker import get_broker
from .models import Bin, CapturedRequest, db, utcnow

bp = Blueprint("capture", __name__)

CAPTURE_PREFIX = "/c/"

# Which environ keys hold headers that WSGI does not prefix with HTTP_.
_UNPREFIXED = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}


class BodyTooLarge(Exception):
    pass


def canonical_header_name(name: str) -> str:
    """``X-HUB-SIGNATURE-256`` -> ``X-Hub-Signature-256``.

    gunicorn upper-cases names while parsing, so the original case is gone before any
    application code runs; header names are case-insensitive in HTTP (and lower-case in
    HTTP/2), so webbin shows them in the conventional form.
    """
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def raw_headers(environ: dict[str, Any]) -> list[list[str]]:
    """Headers in arrival order with repeats kept.

    Under ``webbin serve`` the server hands over its own parsed list (see ``webbin.server``);
    any other WSGI server only gives the environ, where repeats are joined and order is lost.
    """
    parsed = environ.get("webbin.raw_headers")
    if parsed is not None:
        return [[canonical_header_name(name), value] for name, value in parsed]
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append([canonical_header_name(key[5:].replace("_", "-")), value])
        elif key in _UNPREFIXED and value:
            headers.append([_UNPREFIXED[key], value])
    return headers


def raw_target(environ: dict[str, Any]) -> tuple[str, str]:
    """The request target's path and query exactly as sent (percent-escapes kept)."""
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if uri is None:
        path = quote(
            environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/;=:@!$&'()*+,~"
        )
        return path, environ.get("QUERY_STRING", "")
    if not uri.startswith("/"):  # absolute-form target: http://host/c/...
        parts = urlsplit(uri)
        return parts.path or "/", parts.query
    path, _, query = uri.partition("?")
    return path, query


def read_body(limit: int) -> bytes:
    """Read the whole body, refusing more than ``limit`` bytes (chunked bodies included)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge
    stream = request.stream
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(65536, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge
    return b"".join(chunks)


def store(capture_token: str, record: dict[str, Any]) -> tuple[str, int, int] | None:
    """Commit one captured request; returns (bin id, request id, seq), or None for no such bin."""
    with db.engine.begin() as conn:
        row = conn.execute(
            update(Bin)
            .where(Bin.capture_token == capture_token)
            .values(last_seq=Bin.last_seq + 1)
            .returning(Bin.id, Bin.last_seq)
        ).first()
        if row is None:
            return None
        bin_id, seq = row
        request_id = conn.execute(
            insert(CapturedRequest)
            .values(bin_id=bin_id, seq=seq, **record)
            .returning(CapturedRequest.id)
        ).scalar_one()
    return bin_id, request_id, seq


def capture(token: str, **_: str) -> Response:
    """Store the request under the bin whose capture token is ``token``, then answer 200."""
    limit = current_app.config["MAX_BODY_BYTES"]
    try:
        body = read_body(limit)
    except BodyTooLarge:
        response = jsonify(
            error="body_too_large",
            message=f"Request body is larger than this webbin's limit of {limit} bytes; "
            "nothing was stored.",
        )
        response.status_code = 413
        response.headers["Connection"] = "close"
        return response

    path, query = raw_target(request.environ)
    prefix = CAPTURE_PREFIX + token
    sub_path = path[len(prefix) :] if path.startswith(prefix) else path
    record = {
        "method": request.environ.get("REQUEST_METHOD", request.method),  # werkzeug upper-cases
        "path": sub_path or "/",
        "query_string": query,
        "headers": raw_headers(request.environ),
        "body": body,
        "content_type": request.headers.get("Content-Type"),
        "size": len(body),
        "remote_addr": request.remote_addr,
        "received_at": utcnow(),
    }
    stored = store(token, record)
    if stored is None:
        response = jsonify(error="not_found", message="No bin has this capture URL.")
        response.status_code = 404
        return response
    bin_id, request_id, seq = stored
    try:
        get_broker(current_app).publish(bin_id)
    except Exception:  # a live-view hiccup must never fail a stored capture
        current_app.logger.exception("broker publish failed for a stored request")
    return jsonify(ok=True, request=seq)


@bp.record_once
def _register_rules(state: Any) -> None:
    """Raw werkzeug rules with no method list: every method (OPTIONS, HEAD, PURGE) reaches
    ``capture`` instead of Flask's automatic OPTIONS answer or a 405."""
    app: Flask = state.app
    for rule in (
        "/c/<token>",
        "/c/<token>/",
        "/c/<token>/<path:sub_path>",
    ):
        app.url_map.add(
            Rule(rule, endpoint="capture.capture", merge_slashes=False, strict_slashes=False)
        )
    app.view_functions["capture.capture"] = capture
