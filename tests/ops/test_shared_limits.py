"""Shared limits over real connections: two ``webbin serve`` instances (two loopback ports,
two workers each, separate data folders, like two hosts) on one PostgreSQL schema and one
Redis draw on the same buckets and the same viewer cap; without Redis each process counts
alone; with Redis unreachable captures go on under per-process limits, logged once."""

from __future__ import annotations

import itertools
import json
import time
import urllib.request
from contextlib import ExitStack

import pytest
from deployment import REDIS_URL, get, needs_postgres, needs_redis, post, readyz, wait_healthy
from helpers import capture_path, free_port
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

pytestmark = [pytest.mark.postgres, needs_postgres]

LIMITS = {
    # About one token per quarter hour: what a test spends is gone for good.
    "WEBBIN_CAPTURE_CLIENT_RATE": "0",
    "WEBBIN_CAPTURE_BIN_RATE": "0.001",
    "WEBBIN_CAPTURE_BIN_BURST": "10",
    "WEBBIN_BIN_CREATE_RATE": "0.001",
    "WEBBIN_BIN_CREATE_BURST": "3",
    "WEBBIN_PROBE_RATE": "0.001",
    "WEBBIN_PROBE_BURST": "4",
    "WEBBIN_RESEND_CLIENT_RATE": "0.001",
    "WEBBIN_RESEND_CLIENT_BURST": "2",
    "WEBBIN_MAX_VIEWERS_PER_BIN": "2",
    "WEBBIN_PRUNE_INTERVAL_SECONDS": "0",
}


def assert_refused(status: int, headers: dict, body: bytes) -> None:
    """too_many()'s answer on the API and capture URLs, exactly."""
    assert status == 429, body
    assert int(headers["Retry-After"]) >= 1
    assert headers["Connection"] == "close"
    answer = json.loads(body)
    assert answer["error"] == "too_many_requests"
    assert answer["message"].endswith(f"Try again in {headers['Retry-After']} s.")


def resend(server, bin_id: str, request_id: int) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(
        f"{server.url}/api/bins/{bin_id}/requests/{request_id}/resend",
        data=json.dumps({"url": "http://127.0.0.1:9/hook"}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def stream_url(server, bin_id: str) -> str:
    return server.url.replace("http://", "ws://") + f"/api/bins/{bin_id}/stream"


def open_viewer(stack: ExitStack, server, bin_id: str):
    """A live stream of the bin (closed with ``stack``), or the InvalidStatus it was
    refused with."""
    try:
        return stack.enter_context(ws_connect(stream_url(server, bin_id), open_timeout=10))
    except InvalidStatus as refused:
        return refused


@needs_redis
def test_every_limit_is_shared_by_two_servers_with_two_workers_each(
    serve, pg_schema_url, redis_prefix
):
    env = {
        "WEBBIN_DATABASE_URL": pg_schema_url,
        "WEBBIN_REDIS_URL": REDIS_URL,
        "WEBBIN_REDIS_KEY_PREFIX": redis_prefix,
        "WEBBIN_WORKERS": "2",
        **LIMITS,
    }
    first, second = serve(env, wait=False), serve(env, wait=False)
    for server in (first, second):
        wait_healthy(server)
    servers = itertools.cycle([first, second])

    # Bin creation: three in all, whichever server is asked.
    made = [post(next(servers).url + "/api/bins") for _ in range(4)]
    assert [status for status, _h, _b in made] == [201, 201, 201, 429]
    assert_refused(*made[3])
    bin_ = json.loads(made[0][2])

    # Capture per bin: ten in all across both servers and their four workers (each process
    # counting alone would take up to forty), each on a new connection.
    answers = [post(next(servers).url + capture_path(bin_), b"x") for _ in range(30)]
    statuses = [status for status, _h, _b in answers]
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 20, statuses
    for answer in answers:
        if answer[0] == 429:
            assert_refused(*answer)
    stored = get(f"{first.url}/api/bins/{bin_['id']}")
    assert json.loads(stored[2])["request_count"] == 10
    request_id = json.loads(answers[statuses.index(200)][2])["id"]

    # Probes: four "no such bin" answers in all, then 429.
    probes = [get(f"{next(servers).url}/api/bins/no-such-bin-{n}") for n in range(6)]
    assert [status for status, _h, _b in probes] == [404, 404, 404, 404, 429, 429]
    assert_refused(*probes[4])

    # Resends: two in all (they go out and are refused by the closed port), then 429.
    resends = [resend(next(servers), bin_["id"], request_id) for _ in range(3)]
    assert [status for status, _h, _b in resends] == [200, 200, 429]
    assert_refused(*resends[2])

    # Live viewers: two per bin across both servers.
    with ExitStack() as stack:
        open_viewer(stack, first, bin_["id"])
        on_second = open_viewer(stack, second, bin_["id"])
        third = open_viewer(stack, first, bin_["id"])
        assert isinstance(third, InvalidStatus) and third.response.status_code == 429
        on_second.close()
        # The slot is given back when the stream's request ends.
        deadline = time.monotonic() + 10
        while isinstance(open_viewer(stack, first, bin_["id"]), InvalidStatus):
            assert time.monotonic() < deadline, "the closed viewer's slot never came back"
            time.sleep(0.1)


def test_without_redis_each_process_counts_alone(serve, pg_schema_url):
    """What README and docs/deploy.md say: no Redis, per-process limits."""
    env = {"WEBBIN_DATABASE_URL": pg_schema_url, "WEBBIN_WORKERS": "1", **LIMITS}
    first = serve(env)
    second = serve(env)
    made = [post(server.url + "/api/bins")[0] for server in (first, second) for _ in range(4)]
    assert made == [201, 201, 201, 429, 201, 201, 201, 429]


def test_unreachable_redis_never_fails_a_capture(serve, tmp_path):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    env = {"WEBBIN_REDIS_URL": closed, "WEBBIN_WORKERS": "1", **LIMITS}
    server = serve(env)
    bin_ = json.loads(post(server.url + "/api/bins")[2])
    statuses = [post(server.url + capture_path(bin_), b"x")[0] for _ in range(14)]
    # Captures are stored under this process's own bucket: ten, then 429, never a 5xx.
    assert statuses == [200] * 10 + [429] * 4
    status, body = readyz(server)
    assert status == 503
    assert body["failed"] == ["redis"]
    assert body["checks"]["redis"].startswith("unreachable")
    log = server.log.read_text()
    assert log.count("Redis is unreachable") == 1, log
