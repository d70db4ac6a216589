"""``webbin forward`` end to end: a real ``webbin serve``, the installed console script and a
loopback target reading raw bytes. What arrives is what was captured, byte for byte;
signatures still verify; restarts of either side lose nothing and repeat nothing; a target
that is down holds the cursor; outcomes are shown to the server."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from forward.support import WEBBIN, Answer, Target, api, capture, forwarded_ids
from helpers import Server

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    running = Server(tmp_path_factory.mktemp("server"))
    yield running
    running.stop()


def start(forward, server: Server, target: Target, *args: str, path: str = "/hook"):
    bin_ = server.new_bin()
    forwarder = forward(bin_["dashboard_url"], target.url(path), *args)
    forwarder.wait_for("connected")
    return bin_, forwarder


def expected_headers(server: Server, bin_: dict, request_id: int, target: Target) -> list:
    """The captured headers, in order, as the forwarder must send them: Host for the target,
    no hop-by-hop ones, Content-Length for the exact body."""
    detail = api(server, f"/api/bins/{bin_['id']}/requests/{request_id}")
    body = base64.b64decode(detail["body_base64"])
    kept = [(n, v) for n, v in detail["headers"] if n.lower() not in HOP_BY_HOP | {"host"}]
    length = [("Content-Length", str(len(body)))] if body else []
    return [("Host", f"127.0.0.1:{target.port}"), *kept, *length]


MULTIPART = (
    b'--XyZ\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n'
    b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n\x00\x01\x02\xff\r\n--XyZ--\r\n"
)
BODIES = [
    ("application/json", b'{"z": 1, "a": [1, 2.50, "\\u00e9"],  "n": null}\n'),
    ("application/x-www-form-urlencoded", b"a=1&b=%C3%A9+x&a=2&empty="),
    ("multipart/form-data; boundary=XyZ", MULTIPART),
    ("application/octet-stream", bytes(range(256)) * 4),
]


def test_bodies_and_headers_arrive_byte_exact(server, target, forward):
    bin_, _ = start(forward, server, target)
    sent = []
    for content_type, body in BODIES:
        _, answer, data = capture(bin_, "/sub/path?q=1&q=2", body, [("Content-Type", content_type)])
        sent.append((json.loads(data)["id"], body))
    zipped = gzip.compress(b'{"compressed": true}' * 50)
    _, _, data = capture(
        bin_,
        "",
        zipped,
        [
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
            ("X-Repeat", "one"),
            ("X-Other", "between"),
            ("X-Repeat", "two"),
            ("X-Repeat", "three, four"),
        ],
    )
    sent.append((json.loads(data)["id"], zipped))

    received = target.wait_for(len(sent))
    for (request_id, body), got in zip(sent, received, strict=True):
        assert got.method == "POST"
        assert got.body == body  # exact bytes, gzip left compressed
        assert got.headers == expected_headers(server, bin_, request_id, target)
    assert [g.target for g in received[:4]] == ["/hook/sub/path?q=1&q=2"] * 4
    assert received[4].target == "/hook"
    assert [v for n, v in received[4].headers if n == "X-Repeat"] == ["one", "two", "three, four"]


def test_other_methods_filters_and_path_prefix(server, target, forward):
    bin_, forwarder = start(
        forward, server, target, "--method", "put,DELETE", "--path-prefix", "/gh=/github"
    )
    capture(bin_, "/gh/x", b"put-body", method="PUT")
    capture(bin_, "/skipped", b"posted")  # a POST: filtered out
    capture(bin_, "/other?x=", b"", method="DELETE")
    got = target.wait_for(2)
    assert [(g.method, g.target, g.body) for g in got] == [
        ("PUT", "/hook/github/x", b"put-body"),
        ("DELETE", "/hook/other?x=", b""),
    ]
    assert not any(n.lower() == "content-length" for n, _ in got[1].headers)
    forwarder.wait_for("forward", method="DELETE")


def github_signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def stripe_signature(secret: bytes, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return f"t={timestamp},v1={hmac.new(secret, signed, hashlib.sha256).hexdigest()}"


def test_signed_deliveries_still_verify_at_the_target(server, target, forward):
    """Checked at the target with each provider's own construction, from what it received."""
    github_secret, stripe_secret = b"gh-secret", b"whsec_test"
    verdicts = []

    def verify(got):
        headers = dict(got.headers)
        if "X-Hub-Signature-256" in headers:
            ok = hmac.compare_digest(
                headers["X-Hub-Signature-256"], github_signature(github_secret, got.body)
            )
        else:
            parts = dict(p.split("=", 1) for p in headers["Stripe-Signature"].split(","))
            expected = hmac.new(
                stripe_secret, parts["t"].encode() + b"." + got.body, hashlib.sha256
            ).hexdigest()
            ok = hmac.compare_digest(parts["v1"], expected)
        verdicts.append(ok)
        return Answer(200 if ok else 400)

    target.respond = verify
    bin_, forwarder = start(forward, server, target)
    push = json.dumps({"ref": "refs/heads/main", "commits": [{"id": "abc"}]}).encode()
    capture(
        bin_,
        "/github",
        push,
        [
            ("Content-Type", "application/json"),
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "d-1"),
            ("X-Hub-Signature-256", github_signature(github_secret, push)),
        ],
    )
    invoice = json.dumps({"id": "evt_1", "type": "invoice.paid"}, indent=2).encode()
    now = int(time.time())
    capture(
        bin_,
        "/stripe",
        invoice,
        [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Stripe-Signature", stripe_signature(stripe_secret, now, invoice)),
        ],
    )
    target.wait_for(2)
    assert verdicts == [True, True]
    first = forwarder.wait_for("forward", path="/github")
    assert (first["provider"], first["event_type"], first["status"]) == ("github", "push", 200)
    second = forwarder.wait_for("forward", path="/stripe")
    assert (second["provider"], second["event_type"]) == ("stripe", "invoice.paid")


def test_killed_forwarder_gets_exactly_the_missed_ones_in_order(server, target, forward):
    bin_, forwarder = start(forward, server, target)
    _, _, data = capture(bin_, "/before", b"0")
    first = json.loads(data)["id"]
    forwarder.wait_for("forward", id=first)
    forwarder.kill()  # no goodbye: SIGKILL

    missed = [json.loads(capture(bin_, f"/missed/{n}", str(n).encode())[2])["id"] for n in range(5)]
    again = forward(bin_["dashboard_url"], target.url())
    resumed = again.wait_for("resume")
    assert resumed["cursor"] == first
    assert again.wait_for("connected")["backlog"] == 5
    got = target.wait_for(6)
    assert [g.target for g in got] == ["/hook/before"] + [f"/hook/missed/{n}" for n in range(5)]
    assert [g.body for g in got[1:]] == [str(n).encode() for n in range(5)]
    again.wait_for("forward", id=missed[-1])
    time.sleep(0.5)
    assert len(target.received) == 6  # and nothing twice


def test_ctrl_c_saves_the_cursor_and_says_where(server, target, forward):
    bin_, forwarder = start(forward, server, target)
    request_id = json.loads(capture(bin_, "/one", b"1")[2])["id"]
    forwarder.wait_for("forward", id=request_id)
    assert forwarder.interrupt() == 0
    assert forwarder.wait_for("stopped")["cursor"] == request_id
    (saved,) = [json.loads(p.read_text()) for p in Path(forward.state).glob("*/*/*.json")]
    assert (saved["cursor"], saved["bin"], saved["inflight"]) == (request_id, bin_["id"], [])
    # The same command again forwards nothing old; a new arrival goes through.
    again = forward(bin_["dashboard_url"], target.url())
    assert again.wait_for("connected")["backlog"] == 0
    later = json.loads(capture(bin_, "/two", b"2")[2])["id"]
    again.wait_for("forward", id=later)
    assert [g.target for g in target.received] == ["/hook/one", "/hook/two"]


def test_since_chooses_where_a_new_forwarder_starts(server, target, forward):
    bin_ = server.new_bin()
    ids = [json.loads(capture(bin_, f"/old/{n}", b"x")[2])["id"] for n in range(3)]
    by_id = forward(bin_["dashboard_url"], target.url(), "--since", str(ids[1]))
    by_id.wait_for("forward", id=ids[2])
    assert [g.target for g in target.wait_for(2)] == ["/hook/old/1", "/hook/old/2"]
    by_id.interrupt()
    recent = forward(bin_["dashboard_url"], target.url("/other"), "--since", "1h")
    recent.wait_for("forward", id=ids[2])
    assert [g.target for g in target.wait_for(5)[2:]] == [f"/other/old/{n}" for n in range(3)]
    recent.interrupt()
    now = forward(bin_["dashboard_url"], target.url("/third"))  # default: now
    assert now.wait_for("connected")["backlog"] == 0


def test_a_target_that_is_down_is_retried_and_holds_the_cursor(server, forward, tmp_path):
    down = Target()
    port = down.port
    down.stop()  # nothing listens: connections are refused
    bin_ = server.new_bin()
    forwarder = forward(bin_["dashboard_url"], f"http://127.0.0.1:{port}/hook")
    forwarder.wait_for("connected")
    ids = [json.loads(capture(bin_, f"/n/{n}", str(n).encode())[2])["id"] for n in range(3)]
    failed = forwarder.wait_for("forward", id=ids[0])
    assert (failed["status"], failed["error_kind"], failed["retrying_in"]) == (None, "refused", 1)
    forwarder.wait_for("forward", id=ids[0], retrying_in=2)  # backoff doubles
    (state,) = Path(forward.state).glob("*/*/*.json")
    assert json.loads(state.read_text())["cursor"] < ids[0]

    back = Target(port)  # the app comes back on its port
    try:
        got = back.wait_for(3, timeout=30)
        assert [g.body for g in got] == [b"0", b"1", b"2"]
        forwarder.wait_for("forward", id=ids[2], status=200)
        assert json.loads(state.read_text())["cursor"] == ids[2]
        assert forwarder.interrupt() == 0
    finally:
        back.stop()


def test_on_failure_skip_notes_the_error_and_moves_on(server, forward):
    down = Target()
    port = down.port
    down.stop()
    bin_ = server.new_bin()
    forwarder = forward(
        bin_["dashboard_url"], f"http://127.0.0.1:{port}/hook", "--on-failure", "skip"
    )
    forwarder.wait_for("connected")
    ids = [json.loads(capture(bin_, f"/n/{n}", b"x")[2])["id"] for n in range(2)]
    forwarder.wait_for("forward", id=ids[1], error_kind="refused")
    (state,) = Path(forward.state).glob("*/*/*.json")
    assert json.loads(state.read_text())["cursor"] == ids[1]
    attempts = _attempts(server, bin_, ids[1])
    assert (attempts[0]["status"], attempts[0]["error"] is not None) == (None, True)


def _attempts(server: Server, bin_: dict, request_id: int, count: int = 1) -> list:
    deadline = time.monotonic() + 10
    while True:
        found = api(server, f"/api/bins/{bin_['id']}/requests/{request_id}/resends")["resends"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_outcomes_and_forwarders_are_shown_by_the_server(server, target, forward):
    target.answer = Answer(201, [("X-App", "1"), ("X-App", "2")], b'{"handled": true}')
    bin_, forwarder = start(forward, server, target, "--name", "ada's laptop <b>")
    (listed,) = api(server, f"/api/bins/{bin_['id']}/forwarders")["forwarders"]
    assert (listed["name"], listed["target"]) == ("ada's laptop <b>", target.url())
    request_id = json.loads(capture(bin_, "/x", b"hi")[2])["id"]
    (attempt,) = _attempts(server, bin_, request_id)
    assert attempt["forwarder"] == "ada's laptop <b>"
    assert (attempt["status"], attempt["url"], attempt["body_text"]) == (
        201,
        target.url() + "/x",
        '{"handled": true}',
    )
    assert [h for h in attempt["headers"] if h[0] == "X-App"] == [["X-App", "1"], ["X-App", "2"]]
    page = urllib.request.urlopen(f"{bin_['dashboard_url']}?r={request_id}").read().decode()
    assert "forward from ada&#39;s laptop &lt;b&gt;" in page  # escaped, labelled
    assert 'class="forwarder"' in page
    forwarder.interrupt()
    assert api(server, f"/api/bins/{bin_['id']}/forwarders")["forwarders"] == []


def test_server_restart_mid_stream_loses_and_repeats_nothing(tmp_path, target, forward):
    data = tmp_path / "server"
    data.mkdir()
    server = Server(data)
    port = server.port
    bin_ = server.new_bin()
    forwarder = forward(bin_["dashboard_url"], target.url())
    forwarder.wait_for("connected")
    sent: list[int] = []
    stop = threading.Event()

    def keep_capturing():
        n = 0
        while not stop.is_set():
            try:
                status, _, answer = capture(bin_, f"/n/{n}", str(n).encode())
            except OSError:
                time.sleep(0.05)  # the server is restarting: not stored, try the next
                continue
            if status == 200:
                sent.append(json.loads(answer)["id"])
            n += 1
            time.sleep(0.02)

    sender = threading.Thread(target=keep_capturing, daemon=True)
    sender.start()
    try:
        time.sleep(1.0)
        server.stop()
        forwarder.wait_for("disconnected")
        time.sleep(0.5)
        server = Server(data, port=port)
        forwarder.wait_for("reconnected", timeout=30)
        time.sleep(1.0)
    finally:
        stop.set()
        sender.join(10)
    try:
        forwarder.wait_for("forward", id=sent[-1], timeout=30)
        time.sleep(0.5)
        bodies = [g.body for g in target.received]
        assert len(bodies) == len(sent) == len(set(bodies))  # each exactly once
        assert [int(b) for b in bodies] == sorted(int(b) for b in bodies)  # in order
        assert forwarded_ids(forwarder.seen) == sent
    finally:
        server.stop()


def test_several_at_once_each_exactly_once_and_the_cursor_catches_up(server, target, forward):
    def uneven(got):
        time.sleep(0.3 if got.body.endswith(b"0") else 0.01)
        return Answer(200)

    target.respond = uneven
    bin_, forwarder = start(forward, server, target, "--concurrency", "3")
    ids = [json.loads(capture(bin_, f"/n/{n}", f"{n}0".encode())[2])["id"] for n in range(9)]
    got = target.wait_for(9)
    assert sorted(g.body for g in got) == sorted(f"{n}0".encode() for n in range(9))
    while set(ids) - {line.get("id") for line in forwarder.seen if line["event"] == "forward"}:
        forwarder.wait_for("forward")
    assert forwarder.interrupt() == 0
    (state,) = Path(forward.state).glob("*/*/*.json")
    saved = json.loads(state.read_text())
    assert (saved["cursor"], saved["done"], saved["inflight"]) == (ids[-1], [], [])


def test_plain_output_is_readable_and_prints_captured_text_as_is(server, target, tmp_path):
    bin_ = server.new_bin()
    process = subprocess.Popen(
        [WEBBIN, "forward", bin_["dashboard_url"], "--to", target.url()],
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert b"forwarding" in process.stdout.readline()
        capture(bin_, "/[bold]x[/bold]", b"{}", [("X-GitHub-Event", "push")])
        line = process.stdout.readline().decode()
        assert "POST" in line and "/[bold]x[/bold]" in line  # not taken as markup
        assert "github push" in line
        assert "→ 200" in line and " ms" in line
        assert "\x1b[" not in line
        process.send_signal(signal.SIGINT)
        assert b"stopped; the next start resumes after request id" in process.stdout.read()
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
