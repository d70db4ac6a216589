"""Live fan-out: wakes every viewer of a bin when something new is stored in it.

A notification carries no data, only "bin X changed". Viewers then read the database from
their own cursor, so a lost or duplicated notification can never lose or duplicate a row:
the database stays the single source of truth and the broker only cuts latency.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from flask import Flask


class Subscription(Protocol):
    def wait(self, timeout: float) -> bool:
        """Block until notified or ``timeout`` seconds pass; True when notified."""


class Broker(Protocol):
    def publish(self, bin_id: str) -> None:
        """Tell every subscriber of ``bin_id`` that the bin changed."""

    def subscribe(self, bin_id: str) -> AbstractContextManager[Subscription]:
        """A subscription for as long as the ``with`` block lasts."""


class _Signal:
    """A level-triggered flag: a notification that arrives while nobody waits is kept."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        fired = self._event.wait(timeout)
        self._event.clear()
        return fired


class InProcessBroker:
    """Fan-out between the viewers of one process (one gunicorn worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[_Signal]] = defaultdict(set)

    def publish(self, bin_id: str) -> None:
        with self._lock:
            signals = list(self._subscribers.get(bin_id, ()))
        for signal in signals:
            signal.set()

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


def init_app(app: Flask, broker: Broker | None = None) -> None:
    app.extensions["webbin.broker"] = broker or InProcessBroker()


def get_broker(app: Flask) -> Broker:
    return app.extensions["webbin.broker"]
