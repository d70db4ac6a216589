"""Re-verification after a settings change runs in short batches and never stalls other
writers: rows per write transaction, a concurrent capture on a real SQLite file, and the
answer that says how many requests were re-verified."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from helpers import capture_path
from sqlalchemy import event, insert, select, update

from webbin.receiver import verification
from webbin.storage.models import Bin, CapturedRequest, db

SECRET = "It's a Secret to Everybody"


def github_headers(body: bytes, secret: str) -> list[list[str]]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return [
        ["Content-Type", "application/json"],
        ["X-GitHub-Event", "push"],
        ["X-Hub-Signature-256", f"sha256={digest}"],
    ]


def json_body(index: int, size: int) -> bytes:
    """A pretty-printed JSON body of about ``size`` bytes: re-encoding it is real work."""
    items = [{"n": index, "k": i, "text": "webbin"} for i in range(max(1, size // 45))]
    return json.dumps({"items": items}, indent=2).encode()


def fill(app: Flask, bin_id: str, count: int, size: int) -> None:
    """``count`` captured GitHub deliveries, even ones signed with ``SECRET``, odd ones not,
    stored as captured before the bin had a secret (all ``unverified``)."""
    rows = []
    for index in range(count):
        body = json_body(index, size)
        rows.append(
            {
                "bin_id": bin_id,
                "seq": index + 1,
                "method": "POST",
                "path": "/",
                "query_string": "",
                "headers": github_headers(body, SECRET if index % 2 == 0 else "another"),
                "body": body,
                "content_type": "application/json",
                "size": len(body),
                "remote_addr": "127.0.0.1",
                "received_at": datetime.now(UTC),
                "url": "http://localhost/",
                "signature_scheme": "github",
                "signature_status": "unverified",
                "delivery_attempt": 1,
            }
        )
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(insert(CapturedRequest), rows)
        conn.execute(update(Bin).where(Bin.id == bin_id).values(last_seq=count))


def statuses(app: Flask, bin_id: str) -> list[str]:
    with app.app_context(), db.engine.connect() as conn:
        return list(
            conn.execute(
                select(CapturedRequest.signature_status)
                .where(CapturedRequest.bin_id == bin_id)
                .order_by(CapturedRequest.seq)
            ).scalars()
        )


@pytest.fixture
def write_transactions(app: Flask) -> Iterator[list[int]]:
    """Rows updated by each committed transaction that updated captured requests."""
    written: list[int] = []
    pending: list[int] = []

    def on_execute(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool):
        if statement.lstrip().upper().startswith("UPDATE CAPTURED_REQUESTS"):
            pending.append(len(params) if many else 1)

    def on_commit(conn: Any) -> None:
        if pending:
            written.append(sum(pending))
            pending.clear()

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    yield written
    event.remove(engine, "before_cursor_execute", on_execute)
    event.remove(engine, "commit", on_commit)


@pytest.mark.parametrize(
    ("count", "size", "bound"),
    [
        (3 * verification.REVERIFY_BATCH_ROWS + 10, 100, "rows"),
        (30, 300_000, "bytes"),
    ],
)
def test_reverify_writes_in_batches_bounded_by_rows_and_bytes(
    app, client, write_transactions, count, size, bound
):
    bin_ = client.post("/api/bins").get_json()
    fill(app, bin_["id"], count, size)
    body_size = len(json_body(0, size))

    response = client.patch(f"/api/bins/{bin_['id']}", json={"signature": {"secrets": [SECRET]}})

    assert response.status_code == 200
    assert response.get_json()["reverified"] == count
    assert statuses(app, bin_["id"]) == ["valid" if i % 2 == 0 else "invalid" for i in range(count)]
    per_batch = min(
        verification.REVERIFY_BATCH_ROWS,
        max(1, verification.REVERIFY_BATCH_BYTES // body_size),
    )
    assert sum(write_transactions) == count  # every verdict changed, each written once
    assert max(write_transactions) == per_batch
    assert len(write_transactions) == -(-count // per_batch)
    if bound == "bytes":
        assert per_batch < verification.REVERIFY_BATCH_ROWS


def test_unchanged_verdicts_are_not_rewritten(app, client, write_transactions):
    bin_ = client.post("/api/bins").get_json()
    fill(app, bin_["id"], 20, 100)
    client.patch(f"/api/bins/{bin_['id']}", json={"signature": {"secrets": [SECRET]}})
    write_transactions.clear()
    response = client.patch(
        f"/api/bins/{bin_['id']}", json={"signature": {"tolerance_seconds": 60}}
    )
    assert response.get_json()["reverified"] == 20
    assert write_transactions == []


def test_patch_without_signature_change_reverifies_nothing(client):
    bin_ = client.post("/api/bins").get_json()
    response = client.patch(f"/api/bins/{bin_['id']}", json={"name": "renamed"})
    assert response.get_json()["reverified"] == 0


def test_a_newer_settings_change_supersedes_a_running_reverification(app, client, monkeypatch):
    bin_ = client.post("/api/bins").get_json()
    fill(app, bin_["id"], 2 * verification.REVERIFY_BATCH_ROWS, 100)
    real_sleep, newer, changed = verification.time.sleep, [], threading.Event()
    # ``time.sleep`` is patched for the whole process: only the older pass (run on this thread
    # by the test client) reacts, not background loops such as the PostgreSQL relay's.
    older_thread = threading.get_ident()

    def change_again() -> None:
        newer.append(
            app.test_client().patch(
                f"/api/bins/{bin_['id']}", json={"signature": {"secrets": [SECRET]}}
            )
        )

    def between_batches(seconds: float) -> None:
        """After the older pass's first batch, the secret is changed again (and that change
        re-verifies every request) before the older pass goes on."""
        if threading.get_ident() == older_thread and not changed.is_set():
            changed.set()
            thread = threading.Thread(target=change_again)
            thread.start()
            thread.join(30)
        real_sleep(seconds)

    monkeypatch.setattr(verification.time, "sleep", between_batches)
    older = client.patch(f"/api/bins/{bin_['id']}", json={"signature": {"secrets": ["old"]}})

    assert older.status_code == 200 and newer[0].status_code == 200
    assert newer[0].get_json()["reverified"] == 2 * verification.REVERIFY_BATCH_ROWS
    # The older pass stopped at its next batch instead of writing verdicts for a secret gone.
    assert older.get_json()["reverified"] == verification.REVERIFY_BATCH_ROWS
    assert statuses(app, bin_["id"]) == [
        "valid" if i % 2 == 0 else "invalid" for i in range(2 * verification.REVERIFY_BATCH_ROWS)
    ]


def test_dashboard_flash_counts_the_reverified_requests(app, client):
    bin_ = client.post("/api/bins").get_json()
    fill(app, bin_["id"], 3, 100)
    page = client.get(f"/bins/{bin_['id']}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post(
        f"/bins/{bin_['id']}/settings/signature",
        data={"scheme": "auto", "secrets": SECRET, "csrf_token": token},
        follow_redirects=True,
    )
    assert "3 captured requests re-verified." in response.get_data(as_text=True)
    assert statuses(app, bin_["id"]) == ["valid", "invalid", "valid"]


def test_capture_on_another_thread_never_waits_out_a_large_reverification(sqlite_app):
    """A capture that waits on SQLite's write lock longer than its busy timeout answers 503.
    The capture path here gets a 1 s timeout (webbin's is 5 s): one transaction re-verifying
    every request with explanations held the lock for seconds; batches hold it for
    milliseconds."""
    app = sqlite_app
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=1000")

    engine.dispose()  # every connection from now on has the short timeout
    bin_ = app.test_client().post("/api/bins").get_json()
    count = 300
    fill(app, bin_["id"], count, 60_000)

    reverified: list[Any] = []
    captures: list[int] = []
    started, finished = threading.Event(), threading.Event()

    def reverify() -> None:
        started.wait(30)
        client = app.test_client()
        try:
            reverified.append(
                client.patch(f"/api/bins/{bin_['id']}", json={"signature": {"secrets": [SECRET]}})
            )
        finally:
            finished.set()

    def capture() -> None:
        client = app.test_client()
        body = b'{"during": "reverification"}'
        while not finished.is_set():
            headers = dict(github_headers(body, SECRET))
            captures.append(client.post(capture_path(bin_), data=body, headers=headers).status_code)
            started.set()
        # One more, after: the verdict is still right.
        captures.append(client.post(capture_path(bin_), data=body, headers=headers).status_code)

    threads = [threading.Thread(target=reverify), threading.Thread(target=capture)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    event.remove(engine, "connect", short_busy_timeout)

    assert reverified and reverified[0].status_code == 200
    assert reverified[0].get_json()["reverified"] >= count
    assert len(captures) >= 3, "captures ran while re-verification did"
    assert set(captures) == {200}
    found = statuses(app, bin_["id"])
    assert found[:count] == ["valid" if i % 2 == 0 else "invalid" for i in range(count)]
    assert set(found[count:]) == {"valid"}
