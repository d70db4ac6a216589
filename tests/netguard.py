"""Loopback-only networking for tests of code that makes outbound requests.

``loopback_only`` turns "the SSRF guard refused it" from a hope into a checked fact: every
socket connect to a non-loopback address, and every real DNS lookup other than
"localhost", fails the test *before* any packet leaves, even if the code under test is
wrong (import ``loopback_only_fixture`` to use it). ``resolve_names`` stubs the resolver webbin uses, so names can "resolve" to private
addresses without any DNS traffic. ``Target`` is a raw loopback server with scripted answers.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest


@dataclass
class Network:
    connects: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


def _is_loopback(host: str) -> bool:
    ip = ipaddress.ip_address(host.split("%")[0])
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


@pytest.fixture(name="loopback_only")
def loopback_only_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    net = Network()
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: object) -> None:
        host = str(address[0] if isinstance(address, tuple) else address)
        net.connects.append(host)
        if not _is_loopback(host):
            net.violations.append(f"connect to {address}")
            raise AssertionError(f"test tried to connect to non-loopback {address}")

    def connect(self: socket.socket, address: object) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: str, *args: object, **kwargs: object) -> list:
        net.lookups.append(host)
        if host != "localhost":
            net.violations.append(f"DNS lookup of {host}")
            raise AssertionError(f"test made a real DNS lookup of {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield net
    assert net.violations == []


def resolve_names(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    """webbin's resolver answers ``answers[name]`` without any DNS traffic."""
    import webbin.outbound.client

    def resolver(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    monkeypatch.setattr(webbin.outbound.client, "_system_resolver", resolver)


Handler = Callable[[socket.socket], None]


class Target:
    """A raw HTTP server on 127.0.0.1 answering each connection with ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self.connections = 0
        self.stopping = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.settimeout(5)
            try:
                self.requests.append(read_head(conn))
                self.handler(conn)
            except OSError:
                pass  # the client gave up: what several tests are about
            finally:
                conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()


def read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture(name="target")
def target_fixture() -> Iterator[Callable[[Handler], Target]]:
    started: list[Target] = []

    def start(handler: Handler) -> Target:
        started.append(Target(handler))
        return started[-1]

    yield start
    for server in started:
        server.stop()
