"""Ids are never reused: after the newest requests are deleted, cleared or pruned, the next
capture still gets an id past every id handed out before, so a live stream (whose cursor is
past the deleted ones) and a client resuming with ``?after=`` both receive it.

On 0.1.0's SQLite schema (no AUTOINCREMENT) the next capture took the deleted id again and
neither ever saw it."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import DATABASES
from helpers import Server, capture_path
from websockets.sync.client import connect as ws_connect

from webbin import create_app
from webbin.storage.models import db
from webbin.storage.retention import prune


@pytest.fixture(params=DATABASES)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, dict]]:
    """A real ``webbin serve`` and the configuration of its database."""
    config = {"TESTING": True, "DATA_DIR": str(tmp_path), "MIGRATE_ON_START": False}
    env = {}
    if request.param == "postgres":
        config["DATABASE_URL"] = env["WEBBIN_DATABASE_URL"] = request.getfixturevalue(
            "pg_schema_url"
        )
    server = Server(tmp_path, env)
    yield server, config
    server.stop()


def call(server: Server, path: str, method: str = "GET", data: bytes | None = None) -> bytes:
    request = urllib.request.Request(server.url + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def newest_id(server: Server, bin_: dict) -> int:
    rows = json.loads(call(server, f"/api/bins/{bin_['id']}/requests?limit=1"))["requests"]
    return rows[0]["id"]


def receive(ws) -> dict:
    try:
        return json.loads(ws.recv(timeout=5))
    except TimeoutError:
        raise AssertionError("the request never reached the stream") from None


def removals(server: Server, config: dict) -> dict[str, Callable[[dict, int], None]]:
    def delete_newest(bin_: dict, newest: int) -> None:
        call(server, f"/api/bins/{bin_['id']}/requests/{newest}", "DELETE")

    def clear(bin_: dict, _newest: int) -> None:
        call(server, f"/api/bins/{bin_['id']}/requests", "DELETE")

    def prune_all(_bin: dict, _newest: int) -> None:
        # Every request past its time to live; the bin itself kept.
        app = create_app({**config, "REQUEST_TTL_SECONDS": 60, "BIN_IDLE_TTL_SECONDS": 0})
        with app.app_context():
            report = prune(app, now=datetime.now(UTC) + timedelta(hours=1))
            db.engine.dispose()
        assert report.expired_requests >= 1

    return {"delete the newest": delete_newest, "clear the bin": clear, "prune it": prune_all}


def test_ids_are_never_reused(setup):
    server, config = setup
    bin_ = server.new_bin()
    stream = server.url.replace("http://", "ws://") + f"/api/bins/{bin_['id']}/stream"
    for way, remove in removals(server, config).items():
        for i in range(3):
            call(server, capture_path(bin_) + f"/before-{i}", "POST", b"{}")
        newest = newest_id(server, bin_)
        with ws_connect(f"{stream}?after={newest - 1}") as live:
            assert receive(live)["id"] == newest  # the stream's cursor is now past `newest`
            remove(bin_, newest)
            call(server, capture_path(bin_) + "/after", "POST", b"{}")
            arrived = receive(live)
            assert arrived["path"] == "/after", way
            assert arrived["id"] > newest, way
        with ws_connect(f"{stream}?after={newest}") as resumed:
            assert receive(resumed)["id"] == arrived["id"], way
