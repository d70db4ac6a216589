"""Capture: take any request to a capture URL, store it exactly as sent, then tell the viewers.

A request walks one way: look up the bin (in the process's cache of bins,
:mod:`webbin.capture.bincache`, else in the database; no lock), read the body, let the
receiver decide (verdict status, handshake, custom response, retry key: CPU work, still no
lock), then hand it to the process's writer (:mod:`webbin.capture.writer`), which stores
it in a short transaction together with whatever other captures are pending, then the
broker. The answer goes out only once that transaction committed. Within a bin, ids and
sequence numbers grow in commit order; live viewers rely on that to replay "everything
after id N" without a gap.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.sessions import SessionInterface
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.routing import Rule

from webbin import ratelimit
from webbin.capture.bincache import BinCache, CachedBin, bin_cache
from webbin.capture.wire import (
    CAPTURE_PREFIX,
    BodyTooLarge,
    canonical_header_name,
    raw_headers,
    raw_target,
    read_body,
)
from webbin.capture.writer import Stored, Writer
from webbin.live import forwarders
from webbin.live.broker import get_broker
from webbin.outbound import loopguard
from webbin.proxies import public_base, request_client_address
from webbin.ratelimit import ConcurrencyCap
from webbin.receiver import cors
from webbin.receiver.decide import BinRules, Delivery, decide
from webbin.receiver.handshakes import REPLY_HEADERS, HandshakeReply
from webbin.receiver.responses import SAFETY_HEADERS, ResponseSpec
from webbin.storage.models import Bin, db, utcnow

bp = Blueprint("capture", __name__)

# Custom responses with a delay a bin may hold open at once (per worker process); past it the
# response goes out at once, so a flood cannot park thousands of sleeping connections.
MAX_DELAYED_PER_BIN = 10


def find_bin(capture_token: str) -> Any | None:
    """The bin's id and settings for a capture token, read without taking any lock.

    On PostgreSQL read in autocommit mode: one statement needs no transaction, and the
    BEGIN and ROLLBACK around it were two of its three round trips. SQLite starts no
    transaction for a read anyway, and switching its mode per checkout cost twice the read.
    """
    with _reader().connect() as conn:
        return conn.execute(_FIND_BIN, {"token": capture_token}).first()


_READERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _reader() -> Engine:
    """The app's engine (its pool), in autocommit mode unless SQLite; made once per engine."""
    engine = db.engine
    reader = _READERS.get(engine)
    if reader is None:
        autocommit = engine.dialect.name != "sqlite"
        reader = engine.execution_options(isolation_level="AUTOCOMMIT") if autocommit else engine
        _READERS[engine] = reader
    return reader


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


def ingest(bin_row: Any, record: dict[str, Any], rules: BinRules | None = None) -> Stored | None:
    """Decide, commit and publish one captured request; None when the bin is gone.

    ``record`` comes from :func:`make_record`; ``rules`` are ``bin_row``'s, when already
    parsed. ``bin_row`` may be stale: the write decides again from the settings it finds
    (``Stored.bin_row``). Raises SQLAlchemyError when the database cannot store it: the
    caller must then not acknowledge it.
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
    decision = decide(delivery, rules if rules is not None else BinRules.from_row(bin_row))
    writer: Writer = current_app.extensions["webbin.writer"]
    stored, publish = writer.write(db.engine, bin_row, delivery, record, decision)
    if publish:  # once per bin per batch, after it committed
        try:
            get_broker(current_app).publish(stored.bin_id)
        except Exception:  # a live-view hiccup must never fail a stored capture
            current_app.logger.exception("broker publish failed for a stored request")
    return stored


# Built once: constructing SQLAlchemy statements per request cost more than running them.
_FIND_BIN = select(
    Bin.id,
    Bin.signature_scheme,
    Bin.signature_secrets,
    Bin.signature_tolerance,
    Bin.signature_options,
    Bin.handshake_settings,
    Bin.response_settings,
    Bin.cors,
).where(Bin.capture_token == bindparam("token"))

_delayed = ConcurrencyCap(MAX_DELAYED_PER_BIN)


def answer_response(stored: Stored) -> Response:
    """What the sender gets back: a handshake reply, the answer to a CORS preflight, the
    bin's custom response, or 200; with CORS headers when the bin has CORS on."""
    answer = stored.decision.answer
    if isinstance(answer, cors.Preflight):
        response = Response(status=answer.status)
        del response.headers["Content-Type"]  # 204: no body to type
        for name, value in answer.headers:
            response.headers[name] = value
    elif isinstance(answer, HandshakeReply):
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
        # What ``jsonify`` would write (sorted keys, compact), without its provider's cost.
        response = Response(
            f'{{"id":{stored.request_id},"ok":true,"seq":{stored.seq}}}\n',
            content_type="application/json",
        )
    for name, value in SAFETY_HEADERS:
        response.headers[name] = value
    return with_cors(response, stored.decision.cors)


def with_cors(response: Response, enabled: bool) -> Response:
    """``response`` readable by any web page when ``enabled``; CORS headers of a custom
    response (a bin testing a stricter policy) are kept."""
    if enabled:
        for name, value in cors.ANSWER_HEADERS:
            response.headers.setdefault(name, value)
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
    cache = bin_cache(current_app)
    known = cache.get(token)
    if known is None:
        try:
            bin_row = find_bin(token)
        except SQLAlchemyError:
            return _unavailable()
        if bin_row is None:
            response = _error(404, "not_found", "No bin has this capture URL.")
            response.headers["Connection"] = "close"  # the body was not read
            return response
        known = CachedBin.of(bin_row)
        cache.put(token, known)
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
        return with_cors(response, known.rules.cors)  # a page can tell why

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
        stored = ingest(known.row, record, known.rules)
    except SQLAlchemyError:
        return with_cors(_unavailable(), known.rules.cors)  # a page may retry too
    if stored is None:  # deleted since it was cached or while the request was read
        cache.evict(token)
        return _error(404, "not_found", "No bin has this capture URL.")
    if stored.bin_row is not known.row:  # its settings changed since it was cached
        cache.put(token, CachedBin.of(stored.bin_row))
    forwarded = forwarded_answer(stored)
    return forwarded if forwarded is not None else answer_response(stored)


def forwarded_answer(stored: Stored) -> Response | None:
    """The developer's local app's answer, when a forwarder on the bin runs ``--reply`` and
    reports that answer within its timeout; None for the bin's usual answer.

    The capture is committed (and announced) before this waits, and the wait holds no
    database connection: like a delayed custom response it only holds the sender's
    connection and a greenlet, so it shares their per-bin cap. Handshakes webbin answers
    itself are never passed on.
    """
    if isinstance(stored.decision.answer, HandshakeReply):
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        timeout = forwarders.reply_timeout(app, stored.bin_id)
        if not timeout or not _delayed.enter(stored.bin_id):
            return None
        try:
            found = forwarders.wait_for_reply(app, stored.bin_id, stored.request_id, timeout)
        finally:
            _delayed.leave(stored.bin_id)
        if found is None or found.status < 200:
            return None
        response = Response(found.response_body, status=found.status)
        del response.headers["Content-Type"]  # only the local app's own, if it sent one
        for name, value in forwarders.passed_back(found.response_headers):
            response.headers.add(name, value)
        for name, value in SAFETY_HEADERS:
            response.headers[name] = value
        forwarders.mark_replied(found.id, stored.request_id, found.status)
    except SQLAlchemyError:  # the capture is stored: answer it the usual way
        current_app.logger.exception("could not pass a forwarder's answer on")
        return None
    return response


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


class NoSessionOnCapture(SessionInterface):
    """The app's session interface, except that a capture request gets none.

    A capture needs no session, yet Flask opens one for every request (verifying a session
    cookie a browser may send along) and considers saving it after. Capture URLs get Flask's
    null session instead, which is never saved (and refuses writes, so no capture code can
    start to depend on one by accident).
    """

    def __init__(self, inner: SessionInterface) -> None:
        self.inner = inner

    def open_session(self, app: Flask, request: Any) -> Any:
        if request.path.startswith(CAPTURE_PREFIX):
            return None  # Flask then makes the null session
        return self.inner.open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        self.inner.save_session(app, session, response)


@bp.record_once
def _register_rules(state: Any) -> None:
    """Raw werkzeug rules with no method list: every method (OPTIONS, HEAD, PURGE) reaches
    ``capture`` instead of Flask's automatic OPTIONS answer or a 405."""
    app: Flask = state.app
    app.extensions["webbin.writer"] = Writer()
    app.extensions["webbin.bin_cache"] = BinCache()
    app.session_interface = NoSessionOnCapture(app.session_interface)
    for rule in (
        "/c/<token>",
        "/c/<token>/",
        "/c/<token>/<path:sub_path>",
    ):
        app.url_map.add(
            Rule(rule, endpoint="capture.capture", merge_slashes=False, strict_slashes=False)
        )
    app.view_functions["capture.capture"] = capture
