"""Nothing leaked: capabilities stay apart, missing bins all look alike, state changes need a
CSRF token and never happen on GET, and secrets stay out of answers and logs."""

from __future__ import annotations

import base64
import logging
import os
import re
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from helpers import capture_path
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from webbin.serving.accesslog import redact, redact_target
from webbin.storage.models import db
from webbin.storage.retention import prune

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def app(sqlite_app: Flask) -> Flask:
    """Capabilities and routing do not depend on the database: SQLite only."""
    return sqlite_app


@pytest.fixture
def client(app):
    client = app.test_client()
    client.get("/")  # a browser that already has its session, as a returning user does
    return client


def token_of(bin_: dict) -> str:
    return capture_path(bin_).rsplit("/", 1)[1]


def csrf_of(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def snapshot(app: Flask) -> dict:
    """Every row of every table: what "nothing changed" means."""
    with app.app_context():
        return {
            table.name: sorted(map(repr, db.session.execute(select(table)).all()))
            for table in db.metadata.sorted_tables
        }


def populated(client) -> tuple[dict, int]:
    bin_ = client.post("/api/bins", json={"name": "secret project"}).get_json()
    body = (
        b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nhi\r\n--B--\r\n'
    )
    client.post(
        capture_path(bin_) + "/p?q=1", data=body, content_type="multipart/form-data; boundary=B"
    )
    rid = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]["id"]
    return bin_, rid


def url_for_rule(rule, bin_id: str, rid: int) -> str:
    values = {"bin_id": bin_id, "request_id": rid, "index": 0, "token": "x", "sub_path": "x"}
    url = rule.rule
    for name in rule.arguments:
        url = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(values.get(name, "x")), url)
    return url


# --- capabilities ---------------------------------------------------------------------------


def test_ids_and_capture_tokens_are_long_random_and_distinct(client):
    # From 100 client addresses: one client may create only BIN_CREATE_BURST bins at once.
    bins = [
        client.post("/api/bins", environ_base={"REMOTE_ADDR": f"192.0.2.{i}"}).get_json()
        for i in range(100)
    ]
    secrets_ = [b["id"] for b in bins] + [token_of(b) for b in bins]
    assert len(set(secrets_)) == 200
    for secret in secrets_:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", secret)
        raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        assert len(raw) >= 16, secret  # >= 128 bits
    # Not a counter or a timestamp: consecutive ids share no long prefix.
    ids = sorted(b["id"] for b in bins)
    shared = [len(os.path.commonprefix([a, b])) for a, b in zip(ids, ids[1:], strict=False)]
    assert max(shared) < 6


def test_capture_token_never_reads_the_bin(client):
    bin_, rid = populated(client)
    token = token_of(bin_)
    for url in (
        f"/api/bins/{token}",
        f"/api/bins/{token}/requests",
        f"/api/bins/{token}/requests/{rid}",
        f"/api/bins/{token}/requests/{rid}/raw",
        f"/api/bins/{token}/requests/{rid}/resends",
        f"/bins/{token}",
        f"/bins/{token}/rows",
        f"/bins/{token}/requests/{rid}/raw",
        f"/bins/{token}/requests/{rid}/parts/0",
    ):
        answer = client.get(url, headers={"HX-Request": "true"})
        assert answer.status_code == 404, url
        assert b"secret project" not in answer.data and b"hi" not in answer.data.split(b"\n")
    # The capture URL itself answers with the new request's id and number, never stored data.
    answer = client.get(capture_path(bin_))
    assert set(answer.get_json()) == {"ok", "id", "seq"}


def test_capture_token_never_opens_a_stream(server):
    bin_ = server.new_bin()
    ws_base = server.url.replace("http://", "ws://")
    for path in (f"/api/bins/{token_of(bin_)}/stream", f"/bins/{token_of(bin_)}/live"):
        with ws_connect(ws_base + path) as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
            raise AssertionError("a capture token got data")
        # 4404 "no such bin"; the close frame can race the TCP close (no status).
        assert closed.value.rcvd is None or closed.value.rcvd.code == 4404


# --- missing bins all look alike ------------------------------------------------------------------


def answers_about(client, bin_id: str, token: str) -> list[tuple]:
    """Status, headers and body of every kind of request about one bin."""
    requests = [
        ("GET", f"/api/bins/{bin_id}"),
        ("GET", f"/api/bins/{bin_id}/requests"),
        ("GET", f"/api/bins/{bin_id}/requests/1"),
        ("PATCH", f"/api/bins/{bin_id}"),
        ("DELETE", f"/api/bins/{bin_id}"),
        ("GET", f"/bins/{bin_id}"),
        ("GET", f"/bins/{bin_id}/rows"),
        ("POST", f"/c/{token}"),
        ("POST", f"/c/{token}/deeper?x=1"),
    ]
    found = []
    for method, url in requests:
        answer = client.open(url, method=method, json={"name": "x"})
        headers = sorted((k, v) for k, v in answer.headers.items() if k not in ("Date",))
        found.append(
            (
                method,
                url.replace(bin_id, "ID").replace(token, "TOKEN"),
                answer.status_code,
                headers,
                answer.data,
            )
        )
    return found


def test_unknown_deleted_and_expired_bins_are_indistinguishable(app, client):
    deleted = client.post("/api/bins").get_json()
    assert client.delete(f"/api/bins/{deleted['id']}").status_code == 204
    expired = client.post("/api/bins").get_json()
    app.config.update(
        BIN_IDLE_TTL_SECONDS=60,
        REQUEST_TTL_SECONDS=0,
        MAX_REQUESTS_PER_BIN=0,
        STORAGE_QUOTA_BYTES=0,
    )
    from datetime import UTC, datetime, timedelta

    with app.app_context():
        assert prune(app, now=datetime.now(UTC) + timedelta(hours=1)).expired_bins == 1
    unknown = answers_about(client, "b" * 32, "t" * 32)
    assert answers_about(client, deleted["id"], token_of(deleted)) == unknown
    assert answers_about(client, expired["id"], token_of(expired)) == unknown
    assert {status for _m, _u, status, _h, _b in unknown} == {404}


# --- CSRF and safe methods --------------------------------------------------------------------


def dashboard_rules(app: Flask, methods: set[str]):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("dashboard.") and methods & set(rule.methods or ()):
            yield rule


def test_every_state_changing_dashboard_action_needs_the_csrf_token(app, client):
    bin_, rid = populated(client)
    rules = list(dashboard_rules(app, UNSAFE))
    assert len(rules) >= 5  # create, delete request, clear, delete bin, resend, settings...
    before = snapshot(app)
    form = {"name": "pwned", "url": "http://127.0.0.1:9/", "scheme": "stripe", "secrets": "x"}
    for rule in rules:
        url = url_for_rule(rule, bin_["id"], rid)
        for extra in ({}, {"csrf_token": "forged"}):
            answer = client.post(url, data={**form, **extra})
            assert answer.status_code == 403, (url, extra)
            assert "Reload the page" in answer.get_data(as_text=True)
        htmx = client.post(url, data=form, headers={"HX-Request": "true", "X-CSRF-Token": "x"})
        assert htmx.status_code == 403, url
    assert snapshot(app) == before
    # With the page's token the same requests are accepted (so 403 above meant "no token").
    token = csrf_of(client)
    create = [r for r in rules if r.endpoint == "dashboard.create_bin"][0]
    assert client.post(url_for_rule(create, "", 0), data={"csrf_token": token}).status_code == 303


def test_no_get_changes_anything(app, client):
    bin_, rid = populated(client)
    client.post(
        f"/api/bins/{bin_['id']}/requests/{rid}/resend", json={"url": "http://127.0.0.1:9/"}
    )
    before = snapshot(app)
    seen = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint in ("capture.capture", "static"):
            continue
        url = url_for_rule(rule, bin_["id"], rid)
        for headers in ({}, {"HX-Request": "true"}):
            answer = client.get(url, headers=headers)
            assert answer.status_code < 500, url
            seen.append(answer)
    assert snapshot(app) == before
    secret = app.config["SECRET_KEY"]
    for answer in seen:
        assert secret.encode() not in answer.data
        assert app.config["DATABASE_URL"].encode() not in answer.data


# --- logs ----------------------------------------------------------------------------------------


def test_redaction_of_capabilities_and_queries():
    line = "POST /c/AbCdEf123456_-xyz/hook?token=hunter2 and /api/bins/Zz9Yy8Xx7Ww6/requests"
    redacted = redact_target(line)
    assert "AbCdEf123456_-xyz" not in redacted and "Zz9Yy8Xx7Ww6" not in redacted
    assert "hunter2" not in redacted
    assert redact("/bins/AbCdEf123456") == redact("/bins/AbCdEf123456")  # stable fingerprint
    assert redact("/static/webbin.js") == "/static/webbin.js"


def test_app_log_is_redacted(app, caplog):
    with caplog.at_level(logging.ERROR):
        app.logger.error("capture failed for %s", "/c/SecretToken12345/hook")
    assert "SecretToken12345" not in caplog.text
    assert "/c/~" in caplog.text


def test_server_logs_hold_no_capability_or_query(server):
    bin_ = server.new_bin()
    before = len(Path(server.log).read_text(errors="replace"))
    request = urllib.request.Request(
        server.url + capture_path(bin_) + "/hook?api_key=hunter2",
        data=b"x",
        method="POST",
        headers={"Referer": server.url + f"/bins/{bin_['id']}?r=1"},
    )
    urllib.request.urlopen(request, timeout=10).close()
    urllib.request.urlopen(server.url + f"/bins/{bin_['id']}", timeout=10).close()
    urllib.request.urlopen(server.url + f"/api/bins/{bin_['id']}/requests", timeout=10).close()
    # A request line gunicorn refuses is quoted in its error log: redacted there too.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(
            f"POST {capture_path(bin_)}/\xff?api_key=hunter3 HTTP/1.1\r\n\r\n".encode("latin-1")
        )
        assert s.recv(1024).startswith(b"HTTP/1.1 400")
    # gunicorn writes its logs after answering: wait until both kinds of line are in.
    deadline = time.monotonic() + 10
    while True:
        log = Path(server.log).read_text(errors="replace")
        if "Invalid request from" in log[before:] and '/requests HTTP/1.1" 200' in log[before:]:
            break
        assert time.monotonic() < deadline, "the log never recorded the requests"
        time.sleep(0.05)
    assert token_of(bin_) not in log
    assert bin_["id"] not in log
    assert "hunter2" not in log and "hunter3" not in log
    assert re.search(r'"POST /c/~[0-9a-f]{8}/hook\?… HTTP/1.1" 200', log), log[-2000:]
