"""Resend attempts keep what was sent: method, headers, body, and whether it was edited or
re-signed.

Until now an attempt kept only the target URL and the answer, since a resend always sent the
captured request unchanged. A resend may now change the method, headers and body, and
re-sign it (see :mod:`webbin.outbound.resend`), so each attempt records the request as it
went out. The columns are nullable: attempts made before this revision have none of them,
and the API shows their ``sent`` as null (unknown) rather than guessing. SQLite adds
nullable columns in place (batch mode, which needs no rebuild for this).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = ("sent_method", "sent_headers", "sent_body", "sent_edited", "sent_resigned")


def upgrade() -> None:
    with op.batch_alter_table("resend_attempts") as batch:
        batch.add_column(sa.Column("sent_method", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("sent_headers", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("sent_body", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("sent_edited", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("sent_resigned", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resend_attempts") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column)
