"""Shared fixtures: an app on a real SQLite file (and PostgreSQL when configured), and a real
``webbin serve`` process on a free loopback port for end-to-end tests.

Every database starts empty and gets its schema from the migrations, as a user's does:
``create_app`` applies them on start, ``webbin serve`` in its master before the workers.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import PG_URL, Server
from scaleout.cluster import RedisServer

from webbin import create_app
from webbin.storage.models import db

DATABASES = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not PG_URL, reason="WEBBIN_TEST_DATABASE_URL is not set"),
        ],
    ),
]


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    import psycopg

    schema = "webbin_test_" + secrets.token_hex(6)
    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=DATABASES)
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    config = {"TESTING": True, "DATA_DIR": str(tmp_path)}
    if request.param == "postgres":
        config["DATABASE_URL"] = request.getfixturevalue("pg_schema_url")
    application = create_app(config)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    """For tests about the default embedded storage only."""
    application = create_app({"TESTING": True, "DATA_DIR": str(tmp_path)})
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("server"))
    yield running
    running.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private ``redis-server`` of the test's own, to kill and restart at will (the shared
    one at REDIS_URL must stay up for the other tests)."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: apt-get install -y redis-server (.ci/run does)")
    running = RedisServer(tmp_path)
    yield running
    running.stop()
