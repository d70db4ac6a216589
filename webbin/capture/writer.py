"""Group commit: every capture of a process is written by one writer, many per transaction.

Why: a capture's own work is small, but each commit costs one WAL fsync on SQLite
(``synchronous=FULL``) and, on PostgreSQL, a wait on the bin's row lock behind every other
capture to that bin. Measured on webbin, one transaction per capture spent about a quarter
of the worker's time in COMMIT and queued concurrent captures of a bin one by one. Writing
whatever is pending in one transaction pays for the fsync and the lock once per batch.

How, leader/follower: a capture joins the queue. If no batch is being written it leads at
once (so an idle server adds no wait); otherwise it waits until the leader of the batch it
is in wakes it. A leader takes everything pending (its own capture first), writes it in one
transaction and wakes the batch; the next capture still queued then leads the next batch.
While one batch commits, the next accumulates, so batches grow with the load by themselves.

What a batch keeps from one-transaction-per-capture:

* A 2xx still means stored: a capture's result is handed out only after its batch
  committed, and a batch that fails hands the same error to every capture in it (each is
  answered 503), so nothing of it is acknowledged. (The price: a capture the database
  refuses takes the others of its batch down with it; they are retried by their senders.)
* Sequence numbers: one bin-row update per bin per batch bumps ``last_seq`` by that bin's
  number of captures (taking the bin's lock) and the captures get the consecutive numbers
  in queue order. Bins are locked in id order, so batches of two worker processes can never
  deadlock on PostgreSQL.
* Ids grow in commit order within a bin (live replay reads "everything after id N"): a
  bin's rows are inserted while its row is locked, in seq order, with ids returned in
  parameter order.
* Retry marks see earlier captures of the same batch: a repeat of a delivery earlier in the
  batch continues that delivery's chain (its id is fetched by inserting the rows before it
  first); only the first of a key in a batch looks in the table.
* A setting changed since ``decide`` read it (signature, handshake, custom response or CORS; the
  capture may have been decided from a cached bin, see :mod:`webbin.capture.bincache`) is
  seen under the bin's lock, where the bump returns them all, and the capture is decided
  again from them (see ``tests/capture/test_settings_race.py`` and
  ``tests/capture/test_bincache.py``).

Database work never blocks the gevent hub: SQLite's calls (and its fsync) do not yield, so
under a gevent-patched process the batch runs in a real thread of gevent's hub threadpool
while the captures' greenlets wait cooperatively. The pooled connection is checked out and
returned on the hub's side; the thread only uses it. Without gevent (the Flask test client,
plain threads) the same code runs with ordinary threads and the leader writes in its own.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from webbin.receiver import deliveries
from webbin.receiver.decide import BinRules, Decision, Delivery, decide
from webbin.storage.models import Bin, CapturedRequest

# Captures per transaction at most: a bound on a batch's memory and on how long its first
# capture waits behind the others' inserts.
MAX_BATCH = 256

T = TypeVar("T")


class BatchAbandoned(SQLAlchemyError):
    """The leader of a batch was interrupted: the batch may or may not have committed, so
    none of it may be acknowledged."""


@dataclass(frozen=True)
class Stored:
    bin_id: str
    request_id: int
    seq: int
    decision: Decision
    # The bin row (id and settings) ``decision`` followed: the one the capture brought, or
    # the one the write found under the bin's lock when the settings had changed since.
    bin_row: Any


@dataclass
class _Job:
    """One capture in the queue, and what its batch made of it."""

    bin_row: Any
    delivery: Delivery
    record: dict[str, Any]
    decision: Decision
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    stored: Stored | None = None
    # The last stored capture of its bin in its batch: it tells the viewers, once per batch.
    publish: bool = False
    error: BaseException | None = None


class Writer:
    """The group-commit writer of one process (one per app)."""

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Job] = []
        self._leading = False

    def write(
        self,
        engine: Engine,
        bin_row: Any,
        delivery: Delivery,
        record: dict[str, Any],
        decision: Decision,
    ) -> tuple[Stored | None, bool]:
        """Store one capture; returns once its batch committed.

        Returns (what was stored, or None when the bin is gone; whether this capture should
        tell the bin's viewers). Raises the batch's error (SQLAlchemyError when the database
        could not take it): the caller must then not acknowledge the capture.
        """
        job = _Job(bin_row, delivery, record, decision)
        with self._lock:
            self._queue.append(job)
            job.lead = not self._leading
            self._leading = True
        if not job.lead:
            job.done.wait()  # until our batch is written, or we are to lead the next one
        if job.lead:
            self._lead(engine)
        if job.error is not None:
            raise job.error
        return job.stored, job.publish

    def _lead(self, engine: Engine) -> None:
        """Write one batch (headed by the leader's own capture), wake it, hand on the lead."""
        with self._lock:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
        try:
            conn = engine.connect()
            try:
                off_hub(lambda: _write_batch(conn, batch))
            finally:
                conn.close()
        except Exception as error:  # every capture of the batch fails with it
            for job in batch:
                job.stored, job.publish, job.error = None, False, error
        except BaseException:  # the leader itself is interrupted (its greenlet killed)
            for job in batch:
                job.stored, job.publish, job.error = None, False, BatchAbandoned()
            raise
        finally:
            with self._lock:
                if self._queue:
                    follower = self._queue[0]
                    follower.lead = True
                    follower.done.set()
                else:
                    self._leading = False
            for job in batch:
                job.lead = False
                job.done.set()


def write_all(
    engine: Engine, bin_row: Any, items: list[tuple[Delivery, dict[str, Any], Decision]]
) -> list[Stored]:
    """Store several requests into one bin in one transaction of their own: all of them, or
    (the transaction failed: the error is raised) none. An import uses it.

    Sequence numbers, the bin's count, ids in order and retry marks come out exactly as for
    the same requests captured in one batch. Returns what was stored, in order; empty when
    the bin is gone. No viewer is told: the caller publishes once, afterwards.
    """
    batch = [_Job(bin_row, delivery, record, decision) for delivery, record, decision in items]
    conn = engine.connect()
    try:
        off_hub(lambda: _write_batch(conn, batch))
    finally:
        conn.close()
    return [job.stored for job in batch if job.stored is not None]


def off_hub(work: Callable[[], T]) -> T:
    """Run ``work`` where it cannot stall other greenlets: in a real thread of gevent's hub
    threadpool when gevent has patched threading (the caller's greenlet waits
    cooperatively), else right here."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        from gevent import get_hub

        return get_hub().threadpool.apply(work)
    return work()


def _write_batch(conn: Connection, batch: list[_Job]) -> None:
    """One transaction for the whole batch; results land on the jobs only once it commits."""
    by_bin: dict[str, list[_Job]] = {}
    for job in batch:
        by_bin.setdefault(job.bin_row.id, []).append(job)
    results: list[tuple[_Job, Stored]] = []
    with conn.begin():
        inserts = _Inserts(conn)
        for bin_id in sorted(by_bin):  # one lock order for every process
            jobs = by_bin[bin_id]
            bumped = conn.execute(_BUMP_SEQ, {"bin_id": bin_id, "count": len(jobs)}).first()
            if bumped is None:  # deleted since the capture looked it up: nothing stored
                continue
            first_seq = bumped.last_seq - len(jobs) + 1
            chains: dict[str, _Chain] = {}
            current = _Current(bumped)
            for offset, job in enumerate(jobs):
                decision, bin_row = current.decision_for(job)
                row = {
                    **job.record,
                    "bin_id": bin_id,
                    "seq": first_seq + offset,
                    "signature_scheme": decision.signature_scheme,
                    "signature_status": decision.signature_status,
                    "handshake": decision.handshake.provider if decision.handshake else None,
                    "response_status": decision.answer_status,
                    "provider": decision.provider,
                    "event": decision.event,
                    **_retry_columns(conn, inserts, chains, bin_id, job, decision.delivery_key),
                }
                inserts.add(job, row)
                results.append((job, Stored(bin_id, 0, row["seq"], decision, bin_row)))
        ids = inserts.flush()
    for job, stored in results:
        job.stored = replace(stored, request_id=ids[id(job)])
    last_of_bin = {job.bin_row.id: job for job, _ in results}
    for job in last_of_bin.values():
        job.publish = True


class _Inserts:
    """Rows waiting for one executemany; flushed early only when a later row needs an id."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.rows: list[dict[str, Any]] = []
        self.jobs: list[_Job] = []
        self.ids: dict[int, int] = {}

    def add(self, job: _Job, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.jobs.append(job)

    def id_of(self, job: _Job) -> int:
        if id(job) not in self.ids:
            self.flush()
        return self.ids[id(job)]

    def flush(self) -> dict[int, int]:
        if self.rows:
            if self.conn.dialect.name == "sqlite":
                # SQLAlchemy would insert row by row to keep the order; one multi-row INSERT
                # hands out rowids in row order under the write lock, so sorted ids match.
                returned = sorted(self.conn.execute(_INSERT_SQLITE, self.rows).scalars())
            else:
                returned = self.conn.execute(_INSERT, self.rows).scalars().all()
            self.ids.update(zip((id(job) for job in self.jobs), returned, strict=True))
            self.rows, self.jobs = [], []
        return self.ids


@dataclass(frozen=True)
class _Chain:
    """The latest delivery of a key in this batch: which capture, its first, its attempt."""

    job: _Job
    duplicate_of: int | None
    attempt: int


class _Current:
    """A bin's settings as the write found them under its lock, parsed only if needed."""

    def __init__(self, bumped: Any) -> None:
        self.bumped = bumped
        self.settings = _settings(bumped)
        self._rules: BinRules | None = None

    def decision_for(self, job: _Job) -> tuple[Decision, Any]:
        """The capture's decision and the bin row it follows: ``decide``'s own unless a
        setting changed since the row it was decided from was read; then decided again."""
        if _settings(job.bin_row) == self.settings:
            return job.decision, job.bin_row
        if self._rules is None:
            self._rules = BinRules.from_row(self.bumped)
        return decide(job.delivery, self._rules), self.bumped


def _retry_columns(
    conn: Connection,
    inserts: _Inserts,
    chains: dict[str, _Chain],
    bin_id: str,
    job: _Job,
    found: tuple[str, str] | None,
) -> dict[str, Any]:
    """Mark a repeat of an earlier delivery: the first one, and which attempt this is.

    Each repeat continues the chain of the latest one (in this batch, else in the table), so
    the cost stays one index seek even for a bin that received the same event thousands of
    times.
    """
    if found is None:
        return {
            "delivery_key": None,
            "delivery_key_source": None,
            "duplicate_of": None,
            "delivery_attempt": 1,
        }
    key, source = found
    earlier = chains.get(key)
    if earlier is not None:
        duplicate_of = earlier.duplicate_of or inserts.id_of(earlier.job)
        attempt = earlier.attempt + 1
    else:
        received_at = job.record["received_at"]
        since = received_at - deliveries.BODY_WINDOW if deliveries.is_body_key(key) else _EPOCH
        latest = conn.execute(
            _LATEST_DELIVERY, {"bin_id": bin_id, "key": key, "since": since}
        ).first()
        duplicate_of = (latest.duplicate_of or latest.id) if latest else None
        attempt = latest.delivery_attempt + 1 if latest else 1
    chains[key] = _Chain(job, duplicate_of, attempt)
    return {
        "delivery_key": key,
        "delivery_key_source": source,
        "duplicate_of": duplicate_of,
        "delivery_attempt": attempt,
    }


def _settings(row: Any) -> tuple[Any, ...]:
    """Every column ``decide`` reads (``BinRules.from_row``)."""
    return (
        row.signature_scheme,
        row.signature_secrets,
        row.signature_tolerance,
        row.signature_options,
        row.handshake_settings,
        row.response_settings,
        row.cors,
    )


# Built once: constructing SQLAlchemy statements per request cost more than running them.
# One update per bin per batch: takes the bin's lock and reserves ``count`` sequence numbers,
# and returns the bin's row as the capture lookup reads it (plus ``last_seq``).
_BUMP_SEQ = (
    update(Bin)
    .where(Bin.id == bindparam("bin_id"))
    .values(
        last_seq=Bin.last_seq + bindparam("count"),
        request_count=Bin.request_count + bindparam("count"),
    )
    .returning(
        Bin.last_seq,
        Bin.id,
        Bin.signature_scheme,
        Bin.signature_secrets,
        Bin.signature_tolerance,
        Bin.signature_options,
        Bin.handshake_settings,
        Bin.response_settings,
        Bin.cors,
    )
)
# Ids come back in the order of the rows, so each capture learns its own.
_INSERT = insert(CapturedRequest).returning(CapturedRequest.id, sort_by_parameter_order=True)
_INSERT_SQLITE = insert(CapturedRequest).returning(CapturedRequest.id)
# The latest earlier delivery with the same key: an index seek, however many repeats exist.
_LATEST_DELIVERY = (
    select(CapturedRequest.id, CapturedRequest.duplicate_of, CapturedRequest.delivery_attempt)
    .where(
        CapturedRequest.bin_id == bindparam("bin_id"),
        CapturedRequest.delivery_key == bindparam("key"),
        CapturedRequest.received_at >= bindparam("since"),
    )
    .order_by(CapturedRequest.id.desc())
    .limit(1)
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
