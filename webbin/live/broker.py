"""Live fan-out: tells a bin's reader in this process that something new is stored in it.

A notification carries at most the newest id stored, never the row itself: the reader then
reads the database after its own cursor, so a lost or duplicated notification can never lose
or duplicate a row. The database stays the single source of truth and the broker only cuts
latency (a reader also re-reads every ``STREAM_POLL_SECONDS`` when nothing is said).

:class:`InProcessBroker` reaches the readers of one process. Across processes (gunicorn
workers, hosts) :mod:`webbin.live.relay` wraps it and carries the same notifications over
Redis, PostgreSQL's LISTEN/NOTIFY or a local socket per process.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from flask import Flask

from webbin import metrics


class Subscription(Protocol):
    def wait(self, timeout: float) -> bool:
        """Block until notified or ``timeout`` seconds pass; True when notified."""

    def take(self) -> int | None:
        """What the notifications since the last ``take`` said: the newest id announced
        (0 when none came), or None when one of them did not say (read to find out)."""

    def interrupt(self) -> None:
        """Wake a ``wait`` without news (its owner is stopping)."""


class Broker(Protocol):
    def publish(self, bin_id: str, newest_id: int | None = None) -> None:
        """Tell every subscriber of ``bin_id`` that the bin changed; ``newest_id``, when
        given, is the newest id now committed in it (a reader past it has nothing to do)."""

    def subscribe(self, bin_id: str) -> AbstractContextManager[Subscription]:
        """A subscription for as long as the ``with`` block lasts."""


class _Signal:
    """A level-triggered flag with the news it carries: a notification that arrives while
    nobody waits is kept, and several are folded into one."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._newest = 0
        self._unknown = False

    def set(self, newest_id: int | None = None) -> None:
        with self._lock:
            if newest_id is None:
                self._unknown = True
            else:
                self._newest = max(self._newest, newest_id)
        self._event.set()

    def interrupt(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        fired = self._event.wait(timeout)
        self._event.clear()
        return fired

    def take(self) -> int | None:
        with self._lock:
            news = None if self._unknown else self._newest
            self._newest, self._unknown = 0, False
        return news


class InProcessBroker:
    """Fan-out within one process (one gunicorn worker): each bin with live viewers has one
    subscriber here, its reader (:mod:`webbin.live.feed`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[_Signal]] = defaultdict(set)

    def publish(self, bin_id: str, newest_id: int | None = None) -> None:
        metrics.broker_published.inc()
        with self._lock:
            signals = list(self._subscribers.get(bin_id, ()))
        for signal in signals:
            signal.set(newest_id)

    @contextmanager
    def subscribe(self, bin_id: str) -> Iterator[Subscription]:
        signal = _Signal()
        with self._lock:
            self._subscribers[bin_id].add(signal)
        try:
            yield signal
        finally:
            with self._lock:
                subscribers = self._subscribers.get(bin_id)
                if subscribers is not None:
                    subscribers.discard(signal)
                    if not subscribers:
                        del self._subscribers[bin_id]

    def subscriber_count(self, bin_id: str) -> int:
        with self._lock:
            return len(self._subscribers.get(bin_id, ()))

    def wake_all(self) -> None:
        """Tell every subscriber of every bin to read (news unknown): after notifications
        from other processes may have been missed (:mod:`webbin.live.relay`)."""
        for signal in self._all():
            signal.set(None)

    def interrupt_all(self) -> None:
        """Wake every subscriber without news, so each waits again with its current timeout."""
        for signal in self._all():
            signal.interrupt()

    def _all(self) -> list[_Signal]:
        with self._lock:
            return [signal for signals in self._subscribers.values() for signal in signals]


def init_app(app: Flask, broker: Broker | None = None) -> None:
    """The app's broker: ``broker`` when given (tests), else the one the configuration calls
    for (:func:`webbin.live.relay.for_app`: Redis, PostgreSQL's LISTEN/NOTIFY, a local
    notifier beside a SQLite file, or in-process only)."""
    if broker is None:
        from webbin.live.relay import for_app

        broker = for_app(app)
    app.extensions["webbin.broker"] = broker


def get_broker(app: Flask) -> Broker:
    return app.extensions["webbin.broker"]
