"""SSRF-safe resend: the profile decides what a resend may reach, and loops are refused.

Every outbound byte goes to a loopback server started here. ``loopback_only`` fails a test
before any packet leaves for another address, and names "resolve" through a stub.
"""

from __future__ import annotations

import os
import re
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import Server, capture_path
from netguard import loopback_only_fixture, resolve_names, target_fixture  # noqa: F401

from webbin import create_app
from webbin.outbound import policy as profiles
from webbin.serving import server

OK = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


def reply(response: bytes):
    return lambda conn: conn.sendall(response)


def make_app(tmp_path: Path, **config):
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path), **config})


def captured(app) -> tuple:
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    client.post(capture_path(bin_) + "/orig", data=b'{"event": 1}', content_type="application/json")
    rid = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]["id"]
    return client, bin_, rid


def resend(app, url: str) -> dict:
    client, bin_, rid = captured(app)
    answer = client.post(f"/api/bins/{bin_['id']}/requests/{rid}/resend", json={"url": url})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


# --- profiles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "profile"),
    [
        ("127.0.0.1", "local"),
        ("127.0.0.2", "local"),
        ("localhost", "local"),
        ("::1", "local"),
        ("[::1]", "local"),
        ("0.0.0.0", "production"),  # noqa: S104
        ("::", "production"),
        ("192.0.2.10", "production"),
        ("hooks.example.com", "production"),
    ],
)
def test_profile_follows_the_bind_address(host, profile):
    assert profiles.for_bind_host(host) == profile


def test_serve_picks_the_profile_unless_told(monkeypatch):
    ran = []
    monkeypatch.setattr(server.WebbinServer, "run", lambda self: ran.append(self))
    monkeypatch.setattr(
        os, "environ", {k: v for k, v in os.environ.items() if k != "WEBBIN_PROFILE"}
    )
    server.serve(create_app, "0.0.0.0", 8080)  # noqa: S104
    assert os.environ["WEBBIN_PROFILE"] == "production"
    os.environ["WEBBIN_PROFILE"] = "local"
    server.serve(create_app, "0.0.0.0", 8080)  # noqa: S104
    assert os.environ["WEBBIN_PROFILE"] == "local"
    del os.environ["WEBBIN_PROFILE"]
    server.serve(create_app, "127.0.0.1", 8080)
    assert os.environ["WEBBIN_PROFILE"] == "local"
    assert len(ran) == 3


def test_bad_profile_or_allowlist_fails_at_start(tmp_path):
    with pytest.raises(ValueError, match="WEBBIN_PROFILE"):
        make_app(tmp_path, PROFILE="prod")
    with pytest.raises(ValueError, match="WEBBIN_OUTBOUND_ALLOWLIST"):
        make_app(tmp_path, PROFILE="production", OUTBOUND_ALLOWLIST="10.0.0.0/8, nonsense")


# --- what each profile may reach ----------------------------------------------------------


def test_local_profile_reaches_loopback(tmp_path, loopback_only, target):
    app = make_app(tmp_path)
    assert app.config["PROFILE"] == "local"
    server_ = target(reply(OK))
    result = resend(app, server_.url("/hook"))
    assert result["status"] == 204 and result["error"] is None
    assert server_.connections == 1


@pytest.mark.parametrize("profile", ["local", "production"])
@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://2852039166/",  # 169.254.169.254 as one number
        "http://metadata.internal/computeMetadata/v1/",
    ],
)
def test_metadata_address_is_refused_in_every_profile(
    tmp_path, monkeypatch, loopback_only, profile, url
):
    resolve_names(monkeypatch, {"metadata.internal": ["169.254.169.254"]})
    result = resend(make_app(tmp_path, PROFILE=profile), url)
    assert result["error_kind"] == "blocked", result
    assert result["status"] is None
    assert "link-local / cloud-metadata" in result["error"]
    assert loopback_only.connects == []


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "2130706433", "127.1", "[::1]", "[::ffff:127.0.0.1]"],
)
def test_production_refuses_loopback(tmp_path, loopback_only, target, host):
    server_ = target(reply(OK))
    result = resend(make_app(tmp_path, PROFILE="production"), f"http://{host}:{server_.port}/")
    assert result["error_kind"] == "blocked", result
    assert "loopback" in result["error"]
    assert server_.connections == 0


@pytest.mark.parametrize(
    ("answers", "word"),
    [
        (["10.1.2.3"], "private"),
        (["203.0.113.9", "192.168.1.1"], "reserved"),  # checked in order: the first refusal
        (["172.16.0.5"], "private"),
        (["fd12::1"], "private"),
    ],
)
def test_production_refuses_a_name_that_resolves_to_a_private_address(
    tmp_path, monkeypatch, loopback_only, answers, word
):
    resolve_names(monkeypatch, {"hooks.internal.example": answers})
    result = resend(make_app(tmp_path, PROFILE="production"), "http://hooks.internal.example/")
    assert result["error_kind"] == "blocked", result
    assert "hooks.internal.example resolves to" in result["error"]
    assert word in result["error"]
    assert loopback_only.connects == []


def test_production_allowlist_opens_exactly_its_networks(
    tmp_path, monkeypatch, loopback_only, target
):
    resolve_names(monkeypatch, {"app.internal": ["127.0.0.1"], "db.internal": ["10.0.0.9"]})
    server_ = target(reply(OK))
    app = make_app(tmp_path, PROFILE="production", OUTBOUND_ALLOWLIST="127.0.0.0/8")
    assert resend(app, f"http://app.internal:{server_.port}/")["status"] == 204
    refused = resend(app, "http://db.internal/")
    assert refused["error_kind"] == "blocked"
    assert loopback_only.connects == ["127.0.0.1"]


def test_dashboard_resend_shows_the_refusal(tmp_path, loopback_only, target):
    app = make_app(tmp_path, PROFILE="production")
    client, bin_, rid = captured(app)
    page = client.get(f"/bins/{bin_['id']}").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    server_ = target(reply(OK))
    answer = client.post(
        f"/bins/{bin_['id']}/requests/{rid}/resend",
        data={"url": server_.url()},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert answer.status_code == 200
    assert "loopback address (not allowed on this server)" in answer.get_data(as_text=True)
    assert server_.connections == 0


# --- what a reachable target can do ---------------------------------------------------------


def test_redirect_to_a_private_address_is_not_followed(tmp_path, loopback_only, target):
    redirect = b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/admin\r\nContent-Length: 0\r\n\r\n"
    server_ = target(reply(redirect))
    result = resend(make_app(tmp_path), server_.url())
    assert result["status"] == 302
    assert ["Location", "http://10.0.0.1/admin"] in result["headers"]
    assert loopback_only.connects == ["127.0.0.1"]


def test_target_that_never_answers_times_out(tmp_path, loopback_only, target):
    # Silent until the client hangs up (or the target's own 5 s socket timeout, under the
    # default 10 s read timeout): only the configured 0.3 s can give this message.
    server_ = target(lambda conn: conn.recv(1))
    result = resend(make_app(tmp_path, RESEND_READ_TIMEOUT=0.3), server_.url())
    assert result["error_kind"] == "timeout"
    assert result["error"] == "Timed out after 0.3 s waiting for a response"
    assert result["elapsed_ms"] >= 300


def test_target_that_streams_forever_is_cut_at_the_cap(tmp_path, loopback_only, target):
    def endless(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        while True:
            conn.sendall(b"x" * 4096)

    server_ = target(endless)
    result = resend(make_app(tmp_path, RESEND_MAX_RESPONSE_BYTES=10_000), server_.url())
    assert result["status"] == 200
    assert result["truncated"] is True
    assert len(result["body_text"]) == 10_000


def test_target_that_trickles_forever_hits_the_total_time_limit(tmp_path, loopback_only, target):
    def trickle(conn: socket.socket) -> None:
        """A byte every 0.1 s (the target's pace, far inside the 5 s read timeout) for 10 s,
        then the end of the body: without the 1 s total limit the resend would succeed."""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        for _ in range(100):
            conn.sendall(b"x")
            time.sleep(0.1)

    server_ = target(trickle)
    app = make_app(tmp_path, RESEND_TOTAL_TIMEOUT=1.0, RESEND_READ_TIMEOUT=5.0)
    result = resend(app, server_.url())
    assert result["error_kind"] == "timeout"
    assert result["error"] == (
        "Gave up after 1 s (the total time limit) while reading the response body"
    )
    assert result["status"] == 200 and result["body_text"].startswith("x")
    assert result["elapsed_ms"] >= 1000


# --- end to end, and loops ---------------------------------------------------------------


def api(base: str, path: str, body: dict | None = None) -> dict:
    import json

    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def capture_one(base: str, bin_: dict, suffix: str = "/x") -> int:
    request = urllib.request.Request(base + capture_path(bin_) + suffix, data=b"{}", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return api(base, f"/api/bins/{bin_['id']}/requests")["requests"][0]["id"]


def test_production_server_refuses_loopback_end_to_end(tmp_path, target):
    server_ = target(reply(OK))
    running = Server(tmp_path, env={"WEBBIN_PROFILE": "production"})
    try:
        bin_ = running.new_bin()
        rid = capture_one(running.url, bin_)
        result = api(
            running.url, f"/api/bins/{bin_['id']}/requests/{rid}/resend", {"url": server_.url()}
        )
        assert result["error_kind"] == "blocked"
        assert server_.connections == 0
    finally:
        running.stop()


def test_resend_to_its_own_capture_url_is_refused_as_a_loop(server):
    bin_ = server.new_bin()
    rid = capture_one(server.url, bin_)
    result = api(
        server.url,
        f"/api/bins/{bin_['id']}/requests/{rid}/resend",
        {"url": bin_["capture_url"] + "/again"},
    )
    assert result["status"] == 508
    assert "cannot loop" in result["body_text"]
    assert len(api(server.url, f"/api/bins/{bin_['id']}/requests")["requests"]) == 1


def test_a_longer_loop_is_refused_when_it_comes_back(server):
    first, second = server.new_bin(), server.new_bin()
    rid = capture_one(server.url, first)
    onward = api(
        server.url,
        f"/api/bins/{first['id']}/requests/{rid}/resend",
        {"url": second["capture_url"]},
    )
    assert onward["status"] == 200  # a resend to another bin is fine...
    arrived = api(server.url, f"/api/bins/{second['id']}/requests")["requests"][0]["id"]
    detail = api(server.url, f"/api/bins/{second['id']}/requests/{arrived}")
    marks = [value for name, value in detail["headers"] if name == "X-Webbin-Resend"]
    assert len(marks) == 1 and first["id"] not in marks[0] and first["capture_url"] not in marks[0]
    back = api(
        server.url,
        f"/api/bins/{second['id']}/requests/{arrived}/resend",
        {"url": first["capture_url"]},
    )
    assert back["status"] == 508  # ...but coming back to the first one is a loop
    assert len(api(server.url, f"/api/bins/{first['id']}/requests")["requests"]) == 1
