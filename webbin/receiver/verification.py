"""Signature verdicts for stored requests, from the bin's current settings.

The list shows the verdict stored at capture; whenever a bin's signature settings change,
``reverify`` recomputes it for every request the bin holds, from the stored raw bytes, so
a secret added after the fact changes past verdicts without anything being resent.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC
from typing import Any

from sqlalchemy import bindparam, select, update

from webbin.receiver.signatures import registry
from webbin.receiver.signatures.base import Options, SignedRequest, Verdict
from webbin.storage.models import Bin, CapturedRequest, db

# A batch is bounded by rows and by body bytes, so that its read, its verdicts and its write
# each take milliseconds however large the bodies. The write is one executemany of at most
# REVERIFY_BATCH_ROWS updates by primary key; SQLite rewrites a whole row (body included) on
# update, so the byte bound also bounds what one commit writes. Measured: 300 requests of
# 200 KB in 23 writes of at most ~20 ms each; 10,000 requests of 5 KB in 40 writes, median
# 6 ms — far below the 100 ms other writers should ever wait on the lock.
REVERIFY_BATCH_ROWS = 250
REVERIFY_BATCH_BYTES = 4 * 1024 * 1024


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
    """Recompute the stored verdict of every request ``bin_`` holds; returns how many were
    re-verified, once all are done.

    Batch by batch, so that re-verifying a full bin never stalls: one short read of the next
    batch, the statuses computed (without explanations) outside any transaction, then one
    short transaction writing those that changed, and a yield to other greenlets
    (``time.sleep(0)`` switches under gevent) before the next batch. Captures on this worker
    and other workers' writes go on in between; a request captured meanwhile already got its
    verdict from the new settings. If the settings change again meanwhile, this pass stops:
    the re-verification that change started covers every request.
    """
    bin_id = bin_.id
    settings = (bin_.signature_scheme, options_for(bin_))
    scheme, options = settings[0], replace(settings[1], explain=False)
    checked, cursor = 0, 0
    while True:
        with db.engine.connect() as conn:
            sizes = conn.execute(_NEXT_SIZES, {"bin_id": bin_id, "after": cursor}).all()
            if not sizes:
                break
            last = _batch_end(sizes)
            rows = conn.execute(_BATCH, {"bin_id": bin_id, "after": cursor, "last": last}).all()
        changes = []
        for row in rows:
            result = registry.verify(signed_request(row), scheme, options)
            if (result.scheme, result.status) != (row.signature_scheme, row.signature_status):
                changes.append({"rid": row.id, "scheme": result.scheme, "status": result.status})
        if changes and not _write(bin_id, settings, changes):
            break  # superseded by a newer change of the settings
        checked += len(rows)
        cursor = last
        time.sleep(0)  # let other greenlets (captures, viewers) run between batches
    return checked


def _batch_end(sizes: list[Any]) -> int:
    """The id of the last request of the next batch: as many of ``sizes`` (id, body size),
    at most ``REVERIFY_BATCH_ROWS``, as fit in ``REVERIFY_BATCH_BYTES``, and at least one."""
    total, last = 0, sizes[0].id
    for row in sizes:
        total += row.size
        if total > REVERIFY_BATCH_BYTES and row.id != sizes[0].id:
            break
        last = row.id
    return last


def _write(bin_id: str, settings: tuple[str, Options], changes: list[dict[str, Any]]) -> bool:
    """Store ``changes`` in one short transaction, unless the bin's signature settings are no
    longer ``settings`` (or the bin is gone); whether they were stored.

    The settings are read after the updates, inside the transaction: on SQLite the updates
    hold the write lock by then, so a settings change either committed before (and is seen)
    or waits for this commit (and its own re-verification overwrites these verdicts).
    """
    with db.engine.connect() as conn, conn.begin() as transaction:
        conn.execute(_UPDATE_VERDICT, changes)
        current = conn.execute(_SETTINGS, {"bin_id": bin_id}).first()
        if current is None or (current.signature_scheme, options_for(current)) != settings:
            transaction.rollback()
            return False
    return True


# Built once, like capture's statements.
_NEXT_SIZES = (
    select(CapturedRequest.id, CapturedRequest.size)
    .where(CapturedRequest.bin_id == bindparam("bin_id"), CapturedRequest.id > bindparam("after"))
    .order_by(CapturedRequest.id)
    .limit(REVERIFY_BATCH_ROWS)
)
_BATCH = (
    select(
        CapturedRequest.id,
        CapturedRequest.method,
        CapturedRequest.url,
        CapturedRequest.headers,
        CapturedRequest.body,
        CapturedRequest.received_at,
        CapturedRequest.signature_scheme,
        CapturedRequest.signature_status,
    )
    .where(
        CapturedRequest.bin_id == bindparam("bin_id"),
        CapturedRequest.id > bindparam("after"),
        CapturedRequest.id <= bindparam("last"),
    )
    .order_by(CapturedRequest.id)
)
_UPDATE_VERDICT = (
    update(CapturedRequest)
    .where(CapturedRequest.id == bindparam("rid"))
    .values(signature_scheme=bindparam("scheme"), signature_status=bindparam("status"))
)
_SETTINGS = select(
    Bin.signature_scheme, Bin.signature_secrets, Bin.signature_tolerance, Bin.signature_options
).where(Bin.id == bindparam("bin_id"))
