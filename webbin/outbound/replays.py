"""Replay many: send a selection of a bin's requests to one URL, or through one connected
forwarder, oldest first, at a chosen rate, as a job in the background of the worker that
started it.

Every request goes out as a one-click resend does (:func:`webbin.outbound.resend.prepare`
and :func:`~webbin.outbound.resend.deliver`): through the outbound policy, recorded as a
resend attempt of its request, counted against the starting client's resend rate
(``RESEND_CLIENT_RATE``; a job waits for tokens rather than failing) and holding one of the
worker's ``RESEND_MAX_CONCURRENT`` places while it is out. The effective rate is therefore
the lower of the job's and the client's.

Through a forwarder (``webbin forward``), each request is queued for it as the dashboard's
"resend to my forwarder" does (:func:`webbin.live.forwarders.queue_resend`, picked up by
whichever process holds its connection) and the job waits for the outcome it reports, up to
``RESEND_TOTAL_TIMEOUT``, before the next: one at a time, so in order. The forwarder sends
from the developer's machine, so the outbound policy does not apply and no worker's resend
place is held; the client's resend tokens are spent all the same. A forwarder that
disconnects ends the job as ``failed``, saying so: the requests after it are not sent.

The job's row is its progress, written after every request: any worker can show it, and
any worker can cancel it (the runner looks at its row at least every ``CHECK_SECONDS``;
in its own worker it is woken at once). A job whose worker went away (restart, crash) would
say "running" forever, so a job is marked ``interrupted`` when it is next looked at if its
process is gone (same host, that pid no longer exists) or its heartbeat, written at least
every ``HEARTBEAT_SECONDS`` and after every request, is older than a send can take.

Which requests a query selects is decided in one place, :func:`select_ids`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import delete, func, insert, select, update

from webbin import ratelimit
from webbin.live import forwarders
from webbin.outbound import resend
from webbin.receiver import events
from webbin.receiver.strict import InvalidInput
from webbin.storage import search
from webbin.storage.models import (
    Bin,
    CapturedRequest,
    ReplayJob,
    ReplayOutcome,
    ResendAttempt,
    db,
    utcnow,
)

RUNNING = "running"
DONE = "done"
CANCELLED = "cancelled"
FAILED = "failed"
INTERRUPTED = "interrupted"
STATES = (RUNNING, DONE, CANCELLED, FAILED, INTERRUPTED)

# Requests one job may send: its list is stored with it.
MAX_REQUESTS = 10_000
# Jobs running at once per bin; more are refused (they would only share the client's rate).
MAX_RUNNING_PER_BIN = 3
# Finished jobs kept per bin (with their outcomes); older ones go when a new one starts.
KEPT_PER_BIN = 20
# Requests per second a job may ask for.
MIN_RATE = 0.01
MAX_RATE = 100.0
# How often a waiting job looks at its row for a cancel, and writes that it is alive.
CHECK_SECONDS = 0.5
HEARTBEAT_SECONDS = 5.0
# Past the longest send (RESEND_TOTAL_TIMEOUT) and a heartbeat, a silent job is lost.
STALE_MARGIN_SECONDS = 20.0
# How long a job waits before asking again for a resend place of its worker.
SLOT_RETRY_SECONDS = 0.2

INTERRUPTED_MESSAGE = (
    "The webbin process running this replay stopped before it finished (a restart or a "
    "crash). The requests not yet sent were not sent; start a new replay for them."
)
FAILED_MESSAGE = "webbin hit an internal error while replaying; its log has the details."
# The outcome's error_kind when the forwarder went away with the request (or before it).
FORWARDER_GONE = "forwarder_gone"


class Busy(Exception):
    """The bin already has its most replays running; the message says so, for the user."""


# --- which requests --------------------------------------------------------------------


def select_ids(bin_id: str, q: str) -> list[int]:
    """The ids of the bin's requests that the search ``q`` matches, oldest first.

    The one place a query becomes a selection (export and replay both come here): the
    dashboard's and the API's search (:mod:`webbin.storage.search`), page after bounded page,
    stopping once more than :data:`MAX_REQUESTS` matched (the caller then refuses). A
    malformed query answers :class:`InvalidInput` for ``q``, naming where its term starts.
    """
    if not q.strip():
        return list(
            db.session.scalars(
                select(CapturedRequest.id)
                .where(CapturedRequest.bin_id == bin_id)
                .order_by(CapturedRequest.id)
            )
        )
    try:
        query = search.parse(q.strip(), providers=events.PROVIDERS)
    except search.QueryError as error:
        message = f"At character {error.start + 1}: {error.message}"
        raise InvalidInput([{"path": "q", "message": message}]) from None
    found: list[int] = []
    before: int | None = None
    while len(found) <= MAX_REQUESTS:
        page = search.search(bin_id, query, before, _SEARCH_PAGE)
        found.extend(row.id for row in page.rows)
        if page.next_before is None:
            break
        before = page.next_before
    return sorted(found)


# Matches read per search call while selecting.
_SEARCH_PAGE = 500


# Ids looked up per query when checking a selection (well under SQLite's variable limit).
_ID_CHUNK = 500


def selection(bin_id: str, q: str | None, ids: list[int] | None) -> list[int]:
    """The requests a caller chose, oldest first: ``ids`` (each must be the bin's), or what
    ``q`` matches, or every request of the bin when neither is given. InvalidInput
    otherwise, each bad id named by its place in ``ids``."""
    if q is not None and ids is not None:
        raise InvalidInput([{"path": "", "message": "give q or ids, not both"}])
    if ids is None:
        return select_ids(bin_id, q or "")
    wanted = sorted(set(ids))
    found: set[int] = set()
    for start in range(0, len(wanted), _ID_CHUNK):
        chunk = wanted[start : start + _ID_CHUNK]
        found.update(
            db.session.scalars(
                select(CapturedRequest.id).where(
                    CapturedRequest.bin_id == bin_id, CapturedRequest.id.in_(chunk)
                )
            )
        )
    missing = [
        {"path": f"ids[{index}]", "message": f"no request {value} in this bin"}
        for index, value in enumerate(ids)
        if value not in found
    ]
    if missing:
        raise InvalidInput(missing)
    return wanted


# --- jobs --------------------------------------------------------------------------------


def owner() -> str:
    """This process, as a job's ``owner``: read when the job starts, after gunicorn forked."""
    return f"{socket.gethostname()}:{os.getpid()}"[:255]


def create(
    bin_: Bin,
    request_ids: list[int],
    rate: float,
    url: str | None = None,
    forwarder: forwarders.Connected | None = None,
) -> ReplayJob:
    """A new running job to ``url`` or through ``forwarder`` (exactly one of them), committed
    but not started (see :func:`start`).

    Raises InvalidInput for an empty or too large selection, resend.InvalidTarget for a
    URL that cannot be sent to (tried on the first request), Busy when the bin already runs
    :data:`MAX_RUNNING_PER_BIN` jobs.
    """
    if not request_ids:
        raise InvalidInput([{"path": "", "message": "the selection holds no requests"}])
    if len(request_ids) > MAX_REQUESTS:
        raise InvalidInput(
            [
                {
                    "path": "",
                    "message": f"a replay sends at most {MAX_REQUESTS} requests; this "
                    f"selection holds {len(request_ids)}",
                }
            ]
        )
    expire_stale(bin_.id)
    running = db.session.scalar(
        select(func.count())
        .select_from(ReplayJob)
        .where(ReplayJob.bin_id == bin_.id, ReplayJob.state == RUNNING)
    )
    if running >= MAX_RUNNING_PER_BIN:
        raise Busy(f"This bin already has {running} replays running; wait for one or cancel it.")
    if forwarder is not None:
        target = forwarder.target
    else:
        first = db.session.get(CapturedRequest, request_ids[0])
        if first is None:
            message = f"request {request_ids[0]} was deleted meanwhile; try again"
            raise InvalidInput([{"path": "", "message": message}])
        target = resend.prepare(first, bin_, url or "").url_template
    now = utcnow()
    job = ReplayJob(
        bin_id=bin_.id,
        url=target,
        forwarder_id=forwarder.id if forwarder else None,
        forwarder_name=forwarder.name if forwarder else None,
        rate=rate,
        state=RUNNING,
        request_ids=request_ids,
        total=len(request_ids),
        done=0,
        failed=0,
        created_at=now,
        owner=owner(),
        heartbeat_at=now,
    )
    db.session.add(job)
    db.session.flush()
    kept = (
        select(ReplayJob.id)
        .where(ReplayJob.bin_id == bin_.id)
        .order_by(ReplayJob.id.desc())
        .limit(KEPT_PER_BIN)
    )
    db.session.execute(
        delete(ReplayJob).where(
            ReplayJob.bin_id == bin_.id,
            ReplayJob.state != RUNNING,
            ReplayJob.id.not_in(kept.scalar_subquery()),
        )
    )
    db.session.commit()
    return job


# Ids are 64-bit in every database.
MAX_ID = 2**63 - 1


def get(bin_id: str, job_id: int) -> ReplayJob | None:
    """The bin's job ``job_id`` as it stands now (a lost one marked interrupted first)."""
    if not 0 < job_id <= MAX_ID:  # no such job; and the database would refuse the number
        return None
    expire_stale(bin_id)
    return db.session.scalar(
        select(ReplayJob)
        .where(ReplayJob.id == job_id, ReplayJob.bin_id == bin_id)
        # The runner and cancel write through other connections: never a stale copy.
        .execution_options(populate_existing=True)
    )


def recent(bin_id: str, limit: int = KEPT_PER_BIN) -> list[ReplayJob]:
    """The bin's newest jobs first (lost ones marked interrupted first)."""
    expire_stale(bin_id)
    return list(
        db.session.scalars(
            select(ReplayJob)
            .where(ReplayJob.bin_id == bin_id)
            .order_by(ReplayJob.id.desc())
            .limit(limit)
            .execution_options(populate_existing=True)
        )
    )


def outcomes(job_id: int, after: int = 0, limit: int = 1000, newest: bool = False) -> list:
    """The job's outcomes past position ``after``, in sending order (``newest``: the last
    ``limit`` of them, newest first)."""
    query = select(ReplayOutcome).where(
        ReplayOutcome.job_id == job_id, ReplayOutcome.position > after
    )
    order = ReplayOutcome.position.desc() if newest else ReplayOutcome.position
    return list(db.session.scalars(query.order_by(order).limit(limit)))


def cancel(app: Flask, bin_id: str, job_id: int) -> None:
    """Stop the job if it is running: nothing more is sent once the request already out (if
    any) is back. Its worker, if it is this one, is woken at once; another within
    :data:`CHECK_SECONDS`."""
    with db.engine.begin() as conn:
        conn.execute(
            update(ReplayJob)
            .where(ReplayJob.id == job_id, ReplayJob.bin_id == bin_id, ReplayJob.state == RUNNING)
            .values(state=CANCELLED, finished_at=utcnow())
        )
    stop = _registry(app).get(job_id)
    if stop is not None:
        stop.set()


def expire_stale(bin_id: str) -> None:
    """Mark the bin's lost jobs interrupted: running, but their process is gone or they
    have not been heard of for longer than a send can take. A read first, so looking at
    a bin writes nothing unless there is something to mark."""
    now = utcnow()
    stale_before = now - timedelta(
        seconds=float(current_app.config["RESEND_TOTAL_TIMEOUT"])
        + HEARTBEAT_SECONDS
        + STALE_MARGIN_SECONDS
    )
    with db.engine.connect() as conn:
        running = conn.execute(
            select(ReplayJob.id, ReplayJob.owner, ReplayJob.heartbeat_at).where(
                ReplayJob.bin_id == bin_id, ReplayJob.state == RUNNING
            )
        ).all()
    lost = [
        row.id for row in running if _aware(row.heartbeat_at) < stale_before or _gone(row.owner)
    ]
    if lost:
        with db.engine.begin() as conn:
            conn.execute(
                update(ReplayJob)
                .where(ReplayJob.id.in_(lost), ReplayJob.state == RUNNING)
                .values(state=INTERRUPTED, finished_at=now, error=INTERRUPTED_MESSAGE)
            )


def _gone(job_owner: str) -> bool:
    """Whether the process that ``job_owner`` names is known to be gone: it ran on this
    host, is not this process, and no process has its pid now."""
    host, _, pid_text = job_owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists, as another user's process
    return False


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes, which webbin always stores as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# --- running ----------------------------------------------------------------------------

_REGISTRY_LOCK = threading.Lock()


def _registry(app: Flask) -> dict[int, threading.Event]:
    """The jobs this process runs for ``app``, each with the event that stops it."""
    with _REGISTRY_LOCK:
        return app.extensions.setdefault("webbin.replays", {})


def start(app: Flask, job_id: int, client: str) -> threading.Thread:
    """Run the job in the background of this process (a greenlet under gevent), spending
    ``client``'s resend tokens."""
    stop = threading.Event()
    _registry(app)[job_id] = stop
    thread = threading.Thread(
        target=_run, args=(app, job_id, client, stop), name=f"webbin-replay-{job_id}", daemon=True
    )
    thread.start()
    return thread


def _run(app: Flask, job_id: int, client: str, stop: threading.Event) -> None:
    with app.app_context():
        try:
            _Replay(job_id, client, stop).run()
        except Exception:
            app.logger.exception("replay job %s failed", job_id)
            try:
                _finish(job_id, FAILED, FAILED_MESSAGE)
            except Exception:
                app.logger.exception("replay job %s: could not record the failure", job_id)
        finally:
            db.session.remove()
            _registry(app).pop(job_id, None)


@dataclass(frozen=True)
class _Outcome:
    sent_at: datetime
    # When it went out (monotonic clock), or None when it did not (deleted, bad URL).
    started: float | None
    status: int | None = None
    reason: str | None = None
    elapsed_ms: float = 0.0
    error: str | None = None
    error_kind: str | None = None
    attempt_id: int | None = None

    @classmethod
    def of(cls, attempt: ResendAttempt, sent_at: datetime, started: float) -> _Outcome:
        """The outcome a recorded resend attempt (sent, or forwarded and reported) makes."""
        return cls(
            sent_at=sent_at,
            started=started,
            status=attempt.status,
            reason=attempt.reason,
            elapsed_ms=attempt.elapsed_ms,
            error=attempt.error,
            error_kind=attempt.error_kind,
            attempt_id=attempt.id,
        )


class _Replay:
    """One job's run: its requests in order, one at a time, paced."""

    def __init__(self, job_id: int, client: str, stop: threading.Event) -> None:
        job = db.session.get(ReplayJob, job_id)
        if job is None:
            raise LookupError(f"no replay job {job_id}")
        self.job_id = job_id
        self.bin_id = job.bin_id
        self.url = job.url
        self.forwarder_id = job.forwarder_id
        self.forwarder_name = job.forwarder_name
        self.interval = 1.0 / job.rate
        self.total = job.total
        self.pending = list(enumerate(job.request_ids, start=1))[job.done :]
        db.session.remove()
        self.app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        self.report_timeout = float(self.app.config["RESEND_TOTAL_TIMEOUT"])
        self.client = client
        self.stop = stop
        self.limits = ratelimit.limiters()
        self.checked = self.beat = time.monotonic()

    def run(self) -> None:
        next_at = time.monotonic()
        for position, request_id in self.pending:
            if not self._sleep(next_at - time.monotonic()):
                return
            outcome = self._send(request_id)
            if outcome is None:  # stopped while waiting for its turn, or the bin is gone
                return
            if outcome.started is not None:
                next_at = outcome.started + self.interval
            if not self._record(position, request_id, outcome):
                return
            if outcome.error_kind == FORWARDER_GONE:
                _finish(self.job_id, FAILED, self._gone_message(position))
                return
        _finish(self.job_id, DONE)

    def _send(self, request_id: int) -> _Outcome | None:
        bin_ = db.session.get(Bin, self.bin_id)
        if bin_ is None:
            return None
        captured = db.session.scalar(
            select(CapturedRequest).where(
                CapturedRequest.id == request_id, CapturedRequest.bin_id == self.bin_id
            )
        )
        if captured is None:
            return _deleted(utcnow(), None)
        if self.forwarder_id is not None:
            db.session.remove()  # no connection held while waiting for a turn and the outcome
            return self._through_forwarder(self.forwarder_id, request_id)
        try:
            outgoing = resend.prepare(captured, bin_, self.url)
        except resend.InvalidTarget as error:
            return _Outcome(utcnow(), None, error=str(error), error_kind="invalid_url")
        db.session.remove()  # no connection held while waiting for a turn
        if not self._wait_for_turn():
            return None
        started = time.monotonic()
        try:
            attempt = resend.deliver(outgoing)
        finally:
            self.limits.resend_running.leave()
        return _Outcome.of(attempt, attempt.created_at, started)

    def _through_forwarder(self, forwarder_id: str, request_id: int) -> _Outcome | None:
        """Queue the request for the forwarder, wake its connection wherever it is served,
        and wait for the outcome it reports (None: stopped while waiting for a token)."""
        if not self._wait_for_token():
            return None
        sent_at, started = utcnow(), time.monotonic()
        result = forwarders.resend_through(
            self.app, self.bin_id, forwarder_id, request_id, self.report_timeout
        )
        if result.queued:
            if result.attempt is not None:
                return _Outcome.of(result.attempt, sent_at, started)
            if not result.gone:
                error = (
                    f"The forwarder {self.forwarder_name} has not reported within "
                    f"{self.report_timeout:g} s; its outcome is listed on the request once it "
                    "does."
                )
                return _Outcome(sent_at, started, error=error, error_kind="timeout")
        # The queued resend went with its forwarder (disconnected) or with its request.
        if forwarders.find(self.bin_id, forwarder_id) is not None:
            return _deleted(sent_at, started)
        if not result.queued:
            error = f"The forwarder {self.forwarder_name} is no longer connected; not sent."
        else:
            error = (
                f"The forwarder {self.forwarder_name} disconnected before it said how this "
                "one went (it may have reached its target)."
            )
        return _Outcome(sent_at, started, error=error, error_kind=FORWARDER_GONE)

    def _gone_message(self, position: int) -> str:
        return (
            f"The forwarder {self.forwarder_name} disconnected at request {position} of "
            f"{self.total}; the ones after it were not sent. Start a new replay for them "
            "once it is back."
        )

    def _wait_for_token(self) -> bool:
        """A resend token of the client: forwarded or sent, each request spends one."""
        while (wait := self.limits.resend_client.take(self.client)) > 0:
            if not self._sleep(wait):
                return False
        return True

    def _wait_for_turn(self) -> bool:
        """A resend token of the client and a resend place of this worker (held on True)."""
        if not self._wait_for_token():
            return False
        while not self.limits.resend_running.enter():
            if not self._sleep(SLOT_RETRY_SECONDS):
                return False
        return True

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; False as soon as the job is no longer running."""
        deadline = time.monotonic() + max(seconds, 0.0)
        while True:
            if self.stop.is_set() or not self._still_running():
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if self.stop.wait(min(remaining, CHECK_SECONDS)):
                return False

    def _still_running(self) -> bool:
        """The job's state, read at most every CHECK_SECONDS (writing the heartbeat when due)."""
        now = time.monotonic()
        if now - self.checked < CHECK_SECONDS:
            return True
        self.checked = now
        with db.engine.begin() as conn:
            if now - self.beat >= HEARTBEAT_SECONDS:
                self.beat = now
                state = conn.execute(
                    update(ReplayJob)
                    .where(ReplayJob.id == self.job_id)
                    .values(heartbeat_at=utcnow())
                    .returning(ReplayJob.state)
                ).scalar()
            else:
                state = conn.scalar(select(ReplayJob.state).where(ReplayJob.id == self.job_id))
        return state == RUNNING

    def _record(self, position: int, request_id: int, outcome: _Outcome) -> bool:
        """Store the outcome and count it done, in one transaction; False when the job is
        no longer running (cancelled meanwhile) or gone (its bin was deleted)."""
        with db.engine.begin() as conn:
            state = conn.execute(
                update(ReplayJob)
                .where(ReplayJob.id == self.job_id)
                .values(
                    done=ReplayJob.done + 1,
                    failed=ReplayJob.failed + (1 if outcome.error else 0),
                    heartbeat_at=utcnow(),
                )
                .returning(ReplayJob.state)
            ).scalar()
            if state is None:
                return False
            conn.execute(
                insert(ReplayOutcome).values(
                    job_id=self.job_id,
                    position=position,
                    request_id=request_id,
                    attempt_id=outcome.attempt_id,
                    sent_at=outcome.sent_at,
                    status=outcome.status,
                    reason=outcome.reason,
                    elapsed_ms=outcome.elapsed_ms,
                    error=outcome.error,
                    error_kind=outcome.error_kind,
                )
            )
        self.checked = self.beat = time.monotonic()
        return state == RUNNING


def _deleted(sent_at: datetime, started: float | None) -> _Outcome:
    return _Outcome(sent_at, started, error="deleted before its turn came", error_kind="deleted")


def _finish(job_id: int, state: str, error: str | None = None) -> None:
    """End a running job as ``state`` (a job cancelled or interrupted meanwhile stays so)."""
    values: dict[str, Any] = {"state": state, "finished_at": utcnow(), "error": error}
    with db.engine.begin() as conn:
        conn.execute(
            update(ReplayJob)
            .where(ReplayJob.id == job_id, ReplayJob.state == RUNNING)
            .values(**values)
        )
