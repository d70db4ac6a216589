"""One keep-alive connection cannot monopolise the worker: a fresh connection's request is
served while a flood of already-buffered requests on another connection is still going.

Counted, not timed: the server's access log is written in the order requests are handled,
so the number of flood requests logged before the fresh one says who waited for whom.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from helpers import Server

FLOOD = 2000
FLOOD_PATH = "/static/favicon.svg"
FRESH_PATH = "/static/theme.js"


def request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def read_answers(sock: socket.socket, count: int, first: threading.Event) -> None:
    """Read until ``count`` answers arrived, counting their status lines."""
    seen, tail = 0, b""
    while seen < count:
        chunk = sock.recv(65536)
        if not chunk:
            return
        data = tail + chunk
        seen += data.count(b"HTTP/1.1 ")
        tail = data[-8:]  # shorter than a status line: nothing is counted twice
        first.set()


def logged_paths(log: Path) -> list[str]:
    return [
        line.split(" HTTP/1.1")[0].rsplit(" ", 1)[-1]
        for line in log.read_text(errors="replace").splitlines()
        if '"GET /static/' in line
    ]


def test_a_fresh_connection_is_served_during_a_keep_alive_flood(tmp_path: Path):
    server = Server(tmp_path)
    try:
        flood = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        first = threading.Event()
        reader = threading.Thread(target=read_answers, args=(flood, FLOOD, first))
        reader.start()
        # Every flood request is in the server's socket before it answers the first one.
        flood.sendall(request(FLOOD_PATH) * FLOOD)
        assert first.wait(30), "the flood was never answered"
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as fresh:
            fresh.sendall(request(FRESH_PATH))
            assert fresh.recv(65536).startswith(b"HTTP/1.1 200")
        reader.join(60)
        flood.close()

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            paths = logged_paths(server.log)
            if len(paths) > FLOOD:
                break
            time.sleep(0.05)
        assert paths.count(FLOOD_PATH) == FLOOD and FRESH_PATH in paths
        served_before = paths.index(FRESH_PATH)
        assert served_before < FLOOD // 4, (
            f"the fresh request waited for {served_before} of {FLOOD} flood requests"
        )
    finally:
        server.stop()
