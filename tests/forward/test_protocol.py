"""The forwarder's WebSocket as any client sees it, and the command line's own checks."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta

import pytest
from forward.support import WEBBIN, api, capture
from helpers import Server
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from webbin.forward.command import parse_bin
from webbin.forward.forwarder import describe, parse_since, target_url
from webbin.forward.state import AlreadyRunning, Position, StateFile


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    running = Server(tmp_path_factory.mktemp("server"), env={"WEBBIN_MAX_VIEWERS_PER_BIN": "1"})
    yield running
    running.stop()


def ws_url(server: Server, bin_id: str, query: str) -> str:
    return f"ws://127.0.0.1:{server.port}/api/bins/{bin_id}/forward?{query}"


def test_hello_then_requests_and_it_is_listed_while_connected(server):
    bin_ = server.new_bin()
    first = json.loads(capture(bin_, "/a", b"1")[2])["id"]
    with connect(ws_url(server, bin_["id"], "after=0&name=n&target=http://t/"), proxy=None) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert (hello["type"], hello["newest"], hello["backlog"]) == ("hello", first, 1)
        message = json.loads(ws.recv(timeout=10))
        assert (message["type"], message["request"]["id"]) == ("request", first)
        (listed,) = api(server, f"/api/bins/{bin_['id']}/forwarders")["forwarders"]
        assert listed["id"] == hello["forwarder"]
        # A forwarder counts as a live viewer: this bin allows one.
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{server.port}/api/bins/{bin_['id']}/stream", proxy=None)
        assert refused.value.response.status_code == 429
    assert api(server, f"/api/bins/{bin_['id']}/forwarders")["forwarders"] == []


@pytest.mark.parametrize(
    "query",
    ["name=&target=http://t/", "name=n", "name=n&target=http://t/&reply=11", "name=n%00&target=x"],
)
def test_a_bad_hello_is_closed_with_4400(server, query):
    bin_ = server.new_bin()
    with (
        connect(ws_url(server, bin_["id"], query), proxy=None) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4400


def test_the_forwarder_stops_for_a_bin_that_does_not_exist(server, tmp_path):
    done = subprocess.run(
        [WEBBIN, "forward", f"{server.url}/bins/nope", "--to", "http://127.0.0.1:9/"],
        env={"XDG_STATE_HOME": str(tmp_path), "PATH": ""},
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert b"no bin 'nope'" in done.stdout


def test_command_line_mistakes_are_usage_errors(tmp_path):
    for args in (["ftp://x/bins/a", "--to", "http://t/"], ["http://h/", "--to", "http://t/"]):
        done = subprocess.run([WEBBIN, "forward", *args], capture_output=True, timeout=30)
        assert done.returncode == 2, args
        assert b"webbin forward:" in done.stderr
    done = subprocess.run(
        [WEBBIN, "forward", "http://h/bins/a", "--to", "localhost:3000"],
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 2 and b"http://" in done.stderr


def test_bin_urls():
    assert parse_bin("http://h:8080/bins/abc") == parse_bin("http://h:8080/", "abc")
    assert parse_bin("https://h/webbin/bins/a%2Fb/?r=3").base == "https://h/webbin"
    assert parse_bin("https://h/webbin/bins/a%2Fb/").bin_id == "a/b"
    assert parse_bin("http://h/api/bins/x").bin_id == "x"


def test_target_urls():
    assert target_url("http://l:3000/hook", "/", "") == "http://l:3000/hook"
    assert target_url("http://l:3000/hook", "/gh/push", "a=1") == "http://l:3000/hook/gh/push?a=1"
    assert target_url("http://l:3000/hook/", "/x/", "") == "http://l:3000/hook/x/"
    assert target_url("http://l:3000", "/x%20y", "") == "http://l:3000/x%20y"
    assert target_url("http://l/h?k=v", "/x", "a=1") == "http://l/h/x?k=v&a=1"
    prefixes = (("/github", ""), ("/s", "/stripe"))
    assert target_url("http://l/h", "/github/push", "", prefixes) == "http://l/h/push"
    assert target_url("http://l/h", "/s/x", "", prefixes) == "http://l/h/stripe/x"


def test_since_values():
    assert parse_since("now") == "now"
    assert parse_since("42") == 42
    assert parse_since("90s") == timedelta(seconds=90)
    assert parse_since("1.5h") == timedelta(minutes=90)
    for bad in ("0", "-1", "10 minutes", "yesterday"):
        with pytest.raises(ValueError):
            parse_since(bad)


def test_provider_and_event_type():
    github = {"signature_scheme": "github", "headers": [["X-GitHub-Event", "push"]], "body": b"{}"}
    assert describe(github) == ("github", "push")
    stripe = {"signature_scheme": "stripe", "headers": [], "body": b'{"type": "invoice.paid"}'}
    assert describe(stripe) == ("stripe", "invoice.paid")
    slack = {"signature_scheme": "auto", "headers": [], "body": b'{"event": {"type": "message"}}'}
    assert describe(slack) == (None, "message")
    assert describe({"headers": [], "body": b"\xff"}) == (None, None)


def test_the_state_file_is_written_whole_and_locked(tmp_path):
    state = StateFile("http://h", "bin", "http://t/", tmp_path)
    assert state.load() is None
    state.lock()
    try:
        with pytest.raises(AlreadyRunning):
            StateFile("http://h", "bin", "http://t/", tmp_path).lock()
        state.save(Position(7, {9}, {8}))
        assert state.load() == Position(7, {9}, {8})
        assert oct(state.path.stat().st_mode & 0o777) == "0o600"
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []
        assert StateFile("http://h", "bin", "http://other/", tmp_path).load() is None
    finally:
        state.unlock()
    StateFile("http://h", "bin", "http://t/", tmp_path).lock()  # free again
