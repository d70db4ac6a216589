"""Group commit keeps every promise one transaction per capture made: consecutive sequence
numbers, ids in commit order within a bin, retry marks that see the rest of the batch, and
no acknowledgement for anything of a batch that failed.

Batches are formed deterministically: the first capture's write is held (in place of the
real thread hand-off) until the others have queued behind it, so they make one batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from helpers import allow_captured_rows, capture_path, refuse_captured_rows
from sqlalchemy import select

from webbin import create_app
from webbin.capture import writer as writer_module
from webbin.storage.models import Bin, CapturedRequest, db

NO_LIMITS = {"CAPTURE_CLIENT_RATE": 0, "CAPTURE_BIN_RATE": 0}


@pytest.fixture
def fast_app(app: Flask) -> Flask:
    app.config.update(NO_LIMITS)
    return app


def wait_until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


class Batches:
    """Holds the first batch until ``queued`` more captures wait behind it; records sizes."""

    def __init__(self, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writer: writer_module.Writer = app.extensions["webbin.writer"]
        self.sizes: list[int] = []
        self.release = threading.Event()
        real_write_batch = writer_module._write_batch

        def recorded(conn, batch):
            self.sizes.append(len(batch))
            if len(self.sizes) == 1:
                assert self.release.wait(10), "the held batch was never released"
            return real_write_batch(conn, batch)

        monkeypatch.setattr(writer_module, "_write_batch", recorded)

    def queued(self) -> int:
        with self.writer._lock:
            return len(self.writer._queue)


@contextmanager
def held_batch(app: Flask, monkeypatch, bodies: list[tuple[bytes, dict]], path: str) -> Iterator:
    """Send the first body, hold its batch, queue the rest one by one (in order), release.

    Yields the answers (in sending order) once every capture was answered.
    """
    batches = Batches(app, monkeypatch)
    answers: list = [None] * len(bodies)

    def send(index: int) -> None:
        body, headers = bodies[index]
        answers[index] = app.test_client().post(path, data=body, headers=headers)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    threads[0].start()
    wait_until(lambda: batches.sizes, "the first capture's batch started")
    for index, thread in enumerate(threads[1:], start=1):
        thread.start()
        wait_until(lambda i=index: batches.queued() == i, f"capture {index} queued")
    batches.release.set()
    for thread in threads:
        thread.join(20)
    yield answers, batches.sizes


def stored(app: Flask, bin_id: str) -> list:
    with app.app_context(), db.engine.connect() as conn:
        return conn.execute(
            select(
                CapturedRequest.id,
                CapturedRequest.seq,
                CapturedRequest.body,
                CapturedRequest.duplicate_of,
                CapturedRequest.delivery_attempt,
            )
            .where(CapturedRequest.bin_id == bin_id)
            .order_by(CapturedRequest.id)
        ).all()


def github(delivery: str) -> dict:
    return {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery}


def test_one_batch_gets_consecutive_seqs_and_sees_its_own_retries(fast_app, monkeypatch):
    client = fast_app.test_client()
    bin_ = client.post("/api/bins").get_json()
    path = capture_path(bin_) + "/hook"
    before = client.post(path, data=b"stored-earlier", headers=github("old")).get_json()

    bodies = [
        (b"leader", {}),
        (b"a1", github("A")),  # first delivery of A: in this batch, no id yet
        (b"old2", github("old")),  # continues the stored chain of "old"
        (b"plain", {}),
        (b"a2", github("A")),  # a repeat of a1, which is in the same batch
        (b"a3", github("A")),
    ]
    with held_batch(fast_app, monkeypatch, bodies, path) as (answers, sizes):
        pass
    assert sizes == [1, 5], "the queued captures were not written as one batch"
    assert [a.status_code for a in answers] == [200] * 6
    seqs = [a.get_json()["seq"] for a in answers]
    assert seqs == list(range(2, 8)), "one batch, consecutive numbers in queue order"

    rows = {row.body: row for row in stored(fast_app, bin_["id"])}
    assert [a.get_json()["id"] for a in answers] == [rows[b].id for b, _ in bodies]
    assert rows[b"a1"].duplicate_of is None and rows[b"a1"].delivery_attempt == 1
    assert (rows[b"a2"].duplicate_of, rows[b"a2"].delivery_attempt) == (rows[b"a1"].id, 2)
    assert (rows[b"a3"].duplicate_of, rows[b"a3"].delivery_attempt) == (rows[b"a1"].id, 3)
    assert (rows[b"old2"].duplicate_of, rows[b"old2"].delivery_attempt) == (before["id"], 2)
    ordered = stored(fast_app, bin_["id"])
    assert [row.seq for row in ordered] == list(range(1, 8)), "ids follow seqs"


def test_a_failed_batch_answers_503_to_all_and_stores_none(fast_app, monkeypatch):
    client = fast_app.test_client()
    bin_ = client.post("/api/bins").get_json()
    path = capture_path(bin_) + "/hook"
    real_write_batch, batches = writer_module._write_batch, []

    def arm_after_first(conn, batch):
        batches.append(batch)
        try:
            return real_write_batch(conn, batch)
        finally:
            if len(batches) == 1:
                refuse_captured_rows(fast_app)  # the leader's own batch commits; the next one fails

    monkeypatch.setattr(writer_module, "_write_batch", arm_after_first)
    bodies = [(b"leader", {})] + [(f"lost {i}".encode(), {}) for i in range(4)]
    try:
        with held_batch(fast_app, monkeypatch, bodies, path) as (answers, sizes):
            pass
    finally:
        allow_captured_rows(fast_app)
    assert sizes == [1, 4]
    assert answers[0].status_code == 200
    for answer in answers[1:]:
        assert answer.status_code == 503
        assert answer.get_json()["error"] == "storage_unavailable"
    assert [row.body for row in stored(fast_app, bin_["id"])] == [b"leader"]
    # Nothing of the failed batch moved the numbering either.
    assert client.post(path, data=b"after").get_json()["seq"] == 2


def test_ids_follow_commit_order_within_each_bin_with_concurrent_writers(
    app: Flask, tmp_path: Path
):
    """Two apps (two processes' writers) and many threads capture into the same bins."""
    app.config.update(NO_LIMITS)
    other = create_app(
        {
            "TESTING": True,
            "DATA_DIR": str(tmp_path),
            "DATABASE_URL": app.config["DATABASE_URL"],
            "MIGRATE_ON_START": False,
            **NO_LIMITS,
        }
    )
    bins = [app.test_client().post("/api/bins").get_json() for _ in range(3)]
    failures: list[str] = []
    per_thread = 25

    def sender(target: Flask, number: int) -> None:
        client = target.test_client()
        for i in range(per_thread):
            bin_ = bins[(number + i) % len(bins)]
            answer = client.post(capture_path(bin_), data=f"{number}:{i}".encode())
            if answer.status_code != 200:
                failures.append(f"{answer.status_code} {answer.get_data(as_text=True)}")

    threads = [threading.Thread(target=sender, args=(a, n)) for n, a in enumerate([app, other] * 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with other.app_context():
        db.engine.dispose()
    assert not failures, failures[:3]

    total = 0
    for bin_ in bins:
        rows = stored(app, bin_["id"])
        total += len(rows)
        assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
        with app.app_context(), db.engine.connect() as conn:
            last_seq = conn.execute(select(Bin.last_seq).where(Bin.id == bin_["id"])).scalar()
        assert last_seq == len(rows)
    assert total == len(threads) * per_thread
