"""What trusted proxies vouch for: the client address and the URL the sender used, read from
the exact header list (so ``X_Forwarded_For`` is not ``X-Forwarded-For``), rightmost trusted
entries only."""

from __future__ import annotations

import json
import urllib.request

import pytest
from helpers import Server, capture_path, raw_http

from webbin.proxies import client_address, parse_networks, trusted_hops

TRUSTED = parse_networks(["10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("203.0.113.1", "198.51.100.1", "203.0.113.1"),  # untrusted peer: its XFF is ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the sender's own entry
        ("10.0.0.2", "198.51.100.1, 10.0.0.3", "198.51.100.1"),  # two trusted hops
        ("10.0.0.2", "garbage", "10.0.0.2"),
        ("10.0.0.2", None, "10.0.0.2"),
    ],
)
def test_client_address(peer, forwarded_for, expected):
    assert client_address(peer, forwarded_for, TRUSTED) == expected


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "hops"),
    [
        ("203.0.113.1", "198.51.100.1", 0),
        ("10.0.0.2", None, 1),
        ("10.0.0.2", "198.51.100.1", 1),
        ("10.0.0.2", "198.51.100.1, 10.0.0.3", 2),
    ],
)
def test_trusted_hops(peer, forwarded_for, hops):
    assert trusted_hops(peer, forwarded_for, TRUSTED) == hops


def test_forwarded_host_and_proto_take_the_rightmost_trusted_entry(app):
    """A sender may prepend its own X-Forwarded-Host; only the trusted proxy's entry counts."""
    app.config["TRUSTED_PROXY_NETWORKS"] = TRUSTED
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    client.post(
        capture_path(bin_) + "/sms",
        headers={
            "X-Forwarded-For": "198.51.100.4",
            "X-Forwarded-Host": "evil.example, hooks.example.com",
            "X-Forwarded-Proto": "http, https",
        },
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    newest = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]
    detail = client.get(f"/api/bins/{bin_['id']}/requests/{newest['id']}").get_json()
    assert detail["url"] == f"https://hooks.example.com{capture_path(bin_)}/sms"
    assert detail["remote_addr"] == "198.51.100.4"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """A real ``webbin serve`` that trusts the loopback proxy the tests pretend to be."""
    running = Server(
        tmp_path_factory.mktemp("proxied"), env={"WEBBIN_TRUSTED_PROXIES": "127.0.0.1/32"}
    )
    yield running
    running.stop()


def stored(server: Server, bin_: dict) -> dict:
    listing = f"{server.url}/api/bins/{bin_['id']}/requests"
    with urllib.request.urlopen(listing) as answer:
        newest = json.load(answer)["requests"][0]
    with urllib.request.urlopen(f"{listing}/{newest['id']}") as answer:
        return json.load(answer)


def post(server: Server, bin_: dict, *headers: str) -> bytes:
    lines = [f"POST {capture_path(bin_)} HTTP/1.1", "Host: internal:8080", *headers]
    lines += ["Content-Length: 0", "Connection: close"]
    return raw_http(server.port, ("\r\n".join(lines) + "\r\n\r\n").encode())


def test_underscored_forwarded_headers_are_not_believed(proxied):
    """gunicorn's header_map="dangerous" (which keeps names with ``_``) would fold
    ``X_Forwarded_For`` into ``X-Forwarded-For``: webbin reads the exact names."""
    bin_ = proxied.new_bin()
    answer = post(proxied, bin_, "X_Forwarded_For: 203.0.113.9", "X_Forwarded_Host: evil.example")
    assert answer.startswith(b"HTTP/1.1 200")
    data = stored(proxied, bin_)
    assert data["remote_addr"] == "127.0.0.1"
    assert data["url"].startswith("http://internal:8080/c/")
    assert ["X_forwarded_for", "203.0.113.9"] in data["headers"]  # still captured as sent


def test_hyphenated_forwarded_headers_from_a_trusted_proxy(proxied):
    bin_ = proxied.new_bin()
    post(
        proxied,
        bin_,
        "X-Forwarded-For: 203.0.113.9",
        "X-Forwarded-Host: hooks.example.com",
        "X-Forwarded-Proto: https",
    )
    data = stored(proxied, bin_)
    assert data["remote_addr"] == "203.0.113.9"
    assert data["url"].startswith("https://hooks.example.com/c/")
