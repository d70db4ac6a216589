"""Dashboard: server-rendered pages and htmx fragments for bins and their requests."""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select

from webbin import ratelimit
from webbin.capture import endpoint as capture
from webbin.live import forwarders
from webbin.live.broker import get_broker
from webbin.live.stream import CLOSE_BAD_QUERY, parse_cursor, sock, stream
from webbin.outbound import resend
from webbin.receiver import bin_settings as settings
from webbin.receiver import handshakes, senders, testwebhooks, verification
from webbin.receiver.strict import InvalidInput
from webbin.storage import queries, search
from webbin.storage.models import Bin, CapturedRequest, db
from webbin.storage.search import Query, QueryError
from webbin.web import csrf, diff, edit, replays, searching
from webbin.web.bodyview import multipart_part, render_body
from webbin.web.curl import curl_command
from webbin.web.downloads import raw_download
from webbin.web.serialize import capture_url

bp = Blueprint("dashboard", __name__)
csrf.protect(bp)

# The home page lists the bins this browser created, newest first, up to this many.
REMEMBERED_BINS = 50


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def remember_bin(bin_id: str) -> None:
    known = [b for b in session.get("bins", []) if b != bin_id]
    session["bins"] = [bin_id, *known][:REMEMBERED_BINS]


def forget_bin(bin_id: str) -> None:
    session["bins"] = [b for b in session.get("bins", []) if b != bin_id]


@bp.get("/")
def home() -> str:
    ids = session.get("bins", [])
    found = {b.id: b for b in db.session.scalars(select(Bin).where(Bin.id.in_(ids)))} if ids else {}
    bins = [found[i] for i in ids if i in found]
    return render_template("home.html", bins=bins)


@bp.post("/bins")
def create_bin() -> Response:
    refused = ratelimit.check_bin_create()
    if refused is not None:
        return refused
    name = (request.form.get("name") or "").strip()[:200] or None
    bin_ = Bin(name=name)
    db.session.add(bin_)
    db.session.commit()
    remember_bin(bin_.id)
    return redirect(url_for("dashboard.bin_page", bin_id=bin_.id), 303)


def _detail_context(bin_: Bin, captured: CapturedRequest) -> dict[str, Any]:
    return {
        "bin": bin_,
        "req": captured,
        "body": render_body(
            captured.body, captured.content_type, captured.header("Content-Encoding")
        ),
        "query": _query_pairs(captured.query_string),
        "attempts": queries.resend_attempts(captured.id),
        "forwarders": forwarders.connected(bin_.id),
        "verdict": verification.verdict(bin_, captured),
        "curl": curl_command(captured, captured.url or capture_url(bin_) + captured.path),
        "sender": senders.check(captured.remote_addr, bin_.allowed_networks),
        "first_delivery": db.session.get(CapturedRequest, captured.duplicate_of)
        if captured.duplicate_of
        else None,
    }


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    return parse_qsl(query_string, keep_blank_values=True, errors="replace")


def _page(bin_id: str, before: int | None, query: Query | None) -> tuple[list[Any], int | None]:
    """A page of the bin's rows, newest first, older than ``before``, and the cursor for the
    next one (None: no more); filtered by ``query`` when there is one."""
    size = current_app.config["PAGE_SIZE"]
    if query is None:
        rows = queries.page_of_requests(bin_id, before, size)
        return rows, rows[-1].id if len(rows) == size else None
    page = search.search(bin_id, query, before, size)
    return page.rows, page.next_before


@bp.get("/bins/<bin_id>")
def bin_page(bin_id: str) -> str | tuple[str, int]:
    bin_ = queries.get_bin(bin_id)
    query_error: QueryError | None = None
    try:
        query = searching.request_query()
    except QueryError as error:
        query, query_error = None, error
    rows, next_before = _page(bin_id, None, query) if query_error is None else ([], None)
    detail: dict[str, Any] = {}
    wanted = request.args.get("r", type=int)
    if wanted is not None:
        detail = _detail_context(bin_, queries.get_request(bin_id, wanted))
    total = queries.request_count(bin_id)
    page = render_template(
        "bin.html",
        bin=bin_,
        capture_url=capture_url(bin_),
        rows=rows,
        # Live rows are those after the bin's newest, not after the newest that matched.
        latest_id=(queries.newest_id(bin_id) or 0) if query else (rows[0].id if rows else 0),
        next_before=next_before,
        q=searching.query_text(),
        query_error=query_error,
        query_error_text=searching.describe(query_error) if query_error else None,
        total=total,
        replay_label=replay_label(total),
        originals=queries.originals(rows),
        **_settings_context(bin_),
        selected=bool(detail),
        forwarders=forwarders.connected(bin_id),
        replays=replays.shown(bin_id),
        **{k: v for k, v in detail.items() if k not in ("bin", "forwarders")},
    )
    return (page, 400) if query_error else page


@bp.get("/bins/<bin_id>/rows")
def older_rows(bin_id: str) -> str:
    """The next page of older rows (and a new "load older" button if there are more)."""
    bin_ = queries.get_bin(bin_id)
    try:
        query = searching.request_query()
    except QueryError as error:
        abort(400, description=searching.describe(error))
    rows, next_before = _page(bin_id, request.args.get("before", type=int), query)
    return render_template(
        "_rows.html",
        bin=bin_,
        rows=rows,
        originals=queries.originals(rows),
        next_before=next_before,
        q=searching.query_text(),
    )


@bp.get("/bins/<bin_id>/requests/<int:request_id>")
def request_detail(bin_id: str, request_id: int) -> str | Response:
    if not is_htmx():
        return redirect(url_for("dashboard.bin_page", bin_id=bin_id, r=request_id))
    bin_ = queries.get_bin(bin_id)
    captured = queries.get_request(bin_id, request_id)
    return render_template("_detail.html", **_detail_context(bin_, captured))


@bp.get("/bins/<bin_id>/requests/<int:request_id>/raw")
def raw_body(bin_id: str, request_id: int) -> Response:
    captured = queries.get_request(bin_id, request_id)
    return raw_download(captured.body, f"request-{captured.seq}.bin")


@bp.get("/bins/<bin_id>/requests/<int:request_id>/parts/<int:index>")
def multipart_download(bin_id: str, request_id: int, index: int) -> Response:
    captured = queries.get_request(bin_id, request_id)
    found = multipart_part(
        captured.body, captured.content_type, index, captured.header("Content-Encoding")
    )
    if found is None:
        abort(404, description="This request has no such multipart part.")
    _part, data = found
    return raw_download(data, f"request-{captured.seq}-part-{index}.bin")


@bp.post("/bins/<bin_id>/requests/<int:request_id>/delete")
def delete_request(bin_id: str, request_id: int) -> Response | str:
    queries.delete_request(queries.get_request(bin_id, request_id))
    if is_htmx():
        return render_template("_deleted.html", request_id=request_id)
    return redirect(url_for("dashboard.bin_page", bin_id=bin_id), 303)


@bp.post("/bins/<bin_id>/clear")
def clear_bin(bin_id: str) -> Response:
    queries.get_bin(bin_id)
    queries.clear_bin(bin_id)
    return redirect(url_for("dashboard.bin_page", bin_id=bin_id), 303)


@bp.post("/bins/<bin_id>/delete")
def delete_bin(bin_id: str) -> Response:
    queries.get_bin(bin_id)
    queries.delete_bin(bin_id)
    get_broker(current_app).publish(bin_id)  # its live viewers see it gone
    forget_bin(bin_id)
    return redirect(url_for("dashboard.home"), 303)


@bp.post("/bins/<bin_id>/requests/<int:request_id>/resend")
def resend_request(bin_id: str, request_id: int) -> Response | tuple[str, int] | str:
    refused = ratelimit.check_resend()
    if refused is not None:
        return refused
    bin_ = queries.get_bin(bin_id)
    captured = queries.get_request(bin_id, request_id)
    if request.form.get("forwarder"):
        return _resend_through_forwarder(bin_id, captured.id, request.form["forwarder"])
    try:
        # The editor's form (_edit.html) says so; the plain resend form sends only a URL.
        changes = edit.edit_of(edit.form_body(request.form)) if request.form.get("edit") else None
        outgoing = resend.prepare(captured, bin_, request.form.get("url") or "", changes)
    except (resend.InvalidTarget, resend.InvalidEdit, InvalidInput) as error:
        return render_template("_resend_result.html", attempt=None, error=str(error)), 400
    with ratelimit.resend_slot() as busy:
        if busy is not None:
            return busy
        attempt = resend.deliver(outgoing)  # detaches bin_ and captured: not used below
    return render_template("_resend_result.html", attempt=attempt, error=None)


def _resend_through_forwarder(
    bin_id: str, request_id: int, forwarder_id: str
) -> tuple[str, int] | str:
    """Queue the resend for the forwarder (wherever its connection is served) and wait for
    the outcome it reports, holding no database connection meanwhile."""
    found = forwarders.find(bin_id, forwarder_id)
    if found is None:
        error = "That forwarder is no longer connected; reload to see who is."
        return render_template("_resend_result.html", attempt=None, error=error), 400
    result = forwarders.resend_for_request(bin_id, found.id, request_id)
    if result.attempt is not None:
        return render_template("_resend_result.html", attempt=result.attempt, error=None)
    if result.gone:
        error = f"The forwarder {found.name} disconnected before it said how the resend went."
    else:
        error = (
            f"The forwarder {found.name} has not reported within "
            f"{forwarders.request_wait():g} s; its outcome is listed on this request once it "
            "does."
        )
    return render_template("_resend_result.html", attempt=None, error=error)


@bp.get("/bins/<bin_id>/forwarders")
def forwarders_box(bin_id: str) -> str:
    """Who forwards this bin's arrivals right now (the bin page asks every few seconds), and
    the replay form's buttons for them."""
    bin_ = queries.get_bin(bin_id)
    return render_template(
        "_forwarders.html",
        bin=bin_,
        forwarders=forwarders.connected(bin_id),
        replay_label=replay_label(queries.request_count(bin_id)),
        refreshed=True,
    )


def replay_label(total: int) -> str:
    """The replay form's button for a bin of ``total`` requests: with a search on, that count
    is not what would be replayed (and a text search is not counted)."""
    if request.args.get("q"):
        return "Replay every match of the search"
    return f"Replay all {total}"


@bp.get("/bins/<bin_id>/requests/<int:request_id>/edit")
def edit_request(bin_id: str, request_id: int) -> str | Response:
    """The editor for resending the request changed (``?as=base64`` for the body's bytes)."""
    if not is_htmx():
        return redirect(url_for("dashboard.bin_page", bin_id=bin_id, r=request_id))
    bin_ = queries.get_bin(bin_id)
    captured = queries.get_request(bin_id, request_id)
    form = edit.prefill(captured, bin_, as_base64=request.args.get("as") == "base64")
    return render_template("_edit.html", bin=bin_, req=captured, form=form)


@bp.get("/bins/<bin_id>/compare/<int:old_id>/<int:new_id>")
def compare_requests(bin_id: str, old_id: int, new_id: int) -> str | Response:
    if not is_htmx():
        return redirect(url_for("dashboard.bin_page", bin_id=bin_id, r=new_id))
    bin_ = queries.get_bin(bin_id)
    old, new = queries.get_request(bin_id, old_id), queries.get_request(bin_id, new_id)
    return render_template("_diff.html", bin=bin_, diff=diff.compare(old, new), shared=None)


@bp.get("/bins/<bin_id>/requests/<int:request_id>/compare-previous")
def compare_previous(bin_id: str, request_id: int) -> str | Response:
    """The request compared with the latest earlier one of the same event, else path."""
    if not is_htmx():
        return redirect(url_for("dashboard.bin_page", bin_id=bin_id, r=request_id))
    bin_ = queries.get_bin(bin_id)
    captured = queries.get_request(bin_id, request_id)
    found = queries.previous_like(captured)
    if found is None:
        return render_template("_diff.html", bin=bin_, diff=None, req=captured, shared=None)
    shared, previous = found
    compared = diff.compare(previous, captured)
    return render_template("_diff.html", bin=bin_, diff=compared, shared=shared)


def _settings_context(bin_: Bin) -> dict[str, Any]:
    """What ``_settings.html`` shows, on the bin page and in its in-place answers."""
    return {
        "settings": settings.view(bin_),
        "schemes": settings.scheme_names(),
        "presets": senders.presets(),
        "providers": handshakes.PROVIDERS,
    }


# Rows an in-place save re-renders after a re-verification, at most (the ids the page shows).
MAX_SHOWN_ROWS = 500


def _settings_saved(bin_: Bin, form: str, message: str, reverified: bool = False) -> Response:
    """A settings form's success: with htmx, the settings panel re-rendered in place (open,
    the message in the form that was saved) so the page keeps its selection, open panels and
    scroll; after a re-verification also the rows the page shows and its open detail, whose
    verdicts changed. Without htmx, a flash and the bin page."""
    if not is_htmx():
        flash(message, "info")
        return redirect(url_for("dashboard.bin_page", bin_id=bin_.id), 303)
    shown: list[Any] = []
    detail: dict[str, Any] = {}
    if reverified:
        ids = [int(i) for i in request.form.get("shown_ids", "").split(",") if i.isdigit()]
        shown = queries.summaries(bin_.id, ids[:MAX_SHOWN_ROWS])
        open_id = request.form.get("open_id", "")
        found = queries.find_request(bin_.id, int(open_id)) if open_id.isdigit() else None
        detail = _detail_context(bin_, found) if found is not None else {}
    return Response(
        render_template(
            "_settings.html",
            settings_open=True,
            notice={"form": form, "category": "info", "message": message},
            reverified_rows=shown,
            originals=queries.originals(shown),
            reverified_detail=bool(detail),
            **{"bin": bin_, **detail},
            **_settings_context(bin_),
        )
    )


def _settings_refused(bin_id: str, form: str, message: str) -> Response:
    """A settings form's error: with htmx only the message, in the form, which keeps what
    was typed into it; without htmx a flash and the bin page."""
    if not is_htmx():
        flash(message, "error")
        return redirect(url_for("dashboard.bin_page", bin_id=bin_id) + "#settings", 303)
    html = render_template("_settings_notice.html", category="error", message=message)
    where = {"HX-Retarget": f"#{form} .form-notice", "HX-Reswap": "innerHTML"}
    return Response(html, 400, where)


def _apply_settings(bin_id: str, data: dict[str, Any], done: str, form: str) -> Response:
    """Apply the settings form ``form`` (its element id) and say what happened."""
    bin_ = queries.get_bin(bin_id)
    try:
        reverify = settings.apply(bin_, data)
    except ValueError as error:
        db.session.rollback()
        return _settings_refused(bin_id, form, str(error))
    db.session.commit()
    if reverify:
        count = verification.reverify(bin_)
        done += f" {count} captured request{'s' if count != 1 else ''} re-verified."
    return _settings_saved(bin_, form, done, reverified=reverify)


def _lines(field: str) -> list[str]:
    return [line.strip() for line in request.form.get(field, "").splitlines() if line.strip()]


@bp.post("/bins/<bin_id>/settings/signature")
def signature_settings(bin_id: str) -> Response:
    form = request.form
    signature: dict[str, Any] = {"scheme": form.get("scheme", "auto")}
    secrets = _lines("secrets")
    if secrets or form.get("clear_secrets"):
        signature["secrets"] = secrets
    tolerance = form.get("tolerance_seconds", "").strip()
    if tolerance:
        signature["tolerance_seconds"] = int(tolerance) if tolerance.isdigit() else tolerance
    if signature["scheme"] == "generic-hmac":
        signature["generic"] = {
            "header": form.get("generic_header", ""),
            "algorithm": form.get("generic_algorithm", "sha256"),
            "encoding": form.get("generic_encoding", "hex"),
            "prefix": form.get("generic_prefix", ""),
        }
    return _apply_settings(
        bin_id, {"signature": signature}, "Signature settings saved.", "signature-settings"
    )


@bp.post("/bins/<bin_id>/settings/senders")
def sender_settings(bin_id: str) -> Response:
    networks = _lines("allowed_networks")
    preset = senders.presets().get(request.form.get("preset", ""))
    if isinstance(preset, dict):
        networks = list(dict.fromkeys([*networks, *preset["networks"]]))
    return _apply_settings(
        bin_id, {"allowed_networks": networks}, "Sender allow-list saved.", "sender-settings"
    )


@bp.post("/bins/<bin_id>/settings/handshakes")
def handshake_settings(bin_id: str) -> Response:
    data: dict[str, Any] = {"enabled": request.form.getlist("enabled")}
    for secret in ("meta_verify_token", "zoom_secret", "twitter_consumer_secret"):
        value = request.form.get(secret, "").strip()
        if value:
            data[secret] = value
        elif request.form.get(f"clear_{secret}"):
            data[secret] = ""
    return _apply_settings(
        bin_id, {"handshakes": data}, "Handshake replies saved.", "handshake-settings"
    )


@bp.post("/bins/<bin_id>/settings/response")
def response_settings(bin_id: str) -> Response:
    form = request.form
    if form.get("reset"):
        return _apply_settings(
            bin_id, {"response": {}}, "Responses reset to the default 200.", "response-settings"
        )
    headers = []
    for line in _lines("headers"):
        name, _, value = line.partition(":")
        headers.append([name.strip(), value.strip()])
    status, delay = form.get("status", "200").strip(), form.get("delay_ms", "0").strip() or "0"
    try:
        rules = json.loads(form.get("rules") or "[]")
    except ValueError:
        return _settings_refused(bin_id, "response-settings", "Rules must be a JSON list.")
    response = {
        "default": {
            "status": int(status) if status.isdigit() else status,
            "content_type": form.get("content_type", "").strip() or "application/json",
            "headers": headers,
            "body": form.get("body", ""),
            "delay_ms": int(delay) if delay.isdigit() else delay,
        },
        "rules": rules,
    }
    return _apply_settings(
        bin_id, {"response": response}, "Custom response saved.", "response-settings"
    )


@bp.post("/bins/<bin_id>/settings/cors")
def cors_settings(bin_id: str) -> Response:
    on = request.form.get("cors") == "1"
    said = "answers browsers (CORS on)" if on else "no longer answers CORS preflights"
    return _apply_settings(bin_id, {"cors": on}, f"Capture URL {said}.", "cors-settings")


@bp.post("/bins/<bin_id>/test-webhook")
def send_test_webhook(bin_id: str) -> Response:
    bin_ = queries.get_bin(bin_id)
    try:
        sample = testwebhooks.prepare(bin_, request.form.get("scheme", ""), capture_url(bin_))
    except ValueError as error:
        return _settings_refused(bin_id, "test-webhook", str(error))
    record = capture.make_record(
        method="POST",
        path=sample.path,
        query_string="",
        headers=sample.headers,
        body=sample.body,
        remote_addr="127.0.0.1",
        url=capture_url(bin_) + sample.path,
    )
    bin_row = capture.find_bin(bin_.capture_token)
    stored = capture.ingest(bin_row, record) if bin_row is not None else None
    status = stored.decision.answer_status if stored else 404
    added = (
        " webbin added a test secret to the bin's signature settings."
        if sample.added_secret
        else ""
    )
    said = f"Sent a signed {sample.title} test webhook (answered {status}).{added}"
    return _settings_saved(queries.get_bin(bin_id), "test-webhook", said)


@sock.route("/bins/<bin_id>/live", bp=bp)
def live_rows(ws: Any, bin_id: str) -> None:
    """Rendered list rows for the bin page, as hx-ws JSON messages; with ``?q=``, only the
    rows that match, and after each batch with rows left out ``{"hidden": n, "last": id}``
    (the page counts them and resumes after ``last``)."""
    bin_ = db.session.get(Bin, bin_id)
    db.session.remove()  # no session may stay open for the life of a socket
    if bin_ is None:
        ws.close(reason=4404, message="no such bin")
        return
    try:
        query = searching.request_query()
    except QueryError as error:
        ws.close(reason=CLOSE_BAD_QUERY, message=searching.close_reason(error))
        return

    def render(row: Any) -> str:
        # Rendered once per row for every viewer of the bin: nothing here may be per viewer.
        html = render_template(
            "_row.html", bin_id=bin_id, row=row, originals=queries.originals([row])
        )
        db.session.remove()
        return json.dumps({"id": row.id, "content": html})

    stream(
        ws,
        bin_id,
        parse_cursor(request.args.get("after")),
        "dashboard-row",
        render,
        keep=None if query is None else partial(search.matching_ids, query),
        hidden=lambda count, last: json.dumps({"hidden": count, "last": last}),
    )
