"""Live notifications between processes: the in-process broker, relayed over a transport.

Every worker process (of every host) has one :class:`RelayBroker`. ``publish`` wakes this
process's readers at once (the in-process fan-out) and queues the notification for the other
processes; a sender thread (a greenlet under gevent) hands the queue to the transport, so a
capture never waits on, or fails with, the notifier. One listener thread per process holds the
process's only subscription (one Redis channel, one PostgreSQL ``LISTEN``, one local socket)
and passes what arrives to the readers here. Notifications carry a digest of the bin id and
at most the newest id, never request data: a bin id opens the bin, so whoever can read the
channel must not learn it (each process maps digests back to the bins it has readers for).
The database stays the only source of truth, and readers read it after their own cursors
(:mod:`webbin.live.feed`).

So a lost notification only delays, and only by one safety poll: while the transport is down
(and until it first comes up) every reader's wait is cut to ``DEGRADED_POLL_SECONDS``; when it
comes back (the listener reconnects by itself, with backoff) every reader here is woken once to
read whatever was published meanwhile, and the long ``STREAM_POLL_SECONDS`` applies again.

Which transport a process uses follows from the settings (:func:`for_app`, and the matrix in
docs/scaling.md): ``WEBBIN_REDIS_URL`` when set; else PostgreSQL's LISTEN/NOTIFY when the
database is PostgreSQL; else, for a SQLite file, unix datagram sockets in a folder beside it,
which every process using that file (workers, or several ``webbin serve`` on one host) joins.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from flask import Flask

from webbin.live.broker import Broker, InProcessBroker, Subscription
from webbin.storage.models import db

# How often a reader re-reads while notifications from other processes may not arrive.
DEGRADED_POLL_SECONDS = 1.0
# The listener's reconnect backoff: first retry, then doubling up to the cap.
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 2.0
# How long the listener (after the last subscriber left) and the sender (after the last
# publish) keep their connections before closing them; the next use opens new ones.
LINGER_SECONDS = 30.0
# Seconds a listener's receive waits at most, so it notices when to stop.
TICK_SECONDS = 1.0
# Distinct bins queued for sending at most; beyond (a burst while the transport hangs),
# notifications are dropped and readers elsewhere find the rows by their safety poll.
PENDING_BINS = 10_000


class Listening(Protocol):
    """A transport's subscription, active from the moment ``Transport.listen`` returns."""

    def receive(self, timeout: float) -> list[str]:
        """The messages that arrive within ``timeout`` seconds, returned as soon as there
        are any; raises when the connection is broken."""

    def close(self) -> None:
        """Unsubscribe and close the connection."""


class Transport(Protocol):
    description: str  # where notifications go, for the log (never with a password)

    def listen(self) -> Listening:
        """Connect and subscribe; raises when that cannot be done now."""

    def send(self, messages: list[str]) -> None:
        """Deliver ``messages`` to every listener (this process's own too, or not); raises
        when the transport cannot take them."""

    def close(self) -> None:
        """Close the sending side's connection (idle); ``send`` opens a new one."""


def digest(bin_id: str) -> str:
    """What stands for a bin on the wire: not its id (a capability), and not reversible to it
    (bin ids are random); a collision would cost a needless read, never a wrong row."""
    return hashlib.blake2b(bin_id.encode(), digest_size=12).hexdigest()


def encode(origin: str, bin_digest: str, newest_id: int | None) -> str:
    return f"{origin} {bin_digest} {'-' if newest_id is None else newest_id}"


def decode(message: str) -> tuple[str, str, int | None] | None:
    """``(origin, bin digest, newest_id)``, or None for anything else (ignored: whoever can
    publish on the channel can at most make readers look at the database)."""
    parts = message.split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return None
    origin, bin_id, newest = parts
    if newest == "-":
        return origin, bin_id, None
    if not newest.isdigit():
        return None
    return origin, bin_id, int(newest)


class _Capped:
    """A subscription whose waits are cut short while the relay cannot hear other processes."""

    def __init__(self, signal: Subscription, relay: RelayBroker) -> None:
        self._signal = signal
        self._relay = relay

    def wait(self, timeout: float) -> bool:
        if not self._relay.connected:
            timeout = min(timeout, DEGRADED_POLL_SECONDS)
        return self._signal.wait(timeout)

    def take(self) -> int | None:
        return self._signal.take()

    def interrupt(self) -> None:
        self._signal.interrupt()


class RelayBroker:
    """The broker of one process whose notifications also reach every other process through
    ``transport`` (see the module docstring)."""

    def __init__(self, transport: Transport, logger: logging.Logger) -> None:
        self.transport = transport
        self._log = logger
        self._local = InProcessBroker()
        # Tells this process's own messages apart when the transport echoes them back.
        self._origin = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._subscribers = 0
        # Digest -> (bin id, its subscriptions here): the bins whose news this process wants.
        self._bins: dict[str, tuple[str, int]] = {}
        self._idle_since = time.monotonic()
        self._listener: threading.Thread | None = None
        self._connected = False
        self._reported_down = False
        self._pending: dict[str, int | None] = {}
        self._outbox = threading.Event()
        self._sender: threading.Thread | None = None
        self._send_failing = False
        self._closed = False

    @property
    def connected(self) -> bool:
        """Whether this process hears the others right now (its listener is subscribed)."""
        return self._connected

    def close(self, timeout: float = 5.0) -> None:
        """Stop listening and sending and wait for both threads to end (within about a
        tick): for a process, such as a test run, that outlives the app it built the relay
        for. Publishing afterwards still wakes this process's own readers."""
        with self._lock:
            self._closed = True
            threads = [t for t in (self._listener, self._sender) if t is not None]
        self._outbox.set()
        for thread in threads:
            thread.join(timeout)

    # --- publishing ---------------------------------------------------------------------

    def publish(self, bin_id: str, newest_id: int | None = None) -> None:
        """Wake this process's readers now and queue the news for the others; never blocks
        on the transport and never raises for it."""
        self._local.publish(bin_id, newest_id)
        with self._lock:
            if bin_id in self._pending:
                known = self._pending[bin_id]
                if known is not None:
                    self._pending[bin_id] = None if newest_id is None else max(known, newest_id)
            elif len(self._pending) < PENDING_BINS:
                self._pending[bin_id] = newest_id
            if self._sender is None and not self._closed:
                self._sender = threading.Thread(
                    target=self._send_loop, name="live-relay-sender", daemon=True
                )
                self._sender.start()
        self._outbox.set()

    def _send_loop(self) -> None:
        while True:
            if not self._outbox.wait(LINGER_SECONDS) or self._closed:
                # Idle: close the connection while this thread alone may use it, then end
                # unless a publish came in meanwhile (its own send opens a new one).
                try:
                    self.transport.close()
                except Exception:
                    self._log.debug("closing the live notifier's sender failed", exc_info=True)
                with self._lock:
                    if not self._pending or self._closed:
                        self._sender = None  # the next publish starts another
                        return
                continue
            with self._lock:
                batch, self._pending = self._pending, {}
                self._outbox.clear()
            if batch:
                self._send([encode(self._origin, digest(b), n) for b, n in batch.items()])

    def _send(self, messages: list[str]) -> None:
        """Send, retrying once on a fresh connection (a pooled one may have gone stale in a
        restart); then drop: readers elsewhere find the rows by their safety poll."""
        for attempt in (1, 2):
            try:
                self.transport.send(messages)
            except Exception as error:
                try:
                    self.transport.close()
                except Exception:
                    self._log.debug("closing a failed live notifier connection", exc_info=True)
                if attempt == 2:
                    if not self._send_failing:
                        self._send_failing = True
                        self._log.warning(
                            "live notifications to %s cannot be sent (%s); viewers on other "
                            "processes see new requests by their safety poll until it is back",
                            self.transport.description,
                            _reason(error),
                        )
                    return
            else:
                if self._send_failing:
                    self._send_failing = False
                    self._log.warning(
                        "live notifications to %s are sent again", self.transport.description
                    )
                return

    # --- subscribing --------------------------------------------------------------------

    @contextmanager
    def subscribe(self, bin_id: str) -> Iterator[Subscription]:
        key = digest(bin_id)
        with self._local.subscribe(bin_id) as signal:
            with self._lock:
                self._subscribers += 1
                self._bins[key] = (bin_id, self._bins.get(key, (bin_id, 0))[1] + 1)
                if self._listener is None and not self._closed:
                    self._listener = threading.Thread(
                        target=self._listen_loop, name="live-relay-listener", daemon=True
                    )
                    self._listener.start()
            try:
                yield _Capped(signal, self)
            finally:
                with self._lock:
                    self._subscribers -= 1
                    if not self._subscribers:
                        self._idle_since = time.monotonic()
                    count = self._bins[key][1] - 1
                    if count:
                        self._bins[key] = (bin_id, count)
                    else:
                        del self._bins[key]

    def _should_stop(self) -> bool:
        """Under the lock: closed, or no subscriber for ``LINGER_SECONDS``; the listener
        then ends."""
        idle = not self._subscribers and time.monotonic() - self._idle_since >= LINGER_SECONDS
        if not (self._closed or idle):
            return False
        self._listener = None
        self._connected = False
        return True

    def _listen_loop(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            with self._lock:
                if self._should_stop():
                    return
            try:
                listening = self.transport.listen()
            except Exception as error:
                self._down(error)
                time.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_FIRST
            try:
                self._up()
                while True:
                    for message in listening.receive(TICK_SECONDS):
                        self._deliver(message)
                    with self._lock:
                        if self._should_stop():
                            return
            except Exception as error:
                self._down(error)
            finally:
                try:
                    listening.close()
                except Exception:
                    self._log.debug("closing the live notifier's listener failed", exc_info=True)

    def _deliver(self, message: str) -> None:
        decoded = decode(message)
        if decoded is None:
            return
        origin, key, newest_id = decoded
        if origin == self._origin:
            return  # our own were delivered here when published
        with self._lock:
            known = self._bins.get(key)
        if known is not None:  # else no reader here follows that bin
            self._local.publish(known[0], newest_id)

    def _up(self) -> None:
        """Subscribed: from now on every notification arrives. Whatever was published before
        (while down, or before the first connection) is found by one read per reader."""
        with self._lock:
            self._connected = True
            recovered, self._reported_down = self._reported_down, False
        if recovered:
            self._log.warning(
                "live notifications from %s are back; viewers read what they missed",
                self.transport.description,
            )
        self._local.wake_all()

    def _down(self, error: Exception) -> None:
        with self._lock:
            was_connected, self._connected = self._connected, False
            report = not self._reported_down
            self._reported_down = True
        if report:
            self._log.warning(
                "live notifications from %s are not arriving (%s); viewers here re-read every "
                "%g s until they are back",
                self.transport.description,
                _reason(error),
                DEGRADED_POLL_SECONDS,
            )
        if was_connected:
            self._local.interrupt_all()  # each reader waits again, now for the short poll


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def for_app(app: Flask) -> Broker:
    """The broker the settings call for (the matrix in docs/scaling.md)."""
    redis_url = app.config.get("REDIS_URL") or ""
    if redis_url:
        from webbin.live.redis_broker import RedisTransport

        return RelayBroker(RedisTransport(redis_url, app.config["REDIS_KEY_PREFIX"]), app.logger)
    with app.app_context():
        engine = db.engine
    url = engine.url
    if url.get_backend_name() == "postgresql":
        from webbin.live.pg_notify import PgTransport

        return RelayBroker(PgTransport(engine), app.logger)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        from webbin.live.local_notify import LocalTransport

        return RelayBroker(LocalTransport(Path(url.database)), app.logger)
    return InProcessBroker()  # an in-memory database lives in one process only
