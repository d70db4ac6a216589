"""Tests for webbin.outbound, the resend client and SSRF boundary.

Every byte goes to servers started here on 127.0.0.1.  The autouse
``network`` fixture makes that a checked fact rather than a hope: any socket
connect to a non-loopback address, and any real DNS lookup other than
"localhost", is recorded and fails, so a regression in the SSRF guard shows
up as a failing test instead of a packet to 169.254.169.254.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from netguard import Network, loopback_only_fixture  # noqa: F401  (fixture)

from webbin.outbound.client import (
    LOCAL_POLICY,
    PRODUCTION_POLICY,
    AddressPolicy,
    OutboundResult,
    send,
)

OK_204 = b"HTTP/1.1 204 No Content\r\n\r\n"


# --- guard: loopback only ---------------------------------------------------


@pytest.fixture(autouse=True)
def network(loopback_only: Network) -> Network:
    """Every test here runs loopback-only (see tests/netguard.py)."""
    return loopback_only


def resolve_to(*addresses: str) -> Callable[[str, int], list[str]]:
    """A resolver stub: every name "resolves" to ``addresses`` without any DNS."""
    return lambda host, port: list(addresses)


# --- loopback test servers ----------------------------------------------------


Handler = Callable[["Server", socket.socket], None]


class Server:
    """A raw TCP (optionally TLS) server on 127.0.0.1 that runs ``handler`` per connection."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler, self.tls = handler, tls
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

    def url(self, path: str = "/", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.settimeout(5)
            try:
                if self.tls:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                self.handler(self, conn)
            except OSError:
                pass  # the client hung up or the handshake failed: part of several tests
            finally:
                conn.close()

    def read_request(self, conn: socket.socket) -> bytes:
        """Read one request (head plus Content-Length body) and record its raw bytes."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += conn.recv(65536)
        self.requests.append(head + b"\r\n\r\n" + body)
        return self.requests[-1]

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(handler: Handler, tls: ssl.SSLContext | None = None) -> Server:
        servers.append(Server(handler, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def reply(response: bytes) -> Handler:
    def handler(server: Server, conn: socket.socket) -> None:
        server.read_request(conn)
        conn.sendall(response)

    return handler


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_failed(result: OutboundResult, kind: str, *fragments: str) -> None:
    assert result.error_kind == kind, result
    assert result.status is None
    for fragment in fragments:
        assert fragment in (result.error or ""), result.error


# --- the request goes out exactly as given ---------------------------------


BINARY_BODY = b'\x00\x01\xff\xfe{"a": "\xc3\x28"}\x00\x1f\x8b\x08\x00gzip\r\n\r\nnot-a-head'


@pytest.mark.parametrize(
    ("method", "body", "content_length"),
    [
        ("POST", BINARY_BODY, b"Content-Length: %d\r\n" % len(BINARY_BODY)),
        ("PURGE", b"", b"Content-Length: 0\r\n"),
        ("PUT", b"", b"Content-Length: 0\r\n"),
        ("DELETE", b"x", b"Content-Length: 1\r\n"),
        ("GET", b"", b""),
        ("OPTIONS", b"", b""),
    ],
)
def test_request_bytes_are_exact(serve, method: str, body: bytes, content_length: bytes) -> None:
    server = serve(reply(OK_204))
    headers = [
        ("X-B", "1"),
        ("x-a", "two words"),
        ("X-B", "3"),
        ("content-TYPE", "a/b"),
        ("X-Latin1", "caf\xe9"),
    ]
    result = send(method, server.url("/hook/é?x=1&y=%20"), headers, body)
    assert result.error is None and result.status == 204
    assert server.requests == [
        f"{method} /hook/%C3%A9?x=1&y=%20 HTTP/1.1\r\n".encode()
        + b"Host: 127.0.0.1:%d\r\n" % server.port
        + b"X-B: 1\r\nx-a: two words\r\nX-B: 3\r\ncontent-TYPE: a/b\r\nX-Latin1: caf\xe9\r\n"
        + content_length
        + b"\r\n"
        + body
    ]


def test_host_content_length_and_hop_by_hop_headers_are_replaced(serve, network) -> None:
    server = serve(reply(OK_204))
    headers = [
        ("Host", "evil.example"),
        ("Content-Length", "999"),
        ("Connection", "keep-alive"),
        ("Transfer-Encoding", "chunked"),
        ("Keep-Alive", "5"),
        ("X-Kept", "yes"),
    ]
    url = f"http://app.test:{server.port}/p"
    result = send("POST", url, headers, b"abc", resolver=resolve_to("127.0.0.1"))
    assert result.status == 204 and result.address == "127.0.0.1"
    assert server.requests == [
        b"POST /p HTTP/1.1\r\nHost: app.test:%d\r\nX-Kept: yes\r\nContent-Length: 3\r\n\r\nabc"
        % server.port
    ]
    assert network.lookups == []  # the stub answered once; nothing else asked DNS


@pytest.mark.parametrize(
    ("method", "header"),
    [("GE T", ("X", "1")), ("POST", ("Bad Name", "1")), ("POST", ("X", "a\r\nInjected: 1"))],
)
def test_invalid_method_or_header_is_refused_before_connecting(network, method, header) -> None:
    result = send(method, "http://127.0.0.1:9/", [header], b"")
    assert_failed(result, "invalid_request")
    assert network.connects == []


# --- the response comes back as sent -----------------------------------------


def test_response_status_headers_and_body_are_returned(serve) -> None:
    server = serve(
        reply(
            b"HTTP/1.1 201 Created Here\r\nSet-Cookie: a=1\r\nX-Order: z\r\nSet-Cookie: b=2\r\n"
            b"Content-Length: 6\r\n\r\n\x00hi\xff\r\n"
        )
    )
    result = send("POST", server.url(), [], b"{}")
    assert (result.status, result.reason, result.error) == (201, "Created Here", None)
    assert result.headers == [
        ("Set-Cookie", "a=1"),
        ("X-Order", "z"),
        ("Set-Cookie", "b=2"),
        ("Content-Length", "6"),
    ]
    assert result.body == b"\x00hi\xff\r\n" and not result.truncated
    assert result.address == "127.0.0.1" and result.elapsed_ms > 0


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"abcde",
        ),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close", b"until close"),
    ],
)
def test_response_framings(serve, response: bytes, expected: bytes) -> None:
    result = send("GET", serve(reply(response)).url(), [], b"")
    assert result.error is None and result.body == expected


def test_head_response_has_no_body(serve) -> None:
    server = serve(reply(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"))
    result = send("HEAD", server.url(), [], b"", read_timeout=2)
    assert (result.status, result.body, result.error) == (200, b"", None)
    assert server.requests[0].startswith(b"HEAD / HTTP/1.1\r\n")


@pytest.mark.parametrize(
    ("size", "cap", "truncated"), [(100, 10, True), (10, 10, False), (0, 10, False), (11, 10, True)]
)
def test_response_body_is_capped(serve, size: int, cap: int, truncated: bool) -> None:
    body = bytes(range(256))[:size] if size <= 256 else b"x" * size
    server = serve(reply(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + body))
    result = send("GET", server.url(), [], b"", max_response_bytes=cap)
    assert result.error is None
    assert result.body == body[:cap] and result.truncated is truncated


def test_cap_is_detected_when_the_body_arrives_in_pieces(serve, monkeypatch) -> None:
    """The first read may return exactly ``cap`` bytes; one more byte must still be asked for.

    The target sends the second part only once the client, holding all of the first part,
    reads again: its first body read cannot see past the cap however the threads are
    scheduled, and a client that stops at the cap never releases the second part."""
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b"a" * 10
    received = 0
    reads_again = threading.Event()
    real_recv_into = socket.socket.recv_into

    def recv_into(sock: socket.socket, buffer: memoryview, *args: int) -> int:
        """The client's reads from the target: note the one that asks for more than ``first``."""
        nonlocal received
        if sock.getpeername()[1] != server.port:
            return real_recv_into(sock, buffer, *args)
        if received >= len(first):
            reads_again.set()
        count = real_recv_into(sock, buffer, *args)
        received += count
        return count

    def in_two_parts(server: Server, conn: socket.socket) -> None:
        server.read_request(conn)
        conn.sendall(first)
        if reads_again.wait(10):
            conn.sendall(b"b" * 10)

    monkeypatch.setattr(socket.socket, "recv_into", recv_into)
    server = serve(in_two_parts)
    result = send("GET", server.url(), [], b"", max_response_bytes=10)
    assert (result.body, result.truncated, result.error) == (b"a" * 10, True, None)
    assert reads_again.is_set()


def test_endless_body_is_cut_at_the_cap(serve) -> None:
    def firehose(server: Server, conn: socket.socket) -> None:
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
        while not server.stopping.is_set():
            conn.sendall(b"y" * 65536)  # raises once the client has hung up

    result = send("GET", serve(firehose).url(), [], b"", max_response_bytes=100_000)
    assert result.error is None and result.truncated
    assert result.body == b"y" * 100_000


def test_redirect_is_returned_not_followed(serve) -> None:
    elsewhere = f"http://127.0.0.1:{closed_port()}/elsewhere"
    server = serve(
        reply(
            b"HTTP/1.1 302 Found\r\nLocation: "
            + elsewhere.encode()
            + b"\r\nContent-Length: 0\r\n\r\n"
        )
    )
    result = send("POST", server.url(), [], b"x")
    assert (result.status, result.error) == (302, None)
    assert ("Location", elsewhere) in result.headers
    assert server.connections == 1


# --- failures become results ---------------------------------------------------


def test_connection_refused(network) -> None:
    port = closed_port()
    result = send("GET", f"http://127.0.0.1:{port}/", [], b"")
    assert_failed(result, "refused", f"Connection refused by 127.0.0.1:{port}")
    assert result.address is None


def test_server_that_never_answers_times_out(serve) -> None:
    def silent(server: Server, conn: socket.socket) -> None:
        server.read_request(conn)
        server.stopping.wait(10)

    # The target stays silent far longer than either limit: only the read timeout can end
    # this, and the message names which limit did. The reported time is at least that limit.
    result = send("POST", serve(silent).url(), [], b"x", read_timeout=0.3, total_timeout=5)
    assert_failed(result, "timeout", "Timed out after 0.3 s waiting for a response")
    assert result.elapsed_ms >= 300


def test_total_deadline_clips_a_single_long_wait(serve) -> None:
    def silent(server: Server, conn: socket.socket) -> None:
        server.read_request(conn)
        server.stopping.wait(10)

    result = send("POST", serve(silent).url(), [], b"x", read_timeout=8, total_timeout=0.4)
    assert_failed(
        result, "timeout", "Gave up after 0.4 s (the total time limit) while waiting for a response"
    )
    # The one wait was clipped to the total limit, not merely reported as such: the client
    # gave up after that limit and before the read timeout, both set here.
    assert 400 <= result.elapsed_ms < 8000


def trickle(server: Server, conn: socket.socket, start: bytes, byte: bytes) -> None:
    """Send ``start``, then one ``byte`` every 50 ms (far inside any read timeout used here)
    for 10 s, then hang up: a client without a total deadline ends up with something other
    than a total-limit timeout instead of waiting forever."""
    server.read_request(conn)
    conn.sendall(start)
    for _ in range(200):
        if server.stopping.wait(0.05):
            return
        conn.sendall(byte)


def test_endless_trickle_is_cut_by_the_total_deadline(serve) -> None:
    def body_trickle(server: Server, conn: socket.socket) -> None:
        trickle(server, conn, b"HTTP/1.1 200 OK\r\n\r\n", b".")

    result = send("GET", serve(body_trickle).url(), [], b"", read_timeout=5, total_timeout=0.6)
    assert result.error_kind == "timeout"
    assert result.error == (
        "Gave up after 0.6 s (the total time limit) while reading the response body"
    )
    assert result.status == 200 and result.body.startswith(b"...")  # the partial response is kept
    assert result.elapsed_ms >= 600


def test_trickled_response_head_is_cut_by_the_total_deadline(serve) -> None:
    def head_trickle(server: Server, conn: socket.socket) -> None:
        trickle(server, conn, b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a")

    result = send("GET", serve(head_trickle).url(), [], b"", read_timeout=5, total_timeout=0.5)
    assert_failed(
        result, "timeout", "Gave up after 0.5 s (the total time limit) while waiting for a response"
    )
    assert result.elapsed_ms >= 500


def test_server_closing_without_answer(serve) -> None:
    result = send("GET", serve(lambda server, conn: server.read_request(conn)).url(), [], b"")
    assert_failed(result, "other", "closed the connection without sending a response")


def unknown_name(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.mark.parametrize(
    ("resolver", "message"),
    [
        (unknown_name, "DNS lookup failed for nosuch.invalid (Name or service not known)"),
        (resolve_to(), "DNS lookup for nosuch.invalid returned no addresses"),
        (resolve_to("not-an-ip"), "DNS lookup for nosuch.invalid gave"),
    ],
)
def test_dns_failure(network, resolver, message: str) -> None:
    result = send("GET", "http://nosuch.invalid/", [], b"", resolver=resolver)
    assert_failed(result, "dns", message)
    assert network.connects == []


def test_system_resolver_falls_back_across_addresses(serve, network) -> None:
    """localhost may answer ::1 first; the IPv4 listener must still be reached."""
    server = serve(reply(OK_204))
    result = send("GET", server.url(host="localhost"), [], b"")
    assert (result.status, result.address) == (204, "127.0.0.1")
    assert network.lookups == ["localhost"]
    assert server.requests[0].startswith(b"GET / HTTP/1.1\r\nHost: localhost:%d\r\n" % server.port)


def test_stub_resolver_falls_back_across_addresses(serve, network) -> None:
    server = serve(reply(OK_204))
    url = f"http://multi.test:{server.port}/"
    result = send("GET", url, [], b"", resolver=resolve_to("127.0.0.2", "127.0.0.1"))
    assert (result.status, result.address) == (204, "127.0.0.1")
    assert network.connects == ["127.0.0.2", "127.0.0.1"]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "127.0.0.1:8080/path",
        "http://user:pw@127.0.0.1/",
        "http://user@127.0.0.1/",
        "http://evil.test\\@127.0.0.1/",
        "http:///path",
        "http://",
        "http://:80/",
        "http://exa mple.test/",
        " http://127.0.0.1/",
        "http://127.0.0.1/a b",
        "http://127.0.0.1/\tx",
        "http://127.0.0.1/\r\nX-Injected: 1",
        "http://127.0.0.1/\x00",
        "http://127.0.0.1/\u200bzero-width",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:0/",
        "http://127.0.0.1:8o/",
        "http://[::1/",
        "http://[not-v6]/",
        "http://[fe80::1%25eth0]/",
        "http://::1/",
        "http://a..b/",
        "http://under_score_ok.but/spaces in path",
        "http://bad!host/",
    ],
)
def test_invalid_urls_are_refused_before_any_network_use(network, url: str) -> None:
    result = send("GET", url, [], b"", resolver=resolve_to("127.0.0.1"))
    assert_failed(result, "invalid_url", "Invalid URL: ")
    assert network.connects == [] and network.lookups == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x/", "Invalid URL: only http and https are allowed"),
        ("http://user@127.0.0.1/", "Invalid URL: user names and passwords in the URL are not"),
        ("http://u:p@127.0.0.1:80/", "Invalid URL: user names and passwords in the URL are not"),
        ("http:///x", "Invalid URL: a host is required"),
        ("http://h/a b", "Invalid URL: it contains spaces or control characters"),
    ],
)
def test_invalid_url_messages(url: str, message: str) -> None:
    assert send("GET", url, [], b"").error.startswith(message)


# --- SSRF policy ------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "policy", "refused_as"),
    [
        ("169.254.169.254", LOCAL_POLICY, "link-local / cloud-metadata"),
        ("169.254.169.254", AddressPolicy(allowlist=("169.254.0.0/16",)), "cloud-metadata"),
        ("169.254.0.1", AddressPolicy(allowlist=("0.0.0.0/0",)), "link-local"),
        ("fe80::1", LOCAL_POLICY, "link-local"),
        ("fe80::1%eth0", LOCAL_POLICY, "link-local"),
        ("fd00:ec2::254", AddressPolicy(allowlist=("fc00::/7",)), "cloud-metadata"),
        ("100.100.100.200", AddressPolicy(allowlist=("100.64.0.0/10",)), "cloud-metadata"),
        ("::ffff:169.254.169.254", LOCAL_POLICY, "169.254.169.254 (embedded in"),
        ("64:ff9b::a9fe:a9fe", LOCAL_POLICY, "cloud-metadata"),
        ("2002:a9fe:a9fe::1", LOCAL_POLICY, "cloud-metadata"),
        ("0.0.0.0", LOCAL_POLICY, "unspecified"),
        ("0.1.2.3", AddressPolicy(allowlist=("0.0.0.0/8",)), "unspecified"),
        ("::", LOCAL_POLICY, "unspecified"),
        ("224.0.0.1", LOCAL_POLICY, "multicast"),
        ("ff02::1", LOCAL_POLICY, "multicast"),
        ("255.255.255.255", LOCAL_POLICY, "broadcast"),
        ("240.0.0.1", LOCAL_POLICY, "reserved"),
        ("192.0.2.1", LOCAL_POLICY, "reserved"),
        ("2001:db8::1", LOCAL_POLICY, "reserved"),
        ("::7f00:1", LOCAL_POLICY, "reserved"),  # deprecated IPv4-compatible form
        ("127.0.0.1", PRODUCTION_POLICY, "127.0.0.1 is a loopback address"),
        ("127.255.0.9", AddressPolicy(allow_loopback=False), "loopback"),
        ("::1", PRODUCTION_POLICY, "::1 is a loopback address"),
        ("::ffff:127.0.0.1", PRODUCTION_POLICY, "127.0.0.1 (embedded in"),
        ("10.0.0.5", PRODUCTION_POLICY, "10.0.0.5 is a private address"),
        ("172.16.3.4", AddressPolicy(allow_private=False), "private"),
        ("192.168.1.1", PRODUCTION_POLICY, "private"),
        ("100.64.0.1", PRODUCTION_POLICY, "private"),
        ("fd12::1", PRODUCTION_POLICY, "private"),
        ("64:ff9b::a00:5", PRODUCTION_POLICY, "10.0.0.5 (embedded in"),
        ("127.0.0.1", AddressPolicy(allow_private=False), None),
        ("10.0.0.5", AddressPolicy(allow_loopback=False), None),
        ("127.0.0.1", AddressPolicy(allow_loopback=False, allowlist=("127.0.0.0/8",)), None),
        (
            "::ffff:127.0.0.1",
            AddressPolicy(allow_loopback=False, allowlist=("127.0.0.1/32",)),
            None,
        ),
        ("10.1.2.3", AddressPolicy(allow_private=False, allowlist=("10.1.0.0/16",)), None),
        ("10.2.0.1", AddressPolicy(allow_private=False, allowlist=("10.1.0.0/16",)), "private"),
        ("8.8.8.8", PRODUCTION_POLICY, None),
        ("2606:4700::1111", PRODUCTION_POLICY, None),
        ("64:ff9b::808:808", PRODUCTION_POLICY, None),  # NAT64 of a public address
    ],
)
def test_policy_check(address: str, policy: AddressPolicy, refused_as: str | None) -> None:
    reason = policy.check(ipaddress.ip_address(address))
    if refused_as is None:
        assert reason is None
    else:
        assert reason is not None and refused_as in reason


@pytest.mark.parametrize(
    ("answers", "policy", "message"),
    [
        (
            ["169.254.169.254"],
            LOCAL_POLICY,
            "Refused: hook.test resolves to 169.254.169.254; 169.254.169.254 is a link-local",
        ),
        (
            ["169.254.169.254"],
            AddressPolicy(allowlist=("169.254.169.254/32", "0.0.0.0/0")),
            "cloud-metadata",
        ),
        (["10.0.0.5"], AddressPolicy(allow_private=False), "10.0.0.5 is a private address"),
        (["8.8.8.8", "10.0.0.5"], AddressPolicy(allow_private=False), "10.0.0.5 is a private"),
        (["127.0.0.1", "169.254.169.254"], LOCAL_POLICY, "169.254.169.254"),
        (["fd00:ec2::254"], LOCAL_POLICY, "cloud-metadata"),
    ],
)
def test_resolved_addresses_are_all_checked_before_connecting(
    network, answers: list[str], policy: AddressPolicy, message: str
) -> None:
    result = send(
        "POST",
        "http://hook.test:8080/",
        [("X", "1")],
        b"secret",
        policy=policy,
        resolver=resolve_to(*answers),
    )
    assert_failed(result, "blocked", message)
    assert network.connects == [] and result.address is None


LOOPBACK_LITERALS = {  # URL host -> the Host header it is sent as
    "127.0.0.1": "127.0.0.1",
    "2130706433": "127.0.0.1",
    "0177.0.0.1": "127.0.0.1",
    "0x7f.0.0.1": "127.0.0.1",
    "0X7F.1": "127.0.0.1",
    "127.1": "127.0.0.1",
    "017700000001": "127.0.0.1",
    "[::ffff:127.0.0.1]": "[::ffff:7f00:1]",
}


@pytest.mark.parametrize(("host", "host_header"), LOOPBACK_LITERALS.items())
def test_ip_literals_are_normalised_and_never_resolved(serve, network, host, host_header) -> None:
    server = serve(reply(OK_204))
    result = send("GET", server.url(host=host), [], b"", resolver=unknown_name)
    assert (result.status, result.address, result.error) == (204, "127.0.0.1", None)
    assert b"\r\nHost: %s:%d\r\n" % (host_header.encode(), server.port) in server.requests[0]
    assert network.lookups == []


@pytest.mark.parametrize("host", [*LOOPBACK_LITERALS, "[::1]", "127.0.0.2", "[::127.0.0.1]"])
def test_loopback_literals_are_recognised_and_refused(serve, network, host: str) -> None:
    server = serve(reply(OK_204))
    result = send(
        "GET", server.url(host=host), [], b"", policy=PRODUCTION_POLICY, resolver=unknown_name
    )
    assert_failed(result, "blocked", "Refused: ")
    assert network.connects == [] and server.connections == 0


def test_names_resolving_to_loopback_are_refused(serve, network) -> None:
    server = serve(reply(OK_204))
    result = send(
        "GET",
        server.url(host="LocalHost.Test"),
        [],
        b"",
        policy=PRODUCTION_POLICY,
        resolver=resolve_to("127.0.0.1"),
    )
    assert_failed(
        result,
        "blocked",
        "Refused: localhost.test resolves to 127.0.0.1; 127.0.0.1 is a loopback address",
    )
    assert network.connects == [] and server.connections == 0


def test_loopback_allowlisted_in_production(serve) -> None:
    server = serve(reply(OK_204))
    policy = AddressPolicy(allow_loopback=False, allow_private=False, allowlist=("127.0.0.1/32",))
    result = send("GET", server.url(host="2130706433"), [], b"", policy=policy)
    assert (result.status, result.error) == (204, None)


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "2852039166",
        "0251.0376.0251.0376",
        "0xa9.0xfe.0xa9.0xfe",
        "169.254.43518",
        "[::ffff:169.254.169.254]",
        "[::ffff:a9fe:a9fe]",
        "[64:ff9b::169.254.169.254]",
        "[fe80::1]",
        "[fd00:ec2::254]",
        "100.100.100.200",
        "0.0.0.0",
        "0",
        "[::]",
    ],
)
def test_metadata_and_unspecified_literals_are_always_refused(network, host: str) -> None:
    everything = AddressPolicy(allowlist=("0.0.0.0/0", "::/0"))
    result = send("GET", f"http://{host}/latest/meta-data/", [], b"", policy=everything)
    assert_failed(result, "blocked", "Refused: ")
    assert network.connects == []


# --- TLS ---------------------------------------------------------------------


def make_tls_server_context(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, str]:
    """A throwaway CA and a leaf certificate for ``name``; returns (server context, CA PEM)."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, key, issuer: str, issuer_key, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_cert = cert("webbin test CA", ca_key, "webbin test CA", ca_key, ca=True)
    leaf = cert(name, leaf_key, "webbin test CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    return context, ca_cert.public_bytes(pem).decode()


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make the client's default TLS context also trust a test CA."""
    real = ssl.create_default_context

    def trust_ca(ca_pem: str) -> None:
        def create_default_context(*args, **kwargs) -> ssl.SSLContext:
            context = real(*args, **kwargs)
            context.load_verify_locations(cadata=ca_pem)
            return context

        monkeypatch.setattr(ssl, "create_default_context", create_default_context)

    return trust_ca


def test_https_uses_the_url_name_for_sni_and_verification(serve, trust, tmp_path) -> None:
    context, ca_pem = make_tls_server_context(tmp_path, "hooks.example.test")
    server_names: list[str | None] = []
    context.sni_callback = lambda sslobj, name, ctx: server_names.append(name)
    trust(ca_pem)
    server = serve(reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), tls=context)
    url = server.url(host="hooks.example.test", scheme="https")
    result = send("POST", url, [], b"{}", resolver=resolve_to("127.0.0.1"))
    assert (result.status, result.body, result.error) == (200, b"ok", None)
    assert result.address == "127.0.0.1"
    assert server_names == ["hooks.example.test"]
    assert b"\r\nHost: hooks.example.test:%d\r\n" % server.port in server.requests[0]


def test_https_certificate_for_another_name_is_rejected(serve, trust, tmp_path) -> None:
    context, ca_pem = make_tls_server_context(tmp_path, "other.example.test")
    trust(ca_pem)
    server = serve(reply(OK_204), tls=context)
    url = server.url(host="hooks.example.test", scheme="https")
    result = send("GET", url, [], b"", resolver=resolve_to("127.0.0.1"))
    assert_failed(result, "tls", "TLS certificate verification failed for hooks.example.test")
    assert server.requests == []


def test_https_to_a_plain_http_port(serve) -> None:
    def plain_http(server: Server, conn: socket.socket) -> None:
        conn.recv(65536)  # the ClientHello
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    server = serve(plain_http)
    result = send("GET", server.url(scheme="https"), [], b"")
    assert_failed(result, "tls", "TLS handshake failed")
