"""/healthz and /readyz over real connections: alive means the process answers; ready means
the database answers at the latest revision (and Redis, when configured). A failure is a
503 whose JSON names what failed. Neither is rate limited, and their successes stay out of
the access log."""

from __future__ import annotations

import json
import time

import pytest
from deployment import Forwarder, get, needs_postgres, post, readyz
from helpers import PG_URL, capture_path, free_port

from webbin import create_app


def wait_for_status(server, wanted: int, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, body = readyz(server)
        if status == wanted:
            return body
        assert time.monotonic() < deadline, f"/readyz stayed {status}: {body}"
        time.sleep(0.2)


def test_alive_and_ready_never_limited_and_not_logged(serve):
    # Every limit at its tightest: none of them may touch the health checks.
    env = {
        name: "1"
        for name in (
            "WEBBIN_CAPTURE_CLIENT_BURST",
            "WEBBIN_PROBE_BURST",
            "WEBBIN_BIN_CREATE_BURST",
            "WEBBIN_RESEND_CLIENT_BURST",
        )
    }
    env.update(
        {
            "WEBBIN_CAPTURE_CLIENT_RATE": "0.001",
            "WEBBIN_PROBE_RATE": "0.001",
            "WEBBIN_BIN_CREATE_RATE": "0.001",
        }
    )
    server = serve(env)
    for _ in range(30):
        status, headers, body = get(server.url + "/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert headers["Cache-Control"] == "no-store"
        status, body = readyz(server)
        assert status == 200, body
    assert body == {
        "status": "ok",
        "failed": [],
        "checks": {"database": "ok", "migrations": "ok"},
    }
    bin_ = json.loads(post(server.url + "/api/bins")[2])
    assert post(server.url + capture_path(bin_), b"x")[0] == 200
    time.sleep(0.5)  # the access log line is written after the answer
    log = server.log.read_text()
    assert "POST /c/~" in log
    assert "/healthz" not in log and "/readyz" not in log


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="WEBBIN_TEST_DATABASE_URL is not set")
def test_ready_follows_the_database_going_away_and_coming_back(serve, pg_schema_url):
    forwarder = Forwarder(("127.0.0.1", 5432))
    forwarder.start()
    relayed = pg_schema_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{forwarder.port}/")
    assert relayed != pg_schema_url
    server = serve({"WEBBIN_DATABASE_URL": relayed, "WEBBIN_WORKERS": "2"})
    try:
        wait_for_status(server, 200)
        forwarder.cut()
        body = wait_for_status(server, 503)
        assert body["status"] == "unavailable"
        assert body["failed"] == ["database", "migrations"]
        assert body["checks"]["database"].startswith("unreachable: ")
        # Only the error's class: no host, port or URL for an unauthenticated caller.
        assert str(forwarder.port) not in json.dumps(body)
        assert get(server.url + "/healthz")[0] == 200  # alive all the same
        time.sleep(0.5)
        assert 'GET /readyz HTTP/1.1" 503' in server.log.read_text()  # failures are logged
        forwarder.start()
        wait_for_status(server, 200)
    finally:
        forwarder.cut()


@needs_postgres
@pytest.mark.postgres
def test_not_ready_with_a_database_nobody_listens_on(tmp_path):
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    app = create_app(
        {
            "DATA_DIR": str(tmp_path),
            "DATABASE_URL": dead,
            "MIGRATE_ON_START": False,
            "SECRET_KEY": "k" * 32,
        }
    )
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["failed"] == ["database", "migrations"]
    assert answer.json["checks"]["database"] == "unreachable: OperationalError"


def test_not_ready_until_the_migrations_are_applied(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path), "MIGRATE_ON_START": False})
    client = app.test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["failed"] == ["migrations"]
    assert answer.json["checks"]["database"] == "ok"
    assert "webbin db upgrade" in answer.json["checks"]["migrations"]
    create_app({"DATA_DIR": str(tmp_path)})  # migrates on start
    assert client.get("/readyz").status_code == 200
