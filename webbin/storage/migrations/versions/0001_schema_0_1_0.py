"""The schema of webbin 0.1.0, which made its tables with ``db.create_all()``.

Frozen: this is what 0.1.0 created, whatever the models say today. A database made by 0.1.0
has these tables but no ``alembic_version``; :mod:`webbin.storage.migrations` stamps it with
this revision instead of running it.

Revision ID: 0001
Revises:
Create Date: 2026-11-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# 0.1.0's id type: SQLite only makes INTEGER PRIMARY KEY the rowid.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bins",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("capture_token", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("resend_url", sa.Text()),
        sa.Column("signature_scheme", sa.String(40), nullable=False),
        sa.Column("signature_secrets", sa.JSON(), nullable=False),
        sa.Column("signature_tolerance", sa.Integer(), nullable=False),
        sa.Column("signature_options", sa.JSON(), nullable=False),
        sa.Column("allowed_networks", sa.JSON(), nullable=False),
        sa.Column("handshake_settings", sa.JSON(), nullable=False),
        sa.Column("response_settings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("capture_token"),
    )
    op.create_table(
        "captured_requests",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("bin_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("query_string", sa.Text(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.Text()),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("remote_addr", sa.String(64)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("signature_scheme", sa.String(40)),
        sa.Column("signature_status", sa.String(16)),
        sa.Column("handshake", sa.String(16)),
        sa.Column("response_status", sa.Integer()),
        sa.Column("delivery_key", sa.String(255)),
        sa.Column("delivery_key_source", sa.String(64)),
        sa.Column("duplicate_of", BigId),
        sa.Column("delivery_attempt", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bin_id", "seq"),
        sa.ForeignKeyConstraint(["bin_id"], ["bins.id"], ondelete="CASCADE"),
    )
    op.create_index(
        "ix_captured_requests_bin_id_delivery_key",
        "captured_requests",
        ["bin_id", "delivery_key", "id"],
    )
    op.create_index("ix_captured_requests_bin_id_id", "captured_requests", ["bin_id", "id"])
    op.create_index("ix_captured_requests_id_size", "captured_requests", ["id", "size"])
    op.create_table(
        "resend_attempts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("request_id", BigId, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("reason", sa.Text()),
        sa.Column("response_headers", sa.JSON(), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("elapsed_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("error_kind", sa.String(32)),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["request_id"], ["captured_requests.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_resend_attempts_request_id_id", "resend_attempts", ["request_id", "id"])


def downgrade() -> None:
    op.drop_table("resend_attempts")
    op.drop_table("captured_requests")
    op.drop_table("bins")
