"""Capture: take any request to a capture URL, store it exactly as sent, then tell the viewers.

The hot path is deliberately lean: read the body (bounded), then one transaction of two Core
statements. The first bumps the bin's sequence number and so takes the bin's write lock,
which makes ids and sequence numbers grow in commit order within a bin; live viewers rely on
that to replay "everything after id N" without a gap.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.routing import Rule

from . import deliveries, handshakes, responses, senders, verification
from .broker import get_broker
from .handshakes import REPLY_HEADERS, HandshakeReply, HandshakeSettings
from .models import Bin, CapturedRequest, db, utcnow
from .responses import SAFETY_HEADERS, ResponseSpec

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


@dataclass(frozen=True)
class Stored:
    bin_id: str
    request_id: int
    seq: int
    answer: ResponseSpec | HandshakeReply | None


def store(capture_token: str, record: dict[str, Any]) -> Stored | None:
    """Commit one captured request and decide the answer; None when no bin has the token.

    One transaction: bump the bin's sequence (returning its settings), then insert. The
    verdict, handshake and retry marking need the bin's settings, so they are decided here.
    """
    with db.engine.begin() as conn:
        bin_row = conn.execute(_BUMP_SEQ, {"token": capture_token}).first()
        if bin_row is None:
            return None
        handshake = handshakes.reply(
            record["method"],
            record["query_string"],
            record["headers"],
            record["body"],
            HandshakeSettings.from_dict(bin_row.handshake_settings),
        )
        answer = handshake or responses.parse(bin_row.response_settings).choose(
            record["method"], record["path"]
        )
        verdict = verification.verdict(bin_row, SimpleNamespace(**record))
        row = {
            **record,
            "bin_id": bin_row.id,
            "seq": bin_row.last_seq,
            "signature_scheme": verdict.scheme,
            "signature_status": verdict.status,
            "handshake": handshake.provider if handshake else None,
            "response_status": answer.status if answer else 200,
            **_retry_columns(conn, bin_row.id, record),
        }
        request_id = conn.execute(_INSERT, row).scalar_one()
    return Stored(bin_row.id, request_id, bin_row.last_seq, answer)


# Built once: constructing SQLAlchemy statements per request cost more than running them.
_BUMP_SEQ = (
    update(Bin)
    .where(Bin.capture_token == bindparam("token"))
    .values(last_seq=Bin.last_seq + 1)
    .returning(
        Bin.id,
        Bin.last_seq,
        Bin.signature_scheme,
        Bin.signature_secrets,
        Bin.signature_tolerance,
        Bin.signature_options,
        Bin.handshake_settings,
        Bin.response_settings,
    )
)
_INSERT = insert(CapturedRequest).returning(CapturedRequest.id)
# The latest earlier delivery with the same key: an index seek, however many repeats exist.
_LATEST_DELIVERY = (
    select(CapturedRequest.id, CapturedRequest.duplicate_of, CapturedRequest.delivery_attempt)
    .where(
        CapturedRequest.bin_id == bindparam("bin_id"),
        CapturedRequest.delivery_key == bindparam("key"),
        CapturedRequest.received_at >= bindparam("since"),
    )
    .order_by(CapturedRequest.id.desc())
    .limit(1)
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _retry_columns(conn: Any, bin_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """Mark a repeat of an earlier delivery: the first one, and which attempt this is.

    Each repeat continues the chain of the latest one, so the cost stays one index seek
    even for a bin that received the same event thousands of times.
    """
    found = deliveries.delivery_key(record["headers"], record["body"])
    if found is None:
        return {
            "delivery_key": None,
            "delivery_key_source": None,
            "duplicate_of": None,
            "delivery_attempt": 1,
        }
    key, source = found
    since = (
        record["received_at"] - deliveries.BODY_WINDOW if deliveries.is_body_key(key) else _EPOCH
    )
    latest = conn.execute(_LATEST_DELIVERY, {"bin_id": bin_id, "key": key, "since": since}).first()
    return {
        "delivery_key": key,
        "delivery_key_source": source,
        "duplicate_of": (latest.duplicate_of or latest.id) if latest else None,
        "delivery_attempt": latest.delivery_attempt + 1 if latest else 1,
    }


def public_base() -> str:
    """The public base URL: configured, else the one the sender used, which a trusted proxy
    may state in ``X-Forwarded-Proto`` and ``X-Forwarded-Host``. URL-signed schemes (Twilio,
    Square, HubSpot) sign exactly this URL."""
    configured = current_app.config["PUBLIC_URL"]
    if configured:
        return configured
    scheme, host = request.scheme, request.host
    if senders.is_trusted(request.remote_addr, current_app.config["TRUSTED_PROXY_NETWORKS"]):
        proto = _first(request.headers.get("X-Forwarded-Proto")).lower()
        forwarded_host = _first(request.headers.get("X-Forwarded-Host"))
        scheme = proto if proto in ("http", "https") else scheme
        host = forwarded_host if _HOST.fullmatch(forwarded_host) else host
    return f"{scheme}://{host}"


_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


def _first(value: str | None) -> str:
    """The first (client-most) entry of a comma-separated forwarded header."""
    return (value or "").split(",")[0].strip()


def client_address() -> str | None:
    trusted = current_app.config["TRUSTED_PROXY_NETWORKS"]
    return senders.client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), trusted
    )


def answer_response(stored: Stored) -> Response:
    """What the sender gets back: a handshake reply, the bin's custom response, or 200."""
    answer = stored.answer
    if isinstance(answer, HandshakeReply):
        response = Response(answer.body, status=answer.status, content_type=answer.content_type)
        for name, value in REPLY_HEADERS:
            response.headers[name] = value
    elif isinstance(answer, ResponseSpec):
        if answer.delay_ms:
            time.sleep(answer.delay_ms / 1000)  # a greenlet sleep under gevent
        response = Response(
            answer.body, status=answer.status, content_type=answer.served_content_type()
        )
        for name, value in answer.headers:
            response.headers.add(name, value)
    else:
        response = jsonify(ok=True, request=stored.seq)
    for name, value in SAFETY_HEADERS:
        response.headers[name] = value
    return response


def capture(token: str, **_: str) -> Response:
    """Store the request under the bin whose capture token is ``token``, then answer."""
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
        "remote_addr": client_address(),
        "received_at": utcnow(),
        "url": public_base() + path + (f"?{query}" if query else ""),
    }
    try:
        stored = store(token, record)
    except SQLAlchemyError:
        # Never acknowledge what was not stored: providers retry a 503.
        current_app.logger.exception("capture could not be stored")
        response = jsonify(
            error="storage_unavailable",
            message="webbin could not store this request right now; please retry.",
        )
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response
    if stored is None:
        response = jsonify(error="not_found", message="No bin has this capture URL.")
        response.status_code = 404
        return response
    try:
        get_broker(current_app).publish(stored.bin_id)
    except Exception:  # a live-view hiccup must never fail a stored capture
        current_app.logger.exception("broker publish failed for a stored request")
    return answer_response(stored)


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
