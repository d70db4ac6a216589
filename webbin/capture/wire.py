"""Reading a request as it was sent: headers in order with repeats, the raw target, the body.

Under ``webbin serve`` the server hands over its own parsed header list (see
:mod:`webbin.serving.server`); any other WSGI server only gives the environ, where repeats
are joined and order is lost.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from flask import request

CAPTURE_PREFIX = "/c/"
# The endpoint name of the capture view, for hooks that apply to capture only.
CAPTURE_ENDPOINT = "capture.capture"

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
    environ = request.environ
    # A server that ends the input stream itself (gunicorn says so with
    # ``wsgi.input_terminated``, chunked bodies included) is read directly; Werkzeug's
    # wrapper, needed where reading past the body would block, cost a twentieth of a capture.
    stream = environ["wsgi.input"] if environ.get("wsgi.input_terminated") else request.stream
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
