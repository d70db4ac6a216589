"""Capture: take any request to a capture URL, store it exactly as sent, then tell the viewers.

A request walks one way: look up the bin (no lock), read the body, let the receiver decide
(verdict status, handshake, custom response, retry key: CPU work, still no lock), then one
short write transaction of prebuilt Core statements, then the broker. The transaction's first
statement bumps the bin's sequence number and so takes the bin's write lock, which makes ids
and sequence numbers grow in commit order within a bin; live viewers rely on that to replay
"everything after id N" without a gap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.routing import Rule

from webbin import ratelimit
from webbin.capture.wire import (
    CAPTURE_PREFIX,
    BodyTooLarge,
    canonical_header_name,
    raw_headers,
    raw_target,
    read_body,
)
from webbin.live.broker import get_broker
from webbin.outbound import loopguard
from webbin.proxies import public_base, request_client_address
from webbin.ratelimit import ConcurrencyCap
from webbin.receiver import deliveries, verification
from webbin.receiver.decide import BinRules, Decision, Delivery, decide
from webbin.receiver.handshakes import REPLY_HEADERS, HandshakeReply
from webbin.receiver.responses import SAFETY_HEADERS, ResponseSpec
from webbin.storage.models import Bin, CapturedRequest, db, utcnow

bp = Blueprint("capture", __name__)

# Custom responses with a delay a bin may hold open at once (per worker process); past it the
# response goes out at once, so a flood cannot park thousands of sleeping connections.
MAX_DELAYED_PER_BIN = 10


@dataclass(frozen=True)
class Stored:
    bin_id: str
    request_id: int
    seq: int
    decision: Decision


def find_bin(capture_token: str) -> Any | None:
    """The bin's id and settings for a capture token, read without taking any lock."""
    with db.engine.connect() as conn:
        return conn.execute(_FIND_BIN, {"token": capture_token}).first()


def make_record(
    *,
    method: str,
    path: str,
    query_string: str,
    headers: list[list[str]],
    body: bytes,
    remote_addr: str | None,
    url: str,
) -> dict[str, Any]:
    """The columns of one captured request; header names in their conventional case."""
    return {
        "method": method,
        "path": path or "/",
        "query_string": query_string,
        "headers": [[canonical_header_name(name), value] for name, value in headers],
        "body": body,
        "content_type": next((v for n, v in headers if n.lower() == "content-type"), None),
        "size": len(body),
        "remote_addr": remote_addr,
        "received_at": utcnow(),
        "url": url,
    }


def ingest(bin_row: Any, record: dict[str, Any]) -> Stored | None:
    """Decide, commit and publish one captured request; None when the bin is gone.

    ``record`` comes from :func:`make_record`. Raises SQLAlchemyError when the
    database cannot store it: the caller must then not acknowledge it.
    """
    delivery = Delivery(
        method=record["method"],
        path=record["path"],
        query_string=record["query_string"],
        headers=record["headers"],
        body=record["body"],
        url=record["url"],
        received_at=record["received_at"],
    )
    decision = decide(delivery, BinRules.from_row(bin_row))
    stored = _store(bin_row, delivery, record, decision)
    if stored is not None:
        try:
            get_broker(current_app).publish(stored.bin_id)
        except Exception:  # a live-view hiccup must never fail a stored capture
            current_app.logger.exception("broker publish failed for a stored request")
    return stored


def _store(
    bin_row: Any, delivery: Delivery, record: dict[str, Any], decision: Decision
) -> Stored | None:
    """One short transaction: bump the bin's sequence (taking its lock), mark retries, insert.

    The bump also returns the bin's signature settings as they are now, under its lock: if
    they changed since ``decide`` read them (a re-verification may already have passed this
    request's place), the status is worked out again from the new ones, so no verdict is
    stored stale. That is the rare case; the usual one does no CPU work under the lock.
    """
    bin_id = bin_row.id
    with db.engine.begin() as conn:
        bumped = conn.execute(_BUMP_SEQ, {"bin_id": bin_id}).first()
        if bumped is None:
            return None
        seq = bumped.last_seq
        if _signature_settings(bumped) != _signature_settings(bin_row):
            verdict = verification.status_of(
                delivery, bumped.signature_scheme, verification.options_for(bumped)
            )
            decision = replace(
                decision, signature_scheme=verdict.scheme, signature_status=verdict.status
            )
        row = {
            **record,
            "bin_id": bin_id,
            "seq": seq,
            "signature_scheme": decision.signature_scheme,
            "signature_status": decision.signature_status,
            "handshake": decision.handshake.provider if decision.handshake else None,
            "response_status": decision.answer_status,
            **_retry_columns(conn, bin_id, record["received_at"], decision.delivery_key),
        }
        request_id = conn.execute(_INSERT, row).scalar_one()
    return Stored(bin_id, request_id, seq, decision)


# Built once: constructing SQLAlchemy statements per request cost more than running them.
_FIND_BIN = select(
    Bin.id,
    Bin.signature_scheme,
    Bin.signature_secrets,
    Bin.signature_tolerance,
    Bin.signature_options,
    Bin.handshake_settings,
    Bin.response_settings,
).where(Bin.capture_token == bindparam("token"))
_BUMP_SEQ = (
    update(Bin)
    .where(Bin.id == bindparam("bin_id"))
    .values(last_seq=Bin.last_seq + 1, request_count=Bin.request_count + 1)
    .returning(
        Bin.last_seq,
        Bin.signature_scheme,
        Bin.signature_secrets,
        Bin.signature_tolerance,
        Bin.signature_options,
    )
)


def _signature_settings(row: Any) -> tuple[Any, ...]:
    return (
        row.signature_scheme,
        row.signature_secrets,
        row.signature_tolerance,
        row.signature_options,
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


def _retry_columns(
    conn: Any, bin_id: str, received_at: datetime, found: tuple[str, str] | None
) -> dict[str, Any]:
    """Mark a repeat of an earlier delivery: the first one, and which attempt this is.

    Each repeat continues the chain of the latest one, so the cost stays one index seek
    even for a bin that received the same event thousands of times.
    """
    if found is None:
        return {
            "delivery_key": None,
            "delivery_key_source": None,
            "duplicate_of": None,
            "delivery_attempt": 1,
        }
    key, source = found
    since = received_at - deliveries.BODY_WINDOW if deliveries.is_body_key(key) else _EPOCH
    latest = conn.execute(_LATEST_DELIVERY, {"bin_id": bin_id, "key": key, "since": since}).first()
    return {
        "delivery_key": key,
        "delivery_key_source": source,
        "duplicate_of": (latest.duplicate_of or latest.id) if latest else None,
        "delivery_attempt": latest.delivery_attempt + 1 if latest else 1,
    }


_delayed = ConcurrencyCap(MAX_DELAYED_PER_BIN)


def answer_response(stored: Stored) -> Response:
    """What the sender gets back: a handshake reply, the bin's custom response, or 200."""
    answer = stored.decision.answer
    if isinstance(answer, HandshakeReply):
        response = Response(answer.body, status=answer.status, content_type=answer.content_type)
        for name, value in REPLY_HEADERS:
            response.headers[name] = value
    elif isinstance(answer, ResponseSpec):
        skipped = False
        if answer.delay_ms:
            if _delayed.enter(stored.bin_id):
                try:
                    time.sleep(answer.delay_ms / 1000)  # a greenlet sleep under gevent
                finally:
                    _delayed.leave(stored.bin_id)
            else:
                skipped = True
        response = Response(
            answer.body, status=answer.status, content_type=answer.served_content_type()
        )
        for name, value in answer.headers:
            response.headers.add(name, value)
        if skipped:
            response.headers["X-Webbin-Delay-Skipped"] = (
                f"this bin already holds {MAX_DELAYED_PER_BIN} delayed responses"
            )
    else:
        response = jsonify(ok=True, id=stored.request_id, seq=stored.seq)
    for name, value in SAFETY_HEADERS:
        response.headers[name] = value
    return response


def _error(status: int, error: str, message: str) -> Response:
    response = jsonify(error=error, message=message)
    response.status_code = status
    return response


def capture(token: str, **_: str) -> Response:
    """Store the request under the bin whose capture token is ``token``, then answer."""
    refused = loopguard.refusal(token) or ratelimit.check_capture(token)
    if refused is not None:
        return refused
    try:
        bin_row = find_bin(token)
    except SQLAlchemyError:
        return _unavailable()
    if bin_row is None:
        response = _error(404, "not_found", "No bin has this capture URL.")
        response.headers["Connection"] = "close"  # the body was not read
        return response
    limit = current_app.config["MAX_BODY_BYTES"]
    try:
        body = read_body(limit)
    except BodyTooLarge:
        response = _error(
            413,
            "body_too_large",
            f"Request body is larger than this webbin's limit of {limit} bytes; "
            "nothing was stored.",
        )
        response.headers["Connection"] = "close"
        return response

    path, query = raw_target(request.environ)
    prefix = CAPTURE_PREFIX + token
    sub_path = path[len(prefix) :] if path.startswith(prefix) else path
    record = make_record(
        method=request.environ.get("REQUEST_METHOD", request.method),  # werkzeug upper-cases
        path=sub_path,
        query_string=query,
        headers=raw_headers(request.environ),
        body=body,
        remote_addr=request_client_address(),
        url=public_base() + path + (f"?{query}" if query else ""),
    )
    try:
        stored = ingest(bin_row, record)
    except SQLAlchemyError:
        return _unavailable()
    if stored is None:  # deleted while the request was read
        return _error(404, "not_found", "No bin has this capture URL.")
    return answer_response(stored)


def _unavailable() -> Response:
    """Never acknowledge what was not stored: providers retry a 503."""
    current_app.logger.exception("capture could not be stored")
    response = _error(
        503,
        "storage_unavailable",
        "webbin could not store this request right now; please retry.",
    )
    response.headers["Retry-After"] = "5"
    return response


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
