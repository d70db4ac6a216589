"""Bounded everything: rate limits (429 + Retry-After), header and request-line limits
(431 / 414), live viewers per bin, WebSocket message size, multipart parts shown."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Server, capture_path, raw_http
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from webbin import create_app
from webbin.ratelimit import RateLimiter


def make_app(tmp_path: Path, **config):
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path), **config})


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


# --- the token bucket ----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_spends_refills_and_says_how_long_to_wait():
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # buckets are per key
    clock.now += 0.25
    assert limiter.take("a") == pytest.approx(0.25)
    clock.now += 0.25
    assert limiter.take("a") == 0.0
    clock.now += 100
    assert [limiter.take("a") for _ in range(4)][-1] > 0  # refills to the burst, no further


def test_bucket_table_memory_is_bounded():
    limiter = RateLimiter(rate=1, burst=1, max_keys=100)
    for i in range(10_000):
        limiter.take(f"client-{i}")
    assert len(limiter) == 100
    assert limiter.take("client-9999") > 0  # the most recent keys are the ones kept


def test_zero_turns_a_limit_off():
    limiter = RateLimiter(rate=0, burst=0)
    assert all(limiter.take("a") == 0.0 for _ in range(1000))
    assert len(limiter) == 0


# --- capture limits ----------------------------------------------------------------------


def test_capture_is_limited_per_client(tmp_path):
    app = make_app(tmp_path, CAPTURE_CLIENT_BURST=3, CAPTURE_CLIENT_RATE=0.01)
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    codes = [
        client.post(capture_path(bin_), data=b"x", **from_address("198.51.100.1")).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    refused = client.post(capture_path(bin_), data=b"x", **from_address("198.51.100.1"))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["error"] == "too_many_requests"
    assert "This client is sending too many requests" in refused.get_json()["message"]
    other = client.post(capture_path(bin_), data=b"x", **from_address("198.51.100.2"))
    assert other.status_code == 200
    assert client.get(f"/api/bins/{bin_['id']}").get_json()["request_count"] == 4


def test_capture_is_limited_per_bin(tmp_path):
    app = make_app(tmp_path, CAPTURE_BIN_BURST=2, CAPTURE_BIN_RATE=0.01)
    client = app.test_client()
    busy, quiet = client.post("/api/bins").get_json(), client.post("/api/bins").get_json()
    codes = [
        client.post(capture_path(busy), data=b"x", **from_address(f"198.51.100.{i}")).status_code
        for i in range(1, 4)
    ]
    assert codes == [200, 200, 429]
    refused = client.post(capture_path(busy), data=b"x", **from_address("198.51.100.9"))
    assert "This bin is receiving too many requests" in refused.get_json()["message"]
    assert refused.headers["Retry-After"].isdigit()
    assert client.post(capture_path(quiet), data=b"x").status_code == 200


def test_trusted_proxy_clients_are_limited_separately(tmp_path):
    app = make_app(
        tmp_path, CAPTURE_CLIENT_BURST=1, CAPTURE_CLIENT_RATE=0.01, TRUSTED_PROXIES="10.0.0.1"
    )
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()

    def via_proxy(sender: str) -> int:
        return client.post(
            capture_path(bin_),
            data=b"x",
            headers={"X-Forwarded-For": sender},
            **from_address("10.0.0.1"),
        ).status_code

    assert [via_proxy("203.0.113.1"), via_proxy("203.0.113.2"), via_proxy("203.0.113.1")] == [
        200,
        200,
        429,
    ]


# --- probing for bins --------------------------------------------------------------------


def test_probing_unknown_ids_is_rate_limited(tmp_path):
    app = make_app(tmp_path, PROBE_BURST=5, PROBE_RATE=0.01)
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    prober = from_address("198.51.100.66")
    probes = [
        client.get("/api/bins/guess-1", **prober),
        client.get("/bins/guess-2", **prober),
        client.post("/c/guess-3", data=b"x", **prober),
        client.get("/api/bins/guess-4/requests", **prober),
        client.get("/bins/guess-5/rows", **prober),
    ]
    assert [p.status_code for p in probes] == [404] * 5
    blocked = client.get("/api/bins/guess-6", **prober)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert "do not exist" in blocked.get_json()["message"]
    page = client.get("/bins/guess-7", **prober)
    assert page.status_code == 429 and page.mimetype == "text/html"
    assert "Too Many Requests" in page.get_data(as_text=True)
    assert client.post("/c/guess-8", data=b"x", **prober).status_code == 429
    # The prober's found bins, and everyone else, are unaffected; found bins cost nothing.
    assert client.post(capture_path(bin_), data=b"x", **prober).status_code == 200
    for _ in range(20):
        assert client.get(f"/api/bins/{bin_['id']}").status_code == 200


def test_probes_elsewhere_never_refuse_a_valid_bin(tmp_path):
    """Providers share egress addresses: 60 deliveries to a deleted bin from one address must
    not make that address's deliveries to a live bin fail."""
    app = make_app(tmp_path, PROBE_BURST=60, PROBE_RATE=0.01)
    client = app.test_client()
    live, gone = client.post("/api/bins").get_json(), client.post("/api/bins").get_json()
    client.delete(f"/api/bins/{gone['id']}")
    provider = from_address("192.30.252.10")
    misses = [client.post(capture_path(gone), data=b"{}", **provider) for _ in range(61)]
    assert [m.status_code for m in misses] == [404] * 60 + [429]
    assert client.post(capture_path(live), data=b"{}", **provider).status_code == 200
    assert client.get(f"/api/bins/{live['id']}", **provider).status_code == 200
    assert client.get(f"/bins/{live['id']}", **provider).status_code == 200


# --- request heads, end to end through gunicorn ----------------------------------------------


def head(path: str, headers: list[str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", *headers, "Content-Length: 0", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def json_answer(answer: bytes) -> dict:
    return json.loads(answer.partition(b"\r\n\r\n")[2])


def test_header_count_limit_is_431_with_a_clear_message(server):
    bin_ = server.new_bin()
    path = capture_path(bin_)
    # Host, Content-Length and Connection make three: 97 more reach the limit of 100.
    accepted = raw_http(server.port, head(path, [f"X-H{i}: v" for i in range(97)]))
    assert accepted.startswith(b"HTTP/1.1 200")
    refused = raw_http(server.port, head(path, [f"X-H{i}: v" for i in range(98)]))
    assert refused.startswith(b"HTTP/1.1 431 Request Header Fields Too Large")
    assert b"Content-Type: application/json" in refused
    assert "at most 100 header fields" in json_answer(refused)["message"]


def test_header_size_limit_is_431(server):
    bin_ = server.new_bin()
    refused = raw_http(server.port, head(capture_path(bin_), ["X-Big: " + "a" * 9000]))
    assert refused.startswith(b"HTTP/1.1 431")
    assert json_answer(refused)["error"] == "request_header_fields_too_large"
    assert b"Traceback" not in refused


def test_request_line_limit_is_414(server):
    bin_ = server.new_bin()
    refused = raw_http(server.port, head(capture_path(bin_) + "?q=" + "a" * 9000, []))
    assert refused.startswith(b"HTTP/1.1 414 URI Too Long")
    assert "request line" in json_answer(refused)["message"]
    assert ("a" * 100).encode() not in refused  # the refused input is not echoed


# --- live viewers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def viewer_server(tmp_path_factory) -> Iterator[Server]:
    running = Server(
        tmp_path_factory.mktemp("viewers"),
        env={
            "WEBBIN_MAX_VIEWERS_PER_BIN": "2",
            "WEBBIN_STREAM_POLL_SECONDS": "0.2",
            "WEBBIN_CAPTURE_BIN_BURST": "1",
            "WEBBIN_CAPTURE_BIN_RATE": "0.01",
        },
    )
    yield running
    running.stop()


def ws_url(server: Server, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


def test_live_viewers_per_bin_are_limited(viewer_server):
    bin_ = viewer_server.new_bin()
    url = ws_url(viewer_server, f"/api/bins/{bin_['id']}/stream")
    with ws_connect(url), ws_connect(url) as second:
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(url)
        assert refused.value.response.status_code == 429
        other = viewer_server.new_bin()  # the limit is per bin
        with ws_connect(ws_url(viewer_server, f"/api/bins/{other['id']}/stream")):
            pass
        second.close()
        deadline = time.monotonic() + 5
        while True:  # the closed viewer's place frees up once its stream notices
            try:
                with ws_connect(url):
                    break
            except InvalidStatus:
                assert time.monotonic() < deadline, "a closed viewer never freed its place"
                time.sleep(0.1)


def test_oversized_websocket_message_closes_the_socket(viewer_server):
    bin_ = viewer_server.new_bin()
    with ws_connect(ws_url(viewer_server, f"/api/bins/{bin_['id']}/stream")) as ws:
        ws.send("x" * 10_000)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
    assert closed.value.rcvd.code == 1009  # message too big


# The cap on unread viewer messages is tested against the real simple-websocket in
# tests/live/test_viewers.py.


# --- multipart display -------------------------------------------------------------------------


def test_multipart_with_too_many_parts_shows_the_first_thousand(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    part = b'--B\r\nContent-Disposition: form-data; name="p"\r\n\r\nv\r\n'
    client.post(
        capture_path(bin_),
        data=part * 1500 + b"--B--\r\n",
        content_type="multipart/form-data; boundary=B",
    )
    rid = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]["id"]
    started = time.process_time()
    html = client.get(f"/bins/{bin_['id']}?r={rid}").get_data(as_text=True)
    # This process's CPU time, not the wall clock: other work on the machine does not count.
    assert time.process_time() - started < 5
    assert len(re.findall(r'<li class="part">', html)) == 1000
    assert "More than 1,000 parts" in html


def test_refusals_are_never_stored(tmp_path):
    app = make_app(tmp_path, CAPTURE_CLIENT_BURST=1, CAPTURE_CLIENT_RATE=0.01, MAX_BODY_BYTES=10)
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    assert client.post(capture_path(bin_), data=b"x" * 11).status_code == 413
    assert client.post(capture_path(bin_), data=b"x").status_code == 429
    assert client.get(f"/api/bins/{bin_['id']}").get_json()["request_count"] == 0


def test_a_real_client_gets_retry_after(viewer_server):
    """The 429 a client gets through gunicorn is well-formed, even with an unread body."""
    bin_ = viewer_server.new_bin()
    url = viewer_server.url + capture_path(bin_)
    urllib.request.urlopen(urllib.request.Request(url, data=b"a"), timeout=10).close()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, data=b"b" * 100_000), timeout=10)
    assert refused.value.code == 429
    assert int(refused.value.headers["Retry-After"]) >= 1
    assert json.load(refused.value)["error"] == "too_many_requests"
