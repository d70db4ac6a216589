"""Resend: replay a captured request to a URL of the user's choosing and keep the answer.

The request goes out as it came in: same method, same headers in the same order (less the
hop-by-hop ones, ``Host`` and ``Content-Length``, which belong to the new connection), and
the exact body bytes, unless the user edited it (an :class:`Edit`: another method, headers
or body, and optionally re-signed for the bin's scheme by :mod:`webbin.receiver.signing`).
:mod:`webbin.outbound.client` does the sending; this module decides what is sent and records
every attempt under its request, with the request as it went out.

A resend may wait up to ``RESEND_TOTAL_TIMEOUT`` on the target, so it never holds a database
connection while it does: :func:`prepare` copies what the send needs into plain data (and
refuses an invalid URL before anything is recorded), :func:`deliver` ends the caller's
session, which returns its connection to the pool, sends, then records the attempt in a new
short transaction of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webbin import metrics
from webbin.outbound import client as outbound
from webbin.outbound import loopguard
from webbin.outbound import policy as profiles
from webbin.receiver import signing, verification
from webbin.receiver.signatures.base import SignedRequest
from webbin.storage.models import Bin, CapturedRequest, ResendAttempt, db, utcnow

# Longest URL a user may type (placeholders unexpanded); the bin stores it as its default.
MAX_URL_TEMPLATE = 2000

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


def forwarded_headers(
    headers: list[list[str]] | list[tuple[str, str]] | tuple[tuple[str, str], ...],
) -> list[tuple[str, str]]:
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


def target_url(template: str, path: str, query_string: str) -> str:
    """``template`` as typed, with the captured request's parts in place of the placeholders.

    ``{path}`` is the path after the capture URL (always starting with ``/``), ``{query}``
    the bare query string (no ``?``), ``{path_and_query}`` the path plus ``?query`` when
    there is one: so a whole bin can point at ``http://localhost:3000{path_and_query}``.
    """
    path_and_query = f"{path}?{query_string}" if query_string else path
    return (
        template.replace("{path_and_query}", path_and_query)
        .replace("{path}", path)
        .replace("{query}", query_string)
    )


class InvalidTarget(ValueError):
    """The resend URL cannot be sent to at all; the message says why, for the user."""


class InvalidEdit(ValueError):
    """An edit that cannot be sent (a body over the limit, a re-sign that is impossible);
    ``path`` names the field at fault, as the API's ``errors`` list does."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Edit:
    """What the user changed before resending; a field left None is sent as captured."""

    method: str | None = None
    headers: tuple[tuple[str, str], ...] | None = None  # in order, repeats kept
    body: bytes | None = None
    resign: bool = False  # recompute the signature for the bin's scheme and secret


@dataclass(frozen=True)
class Outgoing:
    """Everything one resend needs, copied out of the database so none is held while sending."""

    request_id: int
    bin_id: str
    url_template: str  # as typed: what becomes the bin's default once it was sent to
    url: str  # placeholders expanded: where it goes
    method: str
    headers: tuple[tuple[str, str], ...]  # loop mark included
    body: bytes
    edited: bool = False  # the user changed the method, headers or body
    resigned: str | None = None  # the scheme that re-signed it


def prepare(
    captured: CapturedRequest, bin_: Bin, template: str, edit: Edit | None = None
) -> Outgoing:
    """Read what resending ``captured`` (changed by ``edit``) to ``template`` needs;
    InvalidTarget for a bad URL, InvalidEdit for an edit that cannot be sent."""
    template = template.strip()
    if not template:
        raise InvalidTarget("Enter a URL to send the request to.")
    if len(template) > MAX_URL_TEMPLATE:
        raise InvalidTarget(f"The URL is longer than {MAX_URL_TEMPLATE} characters.")
    url = target_url(template, captured.path, captured.query_string)
    problem = outbound.url_problem(url)
    if problem:
        shown = url if len(url) <= 200 else url[:200] + "…"
        raise InvalidTarget(f"{problem} ({shown!r}).")
    edit = edit or Edit()
    method = edit.method or captured.method
    headers = forwarded_headers(edit.headers if edit.headers is not None else captured.headers)
    body = captured.body if edit.body is None else edit.body
    limit = int(current_app.config["MAX_BODY_BYTES"])
    if edit.body is not None and len(body) > limit:  # captured bodies were within it
        raise InvalidEdit("body", f"The body is larger than this server's limit ({limit} bytes).")
    edited = (method, headers, body) != (
        captured.method,
        forwarded_headers(captured.headers),
        captured.body,
    )
    resigned = None
    if edit.resign:
        headers, body, resigned = _resign(captured, bin_, method, url, headers, body)
    # Marks the bin it left from, so it is refused if it ever comes back (no resend loops).
    loop_mark = (loopguard.HEADER, loopguard.mark(bin_.capture_token))
    return Outgoing(
        request_id=captured.id,
        bin_id=bin_.id,
        url_template=template,
        url=url,
        method=method,
        headers=(*headers, loop_mark),
        body=body,
        edited=edited,
        resigned=resigned,
    )


def _resign(
    captured: CapturedRequest,
    bin_: Bin,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> tuple[list[tuple[str, str]], bytes, str]:
    """The headers and body signed again for the bin's scheme, as sent to ``url`` now."""
    now = int(time.time())
    request = SignedRequest(method, url, headers, body, datetime.fromtimestamp(now, UTC))
    try:
        scheme = signing.choose_scheme(bin_.signature_scheme, captured.signature_scheme, request)
        signed = signing.resign(
            scheme,
            verification.options_for(bin_),
            method=method,
            url=url,
            headers=headers,
            body=body,
            now=now,
        )
    except signing.CannotResign as error:
        raise InvalidEdit("resign", str(error)) from None
    return signed.headers, signed.body, signed.scheme


def deliver(outgoing: Outgoing) -> ResendAttempt:
    """Send ``outgoing`` and store the attempt (also on failure); return it.

    Ends the caller's session first, so its connection is back in the pool for the whole
    network wait. ORM objects the caller read before are detached by that and must not be
    touched afterwards (they would raise rather than silently open a connection again). The
    returned attempt is detached too, with every column loaded: templates may read it freely.
    """
    db.session.commit()
    db.session.close()
    config = current_app.config
    result = outbound.send(
        outgoing.method,
        outgoing.url,
        list(outgoing.headers),
        outgoing.body,
        policy=profiles.outbound_policy(),
        connect_timeout=float(config["RESEND_CONNECT_TIMEOUT"]),
        read_timeout=float(config["RESEND_READ_TIMEOUT"]),
        total_timeout=float(config["RESEND_TOTAL_TIMEOUT"]),
        max_response_bytes=int(config["RESEND_MAX_RESPONSE_BYTES"]),
    )
    metrics.resend_attempts.labels(
        result.error_kind or "other" if result.error else "answered"
    ).inc()
    return _record(outgoing, result)


def _record(outgoing: Outgoing, result: outbound.OutboundResult) -> ResendAttempt:
    """Store the attempt in a short transaction of its own; the URL becomes the bin's default
    only if the request really went out (not when the policy or DNS stopped it)."""
    attempt = ResendAttempt(
        request_id=outgoing.request_id,
        url=outgoing.url,
        created_at=utcnow(),
        status=result.status,
        reason=result.reason,
        response_headers=[list(pair) for pair in result.headers],
        response_body=result.body,
        truncated=result.truncated,
        elapsed_ms=result.elapsed_ms,
        error=result.error,
        error_kind=result.error_kind,
        sent_method=outgoing.method,
        sent_headers=[list(pair) for pair in outgoing.headers],
        sent_body=outgoing.body,
        sent_edited=outgoing.edited,
        sent_resigned=outgoing.resigned,
    )
    try:
        with Session(db.engine, expire_on_commit=False) as session, session.begin():
            session.add(attempt)
            if result.dialled:
                session.execute(
                    update(Bin)
                    .where(Bin.id == outgoing.bin_id)
                    .values(resend_url=outgoing.url_template)
                )
    except IntegrityError:
        pass  # the request was deleted while its resend was out: report the answer, keep none
    return attempt
