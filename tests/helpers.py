"""Helpers shared by the tests: a real ``webbin serve`` process on a free loopback port,
raw HTTP for requests no client would send, and small URL helpers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PG_URL = os.environ.get("WEBBIN_TEST_DATABASE_URL", "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"webbin serve exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("webbin serve did not start listening")


class Server:
    """A running ``webbin serve`` process."""

    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / f"server-{self.port}.log"
        environment = {**os.environ, "WEBBIN_DATA_DIR": str(data_dir), **(env or {})}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "webbin.cli", "serve", "--port", str(self.port)],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def new_bin(self) -> dict:
        import json
        import urllib.request

        request = urllib.request.Request(self.url + "/api/bins", method="POST")
        with urllib.request.urlopen(request) as response:
            return json.load(response)


def raw_http(port: int, data: bytes) -> bytes:
    """Send exactly ``data`` to a loopback port and return the whole answer (the request must
    say ``Connection: close``): for requests no HTTP client would send as written."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def capture_path(bin_data: dict) -> str:
    return urlsplit(bin_data["capture_url"]).path


def refuse_captured_rows(app: Any, path: str | None = None) -> None:
    """From now on the database itself refuses captured rows (every one, or those with this
    ``path``) with a trigger, with the driver's ``OperationalError`` as a full disk gives it,
    however the insert is sent."""
    from webbin.storage.models import db

    with app.app_context(), db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # SQLite's RAISE() is an IntegrityError; a missing table is an OperationalError.
            when = f"WHEN NEW.path = '{path}' " if path else ""
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_captures BEFORE INSERT ON captured_requests "
                f"{when}BEGIN INSERT INTO disk_is_full VALUES (1); END"
            )
        else:
            test = f"NEW.path = '{path}'" if path else "true"
            conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION refuse_captures() RETURNS trigger AS $$ BEGIN "
                f"IF {test} THEN RAISE EXCEPTION 'disk full' USING ERRCODE = 'disk_full'; "
                "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_captures BEFORE INSERT ON captured_requests "
                "FOR EACH ROW EXECUTE FUNCTION refuse_captures()"
            )


def allow_captured_rows(app: Any) -> None:
    """Undo :func:`refuse_captured_rows`."""
    from webbin.storage.models import db

    with app.app_context(), db.engine.begin() as conn:
        on = "" if conn.dialect.name == "sqlite" else " ON captured_requests"
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS refuse_captures{on}")


def api_call(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, decoded JSON answer) of one API call to a running server, errors included."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
