"""The ``q`` of a request, read the same way by the API, the dashboard and the live streams.

The syntax and the matching live in :mod:`webbin.storage.search`; here it is read from the
query string with the providers webbin knows (:mod:`webbin.receiver.events`), and its
errors are worded for people: the message, then where in the query the offending term is.
"""

from __future__ import annotations

from flask import request

from webbin.receiver.events import PROVIDERS
from webbin.storage.search import Query, QueryError, parse
from webbin.web.schemas import InvalidBody


def query_text() -> str:
    """The request's ``q``, trimmed (empty when there is none)."""
    return (request.args.get("q") or "").strip()


def request_query() -> Query | None:
    """The request's ``q`` parsed; None when there is none (no filter). Raises QueryError."""
    text = query_text()
    return parse(text, providers=PROVIDERS) if text else None


def describe(error: QueryError) -> str:
    """The error's message after the 1-based character where its term starts."""
    return f"At character {error.start + 1}: {error.message}"


def close_reason(error: QueryError) -> str:
    """:func:`describe` cut to fit a WebSocket close frame (123 bytes of UTF-8)."""
    return describe(error).encode()[:120].decode(errors="ignore")


def api_query() -> Query | None:
    """:func:`request_query` for the API: a malformed ``q`` is a 400 whose ``errors`` names
    it (``{"path": "q", "message": ...}``)."""
    try:
        return request_query()
    except QueryError as error:
        message = describe(error)
        raise InvalidBody([{"path": "q", "message": message}], message) from None
