"""Hostile input, end to end through gunicorn: odd bytes are stored and shown, never a 500;
markup is escaped in every view; refusals are clear; nothing shows a stack trace."""

from __future__ import annotations

import base64
import json
import re
import socket
import urllib.error
import urllib.request

import pytest
from helpers import capture_path, raw_http
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

PAYLOAD = (
    '<script>alert(1)</script><img src=x onerror=alert(2)><div hx-get="/pwned" hx-trigger="load">'
)


def get(server, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=10) as response:
            return response.status, response.headers.get_content_type(), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), error.read().decode()


def newest(server, bin_: dict) -> dict:
    listing = json.loads(get(server, f"/api/bins/{bin_['id']}/requests?limit=1")[2])
    return json.loads(
        get(server, f"/api/bins/{bin_['id']}/requests/{listing['requests'][0]['id']}")[2]
    )


def every_view(server, bin_: dict, rid: int) -> list[tuple[int, str, str]]:
    base = f"/bins/{bin_['id']}"
    return [
        get(server, base),
        get(server, f"{base}?r={rid}"),
        get(server, f"{base}/rows"),
        get(server, f"/api/bins/{bin_['id']}/requests/{rid}"),
        get(server, f"/api/bins/{bin_['id']}/requests"),
    ]


def test_invalid_utf8_and_nul_bytes_are_stored_and_shown(server):
    bin_ = server.new_bin()
    body = b'\x00\xff\xfe{"a": "\xc3\x28"}\x00 <script>\x00'
    head = (
        f"POST {capture_path(bin_)}/%00%FF%C3%28/x%3Cy?q=%00%ff&%3Cscript%3E=1 HTTP/1.1\r\n"
        "Host: x\r\nContent-Type: application/json; charset=utf-8\r\n"
    ).encode()
    head += b"X-Latin: caf\xe9 \xff\xfe\r\nX-'|`~!#$%&*+.^_: odd name\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    assert raw_http(server.port, head + body).startswith(b"HTTP/1.1 200")
    detail = newest(server, bin_)
    assert base64.b64decode(detail["body_base64"]) == body
    assert detail["path"] == "/%00%FF%C3%28/x%3Cy"
    assert detail["query_string"] == "q=%00%ff&%3Cscript%3E=1"
    assert ["X-Latin", "café ÿþ"] in detail["headers"]
    assert ["X-'|`~!#$%&*+.^_", "odd name"] in detail["headers"]
    for status, _type, text in every_view(server, bin_, detail["id"]):
        assert status == 200
        assert "<script>" not in text.replace("&lt;script&gt;", "")


def test_nul_in_a_header_value_is_refused_cleanly(server):
    bin_ = server.new_bin()
    answer = raw_http(
        server.port,
        f"POST {capture_path(bin_)} HTTP/1.1\r\nHost: x\r\n".encode()
        + b"X-A: a\x00b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"Traceback" not in answer
    assert json.loads(get(server, f"/api/bins/{bin_['id']}")[2])["request_count"] == 0


def test_markup_in_every_captured_field_is_escaped_in_every_view(server):
    bin_ = server.new_bin()
    multipart = (
        b'--B\r\nContent-Disposition: form-data; name="'
        + PAYLOAD.encode().replace(b'"', b"'")
        + b'"; filename="'
        + PAYLOAD.encode().replace(b'"', b"'")
        + b'"\r\n'
        b"Content-Type: text/html\r\n\r\n" + PAYLOAD.encode() + b"\r\n--B--\r\n"
    )
    request = urllib.request.Request(
        server.url + capture_path(bin_) + "/%3Cscript%3Ealert(3)%3C/script%3E?%3Cb%3E=%3Ci%3E",
        data=multipart,
        method="POST",
        headers={"Content-Type": "multipart/form-data; boundary=B", "X-Evil": PAYLOAD},
    )
    urllib.request.urlopen(request, timeout=10).close()
    rid = newest(server, bin_)["id"]
    for status, content_type, text in every_view(server, bin_, rid):
        assert status == 200
        if content_type == "text/html":
            assert "<script>alert" not in text
            assert "<img src=x" not in text
            assert 'hx-get="/pwned"' not in text
            assert "onerror=alert" not in text or "&lt;img src=x onerror=alert(2)&gt;" in text


def test_unknown_bin_is_a_clear_404_everywhere(server):
    for path, kind, message in (
        ("/api/bins/no-such-bin", "application/json", "No bin with this id"),
        ("/api/bins/no-such-bin/requests/1/raw", "application/json", "No request with this id"),
        ("/bins/no-such-bin", "text/html", "No bin with this id"),
    ):
        status, content_type, text = get(server, path)
        assert (status, content_type) == (404, kind), path
        assert message in text
    answer = raw_http(
        server.port,
        b"POST /c/no-such-token HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 404")
    assert b'"No bin has this capture URL."' in answer


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://127.0.0.1.evil.example"]
)
def test_cross_origin_websockets_are_refused(server, origin):
    bin_ = server.new_bin()
    base = server.url.replace("http://", "ws://")
    for path in (f"/api/bins/{bin_['id']}/stream", f"/bins/{bin_['id']}/live"):
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(base + path, additional_headers={"Origin": origin})
        assert refused.value.response.status_code == 403
    # The page's own origin is let in (a raw handshake: the client library omits the port).
    handshake = (
        f"GET /bins/{bin_['id']}/live HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Origin: {server.url}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(handshake.encode())
        assert s.recv(1024).startswith(b"HTTP/1.1 101")


def test_nothing_shows_a_stack_trace(sqlite_app, monkeypatch):
    import webbin.storage.queries

    def explode(*_args, **_kwargs):
        raise RuntimeError("internal detail: /srv/secret/path")

    client = sqlite_app.test_client()
    bin_ = client.post("/api/bins").get_json()
    monkeypatch.setattr(webbin.storage.queries, "get_bin", explode)
    for url, headers in (
        (f"/api/bins/{bin_['id']}", {}),
        (f"/bins/{bin_['id']}", {}),
        (f"/bins/{bin_['id']}/rows", {"HX-Request": "true"}),
    ):
        answer = client.get(url, headers=headers)
        text = answer.get_data(as_text=True)
        assert answer.status_code == 500, url
        assert "Traceback" not in text and "internal detail" not in text
        assert "RuntimeError" not in text and "File " not in text
        assert re.search(r"Something went wrong", text)
