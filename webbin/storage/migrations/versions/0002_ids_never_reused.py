"""Ids are never reused: SQLite AUTOINCREMENT for captured requests and resend attempts.

Without AUTOINCREMENT, SQLite gives a new row ``max(id) + 1``: delete the newest request, or
clear or prune a bin, and the next capture gets an id a live stream or a client resuming
with ``?after=`` has already passed, so it never sees that request. With AUTOINCREMENT the
largest id ever handed out is kept in ``sqlite_sequence`` and never given again.

SQLite cannot change a table's key in place, so each table is rebuilt (batch mode: create
the new table, copy every row with its id, drop the old one, rename). Copying the rows with
their ids sets ``sqlite_sequence`` to the largest id present. The rebuild runs with foreign
keys off (see :mod:`webbin.storage.migrations`), so dropping the old ``captured_requests``
does not cascade to the resend attempts; ``foreign_key_check`` then proves every reference
still resolves.

PostgreSQL takes ids from sequences, which never hand out a value twice: nothing to do.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-20
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("captured_requests", "resend_attempts")


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        # Reflected, so the new table has the columns, keys and indexes the old one had.
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
    broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"rebuilding {', '.join(TABLES)} broke references: {broken[:5]}")
