"""What every benchmark here shares: a free loopback port, waiting for a server to listen,
and percentiles. Imported by the scripts beside it (run as ``python bench/<script>.py``)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(port: int, process: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    """Return once ``port`` accepts connections; raise if ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def worker_cpu(master: int) -> float:
    """CPU seconds (user + system) that the children of process ``master`` (gunicorn's
    workers) have used so far, from ``/proc``: per request, steadier than a rate on a
    shared machine."""
    total = 0
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    for child in children:
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of sorted ``values`` (nearest rank); NaN when there are none."""
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def fresh_postgres(url: str, prefix: str) -> tuple[str, str]:
    """A new, empty database on the server of ``url``: (its URL, its name)."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{secrets.token_hex(4)}"
    base = make_url(url)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False), name


def drop_postgres(url: str, name: str) -> None:
    """Drop the database ``fresh_postgres`` made, whoever is still connected to it."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
