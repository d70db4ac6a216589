"""Forwarders: who is connected to a bin with ``webbin forward``, the resends queued for them,
and which resend attempts a forwarder made.

``forwarders`` holds one row per open forwarder connection (any server process, any host);
``forward_jobs`` holds "resend this request through that forwarder" until it is done;
``resend_attempts`` gains ``forwarder`` (the name of the forwarder that made the attempt, null
for webbin's own resends), ``reply`` and ``replied`` (its answer was offered to, and sent to,
the provider as the capture's answer). The new columns have server defaults, so existing
rows need no backfill.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ALTER TABLE ... ADD COLUMN (SQLite takes it in place): batch mode would rebuild
    # the table and lose its AUTOINCREMENT.
    op.add_column("resend_attempts", sa.Column("forwarder", sa.String(length=100), nullable=True))
    for name in ("reply", "replied"):
        op.add_column(
            "resend_attempts",
            sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False),
        )
    op.create_table(
        "forwarders",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("bin_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("reply_timeout", sa.Float(), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["bin_id"], ["bins.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_forwarders_bin_id_last_seen", "forwarders", ["bin_id", "last_seen"])
    op.create_table(
        "forward_jobs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("forwarder_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", BigId, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt_id", BigId, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["forwarder_id"], ["forwarders.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["request_id"], ["captured_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_forward_jobs_forwarder_id_state", "forward_jobs", ["forwarder_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_forward_jobs_forwarder_id_state", table_name="forward_jobs")
    op.drop_table("forward_jobs")
    op.drop_index("ix_forwarders_bin_id_last_seen", table_name="forwarders")
    op.drop_table("forwarders")
    with op.batch_alter_table(
        "resend_attempts", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.drop_column("replied")
        batch.drop_column("reply")
        batch.drop_column("forwarder")
