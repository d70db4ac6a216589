"""Helpers for tests that run webbin as a deployment does (tests/ops): plain HTTP calls that
return errors instead of raising, waiting for a server's workers, its readiness, and whether
Redis is there."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from helpers import PG_URL, Server, free_port

REDIS_URL = "redis://127.0.0.1:6379/0"

needs_postgres = pytest.mark.skipif(not PG_URL, reason="WEBBIN_TEST_DATABASE_URL is not set")


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


needs_redis = pytest.mark.skipif(not redis_available(), reason=f"no Redis at {REDIS_URL}")


def get(
    url: str, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a GET, errors included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def post(url: str, data: bytes = b"", timeout: float = 10) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_healthy(server: Server, timeout: float = 30) -> None:
    """Until a worker answers /healthz (the port is bound before any worker has booted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"webbin serve exited: {server.log.read_text()}")
        try:
            if get(server.url + "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"webbin serve never became healthy: {server.log.read_text()}")


def readyz(server: Server) -> tuple[int, dict]:
    status, _headers, body = get(server.url + "/readyz")
    return status, json.loads(body)


class Forwarder:
    """A TCP relay to ``target`` (PostgreSQL, Redis) that can be cut: the service "goes
    away" for whoever uses it through the relay (open connections drop, new ones are
    refused) and comes back with :meth:`start`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        sockets = self._sockets + ([self._listener] if self._listener else [])
        self._listener = None
        for sock in sockets:  # shutdown first: it wakes the thread blocked in accept()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets = []
