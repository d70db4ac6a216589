"""Signature verdicts for stored requests, from the bin's current settings.

The list shows the verdict stored at capture; whenever a bin's signature settings change,
``reverify`` recomputes it for every request the bin holds, from the stored raw bytes, so
a secret added after the fact changes past verdicts without anything being resent.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from typing import Any

from sqlalchemy import select, update

from webbin.receiver.signatures import registry
from webbin.receiver.signatures.base import Options, SignedRequest, Verdict
from webbin.storage.models import Bin, CapturedRequest, db

REVERIFY_BATCH = 500


def options_for(bin_: Any) -> Options:
    """Options from anything with the Bin's signature columns (an ORM object or a row)."""
    extra = bin_.signature_options or {}
    return Options(
        secrets=tuple(bin_.signature_secrets or ()),
        tolerance_seconds=int(bin_.signature_tolerance),
        header=extra.get("header"),
        algorithm=extra.get("algorithm", "sha256"),
        encoding=extra.get("encoding", "hex"),
        prefix=extra.get("prefix", ""),
    )


def signed_request(row: Any) -> SignedRequest:
    received_at = row.received_at
    if received_at.tzinfo is None:  # SQLite hands back naive UTC
        received_at = received_at.replace(tzinfo=UTC)
    return SignedRequest(
        method=row.method,
        url=row.url,
        headers=[(name, value) for name, value in row.headers],
        body=row.body,
        received_at=received_at,
    )


def verdict(bin_: Any, row: Any) -> Verdict:
    """The full, explained verdict of a stored request under the bin's current settings."""
    return registry.verify(signed_request(row), bin_.signature_scheme, options_for(bin_))


def status_of(row: Any, scheme: str, options: Options) -> Verdict:
    """The verdict's scheme and status, as capture and re-verification store them; costly
    explanations (hints that re-encode the body) are skipped."""
    return registry.verify(signed_request(row), scheme, replace(options, explain=False))


def reverify(bin_: Bin) -> int:
    """Recompute every stored verdict of ``bin_``; returns how many requests were checked."""
    checked, cursor = 0, 0
    while True:
        rows = db.session.execute(
            select(
                CapturedRequest.id,
                CapturedRequest.method,
                CapturedRequest.url,
                CapturedRequest.headers,
                CapturedRequest.body,
                CapturedRequest.received_at,
            )
            .where(CapturedRequest.bin_id == bin_.id, CapturedRequest.id > cursor)
            .order_by(CapturedRequest.id)
            .limit(REVERIFY_BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            result = verdict(bin_, row)
            db.session.execute(
                update(CapturedRequest)
                .where(CapturedRequest.id == row.id)
                .values(signature_scheme=result.scheme, signature_status=result.status)
            )
        checked += len(rows)
        cursor = rows[-1].id
    db.session.commit()
    return checked
