"""Which pages may open a bin's live stream: the site's own, as the browser addressed it,
even behind a proxy that rewrites ``Host``; never another site. Against a real server."""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Iterator

import pytest
from helpers import Server

PUBLIC = "https://hooks.example.com"


def handshake_status(server: Server, path: str, headers: dict[str, str]) -> int:
    """The status a WebSocket handshake with exactly these headers gets (101 = opened)."""
    lines = [
        f"GET {path} HTTP/1.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1])


def stream_path(server: Server) -> str:
    return f"/api/bins/{server.new_bin()['id']}/stream"


@pytest.fixture(scope="module")
def public_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("public"), env={"WEBBIN_PUBLIC_URL": PUBLIC})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(
        tmp_path_factory.mktemp("proxied"), env={"WEBBIN_TRUSTED_PROXIES": "127.0.0.1"}
    )
    yield running
    running.stop()


def test_public_url_origin_passes_a_proxy_that_rewrote_host(public_server):
    path = stream_path(public_server)
    headers = {"Host": "webbin-upstream:8000", "Origin": PUBLIC}
    assert handshake_status(public_server, path, headers) == 101


def test_public_url_refuses_other_origins(public_server):
    path = stream_path(public_server)
    for origin in ("https://evil.example", "http://webbin-upstream:8000", "null"):
        headers = {"Host": "webbin-upstream:8000", "Origin": origin}
        assert handshake_status(public_server, path, headers) == 403, origin


def test_trusted_proxy_forwarded_host_is_the_sites_own(proxied_server):
    path = stream_path(proxied_server)
    forwarded = {"Host": "webbin-upstream:8000", "X-Forwarded-Host": "hooks.example.com"}
    assert handshake_status(proxied_server, path, {**forwarded, "Origin": PUBLIC}) == 101
    evil = {**forwarded, "Origin": "https://evil.example"}
    assert handshake_status(proxied_server, path, evil) == 403


def test_untrusted_peer_cannot_vouch_for_its_origin_with_forwarded_host(server):
    path = stream_path(server)
    headers = {
        "Host": f"127.0.0.1:{server.port}",
        "X-Forwarded-Host": "evil.example",
        "Origin": "https://evil.example",
    }
    assert handshake_status(server, path, headers) == 403
    # The same socket with the page's own origin opens: the refusal is about the origin.
    headers["Origin"] = server.url
    assert handshake_status(server, path, headers) == 101
