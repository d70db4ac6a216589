"""Scale-out helpers: ``webbin serve`` instances standing in for hosts (each on its own
loopback port, with its own data folder and workers), a private ``redis-server`` per test that
a test may kill and restart (never the shared one), and live viewers over real WebSockets.

Every instance runs with ``STREAM_POLL_SECONDS`` at an hour: a capture reaches a viewer on
another process within a test's deadline only through the notifier (or, while the notifier is
down, through the short degraded poll), never through the ordinary safety poll.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
from helpers import PG_URL, capture_path, free_port, wait_for_port
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from webbin.config import DEFAULTS
from webbin.live.redis_broker import channel

CHANNEL = channel(DEFAULTS["REDIS_KEY_PREFIX"])

DEADLINE = 20.0
START_TIMEOUT = 90.0

needs_postgres = pytest.mark.skipif(not PG_URL, reason="WEBBIN_TEST_DATABASE_URL is not set")


def wait_until(condition, what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class RedisServer:
    """A ``redis-server`` of this test's own on a free port, without persistence."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, "redis-server to answer")

    def _answers(self) -> bool:
        try:
            with redis.Redis(port=self.port, socket_timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.process = None

    def listeners(self) -> int:
        """Processes subscribed to webbin's channel (one per worker with live viewers)."""
        return self.channel_listeners(CHANNEL)

    def channel_listeners(self, name: str) -> int:
        with redis.Redis(port=self.port, socket_timeout=1) as client:
            return dict(client.pubsub_numsub(name)).get(name.encode(), 0)

    def stop(self) -> None:
        if self.process is not None:
            self.kill()


class Instance:
    """One ``webbin serve`` (a "host"): restartable on the same port and data folder."""

    def __init__(self, data_dir: Path, workers: int, **settings: str) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            "WEBBIN_DATA_DIR": str(data_dir),
            "WEBBIN_WORKERS": str(workers),
            "WEBBIN_STREAM_POLL_SECONDS": "3600",
            "WEBBIN_REDIS_URL": "",
            # This measures delivery, not refusals.
            "WEBBIN_CAPTURE_CLIENT_RATE": "0",
            "WEBBIN_CAPTURE_BIN_RATE": "0",
            "WEBBIN_MAX_VIEWERS_PER_BIN": "0",
            "WEBBIN_PRUNE_INTERVAL_SECONDS": "0",
            **{f"WEBBIN_{name}": value for name, value in settings.items()},
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        with (self.data_dir / f"server-{self.port}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "webbin.cli", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:  # generous: other tests may be loading the machine
            wait_for_port(self.port, self.process, timeout=START_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def new_bin(self) -> dict:
        request = urllib.request.Request(self.url + "/api/bins", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def capture(self, bin_: dict, path: str) -> int | None:
        """POST over a fresh connection (any worker may take it); the stored id, or None when
        the capture was not acknowledged (a refused connection, a non-2xx answer)."""
        request = urllib.request.Request(
            self.url + capture_path(bin_) + path, data=b"{}", method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)["id"] if 200 <= response.status < 300 else None
        except (urllib.error.URLError, ConnectionError):
            return None

    def stream_url(self, bin_: dict, after: int = 0) -> str:
        return f"ws://127.0.0.1:{self.port}/api/bins/{bin_['id']}/stream?after={after}"

    def all_ids(self, bin_: dict) -> list[int]:
        with urllib.request.urlopen(
            f"{self.url}/api/bins/{bin_['id']}/requests?limit=500", timeout=30
        ) as response:
            return sorted(r["id"] for r in json.load(response)["requests"])


class Viewer:
    """One WebSocket on a bin's stream; remembers every (id, path) it was sent."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[int, str]] = []
        self.ws: ClientConnection = self._open(url)

    @staticmethod
    def _open(url: str) -> ClientConnection:
        # Unbounded queue: the test reads its viewers one after another, and a full queue
        # would stop a viewer reading its socket.
        return ws_connect(url, open_timeout=DEADLINE, max_queue=None).__enter__()

    def _take(self, message: str | bytes) -> None:
        row = json.loads(message)
        self.seen.append((row["id"], row["path"]))

    def until(self, path: str) -> list[tuple[int, str]]:
        """Receive until the row with ``path`` arrives; everything seen so far."""
        while path not in (seen for _, seen in self.seen):
            try:
                self._take(self.ws.recv(timeout=DEADLINE))
            except TimeoutError:
                raise AssertionError(
                    f"{path} did not arrive within {DEADLINE:g} s; last seen: {self.seen[-3:]}"
                ) from None
        return self.seen

    def resume(self, base_url: str) -> None:
        """The server went away: keep what it sent before closing, then reconnect after
        the last row seen (as the dashboard's client does)."""
        try:
            while True:
                self._take(self.ws.recv(timeout=DEADLINE))
        except ConnectionClosed:
            pass
        self.ws = self._open(f"{base_url.split('?')[0]}?after={self.cursor}")

    @property
    def cursor(self) -> int:
        return self.seen[-1][0] if self.seen else 0

    def close(self) -> None:
        self.ws.close()


def capture(host: Instance, bin_: dict, path: str, acknowledged: dict[str, int]) -> None:
    stored = host.capture(bin_, path)
    assert stored is not None, f"capture {path} was not acknowledged"
    acknowledged[path] = stored


def assert_each_once_in_order(seen: list[tuple[int, str]], acknowledged: dict[str, int]) -> None:
    """Every acknowledged capture exactly once, ids strictly increasing, and each row the one
    the capture's answer named."""
    ids = [row_id for row_id, _ in seen]
    assert ids == sorted(set(ids)), "rows out of order or repeated"
    by_path = {path: row_id for row_id, path in seen}
    assert len(by_path) == len(seen), "a path was shown twice"
    missing = sorted(set(acknowledged) - set(by_path))
    assert not missing, f"acknowledged captures never shown: {missing[:10]}"
    wrong = {p: (i, by_path[p]) for p, i in acknowledged.items() if by_path[p] != i}
    assert not wrong, f"rows other than the acknowledged ones: {wrong}"


def pg_listeners(since: object) -> int:
    """PostgreSQL connections LISTENing for webbin (one per worker with live viewers) that
    started after ``since`` (the database's clock): earlier tests' are not counted."""
    import psycopg

    from webbin.live.pg_notify import LISTENER_NAME

    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            " AND backend_start >= %s",
            (LISTENER_NAME, since),
        ).fetchone()
    return row[0]


def pg_now() -> object:
    import psycopg

    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute("SELECT now()").fetchone()[0]
