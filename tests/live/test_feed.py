"""Fan-out once per process: every viewer gets every row exactly once, in order, however the
notifications come (batched, or lost altogether), however slow another viewer is, and idle
viewers cost no database queries.

Real WebSocket clients against real servers: ``webbin serve`` (gevent) where only the wire
matters, and the app on werkzeug's threaded server in this process where the test must see
inside (count the SQL the viewers cause, shrink the backlog so a stalled viewer falls off it).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from helpers import capture_path
from sqlalchemy import event
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect
from werkzeug.serving import make_server

from webbin import create_app
from webbin.live.broker import InProcessBroker, get_broker
from webbin.live.feed import get_feeds
from webbin.storage.models import db
from webbin.storage.queries import newest_id

DEADLINE = 20.0


def receive(ws: ClientConnection, timeout: float = DEADLINE) -> dict:
    try:
        return json.loads(ws.recv(timeout=timeout))
    except TimeoutError:
        raise AssertionError("no message within the deadline") from None


def receive_ids(ws: ClientConnection, count: int) -> list[int]:
    return [receive(ws)["id"] for _ in range(count)]


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Local:
    """The app on werkzeug's threaded server on a loopback port, in this process."""

    def __init__(self, app: Flask, send_buffer: int | None = None) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        if send_buffer is not None:  # accepted sockets inherit it
            self.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.client = app.test_client()

    def new_bin(self) -> dict:
        response = self.client.post("/api/bins")
        assert response.status_code == 201, response.data
        return response.get_json()

    def capture(self, bin_: dict, path: str = "") -> None:
        assert self.client.post(capture_path(bin_) + path, data=b"{}").status_code == 200

    def stream_url(self, bin_: dict, after: int | None = None) -> str:
        query = "" if after is None else f"?after={after}"
        return f"ws://127.0.0.1:{self.port}/api/bins/{bin_['id']}/stream{query}"

    def viewers(self, bin_: dict) -> int:
        return get_feeds(self.app).viewer_count(bin_["id"])

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Callable[..., Local]]:
    started: list[Local] = []

    def start(send_buffer: int | None = None, **config: Any) -> Local:
        app = create_app(
            {"TESTING": True, "DATA_DIR": str(tmp_path), "MAX_VIEWERS_PER_BIN": 0, **config}
        )
        started.append(Local(app, send_buffer))
        return started[-1]

    yield start
    for running in started:
        running.stop()
        with running.app.app_context():
            db.engine.dispose()


@pytest.fixture
def connect() -> Iterator[Callable[..., ClientConnection]]:
    """Open WebSocket clients, all closed at the end of the test."""
    with ExitStack() as stack:
        yield lambda url, **options: stack.enter_context(ws_connect(url, **options))


class Counting:
    """SQL statements that mention ``needle`` in their parameters, run outside this test's
    thread (the test's own captures are not the viewers' doing)."""

    def __init__(self, app: Flask, needle: str) -> None:
        self.needle = needle
        self.count = 0
        self._mine = threading.get_ident()
        with app.app_context():
            self.engine = db.engine

    def __enter__(self) -> Counting:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, _statement, parameters, _context, _many) -> None:
        if threading.get_ident() != self._mine and self.needle in repr(parameters):
            self.count += 1


class Batching(InProcessBroker):
    """Passes on only every ``every``-th notification, with the newest id: as a writer that
    commits several captures at once and publishes once per bin per batch."""

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every = every
        self.seen = 0

    def publish(self, bin_id: str, newest_id: int | None = None) -> None:
        self.seen += 1
        if self.seen % self.every == 0:
            super().publish(bin_id, newest_id(bin_id))  # in the capture's app context

    def flush(self, app: Flask, bin_id: str) -> None:
        """The last, partial batch."""
        with app.app_context():
            super().publish(bin_id, newest_id(bin_id))


class Deaf(InProcessBroker):
    """Loses every notification."""

    def publish(self, bin_id: str, newest_id: int | None = None) -> None:
        pass


def all_ids(local: Local, bin_: dict) -> list[int]:
    listing = local.client.get(f"/api/bins/{bin_['id']}/requests?limit=500").get_json()
    return sorted(r["id"] for r in listing["requests"])


# --- on the real server -------------------------------------------------------------------


def post(server, bin_: dict, path: str = "") -> None:
    request = urllib.request.Request(
        server.url + capture_path(bin_) + path, data=b"{}", method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def test_many_viewers_each_get_every_row_once_in_order(server, connect):
    """Ten viewers from the start, five more joining (replaying from 0) while four senders
    capture concurrently: each gets all 100 rows, in id order, none twice."""
    bin_ = server.new_bin()
    url = server.url.replace("http://", "ws://") + f"/api/bins/{bin_['id']}/stream"
    early = [connect(url) for _ in range(10)]
    post(server, bin_, "/ready")  # every early viewer is following once it has this
    ready = [receive(ws)["id"] for ws in early]
    late: list[ClientConnection] = []

    def send(sender: int) -> None:
        for i in range(25):
            post(server, bin_, f"/{sender}/{i}")
            if sender == 0 and i % 5 == 0:
                late.append(connect(url + "?after=0"))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, range(4)))
    expected = sorted(
        r["id"]
        for r in json.load(
            urllib.request.urlopen(f"{server.url}/api/bins/{bin_['id']}/requests?limit=200")
        )["requests"]
    )
    assert len(expected) == 101 and set(ready) == {expected[0]}
    for ws in early:
        assert receive_ids(ws, 100) == expected[1:]
    for ws in late:
        assert receive_ids(ws, 101) == expected
    post(server, bin_, "/marker")  # and nothing more after them
    for ws in early + late:
        assert receive(ws)["path"].endswith("/marker")


def test_deleting_the_bin_closes_its_viewers_with_4404(server, connect):
    bin_ = server.new_bin()
    base = server.url.replace("http://", "ws://")
    viewers = [
        connect(f"{base}/api/bins/{bin_['id']}/stream"),
        connect(f"{base}/api/bins/{bin_['id']}/stream"),
        connect(f"{base}/bins/{bin_['id']}/live"),
    ]
    post(server, bin_, "/ready")
    for ws in viewers:
        assert "ready" in ws.recv(timeout=DEADLINE)
    urllib.request.urlopen(
        urllib.request.Request(f"{server.url}/api/bins/{bin_['id']}", method="DELETE")
    ).close()
    for ws in viewers:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=DEADLINE)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


# --- in this process ----------------------------------------------------------------------


def test_batched_notifications_deliver_every_row_once(local, connect):
    """One notification (with the newest id) per ten captures, as a batching writer sends."""
    broker = Batching(every=10)
    running = local(BROKER=broker, STREAM_POLL_SECONDS=3600)
    bin_ = running.new_bin()
    viewers = [connect(running.stream_url(bin_, 0)) for _ in range(5)]
    wait_until(lambda: running.viewers(bin_) == 5, "the viewers to join")
    for i in range(95):
        running.capture(bin_, f"/{i}")
    broker.flush(running.app, bin_["id"])
    expected = all_ids(running, bin_)
    assert len(expected) == 95
    for ws in viewers:
        assert receive_ids(ws, 95) == expected
    running.capture(bin_, "/marker")
    broker.flush(running.app, bin_["id"])
    for ws in viewers:
        assert receive(ws)["path"] == "/marker"


def stalled_client(url: str) -> ClientConnection:
    """A client with a tiny receive window that reads nothing until asked."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", int(url.split(":")[2].split("/")[0])))
    return ws_connect(url, sock=sock, max_queue=1)


def test_a_stalled_viewer_delays_nobody_and_then_gets_every_row_once(local, caplog):
    running = local(send_buffer=4096, STREAM_POLL_SECONDS=3600)
    get_feeds(running.app).backlog = 4  # the stalled viewer falls off it quickly
    bin_ = running.new_bin()
    caplog.set_level(logging.DEBUG, logger="webbin")
    with (
        ws_connect(running.stream_url(bin_, 0)) as fast,
        stalled_client(running.stream_url(bin_, 0)) as stalled,
    ):
        wait_until(lambda: running.viewers(bin_) == 2, "the viewers to join")
        for i in range(150):
            running.capture(bin_, f"/{i}")
        expected = all_ids(running, bin_)
        # The fast viewer gets everything while the stalled one has read nothing.
        assert receive_ids(fast, 150) == expected
        assert receive_ids(stalled, 150) == expected
        # Blocked in a send with its windows full (a few rows in), the stalled viewer found
        # itself 100+ rows before the 4-row backlog once it could look again: it was caught
        # up from the database, not from the backlog.
        assert [r for r in caplog.records if "catching up" in r.getMessage()], (
            "the stalled viewer never fell off the backlog: the test proves nothing"
        )
        running.capture(bin_, "/marker")
        for ws in (fast, stalled):
            assert receive(ws)["path"] == "/marker"


@pytest.mark.parametrize("missed", [3, 20], ids=["within-backlog", "beyond-backlog"])
def test_reconnecting_with_after_gets_exactly_the_missed_rows(local, missed):
    running = local(STREAM_POLL_SECONDS=3600)
    get_feeds(running.app).backlog = 8
    bin_ = running.new_bin()
    with ws_connect(running.stream_url(bin_, 0)) as keeper:  # keeps the bin's feed running
        with ws_connect(running.stream_url(bin_, 0)) as first:
            for i in range(3):
                running.capture(bin_, f"/before/{i}")
            last = receive_ids(first, 3)[-1]
        for i in range(missed):
            running.capture(bin_, f"/missed/{i}")
        receive_ids(keeper, 3 + missed)
        with ws_connect(running.stream_url(bin_, last)) as again:
            assert [receive(again)["path"] for _ in range(missed)] == [
                f"/missed/{i}" for i in range(missed)
            ]
            running.capture(bin_, "/marker")  # and nothing in between
            assert receive(again)["path"] == "/marker"


def test_idle_viewers_cause_no_database_queries(local, connect):
    running = local(STREAM_POLL_SECONDS=3600)
    idle_bin, busy_bin = running.new_bin(), running.new_bin()
    idle = [connect(running.stream_url(idle_bin)) for _ in range(30)]
    busy = connect(running.stream_url(busy_bin))
    running.capture(idle_bin, "/ready")
    newest = [receive(ws)["id"] for ws in idle][0]
    with Counting(running.app, idle_bin["id"]) as queries:
        # Notifications that tell the viewers nothing new, and another bin's traffic.
        for _ in range(20):
            get_broker(running.app).publish(idle_bin["id"], newest)
        for i in range(20):
            running.capture(busy_bin, f"/{i}")
        assert len(receive_ids(busy, 20)) == 20
        for ws in idle:  # each idle viewer's socket is still served
            assert ws.ping().wait(DEADLINE)
        assert queries.count == 0
        # A notification that says nothing: one read for all thirty viewers, not thirty.
        get_broker(running.app).publish(idle_bin["id"])
        wait_until(lambda: queries.count >= 1, "the feed's read")
        running.capture(idle_bin, "/next")
        for ws in idle:
            assert receive(ws)["path"] == "/next"
        assert queries.count <= 3  # (rows after, bin exists), then rows after


def test_lost_notifications_still_deliver_by_the_safety_poll(local):
    running = local(BROKER=Deaf(), STREAM_POLL_SECONDS=0.05)
    bin_ = running.new_bin()
    with ws_connect(running.stream_url(bin_)) as ws:
        wait_until(lambda: running.viewers(bin_) == 1, "the viewer to join")
        for i in range(5):
            running.capture(bin_, f"/{i}")
        assert receive_ids(ws, 5) == all_ids(running, bin_)
