"""Two "hosts" (``webbin serve --workers 2`` on two loopback ports) on one PostgreSQL
database: a viewer on one sees the captures sent to the other, in order and once each,
through Redis or, without it, PostgreSQL's LISTEN/NOTIFY; restarting either host loses
nothing; Redis killed and restarted under load loses nothing, shows nothing twice, and the
fast path comes back by itself.

Every instance's ordinary safety poll is an hour (see ``cluster.py``), so rows reach the
viewers within the deadline only through the notifier.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from scaleout.cluster import (
    DEADLINE,
    Instance,
    RedisServer,
    Viewer,
    assert_each_once_in_order,
    capture,
    needs_postgres,
    pg_listeners,
    pg_now,
    wait_until,
)

pytestmark = [needs_postgres, pytest.mark.postgres]

WORKERS = 2


def two_hosts(
    tmp_path: Path, instances: list[Instance], pg_schema_url: str, redis: RedisServer | None
) -> tuple[Instance, Instance]:
    settings = {"DATABASE_URL": pg_schema_url}
    if redis is not None:
        settings["REDIS_URL"] = redis.url
    for name in ("a", "b"):
        instances.append(Instance(tmp_path / name, WORKERS, **settings))
    return instances[0], instances[1]


def listener_count(redis: RedisServer | None) -> Callable[[], int]:
    """How many processes are subscribed, by the notifier's own account."""
    if redis is not None:
        return redis.listeners
    since = pg_now()
    return lambda: pg_listeners(since)


def attach(
    host: Instance, bin_: dict, viewers: list[Viewer], listeners: Callable[[], int]
) -> list[Viewer]:
    """Open viewers on ``host`` until every one of its workers has one (its listener then
    subscribes): which worker takes a connection is the kernel's choice."""
    mine: list[Viewer] = []
    while listeners() < WORKERS:
        assert len(mine) < 40, f"{WORKERS} workers never all got a viewer"
        mine.append(Viewer(host.stream_url(bin_)))
        viewers.append(mine[-1])
        deadline = time.monotonic() + 1
        while listeners() < WORKERS and time.monotonic() < deadline:
            time.sleep(0.05)
    assert listeners() == WORKERS
    return mine


@pytest.mark.parametrize("notifier", ["redis", "postgres"])
def test_a_viewer_on_one_host_sees_the_captures_sent_to_the_other(
    notifier, request, tmp_path, instances, viewers, pg_schema_url
):
    redis = request.getfixturevalue("redis_server") if notifier == "redis" else None
    a, b = two_hosts(tmp_path, instances, pg_schema_url, redis)
    bin_ = a.new_bin()
    watching = attach(b, bin_, viewers, listener_count(redis))
    acknowledged: dict[str, int] = {}
    for i in range(40):  # each over a fresh connection: any of A's workers
        capture(a, bin_, f"/{i}", acknowledged)
    for viewer in watching:
        assert_each_once_in_order(viewer.until("/39"), acknowledged)
    assert sorted(acknowledged.values()) == a.all_ids(bin_)


@pytest.mark.parametrize("notifier", ["redis", "postgres"])
def test_restarting_either_host_loses_nothing(
    notifier, request, tmp_path, instances, viewers, pg_schema_url
):
    redis = request.getfixturevalue("redis_server") if notifier == "redis" else None
    a, b = two_hosts(tmp_path, instances, pg_schema_url, redis)
    bin_ = a.new_bin()
    watching = attach(b, bin_, viewers, listener_count(redis))
    acknowledged: dict[str, int] = {}
    for i in range(10):
        capture(a, bin_, f"/before/{i}", acknowledged)
    a.restart()  # the capturing host
    for i in range(10):
        capture(a, bin_, f"/a-restarted/{i}", acknowledged)
    for viewer in watching:
        viewer.until("/a-restarted/9")
    b.stop()  # the viewing host: its viewers lose their sockets
    for i in range(10):
        capture(a, bin_, f"/b-down/{i}", acknowledged)
    b.restart()
    for viewer in watching:
        viewer.resume(b.stream_url(bin_))  # from the last row each saw
    for i in range(10):
        capture(a, bin_, f"/b-restarted/{i}", acknowledged)
    for viewer in watching:
        assert_each_once_in_order(viewer.until("/b-restarted/9"), acknowledged)
    assert sorted(acknowledged.values()) == a.all_ids(bin_)


class Load:
    """Captures to both hosts in turn, about 25 a second, from a thread; every answer kept."""

    def __init__(self, hosts: list[Instance], bin_: dict) -> None:
        self.hosts = hosts
        self.bin = bin_
        self.acknowledged: dict[str, int] = {}
        self.refused: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(0.04):
            path = f"/load/{n}"
            stored = self.hosts[n % len(self.hosts)].capture(self.bin, path)
            if stored is None:
                self.refused.append(path)
            else:
                self.acknowledged[path] = stored
            n += 1

    def last(self) -> str:
        """The path of the latest acknowledged capture."""
        wait_until(lambda: bool(self.acknowledged), "a capture to be acknowledged")
        return next(reversed(self.acknowledged))

    def wait_for(self, count: int) -> None:
        target = len(self.acknowledged) + count
        wait_until(lambda: len(self.acknowledged) >= target, f"{count} more captures")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(DEADLINE)


def test_redis_killed_and_restarted_under_load_loses_nothing_and_recovers(
    tmp_path, instances, viewers, pg_schema_url, redis_server
):
    a, b = two_hosts(tmp_path, instances, pg_schema_url, redis_server)
    bin_ = a.new_bin()
    watching = attach(b, bin_, viewers, redis_server.listeners)
    load = Load([a, b], bin_)
    try:
        load.wait_for(20)
        for viewer in watching:
            viewer.until(load.last())
        redis_server.kill()
        # Captures keep being acknowledged; viewers see them by the short degraded poll
        # (the ordinary one is an hour).
        load.wait_for(20)
        during = load.last()
        for viewer in watching:
            viewer.until(during)
        redis_server.start()
        # Every worker with viewers subscribes again by itself, with no restart.
        wait_until(lambda: redis_server.listeners() == WORKERS, "the listeners to come back")
        load.wait_for(20)
    finally:
        load.stop()
    assert not load.refused, f"captures not acknowledged while Redis was down: {load.refused}"
    # Redis is back, so the degraded poll is off: this arrives through Redis or not at all.
    capture(a, bin_, "/marker", load.acknowledged)
    for viewer in watching:
        assert_each_once_in_order(viewer.until("/marker"), load.acknowledged)
    assert sorted(load.acknowledged.values()) == a.all_ids(bin_)
