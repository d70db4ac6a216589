"""End to end against a real ``webbin serve`` (gunicorn, gevent) on a loopback port."""

from __future__ import annotations

import base64
import http.server
import json
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import capture_path, raw_http
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from webbin import create_app


def api(server, path: str, method: str = "GET", body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def newest(server, bin_: dict) -> dict:
    rows = api(server, f"/api/bins/{bin_['id']}/requests?limit=1")["requests"]
    return api(server, f"/api/bins/{bin_['id']}/requests/{rows[0]['id']}")


def test_headers_exactly_as_sent(server):
    bin_ = server.new_bin()
    body = b"\x00binary\xff\xfe\xc3\x28 and NUL\x00"
    request = (
        f"POST {capture_path(bin_)}/hook/%7Bid%7D?a=1&a=2 HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "X-Repeated: first\r\n"
        "Content-Type: application/octet-stream\r\n"
        "X-Repeated: second\r\n"
        "X_Under_Score: kept\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    answer = raw_http(server.port, request)
    assert answer.startswith(b"HTTP/1.1 200")
    detail = newest(server, bin_)
    assert detail["path"] == "/hook/%7Bid%7D"
    assert detail["query_string"] == "a=1&a=2"
    assert base64.b64decode(detail["body_base64"]) == body
    assert detail["body_text"] is None
    assert detail["headers"] == [
        ["Host", "127.0.0.1"],
        ["X-Repeated", "first"],
        ["Content-Type", "application/octet-stream"],
        ["X-Repeated", "second"],
        ["X_under_score", "kept"],
        ["Content-Length", str(len(body))],
        ["Connection", "close"],
    ]


# The worker's order of events: gunicorn's master imports the server module, the gevent worker
# then patches the standard library, and every connection runs in its own greenlet.
HANDOFF_SCRIPT = """
import json
from webbin.serving import server
from gevent import monkey
monkey.patch_all()
import gevent

class Request:
    def __init__(self, headers):
        self.headers = headers

def handle(name):
    server.pre_request(None, Request([("X-WHO", name), ("X-WHO", name + "-again")]))
    gevent.sleep(0)  # the other greenlet runs its own hook before this one's app
    seen = {}
    server.RawHeaders(lambda environ, start_response: seen.update(environ))({}, None)
    return seen.get("webbin.raw_headers")

greenlets = [gevent.spawn(handle, name) for name in ("a", "b")]
gevent.joinall(greenlets, raise_error=True)
print(json.dumps([g.value for g in greenlets]))
"""


def test_each_greenlet_hands_over_its_own_headers():
    done = subprocess.run(
        [sys.executable, "-c", HANDOFF_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        [["X-WHO", "a"], ["X-WHO", "a-again"]],
        [["X-WHO", "b"], ["X-WHO", "b-again"]],
    ]


def test_concurrent_captures_each_store_their_own_headers(server):
    bin_ = server.new_bin()
    count = 60
    start = threading.Barrier(count)

    def send(i: int) -> bytes:
        request = (
            f"POST {capture_path(bin_)}/{i} HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\n"
            f"X-Sender: {i}\r\n"
            "X-Filler: between\r\n"
            f"X-Sender: {i}-again\r\n"
            "Content-Length: 0\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        start.wait(timeout=30)
        return raw_http(server.port, request)

    with ThreadPoolExecutor(count) as pool:
        answers = list(pool.map(send, range(count)))
    assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers)
    rows = api(server, f"/api/bins/{bin_['id']}/requests?limit={count}")["requests"]
    assert len(rows) == count
    for row in rows:
        detail = api(server, f"/api/bins/{bin_['id']}/requests/{row['id']}")
        i = detail["path"].lstrip("/")
        senders = [value for name, value in detail["headers"] if name == "X-Sender"]
        assert senders == [i, f"{i}-again"], detail["headers"]


@pytest.mark.parametrize("method", ["OPTIONS", "HEAD", "PURGE", "get", "PROPFIND"])
def test_unusual_methods_are_captured(server, method):
    bin_ = server.new_bin()
    answer = raw_http(
        server.port,
        f"{method} {capture_path(bin_)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 200")
    assert newest(server, bin_)["method"] == method


def chunked(body: bytes, size: int = 1000) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def test_chunked_body_is_captured_whole(server):
    bin_ = server.new_bin()
    body = bytes(range(256)) * 40
    head = f"POST {capture_path(bin_)} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    assert raw_http(server.port, head.encode() + chunked(body)).startswith(b"HTTP/1.1 200")
    assert base64.b64decode(newest(server, bin_)["body_base64"]) == body


@pytest.fixture(scope="module")
def small_server(tmp_path_factory) -> Iterator:
    from conftest import Server

    running = Server(tmp_path_factory.mktemp("small"), env={"WEBBIN_MAX_BODY_BYTES": "1000"})
    yield running
    running.stop()


@pytest.mark.parametrize("use_chunked", [False, True])
def test_one_byte_over_the_limit_is_413_and_not_stored(small_server, use_chunked):
    bin_ = small_server.new_bin()
    body = b"x" * 1001
    if use_chunked:
        head = f"POST {capture_path(bin_)} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        payload = head.encode() + chunked(body, 300)
    else:
        head = f"POST {capture_path(bin_)} HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\nConnection: close\r\n\r\n"
        payload = head.encode() + body
    answer = raw_http(small_server.port, payload)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"limit of 1000 bytes" in answer
    assert api(small_server, f"/api/bins/{bin_['id']}/requests")["requests"] == []


def ws_url(server, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


def receive_json(ws, timeout: float = 5.0) -> dict:
    """The next message as JSON. (The ``websockets`` client, not simple-websocket's: that one
    drops frames that arrive in the same packet as the handshake answer until more data
    comes, which a fast replay triggers.)"""
    try:
        return json.loads(ws.recv(timeout=timeout))
    except TimeoutError:
        raise AssertionError("no message within the timeout") from None


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator:
    """A server whose streams never poll in a test's lifetime: whatever a viewer gets, the
    broker's notification brought, not the poll interval."""
    from conftest import Server

    running = Server(tmp_path_factory.mktemp("push"), env={"WEBBIN_STREAM_POLL_SECONDS": "3600"})
    yield running
    running.stop()


def nothing_before_a_marker(server, bin_: dict, ws) -> bool:
    """Nothing else is on its way: a request captured now is the very next message."""
    post(server, bin_, "/marker")
    return receive_json(ws)["path"] == "/marker"


def post(server, bin_: dict, suffix: str = "", body: bytes = b"{}") -> None:
    request = urllib.request.Request(
        server.url + capture_path(bin_) + suffix, data=body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_stream_replays_then_pushes_live(server):
    bin_ = server.new_bin()
    post(server, bin_, "/one")
    post(server, bin_, "/two")
    first_id = api(server, f"/api/bins/{bin_['id']}/requests")["requests"][-1]["id"]
    with ws_connect(ws_url(server, f"/api/bins/{bin_['id']}/stream?after={first_id}")) as ws:
        assert receive_json(ws)["path"] == "/two"  # replay starts after the cursor
        post(server, bin_, "/three")
        message = receive_json(ws)  # pushed: this server's streams do not poll
        assert message["path"] == "/three"
        assert set(message) >= {
            "id",
            "seq",
            "method",
            "path",
            "query_string",
            "content_type",
            "size",
            "received_at",
            "remote_addr",
        }
        assert nothing_before_a_marker(server, bin_, ws)  # nothing twice


def test_several_viewers_each_get_every_arrival(server):
    bin_ = server.new_bin()
    url = ws_url(server, f"/api/bins/{bin_['id']}/stream")
    with ws_connect(url) as one, ws_connect(url) as two, ws_connect(url) as three:
        post(server, bin_, "/ready")
        for ws in (one, two, three):  # each is subscribed: it got the first one
            assert receive_json(ws)["path"] == "/ready"
        for i in range(5):
            post(server, bin_, f"/{i}")
        for ws in (one, two, three):
            assert [receive_json(ws)["path"] for _ in range(5)] == [f"/{i}" for i in range(5)]


def test_reconnect_with_cursor_loses_nothing_and_repeats_nothing(server):
    bin_ = server.new_bin()
    with ws_connect(ws_url(server, f"/api/bins/{bin_['id']}/stream")) as ws:
        post(server, bin_, "/a")
        last = receive_json(ws)
    for path in ("/b", "/c"):  # arrive while disconnected
        post(server, bin_, path)
    with ws_connect(ws_url(server, f"/api/bins/{bin_['id']}/stream?after={last['id']}")) as ws:
        assert [receive_json(ws)["path"] for _ in range(2)] == ["/b", "/c"]
        post(server, bin_, "/d")
        assert receive_json(ws)["path"] == "/d"
        assert nothing_before_a_marker(server, bin_, ws)


def test_cross_site_websocket_is_refused(server):
    bin_ = server.new_bin()
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(
            ws_url(server, f"/api/bins/{bin_['id']}/stream"),
            additional_headers={"Origin": "https://evil.example"},
        )
    assert refused.value.response.status_code == 403


class Recorder(http.server.BaseHTTPRequestHandler):
    """A loopback target that records what a resend delivered."""

    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Recorder.received.append((self.command, self.path, list(self.headers.items()), body))
        self.send_response(202)
        self.send_header("X-Target", "yes")
        self.end_headers()
        self.wfile.write(b'{"accepted": true}')

    def log_message(self, *args):
        pass


def test_resend_to_a_loopback_server(server):
    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    try:
        bin_ = server.new_bin()
        body = b'{"event": "ping", "bytes": "\\u0000"}\x00'
        request = urllib.request.Request(
            server.url + capture_path(bin_) + "/orig",
            data=body,
            method="POST",
            headers={"X-Signature": "sha256=abc", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()
        rid = api(server, f"/api/bins/{bin_['id']}/requests")["requests"][0]["id"]
        url = f"http://127.0.0.1:{target.server_port}/hooks"
        result = api(server, f"/api/bins/{bin_['id']}/requests/{rid}/resend", "POST", {"url": url})
        assert result["status"] == 202
        assert result["body_text"] == '{"accepted": true}'
        assert ["X-Target", "yes"] in result["headers"]
        assert result["error"] is None and result["elapsed_ms"] > 0
        method, path, headers, received = Recorder.received[-1]
        assert (method, path, received) == ("POST", "/hooks", body)
        names = [name.lower() for name, _ in headers]
        assert "x-signature" in names and names.count("host") == 1
        assert dict((k.lower(), v) for k, v in headers)["host"] == f"127.0.0.1:{target.server_port}"
        # The attempt is stored under the request, and the URL is remembered for the bin.
        attempts = api(server, f"/api/bins/{bin_['id']}/requests/{rid}/resends")["resends"]
        assert [a["status"] for a in attempts] == [202]
        assert api(server, f"/api/bins/{bin_['id']}")["resend_url"] == url
    finally:
        target.shutdown()


def test_resend_to_a_closed_port_reports_the_error(server):
    bin_ = server.new_bin()
    post(server, bin_)
    rid = api(server, f"/api/bins/{bin_['id']}/requests")["requests"][0]["id"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    result = api(
        server,
        f"/api/bins/{bin_['id']}/requests/{rid}/resend",
        "POST",
        {"url": f"http://127.0.0.1:{closed_port}/"},
    )
    assert result["status"] is None
    assert result["error_kind"] == "refused"
    assert "refused" in result["error"].lower()


# --- the command: help, version, a port that is taken, settings handed to gunicorn ---------


def test_webbin_without_a_command_prints_the_help(capsys):
    from webbin.cli import main

    main([])  # returns: exit status 0
    out = capsys.readouterr()
    assert out.out.startswith("usage: webbin")
    assert "serve" in out.out and "prune" in out.out
    assert out.err == ""


def test_webbin_version_is_the_package_version(capsys):
    from importlib.metadata import version

    from webbin.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"webbin {version('webbin')}\n"


def test_a_taken_port_is_named_with_a_way_out(tmp_path):
    import os
    import subprocess
    import sys

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        finished = subprocess.run(
            [sys.executable, "-m", "webbin.cli", "serve", "--port", str(port)],
            env={**os.environ, "WEBBIN_DATA_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert finished.returncode == 1
    assert finished.stderr == (
        f"webbin: port {port} on 127.0.0.1 is already in use; pick another with --port\n"
    )
    assert "Retrying" not in finished.stdout + finished.stderr


def test_gunicorn_gets_the_typed_settings(monkeypatch):
    from gunicorn.config import Config

    from webbin.serving import server

    monkeypatch.setenv("WEBBIN_MAX_HEADER_FIELDS", "7")
    monkeypatch.setenv("WEBBIN_MAX_REQUEST_LINE_BYTES", "4000")
    # Host bits set: accepted as the network, which gunicorn's strict parser would refuse.
    monkeypatch.setenv("WEBBIN_TRUSTED_PROXIES", "10.1.2.3/8, ::1")
    options = server.options("127.0.0.1", 8080)
    assert options["limit_request_fields"] == 7
    assert options["limit_request_line"] == 4000
    assert options["forwarded_allow_ips"] == "10.0.0.0/8,::1/128"
    cfg = Config()
    cfg.set("forwarded_allow_ips", options["forwarded_allow_ips"])
    assert cfg.forwarded_allow_ips == ["10.0.0.0/8", "::1/128"]


def test_serve_takes_host_port_and_workers_from_the_settings(monkeypatch):
    from webbin.serving import server

    ran = []
    monkeypatch.setattr(server.WebbinServer, "run", lambda self: ran.append(self.options))
    monkeypatch.setenv("WEBBIN_PROFILE", "local")  # serve() sets it when unset; keep it ours
    monkeypatch.setenv("WEBBIN_HOST", "127.0.0.2")
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("WEBBIN_WORKERS", "3")
    server.serve(create_app)
    server.serve(create_app, "127.0.0.3", 9000, 2)  # the command line wins
    assert [(o["bind"], o["workers"]) for o in ran] == [
        ("127.0.0.2:8123", 3),
        ("127.0.0.3:9000", 2),
    ]
