"""Bounded storage: per-bin maximum, request and idle-bin time-to-live, a global quota, all
enforced by pruning (background and ``webbin prune``), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from helpers import Server, capture_path
from sqlalchemy import event, select, update

from webbin import cli
from webbin.storage.models import Bin, CapturedRequest, db
from webbin.storage.retention import first_id_since, prune

NOW = datetime(2030, 1, 1, tzinfo=UTC)
OFF = {
    "MAX_REQUESTS_PER_BIN": 0,
    "REQUEST_TTL_SECONDS": 0,
    "BIN_IDLE_TTL_SECONDS": 0,
    "STORAGE_QUOTA_BYTES": 0,
}


def limits(app, **config) -> None:
    app.config.update({**OFF, **config})


def new_bin(client) -> dict:
    return client.post("/api/bins").get_json()


def fill(client, bin_: dict, count: int, size: int = 10) -> None:
    for i in range(count):
        assert client.post(capture_path(bin_) + f"/{i}", data=b"x" * size).status_code == 200


def seqs(app, bin_: dict) -> list[int]:
    with app.app_context():
        return sorted(
            db.session.scalars(
                select(CapturedRequest.seq).where(CapturedRequest.bin_id == bin_["id"])
            )
        )


def age(
    app,
    bin_: dict,
    *,
    created: timedelta | None = None,
    received: timedelta | None = None,
    seq_at_most: int | None = None,
) -> None:
    """Move a bin's creation, or its requests' arrival, back in time (relative to NOW)."""
    with app.app_context(), db.engine.begin() as conn:
        if created is not None:
            conn.execute(update(Bin).where(Bin.id == bin_["id"]).values(created_at=NOW - created))
        if received is not None:
            query = update(CapturedRequest).where(CapturedRequest.bin_id == bin_["id"])
            if seq_at_most is not None:
                query = query.where(CapturedRequest.seq <= seq_at_most)
            conn.execute(query.values(received_at=NOW - received))


def run(app):
    with app.app_context():
        return prune(app, now=NOW)


def test_each_bin_keeps_its_newest_requests(app, client):
    limits(app, MAX_REQUESTS_PER_BIN=3)
    busy, quiet = new_bin(client), new_bin(client)
    fill(client, busy, 5)
    fill(client, quiet, 2)
    assert run(app).evicted_over_bin_limit == 2
    assert seqs(app, busy) == [3, 4, 5]
    assert seqs(app, quiet) == [1, 2]
    fill(client, busy, 2)  # numbering goes on; the limit holds again at the next pass
    run(app)
    assert seqs(app, busy) == [5, 6, 7]


def test_old_requests_expire(app, client):
    limits(app, REQUEST_TTL_SECONDS=3600)
    bin_ = new_bin(client)
    fill(client, bin_, 4)
    age(app, bin_, received=timedelta(hours=2), seq_at_most=2)
    age(app, bin_, created=timedelta(days=1))
    with app.app_context(), db.engine.begin() as conn:  # the rest arrived just now
        conn.execute(
            update(CapturedRequest)
            .where(CapturedRequest.bin_id == bin_["id"], CapturedRequest.seq > 2)
            .values(received_at=NOW - timedelta(minutes=1))
        )
    assert run(app).expired_requests == 2
    assert seqs(app, bin_) == [3, 4]
    assert client.get(f"/api/bins/{bin_['id']}").status_code == 200  # the bin itself stays


def test_idle_bins_expire_and_then_look_like_they_never_existed(app, client):
    limits(app, BIN_IDLE_TTL_SECONDS=7 * 86400)
    idle, empty, active, young = (new_bin(client) for _ in range(4))
    fill(client, idle, 3)
    fill(client, active, 1)
    age(app, idle, created=timedelta(days=30), received=timedelta(days=8))
    age(app, empty, created=timedelta(days=8))
    age(app, active, created=timedelta(days=30), received=timedelta(days=1))
    age(app, young, created=timedelta(days=1))
    report = run(app)
    assert report.expired_bins == 2
    for gone in (idle, empty):
        answer = client.get(f"/api/bins/{gone['id']}")
        unknown = client.get("/api/bins/never-existed-0000000000000000")
        assert (answer.status_code, answer.get_json()) == (unknown.status_code, unknown.get_json())
        assert client.post(capture_path(gone), data=b"x").status_code == 404
    for kept in (active, young):
        assert client.get(f"/api/bins/{kept['id']}").status_code == 200
    assert seqs(app, idle) == []


def test_storage_quota_evicts_the_oldest_requests_of_any_bin(app, client):
    limits(app, STORAGE_QUOTA_BYTES=250)
    first, second = new_bin(client), new_bin(client)
    fill(client, first, 2, size=100)
    fill(client, second, 2, size=100)
    assert run(app).evicted_for_quota == 2
    assert seqs(app, first) == []
    assert seqs(app, second) == [1, 2]


def test_limits_of_zero_prune_nothing(app, client):
    limits(app)
    bin_ = new_bin(client)
    fill(client, bin_, 3, size=100)
    age(app, bin_, created=timedelta(days=999), received=timedelta(days=999))
    assert run(app).as_dict() == {
        "expired_bins": 0,
        "expired_requests": 0,
        "evicted_over_bin_limit": 0,
        "evicted_for_quota": 0,
    }


def test_deletes_run_in_small_transactions(app, client):
    """A big prune never holds the write lock for long: at most PRUNE_BATCH rows a commit."""
    limits(app, MAX_REQUESTS_PER_BIN=1, PRUNE_BATCH=3)
    bin_ = new_bin(client)
    fill(client, bin_, 10)
    deletes: list[int] = []

    def count_deletes(conn, clauseelement, multiparams, params, execution_options):
        if clauseelement.is_dml and clauseelement.is_delete:
            deletes.append(1)

    with app.app_context():
        event.listen(db.engine, "before_execute", count_deletes)
        try:
            assert prune(app, now=NOW).evicted_over_bin_limit == 9
        finally:
            event.remove(db.engine, "before_execute", count_deletes)
    assert len(deletes) == 3  # 9 rows, 3 per transaction
    assert seqs(app, bin_) == [10]


def test_time_cutoff_is_found_by_binary_search(app, client):
    bin_ = new_bin(client)
    fill(client, bin_, 20)
    with app.app_context():
        with db.engine.begin() as conn:
            ids = list(conn.scalars(select(CapturedRequest.id).order_by(CapturedRequest.id)))
            for i, rid in enumerate(ids):
                conn.execute(
                    update(CapturedRequest)
                    .where(CapturedRequest.id == rid)
                    .values(received_at=NOW + timedelta(seconds=i))
                )
        with db.engine.connect() as conn:
            lookups = []
            event.listen(conn, "before_execute", lambda *a: lookups.append(1))
            assert first_id_since(conn, NOW + timedelta(seconds=13)) == ids[13]
            assert first_id_since(conn, NOW - timedelta(days=1)) == ids[0]
            assert first_id_since(conn, NOW + timedelta(days=1)) is None
            assert len(lookups) < 30  # logarithmic, not one read per row


def test_prune_command(sqlite_app, tmp_path, monkeypatch, capsys):
    client = sqlite_app.test_client()
    bin_ = new_bin(client)
    fill(client, bin_, 4)
    monkeypatch.setenv("WEBBIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WEBBIN_MAX_REQUESTS_PER_BIN", "1")
    cli.main(["prune"])
    assert "evicted over bin limit: 3" in capsys.readouterr().out
    assert seqs(sqlite_app, bin_) == [4]


def test_server_prunes_in_the_background(tmp_path):
    running = Server(
        tmp_path,
        env={"WEBBIN_MAX_REQUESTS_PER_BIN": "2", "WEBBIN_PRUNE_INTERVAL_SECONDS": "0.3"},
    )
    try:
        bin_ = running.new_bin()
        for i in range(5):
            request = urllib.request.Request(
                running.url + capture_path(bin_) + f"/{i}", data=b"x", method="POST"
            )
            urllib.request.urlopen(request, timeout=10).close()
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(running.url + f"/api/bins/{bin_['id']}", timeout=10) as r:
                count = json.load(r)["request_count"]
            if count == 2:
                break
            assert time.monotonic() < deadline, f"still {count} requests"
            time.sleep(0.1)
    finally:
        running.stop()


@pytest.mark.parametrize("interval", [0, -1])
def test_background_pruning_can_be_turned_off(sqlite_app, interval):
    from webbin.storage.retention import start

    sqlite_app.config["PRUNE_INTERVAL_SECONDS"] = interval
    assert start(sqlite_app) is None
