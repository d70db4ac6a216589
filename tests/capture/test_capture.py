"""Capture through the Flask test client, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import base64
import gzip
import threading

import pytest
from helpers import capture_path
from sqlalchemy import create_engine, event, func, select

from webbin.storage.models import CapturedRequest, db


@pytest.fixture
def bin_(client) -> dict:
    response = client.post("/api/bins", json={"name": "test"})
    assert response.status_code == 201
    return response.get_json()


def latest(client, bin_: dict) -> dict:
    listing = client.get(f"/api/bins/{bin_['id']}/requests?limit=1").get_json()
    return client.get(f"/api/bins/{bin_['id']}/requests/{listing['requests'][0]['id']}").get_json()


@pytest.mark.parametrize(
    "method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PURGE"]
)
def test_every_method_is_captured(client, bin_, method):
    response = client.open(capture_path(bin_) + "/x", method=method)
    assert response.status_code == 200
    assert latest(client, bin_)["method"] == method


@pytest.mark.parametrize(
    ("suffix", "path", "query"),
    [
        ("", "/", ""),
        ("/", "/", ""),
        ("/stripe/events", "/stripe/events", ""),
        ("/a%20b/%2F?x=1&x=2&y=", "/a%20b/%2F", "x=1&x=2&y="),
        ("?only=query", "/", "only=query"),
    ],
)
def test_sub_path_and_query_are_kept_as_sent(client, bin_, suffix, path, query):
    client.post(capture_path(bin_) + suffix, environ_base={"RAW_URI": capture_path(bin_) + suffix})
    detail = latest(client, bin_)
    assert (detail["path"], detail["query_string"]) == (path, query)


@pytest.mark.parametrize(
    "body",
    [
        b'{"b": 1, "a": [1.10, 2e3]}',
        b"\x00\x01\xff\xfe invalid \xc3\x28 utf-8 \x00",
        gzip.compress(b'{"compressed": true}'),
        b"",
    ],
)
def test_body_bytes_are_stored_unchanged(client, bin_, body):
    client.post(capture_path(bin_), data=body, content_type="application/json")
    detail = latest(client, bin_)
    assert base64.b64decode(detail["body_base64"]) == body
    assert detail["size"] == len(body)
    raw = client.get(f"/api/bins/{bin_['id']}/requests/{detail['id']}/raw")
    assert raw.data == body
    assert raw.headers["Content-Disposition"].startswith("attachment")


def test_body_text_is_null_when_not_utf8(client, bin_):
    client.post(capture_path(bin_), data=b"\xff\xfe")
    assert latest(client, bin_)["body_text"] is None
    client.post(capture_path(bin_), data="héllo".encode())
    assert latest(client, bin_)["body_text"] == "héllo"


def test_form_body_is_not_parsed_away(client, bin_):
    body = b"a=1&a=2&b=%ZZ&c"
    client.post(capture_path(bin_), data=body, content_type="application/x-www-form-urlencoded")
    assert base64.b64decode(latest(client, bin_)["body_base64"]) == body


def test_over_limit_body_is_refused_and_not_stored(app, bin_):
    app.config["MAX_BODY_BYTES"] = 10
    client = app.test_client()
    response = client.post(capture_path(bin_), data=b"x" * 11)
    assert response.status_code == 413
    assert "limit of 10 bytes" in response.get_json()["message"]
    assert client.post(capture_path(bin_), data=b"x" * 10).status_code == 200
    listing = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"]
    assert [r["size"] for r in listing] == [10]


def test_unknown_capture_token_is_404(client):
    response = client.post("/c/no-such-token", data=b"hi")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_capture_url_does_not_read_the_bin(client, bin_):
    token = capture_path(bin_).rsplit("/", 1)[1]
    assert token != bin_["id"]
    assert client.get(f"/api/bins/{token}").status_code == 404
    assert client.get(f"/bins/{token}").status_code == 404


def test_sequence_numbers_count_per_bin(client, bin_):
    other = client.post("/api/bins").get_json()
    for _ in range(3):
        client.post(capture_path(bin_))
    client.post(capture_path(other))
    seqs = [r["seq"] for r in client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"]]
    assert seqs == [3, 2, 1]
    assert client.get(f"/api/bins/{other['id']}/requests").get_json()["requests"][0]["seq"] == 1


def test_headers_and_metadata(client, bin_):
    client.post(
        capture_path(bin_),
        data=b"{}",
        headers={"Content-Type": "application/json", "X-GitHub-Event": "push"},
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    detail = latest(client, bin_)
    assert ["X-Github-Event", "push"] in detail["headers"]
    assert detail["content_type"] == "application/json"
    assert detail["remote_addr"] == "203.0.113.7"
    assert detail["received_at"].endswith("Z")


def test_committed_before_publishing_and_before_answering(app, bin_):
    """The row is durable before viewers are told and before the sender hears 200: each
    event is recorded in order on the real engine, and at the publish and at the start of
    the answer the row is read through a connection of its own (so only committed rows)."""
    events: list[str] = []
    with app.app_context():
        engine = db.engine
    other = create_engine(engine.url)

    def committed_rows() -> int:
        with other.connect() as conn:
            query = select(func.count()).where(CapturedRequest.bin_id == bin_["id"])
            return conn.execute(query).scalar_one()

    capturing = threading.get_ident()

    def on_commit(_conn) -> None:
        # The capture's own commit; on PostgreSQL the relay's sender thread commits its
        # NOTIFY on a pooled connection of the same engine, whenever it gets to it.
        if threading.get_ident() == capturing:
            events.append("commit")

    event.listen(engine, "commit", on_commit)
    broker = app.extensions["webbin.broker"]
    original = broker.publish

    def publish(bin_id: str) -> None:
        events.append(f"publish, {committed_rows()} row(s) committed")
        original(bin_id)

    broker.publish = publish
    inner = app.wsgi_app

    def answering(environ, start_response):
        def start(status, headers, *exc_info):
            if environ["PATH_INFO"].startswith("/c/"):
                events.append(f"answer {status[:3]}, {committed_rows()} row(s) committed")
            return start_response(status, headers, *exc_info)

        return inner(environ, start)

    app.wsgi_app = answering
    try:
        events.clear()
        assert app.test_client().post(capture_path(bin_), data=b"x").status_code == 200
    finally:
        event.remove(engine, "commit", on_commit)
        other.dispose()
    assert events == [
        "commit",
        "publish, 1 row(s) committed",
        "answer 200, 1 row(s) committed",
    ]


def test_broker_failure_does_not_fail_capture(app, bin_):
    def explode(bin_id):
        raise RuntimeError("broker down")

    app.extensions["webbin.broker"].publish = explode
    client = app.test_client()
    assert client.post(capture_path(bin_), data=b"kept").status_code == 200
    assert base64.b64decode(latest(client, bin_)["body_base64"]) == b"kept"
