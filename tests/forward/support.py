"""What the forwarder tests run against: a real ``webbin serve``, the installed ``webbin``
console script running ``webbin forward`` as a subprocess, and a loopback target that
records the raw bytes of every request it gets.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from helpers import Server

WEBBIN = str(Path(sys.executable).parent / "webbin")
DEADLINE = 20.0


@dataclass
class Received:
    """One request as the target read it off the socket."""

    method: str
    target: str  # the request target: path and query
    headers: list[tuple[str, str]]  # in order, repeats kept, names as sent
    body: bytes
    raw: bytes = b""


@dataclass
class Answer:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("Content-Type", "text/plain")])
    body: bytes = b"ok"


class Target:
    """A threaded HTTP/1.1 server on 127.0.0.1 that keeps each request's raw bytes (parsed
    by hand: no library tidies the headers) and answers with ``answer`` (or ``respond``)."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.answer = Answer()
        self.respond: Callable[[Received], Answer] | None = None
        self.arrived = threading.Condition()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        self.listener.settimeout(0.05)
        while not self._stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
            length = int(next((v for n, v in headers if n.lower() == "content-length"), "0"))
            while len(rest) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                rest += chunk
            got = Received(method, target, headers, rest[:length], data)
            answer = self.respond(got) if self.respond else self.answer
            head_out = [f"HTTP/1.1 {answer.status} X"]
            head_out += [f"{n}: {v}" for n, v in answer.headers]
            head_out += [f"Content-Length: {len(answer.body)}", "Connection: close", "", ""]
            with self.arrived:
                self.received.append(got)
                self.arrived.notify_all()
            conn.sendall("\r\n".join(head_out).encode("latin-1") + answer.body)

    def wait_for(self, count: int, timeout: float = DEADLINE) -> list[Received]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"the target got {len(self.received)} of {count} requests")
            return list(self.received)

    def stop(self) -> None:
        self._stopping.set()
        self.thread.join(5)
        self.listener.close()


class Forward:
    """A ``webbin forward`` process started from the installed console script, with
    ``--json``; its lines are read as they come."""

    def __init__(self, bin_url: str, to: str, state: Path, *args: str) -> None:
        env = {**os.environ, "XDG_STATE_HOME": str(state), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [WEBBIN, "forward", bin_url, "--to", to, "--json", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def wait_for(self, event: str, timeout: float = DEADLINE, **fields: Any) -> dict[str, Any]:
        """The next line of ``event`` (with ``fields``); the lines before it are kept."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                raise AssertionError(
                    f"no {event!r} line within {timeout} s; lines: {self.seen}; "
                    f"stderr: {self.stderr()}"
                ) from None
            self.seen.append(line)
            if line["event"] == event and all(line.get(k) == v for k, v in fields.items()):
                return line

    def stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return "(still running)"
        return self.process.stderr.read().decode(errors="replace")

    def interrupt(self, timeout: float = 20) -> int:
        """Ctrl-C."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()


def capture(
    bin_: dict, suffix: str = "", body: bytes = b"{}", headers: Any = (), method: str = "POST"
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send one request to the bin's capture URL, headers in order with repeats (http.client
    writes them as given); the answer's status, headers and body."""
    parts = urlsplit(bin_["capture_url"] + suffix)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        conn.putrequest(method, parts.path + (f"?{parts.query}" if parts.query else ""))
        for name, value in headers:
            conn.putheader(name, value)
        if body:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def api(server: Server, path: str) -> Any:
    with urllib.request.urlopen(server.url + path, timeout=10) as response:
        return json.load(response)


def forwarded_ids(lines: list[dict[str, Any]]) -> list[int]:
    return [line["id"] for line in lines if line["event"] == "forward" and line["status"]]
