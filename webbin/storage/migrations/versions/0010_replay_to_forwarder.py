"""Replays through a forwarder: ``replay_jobs.forwarder_id`` and ``forwarder_name``.

A replay job may send its requests through a connected ``webbin forward`` instead of to a
URL (see :mod:`webbin.outbound.replays`). The forwarder's id is kept to queue each request
for it; its name is kept beside it because the ``forwarders`` row goes when the forwarder
disconnects, and the job still has to say where it sent. For such a job ``url`` holds the
forwarder's target as the forwarder named it. No foreign key, for the same reason.

Both are NULL for every existing job (all sent to a URL): added in place on SQLite, no
rows rewritten.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("replay_jobs") as batch:
        batch.add_column(sa.Column("forwarder_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("forwarder_name", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("replay_jobs") as batch:
        batch.drop_column("forwarder_name")
        batch.drop_column("forwarder_id")
