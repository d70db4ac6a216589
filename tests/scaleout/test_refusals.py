"""A combination that could not deliver live updates across processes is refused at start,
with a message that names the fix; a Redis URL that is not one is refused like any setting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import free_port

from webbin import config
from webbin.config import ConfigError

PG = "postgresql+psycopg://webbin@127.0.0.1:1/webbin"
# Runs the CLI with psycopg unimportable, as on an install without webbin[postgres].
WITHOUT_PSYCOPG = "import sys; sys.modules['psycopg'] = None; from webbin.cli import main; main()"


def serve(tmp_path, code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, "serve", "--port", str(free_port())],
        env={**os.environ, "WEBBIN_DATA_DIR": str(tmp_path), "WEBBIN_REDIS_URL": "", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_postgres_without_psycopg_or_redis_is_refused_naming_the_fix(tmp_path):
    done = serve(tmp_path, WITHOUT_PSYCOPG, WEBBIN_DATABASE_URL=PG)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("webbin: WEBBIN_DATABASE_URL is PostgreSQL and WEBBIN_REDIS_URL")
    assert "pip install 'webbin[postgres]'" in line and "set WEBBIN_REDIS_URL" in line


def test_postgres_without_psycopg_is_accepted_with_redis(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    settings = config.read({"DATABASE_URL": PG, "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert settings.REDIS_URL == "redis://127.0.0.1:6379/0"
    with pytest.raises(ConfigError, match="LISTEN/NOTIFY, which needs psycopg 3"):
        config.read({"DATABASE_URL": PG, "REDIS_URL": ""})


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("http://127.0.0.1:6379", "it needs redis://, rediss:// or unix://"),
        ("redis://", "it needs a host"),
        ("redis://127.0.0.1:port/0", "it does not parse as a URL"),
        ("unix://", "it needs the socket's path"),
    ],
)
def test_a_redis_url_that_is_not_one_stops_serve(tmp_path, value, why):
    done = serve(tmp_path, "from webbin.cli import main; main()", WEBBIN_REDIS_URL=value)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"webbin: WEBBIN_REDIS_URL={value!r}: expected empty or a Redis URL such as "
        f"redis://127.0.0.1:6379/0; {why}"
    )


@pytest.mark.parametrize(
    "value",
    ["redis://127.0.0.1:6379/0", "rediss://user:pw@cache.example:6380", "unix:///run/r.sock"],
)
def test_redis_urls_are_accepted(value):
    assert value == config.read({"REDIS_URL": f"  {value} "}).REDIS_URL
