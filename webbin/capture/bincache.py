"""A bounded per-process cache of bins by capture token, so a capture to a known bin reads
nothing before its write.

Why: looking the bin up was one connection checkout and one SELECT per capture (on
PostgreSQL also a JSON loader per settings column), about 15 % of a capture's time on
SQLite and 40 % on PostgreSQL.

Correctness never depends on an entry being fresh. The writer's bump of the bin's
``last_seq`` (under the bin's row lock, inside the batch transaction) returns every setting
that decides a capture; when any of them differs from the entry the capture was decided
with, the writer decides that capture again from what the bump returned, and the capture
refreshes the entry. A bin deleted since makes the bump return no row: the capture answers
404 and drops the entry. Settings changed by another worker process are thus picked up on
the next capture, by the bump itself. A capture token is never reassigned, so the token ->
bin id mapping cannot go stale; only the settings can.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from flask import Flask

from webbin.receiver.decide import BinRules

# Bins per process at most: a few thousand entries of a few settings each is a few MB at
# worst, and a capture to a bin that fell out costs only today's read.
MAX_BINS = 4096


@dataclass(frozen=True)
class CachedBin:
    """A bin's row (id and settings) and the rules parsed from it once, not per capture."""

    row: Any
    rules: BinRules

    @classmethod
    def of(cls, row: Any) -> CachedBin:
        return cls(row, BinRules.from_row(row))


class BinCache:
    """Least-recently-used bins by capture token; safe to share between threads."""

    def __init__(self, max_bins: int = MAX_BINS) -> None:
        self.max_bins = max_bins
        self._lock = threading.Lock()
        self._bins: OrderedDict[str, CachedBin] = OrderedDict()

    def get(self, token: str) -> CachedBin | None:
        with self._lock:
            entry = self._bins.get(token)
            if entry is not None:
                self._bins.move_to_end(token)
            return entry

    def put(self, token: str, entry: CachedBin) -> None:
        with self._lock:
            self._bins[token] = entry
            self._bins.move_to_end(token)
            while len(self._bins) > self.max_bins:
                self._bins.popitem(last=False)

    def evict(self, token: str) -> None:
        with self._lock:
            self._bins.pop(token, None)

    def __len__(self) -> int:
        return len(self._bins)

    def __contains__(self, token: object) -> bool:
        return token in self._bins


def bin_cache(app: Flask) -> BinCache:
    """The app's cache (made when the capture blueprint is registered)."""
    cache: BinCache = app.extensions["webbin.bin_cache"]
    return cache
