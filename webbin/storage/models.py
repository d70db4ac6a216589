"""Storage: the database handle, the tables, and the engine settings that make SQLite safe.

Seven tables of data and one of the instance's own secrets. A bin owns its captured requests
and its replay jobs; a captured request owns its resend attempts (webbin's own, and those a
forwarder made from the developer's machine); a replay job owns one outcome per request it
sent. A bin also has the forwarders connected to it right now (``webbin forward``), each with
the resends queued for it.
Every captured request is numbered per bin (``seq``), and ids grow in commit order within a bin
(see :mod:`webbin.capture`), so ``id`` doubles as the cursor for paging and live replay.

Ids are never reused, or a cursor past a deleted id would skip the request that got it: on
SQLite the id tables use ``AUTOINCREMENT`` (without it SQLite hands out ``max(id) + 1``,
reusing the ids of the newest rows once they are deleted); PostgreSQL's sequences never
hand out a value twice. The schema is made and changed by :mod:`webbin.storage.migrations`,
which must produce exactly what these models describe (a test compares them).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    func,
    true,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only makes INTEGER PRIMARY KEY the rowid (and AUTOINCREMENT); PostgreSQL gets a bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_token() -> str:
    """A 192-bit URL-safe random token (well above the 128 bits a capability needs)."""
    return secrets.token_urlsafe(24)


class Bin(db.Model):
    __tablename__ = "bins"

    # The bin id addresses the dashboard and the API; it is never part of the capture URL.
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_token)
    # The capture token goes to providers; knowing it grants no read access.
    capture_token: Mapped[str] = mapped_column(
        String(64), unique=True, nullable=False, default=new_token
    )
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Last sequence number handed out; bumped in the capture transaction.
    last_seq: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # Last URL the user resent to, offered again next time.
    resend_url: Mapped[str | None] = mapped_column(Text)
    # Signature verification: a scheme name from webbin.receiver.signatures (or "auto"), the secrets
    # (several for rotation; write-only through the API and pages), and the replay window.
    signature_scheme: Mapped[str] = mapped_column(String(40), default="auto", nullable=False)
    signature_secrets: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    signature_tolerance: Mapped[int] = mapped_column(Integer, default=300, nullable=False)
    # generic-hmac's header, algorithm, encoding and prefix.
    signature_options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    # Sender networks (CIDRs) allowed to deliver; empty means "not checked".
    allowed_networks: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    # webbin.receiver.handshakes.HandshakeSettings as a dict; empty means every handshake on.
    handshake_settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    # webbin.receiver.responses.ResponseSettings as a dict; empty means the default 200.
    response_settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    # How many requests the bin holds, kept in the same transaction as every insert and
    # delete (capture, delete, clear, pruning), so showing it costs one row read however big
    # the bin is, where count(*) reads its whole index. Last column: revision 0003 added it.
    request_count: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", nullable=False
    )
    # Whether capture URLs answer browsers' CORS preflights and let any origin read their
    # answers (webbin.receiver.cors); on unless switched off. Revision 0008 added it.
    cors: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true(), nullable=False)


class CapturedRequest(db.Model):
    __tablename__ = "captured_requests"
    __table_args__ = (
        UniqueConstraint("bin_id", "seq"),
        # Newest-first listing and replay are keyset scans on this index. The columns after
        # the key let searches (webbin.storage.search) test verdict, retry, time and method
        # in the index, without reading rows (on SQLite a column stored after a large body
        # is reached through its overflow pages): revision 0009 widened it.
        Index(
            "ix_captured_requests_bin_id_id_filters",
            "bin_id",
            "id",
            "signature_status",
            "duplicate_of",
            "received_at",
            "method",
        ),
        # Finding the first delivery of a retried event.
        Index("ix_captured_requests_bin_id_delivery_key", "bin_id", "delivery_key", "id"),
        # Pruning sums stored body bytes and walks requests oldest first without reading
        # any body (webbin.storage.retention).
        Index("ix_captured_requests_id_size", "id", "size"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bin_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("bins.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    method: Mapped[str] = mapped_column(String(64), nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    query_string: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # [[name, value], ...] in arrival order, repeats kept.
    headers: Mapped[list[list[str]]] = mapped_column(JSON, nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    content_type: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The URL as the sender used it (public base URL + capture path + query), which
    # URL-signed schemes (Twilio, Square, HubSpot) sign.
    url: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Signature verdict at capture, refreshed whenever the bin's signature settings change;
    # the list shows it, the detail view recomputes and explains it.
    signature_scheme: Mapped[str | None] = mapped_column(String(40))
    signature_status: Mapped[str | None] = mapped_column(String(16))
    # Which provider's handshake webbin answered, if any.
    handshake: Mapped[str | None] = mapped_column(String(16))
    # Status webbin answered with (default, custom response or handshake).
    response_status: Mapped[int | None] = mapped_column(Integer)
    # Provider delivery id (or body digest) that identifies retries of one event.
    delivery_key: Mapped[str | None] = mapped_column(String(255))
    delivery_key_source: Mapped[str | None] = mapped_column(String(64))
    duplicate_of: Mapped[int | None] = mapped_column(BigId)
    delivery_attempt: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    # When an import stored it (null: captured live, at ``received_at``). An imported request
    # keeps its original ``received_at`` but gets a new id, so ids grow with this time, not
    # with ``received_at``; retention's binary search by id reads it. Revision 0007 added it.
    imported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Who sent it and the event it reports (webbin.receiver.events), set at capture; the
    # list shows them and provider:/event: searches seek them (revision 0009 added them).
    provider: Mapped[str | None] = mapped_column(String(40))
    event: Mapped[str | None] = mapped_column(String(200))

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), as a provider check would read it."""
        wanted = name.lower()
        return next((v for n, v in self.headers if n.lower() == wanted), None)


# Searches by provider and by event (webbin.storage.search) are keyset scans of these, newest
# first; events compare case-insensitively, hence lower(event).
Index(
    "ix_captured_requests_bin_id_provider",
    CapturedRequest.bin_id,
    CapturedRequest.provider,
    CapturedRequest.id,
)
Index(
    "ix_captured_requests_bin_id_event",
    CapturedRequest.bin_id,
    func.lower(CapturedRequest.event),
    CapturedRequest.id,
)


class ResendAttempt(db.Model):
    __tablename__ = "resend_attempts"
    __table_args__ = (
        Index("ix_resend_attempts_request_id_id", "request_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("captured_requests.id", ondelete="CASCADE"), nullable=False
    )
    url: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    response_body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    elapsed_ms: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    # Set when a forwarder (`webbin forward`) made this attempt: its name. The URL is then the
    # target as the forwarder named it, which webbin itself may be unable to reach.
    # Last columns: revision 0004 added them.
    forwarder: Mapped[str | None] = mapped_column(String(100))
    # The forwarder runs with --reply: it offered this answer as the capture's own answer...
    reply: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # ...and webbin did send it to the provider (it came within the wait).
    replied: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # The request as it went out (revision 0006; null for older attempts): method, headers
    # in order with repeats (the loop mark included; Host and Content-Length are the
    # connection's), the body, whether the user edited any of it, and the scheme that
    # re-signed it, if one did.
    sent_method: Mapped[str | None] = mapped_column(String(64))
    sent_headers: Mapped[list[list[str]] | None] = mapped_column(JSON)
    sent_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    sent_edited: Mapped[bool | None] = mapped_column(Boolean)
    sent_resigned: Mapped[str | None] = mapped_column(String(40))


class Forwarder(db.Model):
    """A ``webbin forward`` connected to a bin right now, whichever server process holds its
    WebSocket: the database is where every process (and host) finds it. The row lives as
    long as the connection; ``last_seen`` is its heartbeat, so a row left behind by a
    process that died counts as gone once it is stale."""

    __tablename__ = "forwarders"
    __table_args__ = (Index("ix_forwarders_bin_id_last_seen", "bin_id", "last_seen"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_token)
    bin_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("bins.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # Where it forwards to, as the forwarder named it (shown, never dialled by webbin).
    target: Mapped[str] = mapped_column(Text, nullable=False)
    # The server process holding the connection: host name and process id.
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    # Seconds a capture waits for the forwarder's answer (--reply); 0: it does not answer.
    reply_timeout: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    connected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ForwardJob(db.Model):
    """ "Resend this request through forwarder F": queued by the dashboard (any process),
    picked up by the process holding F's connection, done once F reports the outcome."""

    __tablename__ = "forward_jobs"
    __table_args__ = (
        Index("ix_forward_jobs_forwarder_id_state", "forwarder_id", "state"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    forwarder_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("forwarders.id", ondelete="CASCADE"), nullable=False
    )
    request_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("captured_requests.id", ondelete="CASCADE"), nullable=False
    )
    # pending (queued) -> sent (to the forwarder) -> done (outcome in ``attempt_id``).
    state: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    attempt_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InstanceSecret(db.Model):
    """A secret every host of one webbin must share, generated once (see
    :mod:`webbin.storage.instance`): today only the session-cookie key, named ``session``."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReplayJob(db.Model):
    """Replaying many requests of a bin to one URL, or through one connected forwarder, in
    the background of the worker that started it; the row is its progress, so any worker
    can show it or cancel it."""

    __tablename__ = "replay_jobs"
    __table_args__ = (
        Index("ix_replay_jobs_bin_id_id", "bin_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bin_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("bins.id", ondelete="CASCADE"), nullable=False
    )
    # The target as typed, placeholders unexpanded (as a one-click resend takes it); for a
    # replay through a forwarder, the forwarder's target as it named it (never dialled).
    url: Mapped[str] = mapped_column(Text, nullable=False)
    # Requests per second at most.
    rate: Mapped[float] = mapped_column(Float, nullable=False)
    # running, done, cancelled, failed or interrupted (see webbin.outbound.replays).
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    # The requests to send, in sending order (oldest first); ``done`` of them are sent.
    request_ids: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    total: Mapped[int] = mapped_column(Integer, nullable=False)
    done: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # Of those done, how many got no answer (their outcome has an error).
    failed: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Which process runs it ("host:pid") and when it last said it still does: a job whose
    # process is gone is marked interrupted instead of staying "running" forever.
    owner: Mapped[str] = mapped_column(String(255), nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Why it stopped early (failed, interrupted, the forwarder went), for the user.
    error: Mapped[str | None] = mapped_column(Text)
    # The forwarder it goes through, if any, and its name: kept here since the forwarder's
    # row goes when it disconnects (so no foreign key either). Last: added by 0010.
    forwarder_id: Mapped[str | None] = mapped_column(String(64))
    forwarder_name: Mapped[str | None] = mapped_column(String(100))


class ReplayOutcome(db.Model):
    """What happened to one request of a replay job. ``request_id`` and ``attempt_id`` are
    plain numbers, not references: the outcome stays when the request is deleted."""

    __tablename__ = "replay_outcomes"

    job_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("replay_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    # 1, 2, 3, ...: the request's place in the job's sending order.
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(BigId, nullable=False)
    # The resend attempt recorded for it (as a one-click resend records one), if any.
    attempt_id: Mapped[int | None] = mapped_column(BigId)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    elapsed_ms: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(32))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers and the writer work at once; busy_timeout waits out brief locks;
    synchronous=FULL makes an acknowledged capture survive a power cut, not just a crash."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
