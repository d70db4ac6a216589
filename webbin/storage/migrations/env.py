"""Alembic's environment for webbin, run by Flask-Migrate inside an app context.

Everything runs in one transaction on a dedicated engine (see
:func:`webbin.storage.migrations.migration_engine`); before any revision,
:func:`~webbin.storage.migrations.before_migrating` takes the lock and adopts a 0.1.0
database. The starting and final revisions go back to the caller in ``config.attributes``.
"""

from __future__ import annotations

from alembic import context
from flask import current_app

from webbin.storage.migrations import before_migrating, migration_engine

if context.is_offline_mode():
    # Revisions inspect the live database (batch mode reflects the tables it rebuilds).
    raise SystemExit("webbin's migrations need a database connection; --sql is not supported")

extension = current_app.extensions["migrate"]
found = context.config.attributes
engine = migration_engine(extension.db.engine.url)
try:
    with engine.connect() as connection, connection.begin():
        context.configure(
            connection=connection,
            target_metadata=extension.db.metadata,
            **extension.configure_args,
        )
        before_migrating(connection, context.get_context(), context.script, found)
        with context.begin_transaction():
            context.run_migrations()
        found["after"] = context.get_context().get_current_revision()
finally:
    engine.dispose()
