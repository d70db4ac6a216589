"""A bin's ``request_count`` stays exactly the number of requests it holds: through captures
(several senders at once, against a real server), deletes (the same request deleted twice at
once), clears, and every kind of pruning (also when a user deletes a request the pass has
chosen), on SQLite and PostgreSQL. The upgrade that backfills it is in test_migrations."""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import DATABASES
from flask import Flask
from flask.testing import FlaskClient
from helpers import Server, capture_path
from sqlalchemy import event, func, select, update

from webbin.storage.models import Bin, CapturedRequest, db
from webbin.storage.retention import prune

NOW = datetime(2030, 1, 1, tzinfo=UTC)
OFF = {
    "MAX_REQUESTS_PER_BIN": 0,
    "REQUEST_TTL_SECONDS": 0,
    "BIN_IDLE_TTL_SECONDS": 0,
    "STORAGE_QUOTA_BYTES": 0,
}


def counts(app: Flask) -> dict[str, tuple[int, int]]:
    """Each bin's (stored count, rows it really holds)."""
    with app.app_context(), db.engine.connect() as conn:
        stored = dict(conn.execute(select(Bin.id, Bin.request_count)).all())
        held = dict(
            conn.execute(
                select(Bin.id, func.count(CapturedRequest.id))
                .outerjoin(CapturedRequest, CapturedRequest.bin_id == Bin.id)
                .group_by(Bin.id)
            ).all()
        )
    assert stored.keys() == held.keys()
    return {bin_id: (stored[bin_id], held[bin_id]) for bin_id in stored}


def exact(**expected: int) -> dict[str, tuple[int, int]]:
    return {bin_id: (n, n) for bin_id, n in expected.items()}


def new_bin(client: FlaskClient) -> str:
    return client.post("/api/bins").get_json()["id"]


def capture(client: FlaskClient, bin_id: str, count: int, size: int = 10) -> list[int]:
    """Capture ``count`` requests; their ids, oldest first."""
    token = client.get(f"/api/bins/{bin_id}").get_json()["capture_url"].rsplit("/", 1)[1]
    for i in range(count):
        assert client.post(f"/c/{token}/{i}", data=b"x" * size).status_code == 200
    rows = client.get(f"/api/bins/{bin_id}/requests?limit=500").get_json()["requests"]
    return sorted(row["id"] for row in rows)[-count:] if count else []


def shown(client: FlaskClient, bin_id: str) -> tuple[int, int]:
    """The count as ``GET /api/bins/{id}`` and the bin page show it."""
    api = client.get(f"/api/bins/{bin_id}").get_json()["request_count"]
    page = client.get(f"/bins/{bin_id}").get_data(as_text=True)
    return api, int(re.search(r'<span id="request-total">(\d+)</span>', page).group(1))


def csrf(client: FlaskClient, bin_id: str) -> str:
    page = client.get(f"/bins/{bin_id}").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def run_prune(app: Flask, **limits: int) -> dict[str, int]:
    app.config.update({**OFF, **limits})
    with app.app_context():
        return prune(app, now=NOW).as_dict()


def age_requests(app: Flask, bin_id: str, by: timedelta, ids: list[int] | None = None) -> None:
    with app.app_context(), db.engine.begin() as conn:
        query = update(CapturedRequest).where(CapturedRequest.bin_id == bin_id)
        if ids is not None:
            query = query.where(CapturedRequest.id.in_(ids))
        conn.execute(query.values(received_at=NOW - by))


def age_bin(app: Flask, bin_id: str, by: timedelta) -> None:
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(update(Bin).where(Bin.id == bin_id).values(created_at=NOW - by))


@contextmanager
def before_delete_of_requests(app: Flask, action: Callable[[], None]) -> Iterator[None]:
    """Run ``action`` once, just before the next ``DELETE FROM captured_requests`` reaches
    the database (after whatever chose the rows to delete)."""
    pending = [action]

    def hook(conn, cursor, statement, parameters, context, executemany) -> None:
        if pending and statement.lstrip().upper().startswith("DELETE FROM CAPTURED_REQUESTS"):
            pending.pop()()

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", hook)
        try:
            yield
        finally:
            event.remove(db.engine, "before_cursor_execute", hook)
    assert not pending, "the action never ran"


# --- Captures, deletes, clears -------------------------------------------------------------


def test_captures_deletes_and_clears_keep_the_count(app, client):
    first, second = new_bin(client), new_bin(client)
    assert shown(client, first) == (0, 0)
    ids = capture(client, first, 5)
    capture(client, second, 3)
    assert counts(app) == exact(**{first: 5, second: 3})
    assert shown(client, first) == (5, 5)

    assert client.delete(f"/api/bins/{first}/requests/{ids[0]}").status_code == 204
    token = csrf(client, first)
    answer = client.post(f"/bins/{first}/requests/{ids[1]}/delete", data={"csrf_token": token})
    assert answer.status_code == 303
    assert counts(app) == exact(**{first: 3, second: 3})

    # Deleting what is gone, or what belongs to another bin, changes nothing.
    assert client.delete(f"/api/bins/{first}/requests/{ids[0]}").status_code == 404
    assert client.delete(f"/api/bins/{second}/requests/{ids[2]}").status_code == 404
    assert counts(app) == exact(**{first: 3, second: 3})

    assert client.delete(f"/api/bins/{second}/requests").status_code == 204
    assert counts(app) == exact(**{first: 3, second: 0})
    answer = client.post(f"/bins/{first}/clear", data={"csrf_token": token})
    assert answer.status_code == 303
    assert counts(app) == exact(**{first: 0, second: 0})
    assert shown(client, first) == (0, 0)

    capture(client, first, 2)  # counting goes on from zero
    assert shown(client, first) == (2, 2)
    assert counts(app) == exact(**{first: 2, second: 0})


def test_the_same_request_deleted_twice_at_once_is_counted_once(app, client):
    """Both deletes find the request, then both delete it: one removes it, the other finds
    nothing (PostgreSQL: after waiting on its row lock; SQLite: on the write lock). Taking
    one off per delete instead of per deleted row would leave the count one short."""
    bin_id = new_bin(client)
    ids = capture(client, bin_id, 4)
    both_looked = threading.Barrier(2, timeout=10)

    def hook(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM CAPTURED_REQUESTS"):
            both_looked.wait()

    def delete() -> int:
        return app.test_client().delete(f"/api/bins/{bin_id}/requests/{ids[1]}").status_code

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", hook)
        try:
            with ThreadPoolExecutor(2) as pool:
                answers = [f.result(timeout=30) for f in [pool.submit(delete) for _ in range(2)]]
        finally:
            event.remove(db.engine, "before_cursor_execute", hook)
    assert answers == [204, 204]
    assert counts(app) == exact(**{bin_id: 3})


@pytest.fixture(params=DATABASES)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, Flask]]:
    """A real ``webbin serve`` with two workers and no capture rate limits, and an app on
    the same database to look inside it."""
    from webbin import create_app

    config = {"TESTING": True, "DATA_DIR": str(tmp_path), "MIGRATE_ON_START": False}
    env = {
        "WEBBIN_WORKERS": "2",
        "WEBBIN_CAPTURE_CLIENT_RATE": "0",
        "WEBBIN_CAPTURE_BIN_RATE": "0",
    }
    if request.param == "postgres":
        config["DATABASE_URL"] = env["WEBBIN_DATABASE_URL"] = request.getfixturevalue(
            "pg_schema_url"
        )
    running = Server(tmp_path, env)
    app = create_app(config)
    yield running, app
    running.stop()
    with app.app_context():
        db.engine.dispose()


def test_concurrent_captures_to_a_real_server_are_all_counted(served):
    running, app = served
    bins = [running.new_bin(), running.new_bin()]
    per_sender, senders = 30, 6

    def send(sender: int) -> list[int]:
        statuses = []
        for i in range(per_sender):
            bin_ = bins[(sender + i) % 2]
            request = urllib.request.Request(
                running.url + capture_path(bin_) + f"/{sender}/{i}", data=b"{}", method="POST"
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                statuses.append(answer.status)
        return statuses

    with ThreadPoolExecutor(senders) as pool:
        statuses = [s for f in [pool.submit(send, n) for n in range(senders)] for s in f.result()]
    assert statuses == [200] * per_sender * senders
    each = per_sender * senders // 2
    assert counts(app) == exact(**{bin_["id"]: each for bin_ in bins})
    for bin_ in bins:
        with urllib.request.urlopen(f"{running.url}/api/bins/{bin_['id']}", timeout=10) as r:
            assert json.load(r)["request_count"] == each


# --- Pruning -------------------------------------------------------------------------------


def test_per_bin_maximum_keeps_the_count(app, client):
    busy, quiet = new_bin(client), new_bin(client)
    capture(client, busy, 6)
    capture(client, quiet, 2)
    assert run_prune(app, MAX_REQUESTS_PER_BIN=3)["evicted_over_bin_limit"] == 3
    assert counts(app) == exact(**{busy: 3, quiet: 2})
    assert shown(client, busy) == (3, 3)
    capture(client, busy, 2)
    run_prune(app, MAX_REQUESTS_PER_BIN=3)
    assert counts(app) == exact(**{busy: 3, quiet: 2})


def test_request_ttl_keeps_the_count(app, client):
    old, mixed, fresh = new_bin(client), new_bin(client), new_bin(client)
    capture(client, old, 3)
    mixed_ids = capture(client, mixed, 4)
    capture(client, fresh, 2)
    for bin_id in (old, mixed, fresh):
        age_requests(app, bin_id, timedelta(minutes=1))
    age_requests(app, old, timedelta(hours=2))
    age_requests(app, mixed, timedelta(hours=2), ids=mixed_ids[:2])
    assert run_prune(app, REQUEST_TTL_SECONDS=3600)["expired_requests"] == 5
    assert counts(app) == exact(**{old: 0, mixed: 2, fresh: 2})


def test_quota_keeps_the_count_of_every_bin_it_evicts_from(app, client):
    first, second = new_bin(client), new_bin(client)
    capture(client, first, 3, size=100)
    capture(client, second, 3, size=100)
    # 600 bytes stored, 250 allowed: the 3 of the first bin and 1 of the second go.
    assert run_prune(app, STORAGE_QUOTA_BYTES=250, PRUNE_BATCH=2)["evicted_for_quota"] == 4
    assert counts(app) == exact(**{first: 0, second: 2})


def test_idle_bins_go_and_the_others_keep_their_count(app, client):
    idle, active = new_bin(client), new_bin(client)
    capture(client, idle, 3)
    capture(client, active, 2)
    age_bin(app, idle, timedelta(days=30))
    age_requests(app, idle, timedelta(days=8))
    age_requests(app, active, timedelta(minutes=1))
    assert run_prune(app, BIN_IDLE_TTL_SECONDS=7 * 86400)["expired_bins"] == 1
    assert counts(app) == exact(**{active: 2})


def test_a_capture_while_its_idle_bin_is_pruned_is_counted(app, client):
    """The pass deletes the idle bin's old requests, a capture arrives, the bin is kept
    (no longer idle) holding just the new request, and its count says so."""
    bin_id = new_bin(client)
    capture(client, bin_id, 3)
    age_bin(app, bin_id, timedelta(days=30))
    age_requests(app, bin_id, timedelta(days=8))
    with before_delete_of_requests(app, lambda: capture(client, bin_id, 1)):
        report = run_prune(app, BIN_IDLE_TTL_SECONDS=7 * 86400)
    assert report["expired_bins"] == 0
    assert counts(app) == exact(**{bin_id: 1})
    assert shown(client, bin_id) == (1, 1)


@pytest.mark.parametrize(
    ("limits", "kind"),
    [
        ({"MAX_REQUESTS_PER_BIN": 2}, "evicted_over_bin_limit"),
        ({"REQUEST_TTL_SECONDS": 3600}, "expired_requests"),
        ({"STORAGE_QUOTA_BYTES": 250}, "evicted_for_quota"),
        ({"BIN_IDLE_TTL_SECONDS": 7 * 86400}, "expired_bins"),
    ],
)
def test_a_request_deleted_while_pruning_chose_it_is_taken_off_once(app, client, limits, kind):
    """A user deletes one of the rows the pass has just chosen, before the pass deletes
    them: the pass deletes one fewer, and the count goes down by exactly what went."""
    doomed, other = new_bin(client), new_bin(client)
    ids = capture(client, doomed, 5, size=100)
    capture(client, other, 2)
    age_bin(app, doomed, timedelta(days=30))
    age_requests(app, doomed, timedelta(days=8))
    age_requests(app, other, timedelta(minutes=1))

    def user_deletes() -> None:
        assert client.delete(f"/api/bins/{doomed}/requests/{ids[0]}").status_code == 204

    with before_delete_of_requests(app, user_deletes):
        report = run_prune(app, **limits)
    if kind == "expired_bins":
        assert report[kind] == 1
        assert counts(app) == exact(**{other: 2})
        return
    # 5 requests of 100 bytes plus 20 bytes: over 2 per bin, older than an hour, over quota
    # all leave the doomed bin with at most 2, and the user's delete was not pruning's.
    remaining = 2 if kind != "expired_requests" else 0
    assert report[kind] == 5 - remaining - 1
    assert counts(app) == exact(**{doomed: remaining, other: 2})
