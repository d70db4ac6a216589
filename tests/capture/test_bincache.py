"""The per-process cache of bins: a capture to a known bin reads nothing before its write,
yet always follows the bin's current settings and never stores into a deleted bin.

"Another process" is a second app on the same database (its own cache), or a statement
run straight on the database.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from flask import Flask
from helpers import capture_path
from sqlalchemy import create_engine, delete, func, select, update

from webbin import create_app
from webbin.capture import endpoint
from webbin.capture.bincache import BinCache, bin_cache
from webbin.storage.models import Bin, CapturedRequest, db

SECRET = "It's a Secret to Everybody"
SLACK_CHALLENGE = {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY"}


@pytest.fixture
def other(app: Flask):
    """A second webbin process on the same database: its own writer, its own cache."""
    application = create_app(
        {
            "TESTING": True,
            "DATA_DIR": app.config["DATA_DIR"],
            "DATABASE_URL": app.config["DATABASE_URL"],
        }
    )
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def on_database(app: Flask):
    """Run one statement on the database outside the app, as another process would."""
    engine = create_engine(app.config["DATABASE_URL"])

    def run(*statements) -> None:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)

    yield run
    engine.dispose()


@pytest.fixture
def bin_(client) -> dict:
    return client.post("/api/bins").get_json()


@pytest.fixture
def no_reads_after_first(client, bin_, monkeypatch):
    """One capture caches the bin; from then on a capture may not look it up in the database."""
    client.post(capture_path(bin_))
    monkeypatch.setattr(endpoint, "find_bin", lambda token: pytest.fail("bin read again"))


def token_of(bin_: dict) -> str:
    return capture_path(bin_).rsplit("/", 1)[1]


def stored(app: Flask, bin_id: str | None = None) -> list[CapturedRequest]:
    with app.app_context():
        query = select(CapturedRequest).order_by(CapturedRequest.id)
        if bin_id is not None:
            query = query.where(CapturedRequest.bin_id == bin_id)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return list(rows)


def test_a_cached_bin_is_captured_without_reading_it(app, client, bin_, no_reads_after_first):
    assert token_of(bin_) in bin_cache(app)
    assert client.post(capture_path(bin_), json={"n": 2}).get_json()["seq"] == 2
    assert [r.seq for r in stored(app, bin_["id"])] == [1, 2]


def test_unchanged_settings_keep_the_entry(app, client, bin_):
    """What the bump returns compares equal to what the lookup read (JSON columns too), so
    an unchanged bin is neither decided twice nor re-cached."""
    answer = client.patch(
        f"/api/bins/{bin_['id']}",
        json={
            "signature": {"secrets": [SECRET]},
            "handshakes": {"enabled": ["slack"]},
            "response": {"default": {"status": 202, "headers": [["X-A", "1"]]}},
        },
    )
    assert answer.status_code == 200, answer.get_json()
    client.post(capture_path(bin_))
    entry = bin_cache(app).get(token_of(bin_))
    assert client.post(capture_path(bin_)).status_code == 202
    assert bin_cache(app).get(token_of(bin_)) is entry


def test_handshake_switched_off_directly_in_the_database(app, client, bin_, on_database):
    assert (
        client.post(capture_path(bin_), json=SLACK_CHALLENGE).get_data(as_text=True)
        == (SLACK_CHALLENGE["challenge"])
    )
    on_database(
        update(Bin).where(Bin.id == bin_["id"]).values(handshake_settings={"enabled": ["meta"]})
    )
    response = client.post(capture_path(bin_), json=SLACK_CHALLENGE)
    assert response.get_json()["ok"] is True
    assert [r.handshake for r in stored(app, bin_["id"])] == ["slack", None]
    # The write refreshed the entry: the next capture is decided right from the start.
    assert bin_cache(app).get(token_of(bin_)).row.handshake_settings == {"enabled": ["meta"]}


def test_custom_response_set_by_another_process(app, client, bin_, other, no_reads_after_first):
    answer = other.test_client().patch(
        f"/api/bins/{bin_['id']}",
        json={"response": {"default": {"status": 201, "body": "made it"}}},
    )
    assert answer.status_code == 200
    response = client.post(capture_path(bin_))
    assert (response.status_code, response.get_data(as_text=True)) == (201, "made it")
    assert [r.response_status for r in stored(app, bin_["id"])] == [200, 201]


def test_secret_added_by_another_process_decides_the_verdict(
    app, client, bin_, other, no_reads_after_first
):
    body = b'{"zen": "Design for failure."}'
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "ping", "X-Hub-Signature-256": signature}
    other.test_client().patch(f"/api/bins/{bin_['id']}", json={"signature": {"secrets": [SECRET]}})
    client.post(capture_path(bin_), data=body, headers=headers)
    latest = stored(app, bin_["id"])[-1]
    assert (latest.signature_scheme, latest.signature_status) == ("github", "valid")
    assert bin_cache(app).get(token_of(bin_)).row.signature_secrets == [SECRET]


def test_settings_changed_in_this_process_are_followed(app, client, bin_, no_reads_after_first):
    """The dashboard and API change settings without touching the capture cache."""
    client.patch(f"/api/bins/{bin_['id']}", json={"response": {"default": {"status": 202}}})
    assert client.post(capture_path(bin_)).status_code == 202
    client.patch(f"/api/bins/{bin_['id']}", json={"response": {"default": {"status": 200}}})
    assert client.post(capture_path(bin_)).status_code == 200


def test_a_deleted_bin_answers_404_from_the_cache_and_stores_nothing(
    app, client, bin_, on_database, no_reads_after_first
):
    before = len(stored(app))
    on_database(  # both: a bare SQLite connection does not enforce the cascade
        delete(CapturedRequest).where(CapturedRequest.bin_id == bin_["id"]),
        delete(Bin).where(Bin.id == bin_["id"]),
    )
    response = client.post(capture_path(bin_), json={"lost": True})
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert len(stored(app)) == before - 1  # the bin's one earlier capture went with it
    assert stored(app, bin_["id"]) == []
    assert token_of(bin_) not in bin_cache(app)


def test_a_bin_deleted_by_another_process_then_unknown_token(app, client, bin_, other):
    client.post(capture_path(bin_))
    assert other.test_client().delete(f"/api/bins/{bin_['id']}").status_code in (200, 204)
    assert client.post(capture_path(bin_)).status_code == 404
    assert token_of(bin_) not in bin_cache(app)
    # Evicted: the next one reads, finds nothing and answers 404 before reading the body.
    again = client.post(capture_path(bin_))
    assert (again.status_code, again.headers.get("Connection")) == (404, "close")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CapturedRequest)) == 0


def test_the_cache_stays_bounded(app, client):
    app.extensions["webbin.bin_cache"] = BinCache(max_bins=3)
    bins = [client.post("/api/bins").get_json() for _ in range(5)]
    for bin_ in bins:
        assert client.post(capture_path(bin_)).status_code == 200
    cache = bin_cache(app)
    assert len(cache) == 3
    assert [token_of(b) in cache for b in bins] == [False, False, True, True, True]
    client.post(capture_path(bins[2]))  # most recent now; bins[3] is the least
    client.post(capture_path(bins[0]))  # read again, and evicts bins[3]
    assert [token_of(b) in cache for b in bins] == [True, False, True, False, True]
    assert [len(stored(app, b["id"])) for b in bins] == [2, 1, 2, 1, 1]


def test_lru_order_and_eviction_of_the_cache_itself():
    cache = BinCache(max_bins=2)
    for token in ("a", "b"):
        cache.put(token, object())  # type: ignore[arg-type]
    assert cache.get("a") is not None  # "b" is now the least recently used
    cache.put("c", object())  # type: ignore[arg-type]
    assert ("a" in cache, "b" in cache, "c" in cache) == (True, False, True)
    cache.evict("a")
    cache.evict("missing")
    assert len(cache) == 1
