"""CORS on capture URLs, through a real ``webbin serve``: preflights answered (and still
captured), every answer readable by any origin, never with credentials; a bin setting turns
it off. A real browser sending from another origin is in tests/browser/test_rough_edges.py."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from helpers import Server, capture_path, raw_http

PREFLIGHT = {
    "Origin": "https://sender.example",
    "Access-Control-Request-Method": "PUT",
    "Access-Control-Request-Headers": "content-type, x-webhook-token",
}


def call(
    url: str, method: str = "POST", body: bytes | None = None, headers: dict | None = None
) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def patch(server: Server, bin_id: str, data: dict) -> tuple[int, dict]:
    status, _, body = call(
        f"{server.url}/api/bins/{bin_id}",
        "PATCH",
        json.dumps(data).encode(),
        {"Content-Type": "application/json"},
    )
    return status, json.loads(body)


def listed(server: Server, bin_id: str) -> list[dict]:
    _, _, body = call(f"{server.url}/api/bins/{bin_id}/requests", "GET")
    return json.loads(body)["requests"]


def test_a_preflight_is_answered_and_still_captured(server: Server):
    bin_ = server.new_bin()
    assert bin_["cors"] is True  # on by default
    status, headers, body = call(bin_["capture_url"] + "/hook", "OPTIONS", headers=PREFLIGHT)
    assert (status, body) == (204, b"")
    assert "Content-Type" not in headers
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Methods"] == "PUT"
    assert headers["Access-Control-Allow-Headers"] == "content-type, x-webhook-token"
    assert "Access-Control-Allow-Credentials" not in headers
    assert headers["X-Content-Type-Options"] == "nosniff"  # still defused like any answer
    [row] = listed(server, bin_["id"])
    assert (row["method"], row["path"], row["response_status"]) == ("OPTIONS", "/hook", 204)


def test_every_answer_is_readable_by_any_origin_without_credentials(server: Server):
    bin_ = server.new_bin()
    status, headers, body = call(
        bin_["capture_url"], "PUT", b'{"a": 1}', {"Origin": "https://sender.example"}
    )
    assert status == 200 and json.loads(body)["ok"] is True
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Expose-Headers"] == "*"
    assert "Access-Control-Allow-Credentials" not in headers


def test_a_custom_response_gets_them_too_and_keeps_its_own(server: Server):
    bin_ = server.new_bin()
    answer = {"status": 202, "headers": [["Access-Control-Allow-Origin", "https://only.example"]]}
    assert patch(server, bin_["id"], {"response": {"default": answer}})[0] == 200
    status, headers, _ = call(bin_["capture_url"], "POST", b"x")
    assert status == 202
    assert headers.get_all("Access-Control-Allow-Origin") == ["https://only.example"]
    assert headers["Access-Control-Expose-Headers"] == "*"


def test_a_preflight_wins_over_a_custom_failure(server: Server):
    """A browser would give up on a 500 preflight and never send the request under test."""
    bin_ = server.new_bin()
    patch(server, bin_["id"], {"response": {"default": {"status": 500, "body": "down"}}})
    assert call(bin_["capture_url"], "OPTIONS", headers=PREFLIGHT)[0] == 204
    status, headers, body = call(bin_["capture_url"], "PUT", b"{}")
    assert (status, body, headers["Access-Control-Allow-Origin"]) == (500, b"down", "*")


def test_a_plain_options_request_is_not_a_preflight(server: Server):
    bin_ = server.new_bin()
    status, headers, body = call(bin_["capture_url"], "OPTIONS", headers={"Origin": "https://x.io"})
    assert status == 200 and json.loads(body)["ok"] is True
    assert "Access-Control-Allow-Methods" not in headers
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_requested_headers_are_echoed_only_when_they_are_header_names(server: Server):
    bin_ = server.new_bin()
    token = capture_path(bin_)
    answer = raw_http(
        server.port,
        f"OPTIONS {token} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://x.io\r\n"
        "Access-Control-Request-Method: POST\r\n"
        "Access-Control-Request-Headers: x-ok, <script>\r\nConnection: close\r\n\r\n".encode(),
    )
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 204")
    assert "Access-Control-Allow-Methods: POST" in head
    assert "Access-Control-Allow-Headers" not in head and "<script>" not in head


def test_chromium_may_ask_for_private_network_access(server: Server):
    bin_ = server.new_bin()
    _, headers, _ = call(
        bin_["capture_url"],
        "OPTIONS",
        headers={**PREFLIGHT, "Access-Control-Request-Private-Network": "true"},
    )
    assert headers["Access-Control-Allow-Private-Network"] == "true"
    _, headers, _ = call(bin_["capture_url"], "OPTIONS", headers=PREFLIGHT)
    assert "Access-Control-Allow-Private-Network" not in headers


def test_switched_off_a_preflight_is_captured_and_answered_like_any_request(server: Server):
    bin_ = server.new_bin()
    call(bin_["capture_url"], "POST", b"warm the bin cache")
    status, data = patch(server, bin_["id"], {"cors": False})
    assert (status, data["cors"]) == (200, False)
    status, headers, body = call(bin_["capture_url"], "OPTIONS", headers=PREFLIGHT)
    assert status == 200 and json.loads(body)["ok"] is True
    assert not [name for name in headers if name.lower().startswith("access-control-")]
    status, headers, _ = call(bin_["capture_url"], "POST", b"x")
    assert status == 200 and "Access-Control-Allow-Origin" not in headers
    assert [r["method"] for r in listed(server, bin_["id"])] == ["POST", "OPTIONS", "POST"]
    # And on again.
    patch(server, bin_["id"], {"cors": True})
    assert call(bin_["capture_url"], "OPTIONS", headers=PREFLIGHT)[0] == 204


def test_too_large_says_so_to_a_page_too(tmp_path):
    server = Server(tmp_path, env={"WEBBIN_MAX_BODY_BYTES": "16"})
    try:
        bin_ = server.new_bin()
        status, headers, _ = call(bin_["capture_url"], "POST", b"x" * 64)
        assert (status, headers["Access-Control-Allow-Origin"]) == (413, "*")
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_the_setting_is_a_strict_boolean(server: Server, value):
    bin_ = server.new_bin()
    status, data = patch(server, bin_["id"], {"cors": value})
    assert status == 400
    assert [e["path"] for e in data["errors"]] == ["cors"]


def test_the_document_describes_the_setting(server: Server):
    _, _, body = call(f"{server.url}/api/openapi.json", "GET")
    schemas = json.loads(body)["components"]["schemas"]
    assert schemas["UpdateBin"]["properties"]["cors"]["type"] == "boolean"
    assert schemas["Bin"]["properties"]["cors"]["type"] == "boolean"
    assert "cors" in schemas["Bin"]["required"]
    options = json.loads(body)["paths"]["/c/{capture_token}"]["options"]["responses"]
    assert "Access-Control-Allow-Headers" in options["204"]["headers"]
