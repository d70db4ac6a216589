"""Limits on live viewers: how many sockets a bin may have open, and what a socket may send.

Every live stream holds a greenlet and a socket (its bin's feed does the database reads), so a
bin takes at most
``MAX_VIEWERS_PER_BIN`` open streams per worker process, or across every worker and host with
``REDIS_URL`` (:class:`webbin.ratelimit.SharedCap`); the next one is refused with 429 before
the WebSocket handshake. Viewers have nothing to say to webbin: a message larger than
``WS_MAX_MESSAGE_BYTES`` closes the socket (1009), and messages nobody reads are dropped once
a few are queued, instead of piling up in memory.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import select

from webbin import metrics
from webbin.ratelimit import SharedCap, client_key, limiters, shared_store, too_many
from webbin.storage.models import Bin, db

# Unread incoming messages kept per socket; webbin's handlers never read any.
QUEUED_MESSAGES = 4


class CappedInbox(list):
    """simple-websocket's input buffer, keeping at most ``limit`` unread messages."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def append(self, item: Any) -> None:
        if len(self) < self.limit:
            super().append(item)


class SerialSocket:
    """A viewer's socket whose sends write whole frames, one at a time.

    simple-websocket writes with ``socket.send``, which under gevent (or with a timeout) may
    write part of a frame and drop the rest once a slow viewer's buffers fill, and its reader
    thread writes pings and pongs concurrently with the stream's frames. Here every send is
    ``sendall`` under a lock, so frames are neither cut nor interleaved.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def sendall(self, data: bytes) -> None:
        with self._lock:
            self._sock.sendall(data)

    def send(self, data: bytes) -> int:
        self.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def start_reader(*args: Any, target: Any = None, **kwargs: Any) -> threading.Thread:
    """The ``thread_class`` simple-websocket reads a socket with (a greenlet under gevent).

    It swaps in a capped inbox and a :class:`SerialSocket` before the reading starts, the
    only hook simple-websocket offers (the handshake is already written by then).
    ``threading.Thread`` is looked up at call time, so it is gevent's when the worker has
    patched the standard library.
    """
    socket = getattr(target, "__self__", None)
    if socket is not None and isinstance(getattr(socket, "input_buffer", None), list):
        socket.input_buffer = CappedInbox(QUEUED_MESSAGES)
        socket.sock = SerialSocket(socket.sock)
    return threading.Thread(*args, target=target, daemon=True, **kwargs)


def socket_options(app: Flask) -> dict[str, Any]:
    """simple-websocket server options for flask-sock's ``SOCK_SERVER_OPTIONS``."""
    return {
        # Pings keep proxies from dropping idle sockets and let us notice vanished clients.
        "ping_interval": 25,
        "max_message_size": int(app.config["WS_MAX_MESSAGE_BYTES"]),
        "thread_class": start_reader,
    }


def _is_socket() -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _before_request() -> Any:
    bin_id = (request.view_args or {}).get("bin_id")
    if bin_id is None or not _is_socket():
        return None
    with db.engine.connect() as conn:
        known = conn.execute(select(Bin.id).where(Bin.id == bin_id)).first() is not None
    if not known:
        # The stream closes with 4404 after the handshake; count it as the probe it is.
        limiters().probe.take(client_key())
        return None
    count: SharedCap = current_app.extensions["webbin.viewers"]
    ticket = count.enter(bin_id)
    if ticket is None:
        return too_many(
            1, f"This bin already has {count.limit} live viewers; close one first.", "viewers"
        )
    g.webbin_viewing = ticket
    metrics.live_viewers.inc()
    return None


def _teardown(_error: BaseException | None) -> None:
    ticket = g.pop("webbin_viewing", None)
    if ticket is not None:
        current_app.extensions["webbin.viewers"].leave(ticket)
        metrics.live_viewers.dec()


def init_app(app: Flask) -> None:
    app.extensions["webbin.viewers"] = SharedCap(
        "viewers", int(app.config["MAX_VIEWERS_PER_BIN"]), shared_store(app)
    )
    app.before_request(_before_request)
    app.teardown_request(_teardown)
