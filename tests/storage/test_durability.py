"""Nothing lost: a 2xx answer means the request is committed, and a database that cannot take
it gets a 503 (which providers retry), never a 2xx and never a stack trace."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from helpers import Server, capture_path
from sqlalchemy import event

from webbin.storage.models import db


def fast_busy_timeout(app) -> None:
    """Make "locked past its timeout" take 100 ms instead of the configured 5 s."""
    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "connect")
        def _short(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA busy_timeout=100")

        engine.dispose()


def csrf_token(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


@pytest.fixture
def locked(sqlite_app, tmp_path: Path):
    """The database write-locked by another connection, as a long transaction elsewhere would."""
    fast_busy_timeout(sqlite_app)
    locker = sqlite3.connect(tmp_path / "webbin.sqlite3", isolation_level=None)
    yield locker
    locker.close()


def test_capture_on_a_locked_database_is_503_and_never_acknowledged(sqlite_app, locked):
    client = sqlite_app.test_client()
    bin_ = client.post("/api/bins").get_json()
    locked.execute("BEGIN IMMEDIATE")
    response = client.post(capture_path(bin_) + "/hook", data=b'{"n": 1}')
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.get_json()["error"] == "storage_unavailable"
    locked.execute("ROLLBACK")

    # Nothing half-stored, and the bin's numbering did not move.
    assert client.get(f"/api/bins/{bin_['id']}").get_json()["request_count"] == 0
    answer = client.post(capture_path(bin_) + "/hook", data=b'{"n": 2}')
    assert answer.status_code == 200 and answer.get_json()["seq"] == 1
    assert client.get(f"/api/bins/{bin_['id']}").get_json()["request_count"] == 1


def test_api_and_dashboard_writes_on_a_locked_database_are_503(sqlite_app, locked):
    client = sqlite_app.test_client()
    token = csrf_token(client)
    locked.execute("BEGIN IMMEDIATE")
    api = client.post("/api/bins", json={"name": "x"})
    assert api.status_code == 503
    assert api.get_json() == {
        "error": "service_unavailable",
        "message": api.get_json()["message"],
    }
    assert "Try again" in api.get_json()["message"]
    page = client.post("/bins", data={"csrf_token": token, "name": "x"})
    assert page.status_code == 503
    assert page.mimetype == "text/html"
    assert "unavailable" in page.get_data(as_text=True)
    assert page.headers["Retry-After"].isdigit()
    locked.execute("ROLLBACK")


@pytest.fixture
def database_down(sqlite_app):
    """Every new database connection fails, as when PostgreSQL is down."""
    with sqlite_app.app_context():
        engine = db.engine
        bin_ = sqlite_app.test_client().post("/api/bins").get_json()

        @event.listens_for(engine, "do_connect")
        def _refuse(*_args):
            raise sqlite3.OperationalError("unable to open database file")

        engine.dispose()
    return bin_


def test_database_down_is_503_everywhere_without_a_trace(sqlite_app, database_down):
    client = sqlite_app.test_client()
    bin_ = database_down
    answers = [
        client.post(capture_path(bin_), data=b"x"),
        client.get(f"/api/bins/{bin_['id']}"),
        client.get(f"/api/bins/{bin_['id']}/requests"),
        client.get(f"/bins/{bin_['id']}"),
        client.get(f"/bins/{bin_['id']}/rows", headers={"HX-Request": "true"}),
    ]
    for answer in answers:
        text = answer.get_data(as_text=True)
        assert answer.status_code == 503, (answer.request.path, text)
        assert "Traceback" not in text and "OperationalError" not in text
        assert sqlite_app.config["DATABASE_URL"] not in text
        assert "sqlite" not in text.lower()


def gunicorn_pids(server: Server) -> list[int]:
    """The master and its workers (children found through /proc, never by name)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children] + [pid]


def test_sigkill_under_load_loses_no_acknowledged_capture(tmp_path: Path):
    server = Server(
        tmp_path,
        env={"WEBBIN_CAPTURE_CLIENT_RATE": "0", "WEBBIN_CAPTURE_BIN_RATE": "0"},
    )
    try:
        bin_ = server.new_bin()
        path = capture_path(bin_)
        acknowledged: list[int] = []
        failures: list[str] = []
        stop = threading.Event()

        def send_until_stopped(sender: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            sent = 0
            while not stop.is_set():
                sent += 1
                try:
                    connection.request(
                        "POST", f"{path}/s{sender}", body=f"{sender}:{sent}".encode()
                    )
                    response = connection.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    failures.append(type(exc).__name__)
                    return
                if response.status == 200:
                    acknowledged.append(json.loads(data)["seq"])

        senders = [threading.Thread(target=send_until_stopped, args=(i,)) for i in range(4)]
        for thread in senders:
            thread.start()
        deadline = time.monotonic() + 15
        while len(acknowledged) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        for pid in gunicorn_pids(server):
            os.kill(pid, signal.SIGKILL)  # mid-load: senders are still sending
        server.process.wait(10)
        for thread in senders:  # each sender stops at its first failed request
            thread.join(10)
        stop.set()

        assert len(acknowledged) >= 200, "the load never got going"
        assert failures, "the kill did not interrupt the load"
        with sqlite3.connect(tmp_path / "webbin.sqlite3") as conn:
            stored = {
                seq
                for (seq,) in conn.execute(
                    "SELECT seq FROM captured_requests WHERE bin_id = ?", (bin_["id"],)
                )
            }
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged captures were lost"
        assert len(stored) >= len(acknowledged)
    finally:
        server.stop()
