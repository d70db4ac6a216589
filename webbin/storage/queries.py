"""Reads and deletes shared by the dashboard, the API and the live streams (the capture
write lives in :mod:`webbin.capture.endpoint`).

A bin's ``request_count`` is changed in the same transaction as every insert and delete, by
exactly the number of rows that statement inserted or deleted (never by what an earlier read
expected to find): a request deleted twice at once, or deleted by a user while pruning
deletes it too, is taken off the count once.

Nothing here tells live viewers about a change: the caller publishes to the broker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, delete, func, select, update

from webbin.storage.models import Bin, CapturedRequest, ResendAttempt, db

# Columns a request summary needs: everything but the (possibly 10 MiB) body.
SUMMARY_COLUMNS = (
    CapturedRequest.id,
    CapturedRequest.bin_id,
    CapturedRequest.seq,
    CapturedRequest.method,
    CapturedRequest.path,
    CapturedRequest.query_string,
    CapturedRequest.content_type,
    CapturedRequest.size,
    CapturedRequest.remote_addr,
    CapturedRequest.received_at,
    CapturedRequest.signature_scheme,
    CapturedRequest.signature_status,
    CapturedRequest.handshake,
    CapturedRequest.response_status,
    CapturedRequest.duplicate_of,
    CapturedRequest.delivery_attempt,
    CapturedRequest.delivery_key_source,
    CapturedRequest.provider,
    CapturedRequest.event,
)


def get_bin(bin_id: str) -> Bin:
    return db.get_or_404(Bin, bin_id, description="No bin with this id.")


def get_request(bin_id: str, request_id: int) -> CapturedRequest:
    return db.first_or_404(
        select(CapturedRequest).where(
            CapturedRequest.id == request_id, CapturedRequest.bin_id == bin_id
        ),
        description="No request with this id in this bin.",
    )


def page_of_requests(bin_id: str, before: int | None, limit: int) -> list:
    """Newest first, ``limit`` rows older than id ``before``: a keyset scan of
    (bin_id, id), as fast on page 2,000 as on page 1."""
    query = select(*SUMMARY_COLUMNS).where(CapturedRequest.bin_id == bin_id)
    if before is not None:
        query = query.where(CapturedRequest.id < before)
    return list(db.session.execute(query.order_by(CapturedRequest.id.desc()).limit(limit)))


def summaries(bin_id: str, ids: list[int]) -> list[Any]:
    """Summary rows of those of ``ids`` that ``bin_id`` holds, newest first."""
    if not ids:
        return []
    query = select(*SUMMARY_COLUMNS).where(
        CapturedRequest.bin_id == bin_id, CapturedRequest.id.in_(ids)
    )
    return list(db.session.execute(query.order_by(CapturedRequest.id.desc())))


def find_request(bin_id: str, request_id: int) -> CapturedRequest | None:
    """The request, or None when ``bin_id`` holds no such request (no 404 raised)."""
    return db.session.scalar(
        select(CapturedRequest).where(
            CapturedRequest.id == request_id, CapturedRequest.bin_id == bin_id
        )
    )


def delete_some(bin_id: str, ids: list[int]) -> list[int]:
    """Delete those of ``ids`` that ``bin_id`` holds, in one transaction; returns the ids
    this statement deleted (a request another client deleted meanwhile is not among them)."""
    if not ids:
        return []
    conn = db.session.connection()
    gone = list(
        conn.scalars(
            delete(CapturedRequest)
            .where(CapturedRequest.bin_id == bin_id, CapturedRequest.id.in_(ids))
            .returning(CapturedRequest.id)
        )
    )
    uncount(conn, {bin_id: len(gone)})
    db.session.commit()
    return sorted(gone)


def rows_after(bin_id: str, cursor: int, limit: int) -> list[Any] | None:
    """Summary rows of ``bin_id`` with id > ``cursor``, oldest first; None if the bin is gone.

    One query, rows or not: the bin outer-joined to its rows after the cursor gives no row
    when the bin is gone and one row of NULLs when it has nothing new. Every live reader's
    safety poll runs it, so it is built once. Each call uses its own short connection: a
    transaction kept open across polls would hide new rows (WAL snapshot) and pin a pool
    connection for the life of the socket.
    """
    with db.engine.connect() as conn:
        rows = conn.execute(_ROWS_AFTER, {"bin_id": bin_id, "cursor": cursor, "limit": limit}).all()
    if not rows:
        return None
    return [] if rows[0].id is None else rows


_ROWS_AFTER = (
    select(*SUMMARY_COLUMNS)
    .select_from(Bin)
    .outerjoin(
        CapturedRequest,
        and_(CapturedRequest.bin_id == Bin.id, CapturedRequest.id > bindparam("cursor")),
    )
    .where(Bin.id == bindparam("bin_id"))
    .order_by(CapturedRequest.id)
    .limit(bindparam("limit"))
)


def newest_id(bin_id: str) -> int | None:
    """The bin's newest request id (0 when empty); None when there is no such bin."""
    with db.engine.connect() as conn:
        found = conn.execute(
            select(
                Bin.id,
                select(func.coalesce(func.max(CapturedRequest.id), 0))
                .where(CapturedRequest.bin_id == bin_id)
                .scalar_subquery(),
            ).where(Bin.id == bin_id)
        ).first()
    return None if found is None else int(found[1])


def originals(rows: list) -> dict[int, Any]:
    """The first deliveries that ``rows`` repeat, by id (for "retry 2 of #14, +5 min")."""
    ids = {row.duplicate_of for row in rows if row.duplicate_of}
    if not ids:
        return {}
    found = db.session.execute(
        select(CapturedRequest.id, CapturedRequest.seq, CapturedRequest.received_at).where(
            CapturedRequest.id.in_(ids)
        )
    )
    return {row.id: row for row in found}


def previous_like(captured: CapturedRequest) -> tuple[str, CapturedRequest] | None:
    """The latest earlier request of the same event (same delivery key: a retry's earlier
    delivery) or, failing that, of the same path; with which of the two it shares."""
    earlier = (
        select(CapturedRequest)
        .where(CapturedRequest.bin_id == captured.bin_id, CapturedRequest.id < captured.id)
        .order_by(CapturedRequest.id.desc())
        .limit(1)
    )
    if captured.delivery_key:
        found = db.session.scalar(
            earlier.where(CapturedRequest.delivery_key == captured.delivery_key)
        )
        if found is not None:
            return "event", found
    found = db.session.scalar(earlier.where(CapturedRequest.path == captured.path))
    return ("path", found) if found is not None else None


def request_count(bin_id: str) -> int:
    """The bin's stored count: one primary-key read, as cheap at 100,000 requests as at 100."""
    return db.session.scalar(select(Bin.request_count).where(Bin.id == bin_id)) or 0


def resend_attempts(request_id: int) -> list[ResendAttempt]:
    return list(
        db.session.scalars(
            select(ResendAttempt)
            .where(ResendAttempt.request_id == request_id)
            .order_by(ResendAttempt.id.desc())
        )
    )


def delete_request(captured: CapturedRequest) -> None:
    deleted = db.session.execute(delete(CapturedRequest).where(CapturedRequest.id == captured.id))
    uncount(db.session.connection(), {captured.bin_id: deleted.rowcount})
    db.session.commit()


def clear_bin(bin_id: str) -> None:
    deleted = db.session.execute(delete(CapturedRequest).where(CapturedRequest.bin_id == bin_id))
    uncount(db.session.connection(), {bin_id: deleted.rowcount})
    db.session.commit()


def delete_requests(conn: Connection, where: ColumnElement[bool]) -> int:
    """Delete the requests matching ``where`` (of any bins) in ``conn``'s transaction, and
    take the ones this statement really deleted off their bins' counts; returns how many."""
    deleted = Counter(
        conn.scalars(delete(CapturedRequest).where(where).returning(CapturedRequest.bin_id))
    )
    uncount(conn, deleted)
    return deleted.total()


def uncount(conn: Connection, deleted: Mapping[str, int]) -> None:
    """Lower each bin's count by the rows deleted from it, in ``conn``'s transaction.

    Bins are updated in id order: two transactions uncounting the same bins then lock their
    rows in the same order and cannot deadlock (PostgreSQL holds each row lock to commit).
    """
    params = [
        {"uncount_bin": bin_id, "uncount_rows": rows}
        for bin_id, rows in sorted(deleted.items())
        if rows
    ]
    if params:
        conn.execute(_UNCOUNT, params)


# Core, not ORM: the ORM reads a list of parameters as a bulk update by primary key.
_BINS = Bin.__table__
_UNCOUNT = (
    update(_BINS)
    .where(_BINS.c.id == bindparam("uncount_bin"))
    .values(request_count=_BINS.c.request_count - bindparam("uncount_rows"))
)


def delete_bin(bin_id: str) -> None:
    """Delete the bin and, by cascade, all it holds (the caller wakes its viewers)."""
    db.session.execute(delete(Bin).where(Bin.id == bin_id))
    db.session.commit()
