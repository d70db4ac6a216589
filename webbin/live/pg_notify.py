"""Live notifications over PostgreSQL's LISTEN/NOTIFY, when the database is PostgreSQL and no
Redis is configured: nothing to run besides the database every process already uses.

Each process holds one dedicated listening connection (``LISTEN`` on ``CHANNEL``, outside the
app's pool: it is held for as long as the process has live viewers) in autocommit, so every
notification arrives as soon as it is sent. Sending borrows a connection from the app's pool
for one ``pg_notify`` statement and commits it; the notifications follow the captures' commits
(the writer publishes after committing), so a listener never hears of a row it cannot read.

Needs psycopg 3 (``webbin[postgres]``) for the listener whatever driver the database URL names;
:mod:`webbin.config` refuses PostgreSQL without it and without Redis at start.
"""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

# NOTIFY channels are per database, not per schema: deployments sharing a database share it
# and ignore each other's bins.
CHANNEL = "webbin_live"
# A dead listening connection is noticed by the server's closing it, by TCP keepalives (about
# 11 s for a vanished host), and by a query when the listener has heard nothing for a while.
OPTIONS = {
    "autocommit": True,
    "connect_timeout": 2,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}
# What pg_stat_activity shows for it (an operator can count a deployment's listeners).
LISTENER_NAME = "webbin-live-listen"
QUIET_SECONDS = 5.0
_NOTIFY = text("SELECT pg_notify(:channel, m) FROM unnest(CAST(:messages AS text[])) AS m")


def conninfo(url: URL) -> str:
    """The libpq URL of a SQLAlchemy URL (``postgresql+psycopg://...``), query kept."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgTransport:
    def __init__(self, engine: Engine) -> None:
        url = engine.url
        self._engine = engine
        self._conninfo = conninfo(url)
        self.description = (
            f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
        )

    def send(self, messages: list[str]) -> None:
        with self._engine.connect() as conn:
            conn.execute(_NOTIFY, {"channel": CHANNEL, "messages": messages})
            conn.commit()

    def close(self) -> None:
        """Nothing of its own to close: sending borrows the pool's connections."""

    def listen(self) -> PgListening:
        conn = psycopg.connect(self._conninfo, application_name=LISTENER_NAME, **OPTIONS)
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            conn.close()
            raise
        return PgListening(conn)


class PgListening:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._heard = time.monotonic()

    def receive(self, timeout: float) -> list[str]:
        payloads = [n.payload for n in self._conn.notifies(timeout=timeout, stop_after=1)]
        now = time.monotonic()
        if payloads:
            self._heard = now
        elif now - self._heard > QUIET_SECONDS:
            self._conn.execute("SELECT 1")  # raises if the connection is gone
            self._heard = now
        return payloads

    def close(self) -> None:
        self._conn.close()
