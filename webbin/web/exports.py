"""Export a bin's requests (NDJSON or HAR, streamed) and import a file into a bin, from the
API and the dashboard. The formats themselves are :mod:`webbin.web.exchange`'s.

An export is written while it is read: the selection's ids first, then the rows in chunks
bounded by count and by body bytes, each read on a short connection of its own, so neither
memory nor a pooled connection is held for the length of a slow download.

An import is all or nothing: the whole file is read and checked first (any problem: 400,
naming each), then every request is stored in one transaction (:func:`write_all`), which
keeps the bin's sequence numbers and count exact. Imported requests keep the time they
were received and get new ids (the bin's next ones); their signature verdicts and retry
marks are worked out as for a capture into this bin. Live viewers are told once, after.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest, NotFound, RequestEntityTooLarge

from webbin.capture.wire import BodyTooLarge, read_body
from webbin.capture.writer import write_all
from webbin.live.broker import get_broker
from webbin.outbound import replays
from webbin.receiver.decide import RULE_COLUMNS, BinRules, Delivery, decide
from webbin.receiver.strict import InvalidInput
from webbin.storage import queries
from webbin.storage.models import Bin, CapturedRequest, db, utcnow
from webbin.web import csrf, exchange
from webbin.web.schemas import ImportResult, InvalidBody, invalid_body_response
from webbin.web.serialize import capture_url, request_detail, request_summary

api = Blueprint("exports_api", __name__, url_prefix="/api")
api.register_error_handler(InvalidBody, invalid_body_response)
pages = Blueprint("exports_pages", __name__)

# Rows read per chunk of an export, and body bytes at most (one row may exceed it alone).
CHUNK_ROWS = 500
CHUNK_BYTES = 8 * 1024 * 1024
# A multipart form around the file: boundaries, the other fields.
FORM_OVERHEAD = 64 * 1024
_EXTENSIONS = {".har": exchange.HAR, ".ndjson": exchange.NDJSON, ".jsonl": exchange.NDJSON}


def _bound_upload() -> None:
    """Before the CSRF check reads the form: an import's upload may be IMPORT_MAX_BYTES,
    no more (werkzeug then answers 413 instead of spooling whatever comes to disk)."""
    if request.endpoint == "exports_pages.import_file":
        request.max_content_length = int(current_app.config["IMPORT_MAX_BYTES"]) + FORM_OVERHEAD


pages.before_request(_bound_upload)
csrf.protect(pages)


# --- export -----------------------------------------------------------------------------


def _format_arg(default: str | None) -> str | None:
    fmt = request.args.get("format") or default
    if fmt is not None and fmt not in exchange.FORMATS:
        raise BadRequest("'format' must be ndjson or har.")
    return fmt


def _ids_arg() -> list[int] | None:
    """``ids=1,2&ids=3``: request ids, comma-separated or repeated; None when absent."""
    parts = [p.strip() for raw in request.args.getlist("ids") for p in raw.split(",")]
    parts = [p for p in parts if p]
    if not parts:
        return None
    if not all(p.isascii() and p.isdigit() and int(p) > 0 for p in parts):
        message = "must be request ids: whole numbers from 1, comma-separated"
        raise InvalidBody([{"path": "ids", "message": message}], f"'ids' {message}.")
    if len(parts) > replays.MAX_REQUESTS:
        message = f"must name at most {replays.MAX_REQUESTS} requests"
        raise InvalidBody([{"path": "ids", "message": message}], f"'ids' {message}.")
    return [int(p) for p in parts]


def _filename(bin_: Bin, fmt: str) -> str:
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", bin_.name or "").strip("-.")[:60] or "bin"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"webbin-{label}-{stamp}.{fmt}"


@api.get("/bins/<bin_id>/export")
def export(bin_id: str) -> Response:
    bin_ = queries.get_bin(bin_id)
    fmt = _format_arg(exchange.NDJSON) or exchange.NDJSON
    try:
        selected = replays.selection(bin_id, request.args.get("q"), _ids_arg())
    except InvalidInput as error:
        raise InvalidBody(error.errors, str(error)) from None
    base = capture_url(bin_)
    filename = _filename(bin_, fmt)
    db.session.expunge(bin_)  # its loaded settings judge every verdict below
    db.session.close()  # no connection held while the client downloads

    app, environ = current_app._get_current_object(), request.environ

    def render(rows: list[CapturedRequest], separator: bytes) -> tuple[bytes, bytes]:
        out = []
        for row in rows:
            if fmt == exchange.NDJSON:
                out.append(exchange.ndjson_line(request_detail(row, bin_)))
                continue
            query = f"?{row.query_string}" if row.query_string else ""
            url = row.url or base + row.path + query
            out.append(separator + exchange.har_entry(row, request_summary(row), url))
            separator = b","
        return b"".join(out), separator

    def chunks() -> Iterator[bytes]:
        # Each chunk is read and rendered in a context of its own, pushed and popped before
        # it is yielded: none is held while the client downloads, so a response closed
        # late (or never read to the end) cannot pop another request's context.
        if fmt == exchange.HAR:
            yield exchange.har_head()
        separator = b""
        pending = _rows(bin_id, selected)
        while True:
            with app.request_context(environ):
                rows = next(pending, None)
                if rows is None:
                    break
                data, separator = render(rows, separator)
            yield data
        if fmt == exchange.HAR:
            yield exchange.HAR_TAIL

    response = Response(chunks(), mimetype=exchange.MEDIA_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


def _rows(bin_id: str, ids: list[int]) -> Iterator[list[CapturedRequest]]:
    """The requests ``ids`` (oldest first), chunk by chunk, each read on its own short
    connection; a request deleted since it was selected is left out."""
    for start in range(0, len(ids), CHUNK_ROWS):
        chunk = ids[start : start + CHUNK_ROWS]
        with db.engine.connect() as conn:
            sizes = conn.execute(
                select(CapturedRequest.id, CapturedRequest.size)
                .where(CapturedRequest.bin_id == bin_id, CapturedRequest.id.in_(chunk))
                .order_by(CapturedRequest.id)
            ).all()
        group: list[int] = []
        held = 0
        for row_id, size in sizes:
            if group and held + size > CHUNK_BYTES:
                yield _read(group)
                group, held = [], 0
            group.append(row_id)
            held += size
        if group:
            yield _read(group)


def _read(ids: list[int]) -> list[CapturedRequest]:
    with Session(db.engine) as session:
        return list(
            session.scalars(
                select(CapturedRequest)
                .where(CapturedRequest.id.in_(ids))
                .order_by(CapturedRequest.id)
            )
        )


# --- import -----------------------------------------------------------------------------


def store(bin_id: str, requests: list[exchange.Imported]) -> list[int]:
    """Store every request in one transaction; their new ids, in order. NotFound when the
    bin is gone."""
    bin_row = db.session.execute(select(*RULE_COLUMNS).where(Bin.id == bin_id)).first()
    db.session.close()
    if bin_row is None:
        raise NotFound("No bin with this id.")
    rules = BinRules.from_row(bin_row)
    imported_at = utcnow()
    items = []
    for found in requests:
        record = {
            "method": found.method,
            "path": found.path,
            "query_string": found.query_string,
            "headers": found.headers,
            "body": found.body,
            "content_type": next(
                (value for name, value in found.headers if name.lower() == "content-type"), None
            ),
            "size": len(found.body),
            "remote_addr": found.remote_addr,
            "received_at": found.received_at,
            "url": found.url,
            "imported_at": imported_at,
        }
        delivery = Delivery(
            method=found.method,
            path=found.path,
            query_string=found.query_string,
            headers=found.headers,
            body=found.body,
            url=found.url,
            received_at=found.received_at,
        )
        items.append((delivery, record, decide(delivery, rules)))
    stored = write_all(db.engine, bin_row, items)
    if not stored:
        raise NotFound("No bin with this id.")
    get_broker(current_app).publish(bin_id)
    return [s.request_id for s in stored]


def _parse(data: bytes, fmt: str) -> list[exchange.Imported]:
    return exchange.read(data, fmt, int(current_app.config["MAX_BODY_BYTES"]))


@api.post("/bins/<bin_id>/import")
def import_requests(bin_id: str) -> tuple[Response, int]:
    queries.get_bin(bin_id)
    given = _format_arg(None)
    limit = int(current_app.config["IMPORT_MAX_BYTES"])
    try:
        data = read_body(limit)
    except BodyTooLarge:
        raise RequestEntityTooLarge(
            f"The file is larger than this webbin's import limit of {limit} bytes "
            "(IMPORT_MAX_BYTES); nothing was imported."
        ) from None
    fmt = exchange.detect(data, request.content_type, given)
    try:
        requests = _parse(data, fmt)
    except InvalidInput as error:
        raise InvalidBody(error.errors, f"Nothing was imported. {error}") from None
    ids = store(bin_id, requests)
    return jsonify(ImportResult(imported=len(ids), ids=ids).model_dump()), 201


@pages.post("/bins/<bin_id>/import")
def import_file(bin_id: str) -> Response:
    queries.get_bin(bin_id)
    back = redirect(url_for("dashboard.bin_page", bin_id=bin_id), 303)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a file to import.", "error")
        return back
    limit = int(current_app.config["IMPORT_MAX_BYTES"])
    data = upload.read(limit + 1)
    if len(data) > limit:
        flash(f"The file is larger than the import limit of {limit} bytes.", "error")
        return back
    given = request.form.get("format") or _EXTENSIONS.get(
        os.path.splitext(upload.filename)[1].lower()
    )
    fmt = exchange.detect(data, None, given if given in exchange.FORMATS else None)
    try:
        requests = _parse(data, fmt)
    except InvalidInput as error:
        flash(f"Nothing was imported. {error}", "error")
        return back
    count = len(store(bin_id, requests))
    flash(f"Imported {count} request{'s' if count != 1 else ''}.", "info")
    return back
