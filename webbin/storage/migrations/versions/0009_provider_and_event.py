"""Captured requests say who sent them and which event they report: ``provider`` and
``event``, and an index on each for searches; the listing index carries the other columns
searches filter on.

From this revision on, capture stores both (:mod:`webbin.receiver.events`); the list shows
them and ``provider:`` / ``event:`` searches (:mod:`webbin.storage.search`) seek
``(bin_id, provider, id)`` and ``(bin_id, lower(event), id)`` newest first. Requests
captured before keep NULL in both: their headers are still there for ``header:`` searches.

The listing index ``(bin_id, id)`` becomes ``(bin_id, id, signature_status, duplicate_of,
received_at, method)``: the same keyset scans, and ``verdict:``, ``retry:``, ``since:`` and
``method:`` are tested in the index instead of in each row. Measured on a 10,000-request
SQLite bin with 1-3 KiB bodies, a ``verdict:`` search that matches nothing went from 86 ms
to 1.5 ms: SQLite reaches a column stored after the body through the body's overflow pages.
Widened, not added beside it: a capture writes no extra index entry for it (the provider
and event indexes are the two new ones).

SQLite adds the columns in place (batch mode, which needs no rebuild for this) and builds
the indexes, expression index included (SQLite 3.9 and later).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("captured_requests") as batch:
        batch.add_column(sa.Column("provider", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("event", sa.String(length=200), nullable=True))
    op.drop_index("ix_captured_requests_bin_id_id", table_name="captured_requests")
    op.create_index(
        "ix_captured_requests_bin_id_id_filters",
        "captured_requests",
        ["bin_id", "id", "signature_status", "duplicate_of", "received_at", "method"],
    )
    op.create_index(
        "ix_captured_requests_bin_id_provider",
        "captured_requests",
        ["bin_id", "provider", "id"],
    )
    op.create_index(
        "ix_captured_requests_bin_id_event",
        "captured_requests",
        ["bin_id", sa.text("lower(event)"), "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_captured_requests_bin_id_event", table_name="captured_requests")
    op.drop_index("ix_captured_requests_bin_id_provider", table_name="captured_requests")
    op.drop_index("ix_captured_requests_bin_id_id_filters", table_name="captured_requests")
    op.create_index("ix_captured_requests_bin_id_id", "captured_requests", ["bin_id", "id"])
    with op.batch_alter_table("captured_requests") as batch:
        batch.drop_column("event")
        batch.drop_column("provider")
