"""The cap on unread viewer messages, against the real simple-websocket with the options
webbin hands it, a real socket and a real client: the hook reaches into simple-websocket's
internals, so only the real library can show it still holds."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_websocket import Server as SocketServer
from websockets.sync.client import connect as ws_connect

from webbin import create_app
from webbin.live.viewers import QUEUED_MESSAGES, CappedInbox, socket_options, start_reader

SENT = 2000
MESSAGE = "x" * 100


def read_head(conn: socket.socket) -> dict[str, Any]:
    """The handshake request's headers as WSGI keys (one byte at a time: nothing past the
    head is consumed, it belongs to the WebSocket)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = conn.recv(1)
        assert byte, "the client left during the handshake"
        head += byte
    environ: dict[str, Any] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if line:
            name, _, value = line.partition(":")
            environ["HTTP_" + name.strip().upper().replace("-", "_")] = value.strip()
    return environ


@pytest.fixture
def server_socket(tmp_path: Path) -> Iterator[tuple[str, list]]:
    """A loopback listener that accepts one WebSocket the way flask-sock does under gunicorn:
    ``simple_websocket.Server(environ, **SOCK_SERVER_OPTIONS)``, with webbin's app config."""
    options = create_app({"TESTING": True, "DATA_DIR": str(tmp_path)}).config["SOCK_SERVER_OPTIONS"]
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list = []

    def accept() -> None:
        conn, _ = listener.accept()
        environ = {"gunicorn.socket": conn, **read_head(conn)}
        accepted.append((SocketServer(environ, **options), conn))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/", accepted
    finally:
        thread.join(10)
        for ws, conn in accepted:
            if ws.connected:
                ws.close()
            conn.close()
        listener.close()


def test_webbin_hands_simple_websocket_its_reader(tmp_path):
    options = socket_options(create_app({"TESTING": True, "DATA_DIR": str(tmp_path)}))
    assert options["thread_class"] is start_reader
    assert options["max_message_size"] == 4096


def test_a_chatty_viewer_fills_at_most_the_capped_inbox(server_socket):
    url, accepted = server_socket
    with ws_connect(url) as client:
        for i in range(SENT):
            client.send(f"message {i} {MESSAGE}")
        # Frames are handled in order: once the server's pong is back, it has read them all.
        assert client.ping().wait(10), "no pong: the server stopped reading"
        ((server, conn),) = accepted
        assert isinstance(server.input_buffer, CappedInbox)
        assert len(server.input_buffer) == QUEUED_MESSAGES
        # The socket still works both ways, and what was kept is the oldest, unchanged.
        assert server.receive(timeout=5) == f"message 0 {MESSAGE}"
        server.send("still here")
        assert client.recv(timeout=5) == "still here"
        server.close()
        conn.close()
