"""Live notifications over PostgreSQL's LISTEN/NOTIFY, when the database is PostgreSQL and no
Redis is configured: nothing to run besides the database every process already uses.

Each process holds one dedicated listening connection (``LISTEN`` on ``CHANNEL``, outside the
app's pool: it is held for as long as the process has live viewers) and, while it publishes,
one sending connection; both in autocommit, so a ``pg_notify`` is delivered at once. The
notifications follow the captures' commits (the writer publishes after committing), so a
listener never hears of a row it cannot read yet.

Needs psycopg 3 (``webbin[postgres]``) whatever driver the database URL names;
:mod:`webbin.config` refuses PostgreSQL without it and without Redis at start.
"""

from __future__ import annotations

import time

import psycopg
from sqlalchemy.engine import URL

# NOTIFY channels are per database, not per schema: deployments sharing a database share it
# and ignore each other's bins.
CHANNEL = "webbin_live"
# Dead connections are noticed by the server's closing them, by TCP keepalives (about 11 s
# for a vanished host), and by a query when the listener has heard nothing for a while.
OPTIONS = {
    "autocommit": True,
    "connect_timeout": 2,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}
# What pg_stat_activity shows for each (an operator can count a deployment's listeners).
LISTENER_NAME, SENDER_NAME = "webbin-live-listen", "webbin-live-send"
QUIET_SECONDS = 5.0


def conninfo(url: URL) -> str:
    """The libpq URL of a SQLAlchemy URL (``postgresql+psycopg://...``), query kept."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgTransport:
    def __init__(self, url: URL) -> None:
        self._conninfo = conninfo(url)
        self.description = (
            f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
        )
        self._conn: psycopg.Connection | None = None

    def _connect(self, name: str) -> psycopg.Connection:
        return psycopg.connect(self._conninfo, application_name=name, **OPTIONS)

    def send(self, messages: list[str]) -> None:
        if self._conn is None:
            self._conn = self._connect(SENDER_NAME)
        self._conn.execute(
            "SELECT pg_notify(%s, m) FROM unnest(%s::text[]) AS m", (CHANNEL, messages)
        )

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def listen(self) -> PgListening:
        conn = self._connect(LISTENER_NAME)
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
