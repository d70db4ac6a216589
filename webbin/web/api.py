"""JSON API under /api, described by the OpenAPI document at /api/openapi.json."""

from __future__ import annotations

import base64
import json
from functools import partial
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import BadGateway, BadRequest, Conflict, GatewayTimeout

from webbin import ratelimit
from webbin.live import forwarders
from webbin.live.broker import get_broker
from webbin.live.stream import CLOSE_BAD_QUERY, parse_cursor, sock, stream
from webbin.outbound import resend
from webbin.receiver import bin_settings as settings
from webbin.receiver import verification
from webbin.storage import queries, search
from webbin.storage.models import Bin, db
from webbin.storage.search import QueryError
from webbin.web import diff
from webbin.web.downloads import raw_download
from webbin.web.edit import edit_of
from webbin.web.openapi import openapi_document
from webbin.web.schemas import (
    CreateBin,
    DeleteRequests,
    ForwardOutcome,
    InvalidBody,
    ResendBody,
    UpdateBin,
    body_as,
    invalid_body_response,
)
from webbin.web.searching import api_query, close_reason, request_query
from webbin.web.security import API_DOCS_POLICY
from webbin.web.serialize import (
    bin_data,
    forwarder_data,
    request_detail,
    request_summary,
    resend_data,
)

bp = Blueprint("api", __name__, url_prefix="/api")
bp.register_error_handler(InvalidBody, invalid_body_response)

MAX_LIMIT = 500


def int_arg(name: str, default: int | None, minimum: int, maximum: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer.") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise BadRequest(f"'{name}' must be {bound}.")
    return value


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.get("/docs")
def docs() -> Response:
    """The API reference: the OpenAPI document rendered by the vendored Swagger UI."""
    response = Response(render_template("apidocs.html"))
    response.headers["Content-Security-Policy"] = API_DOCS_POLICY
    return response


@bp.post("/bins")
def create_bin() -> tuple[Response, int] | Response:
    refused = ratelimit.check_bin_create()
    if refused is not None:
        return refused
    body = body_as(CreateBin, optional=True)
    bin_ = Bin(name=body.name or None)
    db.session.add(bin_)
    db.session.commit()
    return jsonify(bin_data(bin_, 0)), 201


@bp.get("/bins/<bin_id>")
def get_bin(bin_id: str) -> Response:
    bin_ = queries.get_bin(bin_id)
    return jsonify(bin_data(bin_, queries.request_count(bin_id)))


@bp.patch("/bins/<bin_id>")
def update_bin(bin_id: str) -> Response:
    bin_ = queries.get_bin(bin_id)
    body = body_as(UpdateBin)
    if "name" in body.model_fields_set:
        bin_.name = body.name or None
    if "resend_url" in body.model_fields_set:
        bin_.resend_url = body.resend_url or None
    reverify = settings.apply(bin_, body)
    db.session.commit()
    # Answered once re-verification has finished, saying how many requests it re-checked.
    reverified = verification.reverify(bin_) if reverify else 0
    return jsonify({**bin_data(bin_, queries.request_count(bin_id)), "reverified": reverified})


@bp.delete("/bins/<bin_id>")
def delete_bin(bin_id: str) -> tuple[str, int]:
    queries.get_bin(bin_id)
    queries.delete_bin(bin_id)
    get_broker(current_app).publish(bin_id)  # its live viewers see it gone
    return "", 204


@bp.get("/bins/<bin_id>/requests")
def list_requests(bin_id: str) -> Response:
    queries.get_bin(bin_id)
    limit = int_arg("limit", current_app.config["PAGE_SIZE"], 1, MAX_LIMIT)
    before = int_arg("before", None, 1)
    query = api_query()
    if query is not None:  # a page may then hold fewer than `limit` and still go on
        page = search.search(bin_id, query, before, limit)
        return jsonify(
            requests=[request_summary(row) for row in page.rows], next_before=page.next_before
        )
    rows = queries.page_of_requests(bin_id, before, limit)
    return jsonify(
        requests=[request_summary(row) for row in rows],
        next_before=rows[-1].id if len(rows) == limit else None,
    )


@bp.delete("/bins/<bin_id>/requests")
def clear_requests(bin_id: str) -> tuple[str, int]:
    queries.get_bin(bin_id)
    queries.clear_bin(bin_id)
    return "", 204


@bp.post("/bins/<bin_id>/requests/delete")
def delete_requests(bin_id: str) -> Response:
    """Delete several requests in one transaction (the dashboard's selection)."""
    queries.get_bin(bin_id)
    ids = list(dict.fromkeys(body_as(DeleteRequests).ids))
    return jsonify(deleted=queries.delete_some(bin_id, ids))


@bp.get("/bins/<bin_id>/requests/<int:request_id>")
def get_request(bin_id: str, request_id: int) -> Response:
    bin_ = queries.get_bin(bin_id)
    return jsonify(request_detail(queries.get_request(bin_id, request_id), bin_))


@bp.delete("/bins/<bin_id>/requests/<int:request_id>")
def delete_request(bin_id: str, request_id: int) -> tuple[str, int]:
    queries.delete_request(queries.get_request(bin_id, request_id))
    return "", 204


@bp.get("/bins/<bin_id>/requests/<int:request_id>/diff/<int:other_id>")
def diff_requests(bin_id: str, request_id: int, other_id: int) -> Response:
    """What changed from request ``request_id`` to request ``other_id`` of the same bin."""
    old, new = queries.get_request(bin_id, request_id), queries.get_request(bin_id, other_id)
    return jsonify(diff.compare(old, new).model_dump(mode="json"))


@bp.get("/bins/<bin_id>/requests/<int:request_id>/raw")
def raw_body(bin_id: str, request_id: int) -> Response:
    captured = queries.get_request(bin_id, request_id)
    return raw_download(captured.body, f"request-{captured.seq}.bin")


@bp.post("/bins/<bin_id>/requests/<int:request_id>/resend")
def resend_request(bin_id: str, request_id: int) -> Response:
    refused = ratelimit.check_resend()
    if refused is not None:
        return refused
    bin_ = queries.get_bin(bin_id)
    captured = queries.get_request(bin_id, request_id)
    body = body_as(ResendBody)
    if body.forwarder is not None:
        return _resend_through_forwarder(bin_id, captured.id, body.forwarder)
    url = body.url or bin_.resend_url
    if not url:
        raise BadRequest('Give the target as {"url": "http://localhost:3000/hook"}.')
    try:
        outgoing = resend.prepare(captured, bin_, url, edit_of(body))
    except resend.InvalidTarget as error:
        raise BadRequest(str(error)) from None
    except resend.InvalidEdit as error:
        raise InvalidBody([{"path": error.path, "message": str(error)}], str(error)) from None
    with ratelimit.resend_slot() as busy:
        if busy is not None:
            return busy
        attempt = resend.deliver(outgoing)  # detaches bin_ and captured: not used below
    return jsonify(resend_data(attempt))


def _resend_through_forwarder(bin_id: str, request_id: int, forwarder_id: str) -> Response:
    """The attempt the forwarder reports, waited for without holding a database connection."""
    found = forwarders.find(bin_id, forwarder_id)
    if found is None:
        raise Conflict(forwarders.NOT_CONNECTED)
    result = forwarders.resend_for_request(bin_id, found.id, request_id)
    if result.attempt is not None:
        return jsonify(resend_data(result.attempt))
    if result.gone:
        raise BadGateway(
            f"The forwarder {found.name} disconnected before it said how the resend went "
            "(it may have reached its target)."
        )
    raise GatewayTimeout(
        f"The forwarder {found.name} has not reported within {forwarders.request_wait():g} "
        "s; its outcome is listed under the request's resends once it does."
    )


@bp.get("/bins/<bin_id>/requests/<int:request_id>/resends")
def list_resends(bin_id: str, request_id: int) -> Response:
    captured = queries.get_request(bin_id, request_id)
    return jsonify(resends=[resend_data(a) for a in queries.resend_attempts(captured.id)])


@sock.route("/bins/<bin_id>/stream", bp=bp)
def stream_requests(ws: Any, bin_id: str) -> None:
    """One JSON summary per request after ``?after=<id>``, then each new one as it lands;
    with ``?q=``, only the requests that match."""
    try:
        query = request_query()
    except QueryError as error:
        ws.close(reason=CLOSE_BAD_QUERY, message=close_reason(error))
        return
    stream(
        ws,
        bin_id,
        parse_cursor(request.args.get("after")),
        "api-summary",
        lambda row: json.dumps(request_summary(row)),
        keep=None if query is None else partial(search.matching_ids, query),
    )


@sock.route("/bins/<bin_id>/forward", bp=bp)
def forward_requests(ws: Any, bin_id: str) -> None:
    """The stream ``webbin forward`` follows: a hello, then each request after ``?after=<id>``
    and each resend asked of it, while it counts as connected (see docs/forward.md)."""
    try:
        hello = forwarders.Hello.parse(request.args)
    except ValueError as error:
        ws.close(reason=forwarders.CLOSE_INVALID, message=str(error))
        return
    forwarders.follow(ws, bin_id, parse_cursor(request.args.get("after")), hello, request_summary)


@bp.get("/bins/<bin_id>/forwarders")
def list_forwarders(bin_id: str) -> Response:
    queries.get_bin(bin_id)
    return jsonify(forwarders=[forwarder_data(f) for f in forwarders.connected(bin_id)])


@bp.post("/bins/<bin_id>/requests/<int:request_id>/forwards")
def report_forward(bin_id: str, request_id: int) -> tuple[Response, int]:
    """A forwarder says what its target answered: stored beside the resend attempts."""
    captured = queries.get_request(bin_id, request_id)
    body = body_as(ForwardOutcome)
    keep = int(current_app.config["RESEND_MAX_RESPONSE_BYTES"])
    answer = base64.b64decode(body.body_base64)
    outcome = forwarders.Outcome(
        forwarder=body.forwarder,
        url=body.url,
        status=body.status,
        reason=body.reason,
        headers=[list(pair) for pair in body.headers],
        body=answer[:keep],
        truncated=body.truncated or len(answer) > keep,
        elapsed_ms=body.elapsed_ms,
        error=body.error,
        error_kind=body.error_kind,
        job=body.job,
        reply=body.reply,
    )
    request_id = captured.id
    db.session.close()
    attempt = forwarders.record(current_app, bin_id, request_id, outcome)
    return jsonify(resend_data(attempt)), 201
