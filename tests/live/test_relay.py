"""The relay between processes, over each real transport: a publish in one relay reaches a
subscriber of another with its news; a relay's own echo is not delivered twice; a relay that
cannot hear the others cuts its readers' waits to the degraded poll and, when the transport is
back, wakes every reader once by itself; publishing never blocks on the transport.

Two relays in one process stand for two processes: each has its own connections (or socket).
Redis is a private ``redis-server`` per test (never the shared one), PostgreSQL the test
database, the local notifier a SQLite path in ``tmp_path``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import PG_URL
from scaleout.cluster import pg_listeners, pg_now, wait_until
from sqlalchemy import create_engine

from webbin.live import relay
from webbin.live.local_notify import MAX_SOCKET_PATH, LocalTransport, socket_dir
from webbin.live.pg_notify import LISTENER_NAME, PgTransport
from webbin.live.redis_broker import RedisTransport
from webbin.live.relay import RelayBroker, decode, encode

DEADLINE = 20.0
PREFIX = "webbin:"
log = logging.getLogger("webbin.test.relay")


TRANSPORTS = [
    "redis",
    pytest.param(
        "postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not PG_URL, reason="WEBBIN_TEST_DATABASE_URL is not set"),
        ],
    ),
    "local",
]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], relay.Transport]:
    """A factory of transports that reach each other."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
        return lambda: RedisTransport(url, PREFIX)
    if request.param == "postgres":
        engine = create_engine(PG_URL)
        request.addfinalizer(engine.dispose)
        return lambda: PgTransport(engine)
    return lambda: LocalTransport(tmp_path / "webbin.sqlite3")


@pytest.fixture
def relays() -> Iterator[Callable[[relay.Transport], RelayBroker]]:
    made: list[RelayBroker] = []

    def make(transport: relay.Transport) -> RelayBroker:
        made.append(RelayBroker(transport, log))
        return made[-1]

    yield make
    for made_relay in made:  # no thread of theirs may reach the network in later tests
        made_relay.close()


def connected(relay_: RelayBroker) -> None:
    wait_until(lambda: relay_.connected, "the relay to connect", DEADLINE)


def test_a_publish_reaches_a_subscriber_of_another_relay_with_its_news(transport, relays):
    here, there = relays(transport()), relays(transport())
    with there.subscribe("bin-1") as sub, there.subscribe("bin-2") as other:
        connected(there)
        sub.wait(DEADLINE), other.wait(DEADLINE)  # the wake on connecting (see below)
        sub.take(), other.take()
        here.publish("bin-1", 7)
        assert sub.wait(DEADLINE) and sub.take() == 7
        here.publish("bin-1")  # e.g. a delete: says nothing, so the reader must look
        assert sub.wait(DEADLINE) and sub.take() is None
        assert not other.wait(0.3) and other.take() == 0  # another bin's news is not its


def test_connecting_wakes_every_reader_to_read_what_it_may_have_missed(transport, relays):
    """Published before the relay listened: that notification is lost, so the first
    connection wakes each reader once, news unknown."""
    here, there = relays(transport()), relays(transport())
    here.publish("bin", 3)
    with there.subscribe("bin") as sub:
        connected(there)
        assert sub.wait(DEADLINE) and sub.take() is None


def test_a_relays_own_publish_reaches_its_reader_once(transport, relays):
    here = relays(transport())
    with here.subscribe("bin") as sub:
        connected(here)
        sub.wait(DEADLINE), sub.take()
        here.publish("bin", 5)
        assert sub.wait(0) and sub.take() == 5  # at once, in process
        assert not sub.wait(0.5), "the transport's echo was delivered again"


def test_deployments_sharing_a_redis_are_kept_apart_by_their_key_prefix(redis_server, relays):
    ours = relays(RedisTransport(redis_server.url, "ours:"))
    listening = relays(RedisTransport(redis_server.url, "ours:"))
    theirs = relays(RedisTransport(redis_server.url, "theirs:"))
    their_listening = relays(RedisTransport(redis_server.url, "theirs:"))
    with listening.subscribe("bin") as sub, their_listening.subscribe("bin") as their_sub:
        connected(listening), connected(their_listening)
        sub.wait(DEADLINE), sub.take(), their_sub.wait(DEADLINE), their_sub.take()
        theirs.publish("bin")  # the same bin id in another deployment, saying "read"
        assert their_sub.wait(DEADLINE) and their_sub.take() is None  # Redis has sent it
        ours.publish("bin", 2)  # behind theirs on our listener's connection, if it came
        assert sub.wait(DEADLINE) and sub.take() == 2, "another prefix's notification came in"
        assert redis_server.channel_listeners("ours:live") == 1
        assert redis_server.listeners() == 0  # nobody on the default channel


def test_the_wire_carries_a_digest_of_the_bin_never_its_id(redis_server, relays):
    """A bin id opens the bin: whoever can subscribe to the channel must not learn it."""
    import redis

    spy = redis.Redis(port=redis_server.port).pubsub()
    spy.subscribe("webbin:live")
    here = relays(RedisTransport(redis_server.url, PREFIX))
    bin_id = "Kq3vX9bT2mLw8ZrY5nHc0aJd7uEf4sGi"
    here.publish(bin_id, 5)
    deadline = time.monotonic() + DEADLINE
    message = None
    while message is None or message["type"] != "message":
        assert time.monotonic() < deadline, "nothing was published"
        message = spy.get_message(timeout=1)
    spy.close()
    assert bin_id.encode() not in message["data"]
    assert message["data"].split(b" ")[1:] == [relay.digest(bin_id).encode(), b"5"]


def test_messages_that_are_not_webbin_notifications_are_ignored():
    assert decode(encode("origin", "bin", 12)) == ("origin", "bin", 12)
    assert decode(encode("origin", "bin", None)) == ("origin", "bin", None)
    for junk in ["", "a b", "a b c d", "a b -1", "a b x", " b 1", "a  1", "a b 1e3"]:
        assert decode(junk) is None, junk


def _wait_into(sub, timeout: float, result: list[bool]) -> None:
    result.append(sub.wait(timeout))


def times_out_short(sub, timeout: float) -> None:
    """``sub.wait(timeout)`` ends by timing out well before ``timeout``: the degraded poll.
    (A wait ended by a wake says True; one more wait then times out.)"""
    for _ in range(3):
        result: list[bool] = []
        waiter = threading.Thread(target=_wait_into, args=(sub, timeout, result), daemon=True)
        waiter.start()
        waiter.join(DEADLINE)
        assert result, f"a wait of {timeout:g} s was not cut short"
        sub.take()
        if not result[0]:
            return
    raise AssertionError("the wait kept being woken")


def test_redis_down_cuts_waits_short_and_its_return_wakes_every_reader(redis_server, relays):
    here = relays(RedisTransport(redis_server.url, PREFIX))
    there = relays(RedisTransport(redis_server.url, PREFIX))
    with there.subscribe("bin") as sub:
        connected(there)
        sub.wait(DEADLINE), sub.take()
        redis_server.kill()
        wait_until(lambda: not there.connected, "the relay to notice Redis is gone")
        times_out_short(sub, 3600)  # an hour's wait ends after the degraded poll instead
        for i in range(100):  # lost, and never raising or blocking
            here.publish("bin", i)
        sub.wait(0), sub.take()
        redis_server.start()
        connected(there)
        # Nothing was published since: this is the wake that makes the reader look.
        assert sub.wait(DEADLINE) and sub.take() is None
        here.publish("bin", 200)  # and the fast path is back
        assert sub.wait(DEADLINE) and sub.take() == 200


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="WEBBIN_TEST_DATABASE_URL is not set")
def test_a_killed_listening_connection_is_replaced_and_readers_woken(relays):
    import psycopg

    since = pg_now()
    engine = create_engine(PG_URL)
    here, there = relays(PgTransport(engine)), relays(PgTransport(engine))
    with there.subscribe("bin") as sub:
        connected(there)
        sub.wait(DEADLINE), sub.take()
        assert pg_listeners(since) == 1
        with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://")) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND backend_start >= %s",
                (LISTENER_NAME, since),
            )
        # Down (woken to wait again for the short poll), then back (woken to read).
        wait_until(lambda: pg_listeners(since) == 1 and there.connected, "a new listener")
        deadline = time.monotonic() + DEADLINE
        while not (sub.wait(1) and sub.take() is None):
            assert time.monotonic() < deadline, "readers were not woken on reconnecting"
        here.publish("bin", 9)
        assert sub.wait(DEADLINE) and sub.take() == 9
    engine.dispose()


def test_publishing_never_blocks_on_a_redis_that_does_not_answer(relays):
    """A server that accepts connections and never answers: the sender thread waits out its
    socket timeouts; ``publish`` returns at once every time."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        hung = relays(RedisTransport(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", PREFIX))
        started = time.monotonic()
        for i in range(500):
            hung.publish(f"bin-{i % 7}", i)
        assert time.monotonic() - started < 1.0  # each is a dict update; one send is 1 s


def test_the_local_notifier_forgets_sockets_nobody_holds(tmp_path, relays):
    database = tmp_path / "webbin.sqlite3"
    folder = socket_dir(database)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(folder / "12345-deadbeef"))
    dead.close()  # a worker killed without cleaning up leaves its socket file
    here, there = relays(LocalTransport(database)), relays(LocalTransport(database))
    with there.subscribe("bin") as sub:
        connected(there)
        sub.wait(DEADLINE), sub.take()
        here.publish("bin", 1)
        assert sub.wait(DEADLINE) and sub.take() == 1
        wait_until(lambda: not (folder / "12345-deadbeef").exists(), "the dead socket's removal")
        assert len(os.listdir(folder)) == 1  # the listener of `there`


def test_the_local_notifier_ignores_junk_and_keeps_listening(tmp_path, relays):
    database = tmp_path / "webbin.sqlite3"
    here, there = relays(LocalTransport(database)), relays(LocalTransport(database))
    with there.subscribe("bin") as sub:
        connected(there)
        sub.wait(DEADLINE), sub.take()
        (listening,) = socket_dir(database).iterdir()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stranger:
            for junk in (
                b"\xff\xfe",
                b"x" * 60000,
                b"a b c d\n\n-",
                b"a bin 99999999999999999999x",
            ):
                stranger.sendto(junk, str(listening))
        here.publish("bin", 4)
        assert sub.wait(DEADLINE) and sub.take() == 4
        assert there.connected


def test_a_database_path_too_long_for_a_socket_uses_a_private_temporary_folder(tmp_path):
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    folder = socket_dir(deep / "webbin.sqlite3")
    assert not str(folder).startswith(str(tmp_path))
    assert socket_dir(deep / "webbin.sqlite3") == folder  # every process finds the same one
    assert len(str(folder / "1234567-abcdef01")) <= MAX_SOCKET_PATH
    for private in (folder, folder.parent):
        info = private.lstat()
        assert info.st_uid == os.getuid() and info.st_mode & 0o077 == 0
    short = socket_dir(tmp_path / "webbin.sqlite3")
    assert short == tmp_path / "webbin.sqlite3-live"  # beside the database when it fits
