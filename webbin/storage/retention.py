"""Pruning: keep storage bounded without ever touching the capture path.

Four limits, each off when set to 0, are enforced by one ``prune`` pass:

* ``BIN_IDLE_TTL_SECONDS``: a bin that has received nothing for this long is deleted with
  everything in it (and then answers exactly like a bin that never existed);
* ``REQUEST_TTL_SECONDS``: requests older than this are deleted;
* ``MAX_REQUESTS_PER_BIN``: a bin keeps its newest N requests, older ones are evicted;
* ``STORAGE_QUOTA_BYTES``: when the bodies of all stored requests add up to more than this,
  the oldest requests of any bin are evicted until they fit.

Capture never waits for any of this: ``webbin serve`` runs a pass in a background greenlet
every ``PRUNE_INTERVAL_SECONDS`` (and ``webbin prune`` runs one by hand). Every worker of
every host has that greenlet, but a pass runs only under :func:`pruning_lock`, so one
process at a time prunes and the others skip their turn: a PostgreSQL advisory lock (held by
the pass's own connection, so a crashed worker's lock goes with its connection), on SQLite
a file lock beside the database file (one file means one host). A pass deletes in
short transactions of at most ``PRUNE_BATCH`` rows and ``PRUNE_BATCH_BYTES`` of bodies,
pausing between them, so a capture waiting for the write lock waits one small batch at most.

Every query is keyed by an index: ids grow with arrival time (see :mod:`webbin.capture`; for
an imported request, its import time), so "older than T" is "id below the first id stored at
T", found by binary search; per-bin
eviction uses the (bin_id, seq) key; the quota sums ``size`` from a covering index.

Each delete lowers the bins' ``request_count`` in its own transaction by the rows it really
deleted (:func:`webbin.storage.queries.delete_requests`), so a request a user deletes between
this pass choosing it and deleting it is not taken off the count twice.
"""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import ColumnElement, Connection, delete, exists, func, select, text

from webbin import metrics
from webbin.storage.models import Bin, CapturedRequest, db
from webbin.storage.queries import delete_requests

# Pause between two delete transactions, so waiting captures and viewers get their turn.
PAUSE_SECONDS = 0.005
# PostgreSQL advisory lock class of pruning ("webp"); the object is the schema's name hashed.
PRUNE_LOCK_CLASS = 0x77656270


@dataclass
class PruneReport:
    expired_bins: int = 0
    expired_requests: int = 0
    evicted_over_bin_limit: int = 0
    evicted_for_quota: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class Pruner:
    def __init__(
        self,
        app: Flask,
        now: datetime | None = None,
        on_bin_deleted: Callable[[str], None] | None = None,
    ) -> None:
        config = app.config
        self.app = app
        # Told each deleted bin's id, so its live viewers can be told it is gone.
        self.on_bin_deleted = on_bin_deleted or (lambda _bin_id: None)
        self.now = now or datetime.now(UTC)
        self.batch = max(int(config["PRUNE_BATCH"]), 1)
        self.batch_bytes = max(int(config["PRUNE_BATCH_BYTES"]), 1)
        self.report = PruneReport()

    def run(self) -> PruneReport:
        config = self.app.config
        if int(config["BIN_IDLE_TTL_SECONDS"]) > 0:
            self.expire_bins(self.now - timedelta(seconds=int(config["BIN_IDLE_TTL_SECONDS"])))
        if int(config["REQUEST_TTL_SECONDS"]) > 0:
            self.expire_requests(self.now - timedelta(seconds=int(config["REQUEST_TTL_SECONDS"])))
        if int(config["MAX_REQUESTS_PER_BIN"]) > 0:
            self.cap_bins(int(config["MAX_REQUESTS_PER_BIN"]))
        if int(config["STORAGE_QUOTA_BYTES"]) > 0:
            self.enforce_quota(int(config["STORAGE_QUOTA_BYTES"]))
        return self.report

    # -- the four limits ------------------------------------------------------------------

    def expire_bins(self, cutoff: datetime) -> None:
        """Delete bins created before ``cutoff`` that have received nothing since."""
        boundary = self._first_id_since(cutoff)
        recent = select(CapturedRequest.id).where(
            CapturedRequest.bin_id == Bin.id, CapturedRequest.id >= boundary
        )
        while True:
            with db.engine.connect() as conn:
                idle = list(
                    conn.scalars(
                        select(Bin.id)
                        .where(Bin.created_at < cutoff, ~exists(recent))
                        .limit(self.batch)
                    )
                )
            for bin_id in idle:
                # Its requests first, in small batches, then the bin if it is still idle.
                self._delete_requests(
                    (CapturedRequest.bin_id == bin_id) & (CapturedRequest.id < boundary)
                )
                with db.engine.begin() as conn:
                    self.report.expired_bins += conn.execute(
                        delete(Bin).where(
                            Bin.id == bin_id, Bin.created_at < cutoff, ~exists(recent)
                        )
                    ).rowcount
                self.on_bin_deleted(bin_id)
                self._pause()
            if len(idle) < self.batch:
                return

    def expire_requests(self, cutoff: datetime) -> None:
        boundary = self._first_id_since(cutoff)
        self.report.expired_requests += self._delete_requests(CapturedRequest.id < boundary)

    def cap_bins(self, keep: int) -> None:
        """Each bin holding more than ``keep`` requests keeps its newest ``keep``: seq
        numbers are dense per bin, so those are exactly the ones above ``last_seq - keep``.
        A bin's count says whether it is over; a bin that is not costs no delete query."""
        with db.engine.connect() as conn:
            crowded = conn.execute(
                select(Bin.id, Bin.last_seq).where(Bin.request_count > keep)
            ).all()
        for bin_id, last_seq in crowded:
            self.report.evicted_over_bin_limit += self._delete_requests(
                (CapturedRequest.bin_id == bin_id) & (CapturedRequest.seq <= last_seq - keep),
                order=CapturedRequest.seq,
            )

    def enforce_quota(self, quota: int) -> None:
        with db.engine.connect() as conn:
            stored = conn.scalar(select(func.coalesce(func.sum(CapturedRequest.size), 0)))
        excess = int(stored) - quota
        after = 0
        while excess > 0:
            with db.engine.connect() as conn:
                oldest = conn.execute(
                    select(CapturedRequest.id, CapturedRequest.size)
                    .where(CapturedRequest.id > after)
                    .order_by(CapturedRequest.id)
                    .limit(self.batch)
                ).all()
            if not oldest:
                return
            ids = []
            for row in oldest:
                ids.append(row.id)
                excess -= row.size
                if excess <= 0:
                    break
            after = ids[-1]
            self.report.evicted_for_quota += self._delete_requests(CapturedRequest.id.in_(ids))

    # -- plumbing -------------------------------------------------------------------------

    def _delete_requests(self, where: ColumnElement[bool], order: Any = None) -> int:
        """Delete the matching requests in short transactions, oldest first; returns how
        many this pass deleted (not counting any deleted by someone else meanwhile)."""
        order = CapturedRequest.id if order is None else order
        deleted = 0
        while True:
            with db.engine.begin() as conn:
                rows = conn.execute(
                    select(CapturedRequest.id, CapturedRequest.size)
                    .where(where)
                    .order_by(order)
                    .limit(self.batch)
                ).all()
                ids, size = [], 0
                for row in rows:
                    ids.append(row.id)
                    size += row.size
                    if size >= self.batch_bytes:
                        break
                if ids:
                    deleted += delete_requests(conn, CapturedRequest.id.in_(ids))
            if len(rows) < self.batch and len(ids) == len(rows):
                return deleted
            self._pause()

    @staticmethod
    def _first_id_since(moment: datetime) -> int:
        """First id received at or after ``moment``, or one past the newest if none was."""
        with db.engine.connect() as conn:
            found = first_id_since(conn, moment)
            if found is None:
                found = (conn.scalar(select(func.max(CapturedRequest.id))) or 0) + 1
        return found

    @staticmethod
    def _pause() -> None:
        time.sleep(PAUSE_SECONDS)  # a greenlet switch under gevent


def first_id_since(conn: Connection, moment: datetime) -> int | None:
    """The smallest request id stored at or after ``moment``; None if all are older.

    Ids grow in the order requests were stored, so this is a binary search of primary-key
    lookups: a few dozen indexed reads even for a huge table, where a scan by time would
    read every row. "Stored" is when a request was received, or, for one an import brought
    with its original (older) received time, when it was imported: ids follow that time,
    and a request's age for retention counts from it.
    """
    moment = _aware(moment)

    def first_at_or_after(candidate: int) -> Any:
        return conn.execute(
            select(CapturedRequest.id, _STORED_AT.label("stored_at"))
            .where(CapturedRequest.id >= candidate)
            .order_by(CapturedRequest.id)
            .limit(1)
        ).first()

    low, high = conn.execute(
        select(func.min(CapturedRequest.id), func.max(CapturedRequest.id))
    ).one()
    if low is None or _aware(first_at_or_after(high).stored_at) < moment:
        return None
    while low < high:
        middle = (low + high) // 2
        if _aware(first_at_or_after(middle).stored_at) >= moment:
            high = middle
        else:
            low = middle + 1
    return first_at_or_after(low).id


_STORED_AT = func.coalesce(CapturedRequest.imported_at, CapturedRequest.received_at)


def prune(
    app: Flask,
    now: datetime | None = None,
    on_bin_deleted: Callable[[str], None] | None = None,
) -> PruneReport:
    """One pass over every limit; needs an app context."""
    return Pruner(app, now, on_bin_deleted).run()


@contextmanager
def pruning_lock() -> Iterator[bool]:
    """Whether this process holds the pruning lock for the ``with`` block (False: another
    process, maybe on another host, is pruning now). Never waits. Needs an app context."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            lock = {"lock_class": PRUNE_LOCK_CLASS}
            held = conn.scalar(
                text("SELECT pg_try_advisory_lock(:lock_class, hashtext(current_schema()))"), lock
            )
            conn.commit()  # the lock is the session's: no transaction stays open meanwhile
            try:
                yield bool(held)
            finally:
                if held:
                    conn.execute(
                        text("SELECT pg_advisory_unlock(:lock_class, hashtext(current_schema()))"),
                        lock,
                    )
                    conn.commit()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":  # one process, or no lock to be had
        yield True
        return
    fd = os.open(f"{database}.prune-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def prune_once(
    app: Flask, on_bin_deleted: Callable[[str], None] | None = None
) -> PruneReport | None:
    """One pass if no other process is pruning (None if one is), counted in the metrics."""
    with app.app_context(), pruning_lock() as mine:
        if not mine:
            return None
        report = prune(app, on_bin_deleted=on_bin_deleted)
    for reason, rows in report.as_dict().items():
        if rows:
            metrics.pruned_rows.labels(reason).inc(rows)
    return report


def start(
    app: Flask,
    on_bin_deleted: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> threading.Thread | None:
    """Run ``prune`` every ``PRUNE_INTERVAL_SECONDS`` in the background of this process.

    Under gunicorn's gevent worker the thread is a greenlet. Each worker runs its own,
    and skips its turn while another process prunes; a pass finding nothing to do costs a
    handful of indexed reads.
    """
    interval = float(app.config["PRUNE_INTERVAL_SECONDS"])
    if interval <= 0:
        return None

    def loop() -> None:
        while True:
            sleep(interval * random.uniform(0.8, 1.2))  # workers drift apart
            try:
                report = prune_once(app, on_bin_deleted)
                if report is not None and any(report.as_dict().values()):
                    app.logger.info("pruned %s", report.as_dict())
            except Exception:
                app.logger.exception("pruning failed; will try again")

    thread = threading.Thread(target=loop, name="webbin-pruner", daemon=True)
    thread.start()
    return thread
