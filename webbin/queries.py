"""Reads and deletes shared by the dashboard and the API (writes on capture live in capture)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from .broker import get_broker
from .models import Bin, CapturedRequest, ResendAttempt, db
from .records import SUMMARY_COLUMNS


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


def request_count(bin_id: str) -> int:
    return db.session.scalar(
        select(func.count()).select_from(CapturedRequest).where(CapturedRequest.bin_id == bin_id)
    )


def resend_attempts(request_id: int) -> list[ResendAttempt]:
    return list(
        db.session.scalars(
            select(ResendAttempt)
            .where(ResendAttempt.request_id == request_id)
            .order_by(ResendAttempt.id.desc())
        )
    )


def delete_request(captured: CapturedRequest) -> None:
    db.session.execute(delete(CapturedRequest).where(CapturedRequest.id == captured.id))
    db.session.commit()


def clear_bin(bin_id: str) -> None:
    db.session.execute(delete(CapturedRequest).where(CapturedRequest.bin_id == bin_id))
    db.session.commit()


def delete_bin(app, bin_id: str) -> None:
    """Delete the bin and, by cascade, all it holds; wake its viewers so their streams end."""
    db.session.execute(delete(Bin).where(Bin.id == bin_id))
    db.session.commit()
    get_broker(app).publish(bin_id)
