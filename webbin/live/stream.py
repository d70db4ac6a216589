"""Live streams: push every new request of a bin to a WebSocket, replaying missed ones first.

The loop subscribes to the broker *before* reading the database, then alternates "send all
rows after my cursor" and "wait for a notification (or the poll interval)". Because ids grow
in commit order within a bin (see :mod:`webbin.capture`), the cursor never skips a row, and
because rows are only ever sent past the cursor, none is sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request
from flask_sock import ConnectionClosed, Sock

from webbin.live.broker import get_broker
from webbin.proxies import public_host
from webbin.storage import queries

sock = Sock()

# Rows sent per database read while catching up, so a long replay streams in bounded chunks.
BATCH = 200
# Close code for "no such bin": not one of the codes the browser client reconnects on.
CLOSE_NOT_FOUND = 4404


def init_app(app: Flask) -> None:
    from webbin.live.viewers import socket_options

    # Pings, the largest message a viewer may send, and a cap on unread ones.
    app.config.setdefault("SOCK_SERVER_OPTIONS", socket_options(app))
    sock.init_app(app)
    app.before_request(_refuse_cross_site_sockets)


def _refuse_cross_site_sockets() -> None:
    """flask-sock completes the handshake before a handler runs, so refuse here: a page on
    another site must not open a bin's stream with the visitor's browser."""
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return
    origin = request.headers.get("Origin")
    if origin is not None and _authority(origin) != _own_authority():
        abort(403)


def _own_authority() -> str:
    """Where webbin's own pages are served from, as the browser sees it.

    The configured public URL when there is one; else the host a trusted proxy says the
    browser addressed; else the ``Host`` header. A proxy that rewrites ``Host`` (to an
    upstream name) would otherwise make every page's own stream look cross-site.
    """
    configured = current_app.config["PUBLIC_URL"]
    if configured:
        return _authority(configured)
    return public_host().lower()


def _authority(url: str) -> str:
    """``host[:port]`` of an origin or URL, lower-cased, without the scheme's default port
    (browsers leave it out of ``Origin``; a configured URL might spell it)."""
    parts = urlsplit(url)
    netloc = parts.netloc.lower()
    default = {"http": ":80", "https": ":443"}.get(parts.scheme.lower())
    if default and netloc.endswith(default):
        netloc = netloc.removesuffix(default)
    return netloc


def parse_cursor(value: str | None) -> int:
    try:
        return max(int(value or 0), 0)
    except ValueError:
        return 0


def stream(ws: Any, bin_id: str, cursor: int, render: Callable[[Any], str]) -> None:
    """Send ``render(row)`` for every row after ``cursor``, now and as they arrive."""
    poll = float(current_app.config["STREAM_POLL_SECONDS"])
    with get_broker(current_app).subscribe(bin_id) as subscription:
        while ws.connected:
            rows = queries.rows_after(bin_id, cursor, BATCH)
            if rows is None:
                ws.close(reason=CLOSE_NOT_FOUND, message="no such bin")
                return
            try:
                for row in rows:
                    ws.send(render(row))
                    cursor = row.id
            except ConnectionClosed:
                return
            if len(rows) < BATCH:
                subscription.wait(poll)
