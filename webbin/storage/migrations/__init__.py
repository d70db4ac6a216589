"""Schema migrations: Alembic through Flask-Migrate, shipped inside the package.

The revisions live in ``versions/`` (``0001`` is the schema of webbin 0.1.0, each later one a
change). ``create_app`` applies pending ones when it starts unless ``MIGRATE_ON_START`` is
false; ``webbin serve`` applies them once in the gunicorn master, before any worker forks
(several workers changing a fresh schema at once race and fail to boot), and starts the
workers with ``MIGRATE_ON_START`` off; ``webbin db upgrade`` does it by hand.

Three things make an upgrade safe to run against a live data folder:

* It is one transaction, taken under a lock: SQLite's ``BEGIN IMMEDIATE`` (the write lock,
  so captures wait for the upgrade rather than interleave), PostgreSQL's advisory lock for
  the schema in use. Two processes upgrading at once run one after the other; the second
  finds nothing to do. A failure leaves the database as it was.
* On SQLite it runs with foreign keys off: rebuilding a table (batch mode) drops the old
  one, and with foreign keys on that drop would cascade to every row referencing it.
* A database made by 0.1.0's ``db.create_all()`` (the tables, no ``alembic_version``) is
  recognised and stamped ``0001`` before upgrading; one with webbin's tables but without
  all of 0.1.0's columns, or at a revision this webbin does not know, stops the upgrade
  with a :class:`SchemaError` that says so.

Developers add a revision with Flask-Migrate's command, e.g.
``flask --app webbin db revision --rev-id 0003 -m "what changes"`` (``--autogenerate``
compares the models with a database at the latest revision).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Flask
from flask_migrate import Migrate
from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.pool import NullPool

from webbin import config
from webbin.storage.models import db

DIRECTORY = Path(__file__).resolve().parent
migrate = Migrate(directory=str(DIRECTORY), render_as_batch=True, compare_type=True)

# The revision whose schema 0.1.0's ``db.create_all()`` made.
LEGACY_REVISION = "0001"
# The columns of 0.1.0's tables: a database with all of them is a 0.1.0 database.
LEGACY_COLUMNS: dict[str, frozenset[str]] = {
    "bins": frozenset(
        [
            "id",
            "capture_token",
            "name",
            "created_at",
            "last_seq",
            "resend_url",
            "signature_scheme",
            "signature_secrets",
            "signature_tolerance",
            "signature_options",
            "allowed_networks",
            "handshake_settings",
            "response_settings",
        ]
    ),
    "captured_requests": frozenset(
        [
            "id",
            "bin_id",
            "seq",
            "method",
            "path",
            "query_string",
            "headers",
            "body",
            "content_type",
            "size",
            "remote_addr",
            "received_at",
            "url",
            "signature_scheme",
            "signature_status",
            "handshake",
            "response_status",
            "delivery_key",
            "delivery_key_source",
            "duplicate_of",
            "delivery_attempt",
        ]
    ),
    "resend_attempts": frozenset(
        [
            "id",
            "request_id",
            "url",
            "created_at",
            "status",
            "reason",
            "response_headers",
            "response_body",
            "truncated",
            "elapsed_ms",
            "error",
            "error_kind",
        ]
    ),
}
# PostgreSQL advisory lock class ("webb"); the object is the schema's name hashed.
PG_LOCK_CLASS = 0x77656262


class SchemaError(Exception):
    """The database is not one this webbin can upgrade; the message says why and what to do."""


@dataclass(frozen=True)
class Status:
    """Where a database stands: its revision (None: unversioned), the latest one, and
    whether it is an unversioned 0.1.0 database."""

    revision: str | None
    head: str
    legacy: bool

    def describe(self) -> str:
        if self.revision == self.head:
            return f"{self.revision} (latest)"
        if self.revision is None and self.legacy:
            return (
                f"none: a database made by webbin 0.1.0 before migrations; `webbin db upgrade` "
                f"adopts it as {LEGACY_REVISION} and upgrades it to {self.head}"
            )
        if self.revision is None:
            return f"none: an empty database; `webbin db upgrade` creates it at {self.head}"
        return f"{self.revision}; `webbin db upgrade` brings it to {self.head}"


@dataclass(frozen=True)
class UpgradeReport:
    """What an upgrade did: from which revision (None: empty) to which."""

    before: str | None
    after: str
    adopted: bool = False

    def describe(self) -> str:
        adopted = (
            f" (a webbin 0.1.0 database, adopted as {LEGACY_REVISION} first)"
            if self.adopted
            else ""
        )
        if self.before == self.after:
            return f"database already at the latest revision, {self.after}{adopted}"
        before = self.before or "an empty database"
        return f"database upgraded from {before} to {self.after}{adopted}"


def init_app(app: Flask) -> None:
    """Register the migration environment (and Flask-Migrate's ``flask db`` commands)."""
    migrate.init_app(app, db)


def standalone_app(overrides: dict[str, Any] | None = None) -> Flask:
    """An app with only the configuration, the database handle and the migrations: what
    ``webbin db`` and ``webbin serve``'s master need, without a broker, pages or threads.

    Named ``webbin`` like the real app so a relative SQLite path resolves to the same file.
    """
    app = Flask("webbin")
    config.load(app, overrides)
    db.init_app(app)
    init_app(app)
    return app


def status(app: Flask) -> Status:
    """The database's revision, read without changing anything."""
    with app.app_context():
        engine = migration_engine(db.engine.url)
        try:
            with engine.connect() as conn:
                revision = MigrationContext.configure(conn).get_current_revision()
                legacy = revision is None and _is_legacy(conn)
        finally:
            engine.dispose()
    return Status(revision, latest_revision(), legacy)


def upgrade(app: Flask) -> UpgradeReport:
    """Apply every pending revision (nothing, quickly, when there is none)."""
    current = status(app)
    if current.revision == current.head:
        return UpgradeReport(current.head, current.head)
    with app.app_context():
        alembic_config = migrate.get_config()
        command.upgrade(alembic_config, "head")
        found = alembic_config.attributes
    return UpgradeReport(found["before"], found["after"], found["adopted"])


def require_latest(app: Flask) -> None:
    """Refuse a database that is not at the latest revision (for starting without
    migrating: old code on a new schema, or new code on an old one, would fail later)."""
    current = status(app)
    if current.revision != current.head:
        raise SchemaError(
            f"the database is at {current.describe()}; MIGRATE_ON_START is off, so run "
            "`webbin db upgrade` first"
        )


def migration_engine(url: URL) -> Engine:
    """An engine for schema work on ``url``, holding no connection once disposed.

    On SQLite, the driver's own transaction handling is off (it would commit before some
    DDL), every transaction starts with ``BEGIN IMMEDIATE``, and foreign keys are off for
    it (a pragma SQLite ignores inside a transaction, hence before ``BEGIN``).
    """
    engine = create_engine(url, poolclass=NullPool, hide_parameters=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Connection) -> None:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def before_migrating(
    conn: Connection, context: MigrationContext, script: ScriptDirectory, found: dict[str, Any]
) -> None:
    """Run by ``env.py`` inside the upgrade's transaction, before any revision: take the
    lock, refuse a database this webbin cannot upgrade, adopt a 0.1.0 one. Records the
    starting revision in ``found``."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:lock_class, hashtext(current_schema()))"),
            {"lock_class": PG_LOCK_CLASS},
        )
    revision = context.get_current_revision()
    if revision is not None:
        try:
            script.get_revision(revision)
        except CommandError:
            raise SchemaError(
                f"the database is at revision {revision}, which this webbin does not know "
                f"(its latest is {latest_revision()}): a newer webbin upgraded it; run that version"
            ) from None
    adopted = revision is None and _is_legacy(conn)
    if adopted:
        context.stamp(script, LEGACY_REVISION)
        revision = LEGACY_REVISION
    found.update(before=revision, adopted=adopted)


def _is_legacy(conn: Connection) -> bool:
    """Whether an unversioned database holds 0.1.0's tables (False: it is empty of them)."""
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    if not tables & LEGACY_COLUMNS.keys():
        return False
    missing: list[str] = []
    for table, columns in LEGACY_COLUMNS.items():
        if table not in tables:
            missing.append(table)
            continue
        present = {column["name"] for column in inspector.get_columns(table)}
        missing += sorted(f"{table}.{column}" for column in columns - present)
    if missing:
        raise SchemaError(
            "the database has webbin's tables but not all of webbin 0.1.0's (missing: "
            f"{', '.join(missing)}): it was made by a webbin older than 0.1.0, which has no "
            "upgrade path; keep a copy, then start with an empty data folder or database"
        )
    return True


@functools.cache
def latest_revision() -> str:
    """The latest revision (the scripts do not change while a process runs)."""
    head = ScriptDirectory(str(DIRECTORY)).get_current_head()
    assert head is not None, "the migrations directory holds no revision"
    return head
