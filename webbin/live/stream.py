"""Live streams: push every new request of a bin to a WebSocket, replaying missed ones first.

Each socket joins its bin's feed (:mod:`webbin.live.feed`) and loops: catch up from the
database while its cursor is before the feed's backlog (a replay, or a viewer that fell too far
behind), then send the feed's prebuilt frames after its cursor, then sleep until the feed (or
the socket closing) wakes it. An idle viewer costs no database query. Because ids grow in
commit order within a bin (see :mod:`webbin.capture`), the cursor never skips a row, and
because rows are only ever sent past the cursor, none is sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request
from flask_sock import ConnectionClosed, Sock

from webbin.live import feed
from webbin.live.feed import BATCH, FAILED, GONE, Behind, frame, get_feeds
from webbin.proxies import public_host
from webbin.storage import queries

sock = Sock()

# Close code for "no such bin": not one of the codes the browser client reconnects on.
CLOSE_NOT_FOUND = 4404
# The reader failed (logged): the client reconnects and resumes from its cursor.
CLOSE_INTERNAL_ERROR = 1011
# The stream's ``q`` is malformed (the reason says why); reconnecting would not help.
CLOSE_BAD_QUERY = 4400


def init_app(app: Flask) -> None:
    from webbin.live.viewers import socket_options

    feed.init_app(app)
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


class _Viewer:
    """One WebSocket following a feed. It sleeps on simple-websocket's own event, which its
    reader thread also sets when the socket closes, so a departed viewer leaves at once."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    def wake(self) -> None:
        self._ws.event.set()

    def clear(self) -> None:
        """Called before looking at the feed: a wake after the look is then never lost."""
        self._ws.event.clear()

    def wait(self) -> None:
        self._ws.event.wait()

    @property
    def connected(self) -> bool:
        return bool(self._ws.connected)

    def send(self, data: bytes) -> None:
        """Write a prebuilt frame whole (:class:`webbin.live.viewers.SerialSocket`)."""
        self._ws.sock.sendall(data)


# Of a batch of summary rows, the ids a filtered viewer is sent (webbin.storage.search).
Keep = Callable[[list[Any]], set[int]]
# The message telling a filtered viewer how many rows of a batch it was not sent, and the
# id of the batch's last row (its new cursor): (hidden, last id) -> text.
Hidden = Callable[[int, int], str]


def stream(
    ws: Any,
    bin_id: str,
    cursor: int,
    fmt: str,
    render: Callable[[Any], str],
    keep: Keep | None = None,
    hidden: Hidden | None = None,
) -> None:
    """Send ``render(row)`` for every row after ``cursor``, now and as they arrive.

    ``fmt`` names the rendering: the bin's feed renders each new row once per format, with
    the renderer of the format's first viewer, so ``render`` must depend only on the row.
    With ``keep`` (a viewer's filter), only the rows it keeps are sent; when ``hidden`` is
    given, each batch with rows left out is followed by its message.
    """
    viewer = _Viewer(ws)

    def kept(rows: list[Any]) -> set[int] | None:
        """The ids of ``rows`` to send; None for all of them."""
        return keep(rows) if keep is not None and rows else None

    def left_out(rows: list[Any], sent: set[int] | None) -> None:
        if sent is not None and hidden is not None and len(sent) < len(rows):
            viewer.send(frame(hidden(len(rows) - len(sent), rows[-1].id)))

    feeds = get_feeds(current_app)
    with feeds.watch(bin_id, fmt, render, viewer, request.url_root) as followed:
        try:
            while True:
                viewer.clear()
                if not viewer.connected:
                    return
                todo = followed.after(fmt, cursor)
                if todo == GONE:
                    ws.close(reason=CLOSE_NOT_FOUND, message="no such bin")
                    return
                if todo == FAILED:
                    ws.close(reason=CLOSE_INTERNAL_ERROR, message="live feed failed")
                    return
                if isinstance(todo, Behind):
                    current_app.logger.debug(
                        "a viewer of bin %s is catching up from the database after id %d",
                        bin_id,
                        cursor,
                    )
                    rows = queries.rows_after(bin_id, cursor, BATCH)
                    if rows is None:
                        ws.close(reason=CLOSE_NOT_FOUND, message="no such bin")
                        return
                    sent = kept(rows)
                    for row in rows:
                        if sent is None or row.id in sent:
                            viewer.send(frame(render(row)))
                        cursor = row.id
                    left_out(rows, sent)
                    if len(rows) < BATCH:
                        cursor = max(cursor, todo.base)
                    continue
                if not todo:
                    viewer.wait()
                    continue
                arrived = [row for _, _, row in todo]
                sent = kept(arrived)
                for row_id, data, _row in todo:
                    if sent is None or row_id in sent:
                        viewer.send(data)
                    cursor = row_id
                left_out(arrived, sent)
        except (ConnectionClosed, OSError):
            return
