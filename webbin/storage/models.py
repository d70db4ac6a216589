"""Storage: the database handle, the tables, and the engine settings that make SQLite safe.

Three tables. A bin owns its captured requests; a captured request owns its resend attempts.
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
    func,
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


class CapturedRequest(db.Model):
    __tablename__ = "captured_requests"
    __table_args__ = (
        UniqueConstraint("bin_id", "seq"),
        # Newest-first listing and replay are keyset scans on this index. The columns after
        # the key let searches (webbin.storage.search) test verdict, retry, time and method
        # in the index, without reading rows (on SQLite a column stored after a large body
        # is reached through its overflow pages): revision 0004 widened it.
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
    # Who sent it and the event it reports (webbin.receiver.events), set at capture; the
    # list shows them and provider:/event: searches seek them (revision 0004 added them).
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
