"""Starts never race: two hosts migrating one fresh PostgreSQL schema at the same moment take
turns under the migrations' advisory lock; one creates the schema, the other finds nothing
to do, and both start. Repeated, on a fresh schema each time."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from deployment import needs_postgres, readyz, wait_healthy

from webbin.storage.migrations import latest_revision

pytestmark = [pytest.mark.postgres, needs_postgres]

ATTEMPTS = range(3)


def outcomes(texts: list[str]) -> list[str]:
    latest = latest_revision()
    upgraded = f"database upgraded from an empty database to {latest}"
    unchanged = f"database already at the latest revision, {latest}"
    found = []
    for text in texts:
        found += [line for line in (upgraded, unchanged) if line in text]
    return sorted(found)


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_two_db_upgrades_at_once(pg_schema_url, tmp_path, attempt):
    env = {**os.environ, "WEBBIN_DATABASE_URL": pg_schema_url, "WEBBIN_DATA_DIR": str(tmp_path)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "webbin.cli", "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    texts = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], texts
    assert outcomes(texts) == [
        f"database already at the latest revision, {latest_revision()}",
        f"database upgraded from an empty database to {latest_revision()}",
    ], texts


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_two_servers_started_at_once(serve, pg_schema_url, attempt):
    env = {
        "WEBBIN_DATABASE_URL": pg_schema_url,
        "WEBBIN_WORKERS": "2",
        "WEBBIN_PRUNE_INTERVAL_SECONDS": "0",
    }
    servers = [serve(env, wait=False), serve(env, wait=False)]
    for server in servers:
        wait_healthy(server)
        assert readyz(server)[0] == 200
    texts = [server.log.read_text() for server in servers]
    assert outcomes(texts) == [
        f"database already at the latest revision, {latest_revision()}",
        f"database upgraded from an empty database to {latest_revision()}",
    ], texts
    assert not any("Traceback" in text or "failed to boot" in text for text in texts), texts
