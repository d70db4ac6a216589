"""Secrets the hosts of one webbin share: ``instance_secrets`` (name, value, created_at).

With PostgreSQL several hosts may serve one database, and each used to generate its own
session key into its data folder: a cookie signed by one host was then refused by the next,
and a browser behind a load balancer kept losing its list of bins. From this revision on,
when ``WEBBIN_SECRET_KEY`` is not set, the key is generated once into this table and every
host reads the same one (see :mod:`webbin.storage.instance`). SQLite keeps its key file.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("instance_secrets")
