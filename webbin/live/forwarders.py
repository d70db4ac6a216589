"""Forwarders: the ``webbin forward`` clients connected to a bin, wherever they connected.

A forwarder follows its bin over a WebSocket (``/api/bins/{id}/forward``) and sends each
arrival to the developer's own machine, which webbin cannot reach. Three things need to
know about it from any server process, on any host: the dashboard (which forwarders are
connected; "resend through this one"), a capture waiting for a forwarder's answer
(``--reply``), and the process holding its socket (what to send it). So the database is
the registry, not this process's memory:

* ``forwarders``: one row per open connection, written when it opens and deleted when it
  closes; ``last_seen`` is refreshed every :data:`HEARTBEAT_SECONDS`, so the row of a
  process that died counts as gone once it is :data:`STALE_SECONDS` old.
* ``forward_jobs``: "resend request R through forwarder F", queued by whichever process
  served the click. The process holding F's socket picks it up: woken by the bin's broker
  notification (:func:`webbin.live.broker.Broker.publish`, so it rides whatever broker is
  configured), and looking anyway every :data:`JOB_POLL_SECONDS` in case the broker only
  reaches its own process.
* outcomes come back over HTTP (``POST .../forwards``) into ``resend_attempts`` with the
  forwarder's name; whoever waits for one (the click, a capture) is woken the same way.

Nothing here sends anything anywhere: the forwarder, on the developer's machine, is the
only one that talks to the target. The server's outbound policy is not involved.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from flask_sock import ConnectionClosed
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webbin.live.broker import Subscription, get_broker
from webbin.live.feed import frame
from webbin.live.stream import CLOSE_NOT_FOUND, stream
from webbin.storage.models import (
    Bin,
    CapturedRequest,
    Forwarder,
    ForwardJob,
    ResendAttempt,
    db,
    new_token,
    utcnow,
)
from webbin.storage.queries import SUMMARY_COLUMNS

# How often an open connection says it is still there, and when a row that stopped saying so
# counts as gone (its process died without closing it); stale rows are deleted after FORGET.
HEARTBEAT_SECONDS = 10.0
STALE_SECONDS = 35.0
FORGET_SECONDS = 300.0
# A forwarder's connection looks for queued resends at least this often when no broker
# notification reaches its process (another worker or host queued them).
JOB_POLL_SECONDS = 1.0
# A waiting capture or click looks again at least this often, for the same reason.
WAIT_POLL_SECONDS = 0.25
# Longest a capture may wait for a forwarder's answer, whatever the forwarder asks.
MAX_REPLY_TIMEOUT = 10.0
# How long a process trusts what it read about which bins have a replying forwarder.
REPLY_CACHE_SECONDS = 1.0
MAX_NAME = 100
MAX_TARGET = 2000
# The forwarder sent something webbin cannot use (a name too long, ...): not retried as is.
CLOSE_INVALID = 4400
# The feed format of a forwarder's arrivals (rendered once per row for all forwarders).
FORMAT = "forward-request"

Summary = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class Hello:
    """What a forwarder says about itself when it connects (its query string)."""

    name: str
    target: str
    reply_timeout: float

    @classmethod
    def parse(cls, args: Any) -> Hello:
        """From the handshake's query arguments; ValueError says what is wrong."""
        name = _printable(args.get("name") or "")
        target = _printable(args.get("target") or "")
        if not name or len(name) > MAX_NAME:
            raise ValueError(f"name: give 1 to {MAX_NAME} printable characters")
        if not target or len(target) > MAX_TARGET:
            raise ValueError(f"target: give 1 to {MAX_TARGET} printable characters")
        try:
            reply = float(args.get("reply") or 0)
        except ValueError:
            raise ValueError("reply: give the seconds a capture may wait, or 0") from None
        if not 0 <= reply <= MAX_REPLY_TIMEOUT:  # NaN fails this too
            raise ValueError(f"reply: give from 0 to {MAX_REPLY_TIMEOUT:g} seconds")
        return cls(name, target, reply)


def _printable(text: str) -> str:
    """Shown in pages and stored: no control characters (NUL would not even store)."""
    text = text.strip()
    return text if text.isprintable() else ""


def host_label() -> str:
    """Which server process holds a connection: its host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:255]


def _stale_before() -> datetime:
    return utcnow() - timedelta(seconds=STALE_SECONDS)


# --- the registry ----------------------------------------------------------------------------


def register(bin_id: str, hello: Hello) -> str | None:
    """Record a new connection; its forwarder id, or None when there is no such bin."""
    forwarder_id = new_token()
    now = utcnow()
    with db.engine.begin() as conn:
        if conn.execute(select(Bin.id).where(Bin.id == bin_id)).first() is None:
            return None
        # Rows of processes that died long ago (their jobs go with them).
        conn.execute(
            delete(Forwarder).where(Forwarder.last_seen < now - timedelta(seconds=FORGET_SECONDS))
        )
        conn.execute(
            insert(Forwarder).values(
                id=forwarder_id,
                bin_id=bin_id,
                name=hello.name,
                target=hello.target,
                host=host_label(),
                reply_timeout=hello.reply_timeout,
                connected_at=now,
                last_seen=now,
            )
        )
    return forwarder_id


def unregister(forwarder_id: str) -> None:
    """The connection closed: the forwarder is gone, and the resends queued for it."""
    with db.engine.begin() as conn:
        conn.execute(delete(Forwarder).where(Forwarder.id == forwarder_id))


def heartbeat(forwarder_id: str) -> bool:
    """Still connected; False when its row is gone (the bin was deleted)."""
    with db.engine.begin() as conn:
        found = conn.execute(
            update(Forwarder).where(Forwarder.id == forwarder_id).values(last_seen=utcnow())
        )
    return bool(found.rowcount)


@dataclass(frozen=True)
class Connected:
    """A forwarder connected to a bin right now."""

    id: str
    name: str
    target: str
    host: str
    reply_timeout: float
    connected_at: datetime
    last_seen: datetime


_CONNECTED = (
    Forwarder.id,
    Forwarder.name,
    Forwarder.target,
    Forwarder.host,
    Forwarder.reply_timeout,
    Forwarder.connected_at,
    Forwarder.last_seen,
)


def connected(bin_id: str) -> list[Connected]:
    """The bin's forwarders that are connected now, longest connected first."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(*_CONNECTED)
            .where(Forwarder.bin_id == bin_id, Forwarder.last_seen >= _stale_before())
            .order_by(Forwarder.connected_at, Forwarder.id)
        )
        return [Connected(*row) for row in rows]


def find(bin_id: str, forwarder_id: str) -> Connected | None:
    """The bin's forwarder with this id, if it is connected now."""
    return next((f for f in connected(bin_id) if f.id == forwarder_id), None)


# --- resends through a forwarder --------------------------------------------------------------


def queue_resend(forwarder_id: str, request_id: int) -> int:
    """Ask the forwarder to send request ``request_id`` to its target; the job's id. The
    caller then publishes the bin, which wakes the forwarder's connection wherever it is."""
    with db.engine.begin() as conn:
        return conn.execute(
            insert(ForwardJob)
            .values(
                forwarder_id=forwarder_id,
                request_id=request_id,
                state="pending",
                created_at=utcnow(),
            )
            .returning(ForwardJob.id)
        ).scalar_one()


_JOBS = ForwardJob.__table__


def take_jobs(forwarder_id: str) -> list[tuple[int, Any]]:
    """The forwarder's queued resends, each with its request's summary row, marked sent."""
    with db.engine.begin() as conn:
        taken = conn.execute(
            update(_JOBS)
            .where(_JOBS.c.forwarder_id == forwarder_id, _JOBS.c.state == "pending")
            .values(state="sent")
            .returning(_JOBS.c.id, _JOBS.c.request_id)
        ).all()
        if not taken:
            return []
        rows = {
            row.id: row
            for row in conn.execute(
                select(*SUMMARY_COLUMNS).where(CapturedRequest.id.in_([r for _, r in taken]))
            )
        }
    return sorted((job, rows[request]) for job, request in taken if request in rows)


@dataclass(frozen=True)
class JobResult:
    """Where a resend through a forwarder stands: ``attempt`` once it reported; ``gone``
    when the forwarder disconnected first; neither while it is still on its way."""

    attempt: ResendAttempt | None = None
    gone: bool = False
    # False when the forwarder (or the request) had gone before the resend could be queued.
    queued: bool = True


# The answer to naming a forwarder that is not (or no longer) connected to the bin.
NOT_CONNECTED = (
    "No forwarder with this id is connected to this bin now (it may have disconnected); "
    "the bin's forwarders list shows those that are."
)


def resend_for_request(bin_id: str, forwarder_id: str, request_id: int) -> JobResult:
    """:func:`resend_through` for a request handler: its session ends first (the wait holds
    no database connection), and it waits up to ``RESEND_TOTAL_TIMEOUT``, as a resend does."""
    db.session.commit()
    db.session.close()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return resend_through(app, bin_id, forwarder_id, request_id, request_wait())


def request_wait() -> float:
    """How long a request handler waits for a forwarder's report: a resend's whole time."""
    return float(current_app.config["RESEND_TOTAL_TIMEOUT"])


def resend_through(
    app: Flask, bin_id: str, forwarder_id: str, request_id: int, timeout: float
) -> JobResult:
    """Queue the resend for the forwarder, wake its connection wherever it is served (the
    broker reaches every worker and host), and wait up to ``timeout`` for its report. The
    caller holds no database connection meanwhile."""
    try:
        job = queue_resend(forwarder_id, request_id)
    except IntegrityError:  # its forwarder row, or the request, went just now
        return JobResult(gone=True, queued=False)
    _publish(app, bin_id)
    return wait_for_job(app, bin_id, job, timeout)


def wait_for_job(app: Flask, bin_id: str, job_id: int, timeout: float) -> JobResult:
    """Wait up to ``timeout`` seconds for the forwarder's outcome, holding no connection."""
    deadline = time.monotonic() + timeout
    with get_broker(app).subscribe(bin_id) as subscription:
        while True:
            with db.engine.connect() as conn:
                job = conn.execute(
                    select(ForwardJob.state, ForwardJob.attempt_id, Forwarder.last_seen)
                    .join(Forwarder, Forwarder.id == ForwardJob.forwarder_id)
                    .where(ForwardJob.id == job_id)
                ).first()
            if job is None or (job.state != "done" and _is_stale(job.last_seen)):
                return JobResult(gone=True)
            if job.state == "done" and job.attempt_id is not None:
                return JobResult(attempt=_attempt(job.attempt_id))
            if not _pause(subscription, deadline):
                return JobResult()


def _is_stale(last_seen: datetime) -> bool:
    if last_seen.tzinfo is None:  # SQLite hands back naive UTC
        last_seen = last_seen.replace(tzinfo=_stale_before().tzinfo)
    return last_seen < _stale_before()


def _pause(subscription: Subscription, deadline: float) -> bool:
    """Sleep until notified, a poll is due or ``deadline``; False once it has passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    subscription.wait(min(remaining, WAIT_POLL_SECONDS))
    subscription.take()
    return True


def _attempt(attempt_id: int) -> ResendAttempt | None:
    with Session(db.engine, expire_on_commit=False) as session:
        attempt = session.get(ResendAttempt, attempt_id)
        if attempt is not None:
            session.expunge(attempt)
        return attempt


# --- outcomes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a forwarder reports about one request it sent to its target."""

    forwarder: str
    url: str
    status: int | None
    reason: str | None
    headers: list[list[str]]
    body: bytes
    truncated: bool
    elapsed_ms: float
    error: str | None
    error_kind: str | None
    job: int | None
    reply: bool


def record(app: Flask, bin_id: str, request_id: int, outcome: Outcome) -> ResendAttempt:
    """Store the outcome as a resend attempt labelled with the forwarder; finish its job
    (when it answers one of this request's); wake whoever waits for it. Returns the attempt
    (detached, every column loaded)."""
    attempt = ResendAttempt(
        request_id=request_id,
        url=outcome.url,
        created_at=utcnow(),
        status=outcome.status,
        reason=outcome.reason,
        response_headers=outcome.headers,
        response_body=outcome.body,
        truncated=outcome.truncated,
        elapsed_ms=outcome.elapsed_ms,
        error=outcome.error,
        error_kind=outcome.error_kind,
        forwarder=outcome.forwarder,
        reply=outcome.reply and outcome.job is None,
        replied=False,
    )
    with Session(db.engine, expire_on_commit=False) as session, session.begin():
        session.add(attempt)
        session.flush()
        if outcome.job is not None:
            session.execute(
                update(_JOBS)
                .where(_JOBS.c.id == outcome.job, _JOBS.c.request_id == request_id)
                .values(state="done", attempt_id=attempt.id)
            )
    _publish(app, bin_id)
    return attempt


def _publish(app: Flask, bin_id: str) -> None:
    try:
        get_broker(app).publish(bin_id)
    except Exception:  # waiters also poll: a broker hiccup only slows them down
        app.logger.exception("broker publish failed for a forwarder's news")


# --- answers passed through (--reply) ---------------------------------------------------------


class ReplyWaits:
    """Which bins have a forwarder whose answer their captures wait for, and how long.

    Asked on every capture, so it is kept in memory and read from the database at most once
    per :data:`REPLY_CACHE_SECONDS` per process: a forwarder that just connected is waited
    for within about a second, whichever process it connected to.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._timeouts: dict[str, float] = {}

    def timeout(self, bin_id: str) -> float:
        """Seconds a capture to ``bin_id`` waits for a forwarder's answer (0: none)."""
        if time.monotonic() - self._read_at >= REPLY_CACHE_SECONDS:
            with self._lock:
                if time.monotonic() - self._read_at >= REPLY_CACHE_SECONDS:
                    self._timeouts = _reply_timeouts()
                    self._read_at = time.monotonic()
        return self._timeouts.get(bin_id, 0.0)


def _reply_timeouts() -> dict[str, float]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(Forwarder.bin_id, func.max(Forwarder.reply_timeout))
            .where(Forwarder.reply_timeout > 0, Forwarder.last_seen >= _stale_before())
            .group_by(Forwarder.bin_id)
        )
        return {bin_id: float(timeout) for bin_id, timeout in rows}


def reply_timeout(app: Flask, bin_id: str) -> float:
    return app.extensions["webbin.forwarders"].timeout(bin_id)


def wait_for_reply(app: Flask, bin_id: str, request_id: int, timeout: float) -> Any | None:
    """The answer a replying forwarder got from its target for this capture, if it reports
    one within ``timeout`` seconds (holding no connection meanwhile); None when it does not,
    or reports an error, or the answer was cut (passing on part of a body would lie)."""
    deadline = time.monotonic() + timeout
    with get_broker(app).subscribe(bin_id) as subscription:
        while True:
            with db.engine.connect() as conn:
                found = conn.execute(
                    select(
                        ResendAttempt.id,
                        ResendAttempt.status,
                        ResendAttempt.response_headers,
                        ResendAttempt.response_body,
                        ResendAttempt.truncated,
                    )
                    .where(ResendAttempt.request_id == request_id, ResendAttempt.reply.is_(True))
                    .order_by(ResendAttempt.id)
                    .limit(1)
                ).first()
            if found is not None:
                return found if found.status is not None and not found.truncated else None
            if not _pause(subscription, deadline):
                return None


def mark_replied(attempt_id: int, request_id: int, status: int) -> None:
    """The capture was answered with this attempt's answer: say so on both."""
    with db.engine.begin() as conn:
        conn.execute(
            update(ResendAttempt).where(ResendAttempt.id == attempt_id).values(replied=True)
        )
        conn.execute(
            update(CapturedRequest)
            .where(CapturedRequest.id == request_id)
            .values(response_status=status)
        )


# Headers of a local app's answer that never reach the provider: the connection's own, the
# length (recomputed), and what would act on webbin's origin, where the capture URL lives
# (cookies, HSTS, clearing site data, its safety headers, which webbin sets itself).
NOT_PASSED_BACK = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "date",
        "server",
        "set-cookie",
        "set-cookie2",
        "clear-site-data",
        "strict-transport-security",
        "alt-svc",
        "content-security-policy",
        "content-security-policy-report-only",
        "x-content-type-options",
    }
)


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")


def passed_back(headers: list[list[str]]) -> list[tuple[str, str]]:
    """The local app's answer headers that webbin passes to the provider, in order (a name
    or value no HTTP message could carry is dropped, not sent)."""
    return [
        (name, value)
        for name, value in headers
        if name.lower() not in NOT_PASSED_BACK
        and _TOKEN.fullmatch(name)
        and not any(c in value for c in "\r\n\0")
    ]


# --- the forwarder's connection -------------------------------------------------------------


def follow(ws: Any, bin_id: str, cursor: int, hello: Hello, summary: Summary) -> None:
    """Serve one forwarder's WebSocket: register it, say hello, then send every request of
    the bin after ``cursor`` (exactly as the live stream does) and, interleaved, the resends
    queued for it, until the socket closes; then unregister it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    forwarder_id = register(bin_id, hello)
    if forwarder_id is None:
        ws.close(reason=CLOSE_NOT_FOUND, message="no such bin")
        return
    stop = threading.Event()
    try:
        _send(ws, {"type": "hello", "forwarder": forwarder_id, **_backlog(bin_id, cursor)})
        with get_broker(app).subscribe(bin_id) as subscription:
            jobs = threading.Thread(
                target=_serve_jobs,
                args=(app, ws, forwarder_id, summary, subscription, stop),
                daemon=True,
            )
            jobs.start()
            try:
                stream(
                    ws,
                    bin_id,
                    cursor,
                    FORMAT,
                    lambda row: json.dumps({"type": "request", "request": summary(row)}),
                )
            finally:
                stop.set()
                subscription.interrupt()
                jobs.join(JOB_POLL_SECONDS * 2)
    except (ConnectionClosed, OSError):
        pass
    finally:
        unregister(forwarder_id)


def _backlog(bin_id: str, cursor: int) -> dict[str, int]:
    """The bin's newest request id, and how many it holds after ``cursor`` (what a
    forwarder coming back has to catch up with)."""
    with db.engine.connect() as conn:
        newest, backlog = conn.execute(
            select(
                func.max(CapturedRequest.id),
                func.count(CapturedRequest.id).filter(CapturedRequest.id > cursor),
            ).where(CapturedRequest.bin_id == bin_id)
        ).one()
    return {"newest": int(newest or 0), "backlog": int(backlog or 0)}


def _send(ws: Any, message: dict[str, Any]) -> None:
    """One whole frame, through the same serialised socket the stream writes its frames to
    (:class:`webbin.live.viewers.SerialSocket`), so the two never interleave."""
    ws.sock.sendall(frame(json.dumps(message)))


def _serve_jobs(
    app: Flask,
    ws: Any,
    forwarder_id: str,
    summary: Summary,
    subscription: Subscription,
    stop: threading.Event,
) -> None:
    """Beside the stream, for as long as the socket is open: hand the forwarder the resends
    queued for it (woken by the bin's notifications, looking anyway every
    :data:`JOB_POLL_SECONDS`), and keep its row fresh."""
    with app.app_context():
        try:
            beat = time.monotonic()
            while not stop.is_set() and ws.connected:
                for job_id, row in take_jobs(forwarder_id):
                    _send(ws, {"type": "resend", "job": job_id, "request": summary(row)})
                if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                    beat = time.monotonic()
                    if not heartbeat(forwarder_id):
                        return  # the bin is gone: the stream closes the socket
                subscription.wait(JOB_POLL_SECONDS)
                subscription.take()
        except (ConnectionClosed, OSError):
            return
        except Exception:
            app.logger.exception("the resends of forwarder %s failed", forwarder_id[:6])


def init_app(app: Flask) -> None:
    app.extensions["webbin.forwarders"] = ReplyWaits()
