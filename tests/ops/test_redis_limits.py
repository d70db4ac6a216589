"""The Redis side of the shared limits, against a real Redis: token buckets that several
processes share and that expire once full again, keys that are digests (no capability in
Redis), the fall back to local buckets when Redis goes away (logged once) and back when it
returns, and viewer leases that free themselves when their process dies."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import redis
from deployment import REDIS_URL, Forwarder, needs_redis

from webbin.ratelimit import RateLimiter, SharedCap, SharedStore, spend

pytestmark = needs_redis

LOG = logging.getLogger("webbin.test.redis")


@pytest.fixture
def store(redis_prefix: str) -> SharedStore:
    return SharedStore(REDIS_URL, redis_prefix, LOG)


def test_processes_share_one_bucket_by_redis_clock(store, redis_prefix):
    # Two limiters with one store: two worker processes, as far as Redis can tell.
    one = RateLimiter(1.0, 3, name="capture_bin", store=store)
    two = RateLimiter(1.0, 3, name="capture_bin", store=store)
    assert [one.take("token"), two.take("token"), one.take("token")] == [0.0, 0.0, 0.0]
    wait = two.take("token")
    assert 0.9 < wait <= 1.0
    time.sleep(1.05)
    assert one.take("token") == 0.0  # refilled at `rate`
    # Nothing was spent locally: both local buckets are untouched.
    assert len(one) == len(two) == 0
    client = redis.Redis.from_url(REDIS_URL)
    (key,) = client.scan_iter(match=redis_prefix + "*")
    assert b"token" not in key  # a digest, never the capture token itself
    # The bucket goes once it would be full again (3 s at 1/s), plus a second.
    assert 0 < client.pttl(key) <= 4000


def test_spend_stops_at_the_first_refusal(store):
    client = RateLimiter(1.0, 1, name="capture_client", store=store)
    per_bin = RateLimiter(0.001, 2, name="capture_bin", store=store)
    off = RateLimiter(0, 0, name="probe", store=store)
    assert spend((off, "x"), (client, "a"), (per_bin, "t")) == (-1, 0.0)
    assert spend((client, "b"), (per_bin, "t")) == (-1, 0.0)
    refused, wait = spend((client, "c"), (per_bin, "t"))
    assert refused == 1 and wait > 900
    refused, wait = spend((client, "c"), (per_bin, "t"))
    assert refused == 0 and 0.9 < wait <= 1.0  # the client's token went on the refusal


def test_falls_back_to_local_buckets_and_back(redis_prefix, caplog, monkeypatch):
    monkeypatch.setattr(SharedStore, "RETRY_SECONDS", 0.3)
    relay = Forwarder(("127.0.0.1", 6379))
    relay.start()
    store = SharedStore(f"redis://127.0.0.1:{relay.port}/0", redis_prefix, LOG)
    limiter = RateLimiter(0.001, 2, name="capture_bin", store=store)
    try:
        assert limiter.take("t") == 0.0  # in Redis
        relay.cut()
        with caplog.at_level(logging.WARNING, logger=LOG.name):
            # Redis is gone: the local bucket (full) decides, without waiting on Redis.
            started = time.monotonic()
            answers = [limiter.take("t") for _ in range(3)]
            time.sleep(0.4)
            answers.append(limiter.take("t"))  # tried Redis again: still down
            assert time.monotonic() - started < 3
        assert answers[:2] == [0.0, 0.0] and answers[2] > 0 and answers[3] > 0
        assert [r.getMessage() for r in caplog.records].count(
            "Redis is unreachable (ConnectionError); rate limits and viewer caps count per "
            "process until it is back"
        ) == 1
        caplog.clear()
        relay.start()
        time.sleep(0.4)
        with caplog.at_level(logging.WARNING, logger=LOG.name):
            assert limiter.take("t") == 0.0  # Redis's bucket again: it had one token left
            assert limiter.take("t") > 0
        assert "Redis is reachable again" in caplog.text
    finally:
        relay.cut()


def test_viewer_cap_is_shared_and_renewed(store):
    first = SharedCap("viewers", 2, store, lease=0.6)
    second = SharedCap("viewers", 2, store, lease=0.6)
    a, b = first.enter("bin"), second.enter("bin")
    assert a is not None and b is not None
    assert second.enter("bin") is None and first.enter("bin") is None
    assert second.enter("another bin") is not None
    time.sleep(1.5)  # past two leases: the renewers keep both places
    assert second.enter("bin") is None
    first.leave(a)
    c = second.enter("bin")
    assert c is not None
    assert (first.held("bin"), second.held("bin")) == (0, 2)


HOLDER = """
import logging, sys, time
from webbin.ratelimit import SharedCap, SharedStore
cap = SharedCap("viewers", 1, SharedStore(sys.argv[1], sys.argv[2], logging.getLogger()), lease=1.0)
assert cap.enter("bin") is not None
print("held", flush=True)
time.sleep(60)
"""


def test_a_dead_process_gives_its_places_back(store, redis_prefix):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, REDIS_URL, redis_prefix],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        cap = SharedCap("viewers", 1, store, lease=1.0)
        time.sleep(1.5)  # the living holder renews its lease
        assert cap.enter("bin") is None
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 3
        while (ticket := cap.enter("bin")) is None:
            assert time.monotonic() < deadline, "the dead holder's place never came back"
            time.sleep(0.1)
        cap.leave(ticket)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
