"""Replay jobs and imports: ``replay_jobs``, ``replay_outcomes``, ``captured_requests.imported_at``.

A replay job sends many of a bin's requests to one URL in the background; its row is its
progress (see :mod:`webbin.outbound.replays`), with one outcome row per request sent. Both
tables are new and go with their bin (``ON DELETE CASCADE``).

``imported_at`` says when an import stored a request. Imported requests keep the time they
were first received but get new ids, so from now on ids grow with "received, or imported"
rather than with ``received_at`` alone, which retention's binary search relies on. Null for
every existing row (all captured live): added in place on SQLite, no rows rewritten.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("captured_requests") as batch:
        batch.add_column(sa.Column("imported_at", sa.DateTime(timezone=True)))
    op.create_table(
        "replay_jobs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("bin_id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request_ids", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["bin_id"], ["bins.id"], ondelete="CASCADE"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_replay_jobs_bin_id_id", "replay_jobs", ["bin_id", "id"])
    op.create_table(
        "replay_outcomes",
        sa.Column("job_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("request_id", BigId, nullable=False),
        sa.Column("attempt_id", BigId),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("reason", sa.Text()),
        sa.Column("elapsed_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("error_kind", sa.String(32)),
        sa.PrimaryKeyConstraint("job_id", "position"),
        sa.ForeignKeyConstraint(["job_id"], ["replay_jobs.id"], ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("replay_outcomes")
    op.drop_table("replay_jobs")
    with op.batch_alter_table("captured_requests") as batch:
        batch.drop_column("imported_at")
