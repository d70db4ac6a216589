"""Bins get a ``cors`` switch, on for every bin, old and new.

Browser-based senders (a page's ``fetch`` to a capture URL) need the capture URL to answer
their CORS preflight and to carry ``Access-Control-Allow-Origin`` (see
:mod:`webbin.receiver.cors`). The column's server default is true, so existing bins answer
browsers from this revision on, like new ones; a bin can switch it off (then a preflight is
captured and answered like any other request, with no CORS headers).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bins") as batch:
        batch.add_column(sa.Column("cors", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("bins") as batch:
        batch.drop_column("cors")
