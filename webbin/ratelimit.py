"""Rate limits: in-process token buckets with bounded memory, and a cap on resends in flight.

Five limits, each ``rate`` tokens per second up to ``burst`` saved tokens (0 turns it off):

* capture, per client address (``CAPTURE_CLIENT_RATE`` / ``_BURST``): one sender cannot
  flood the database;
* capture, per bin (``CAPTURE_BIN_RATE`` / ``_BURST``): many senders cannot flood one bin;
* probes, per client (``PROBE_RATE`` / ``_BURST``): every "no such bin" answer costs a token,
  and once they are spent further misses answer 429, so guessing bin ids or capture tokens
  is slowed to a crawl; requests for bins that exist are never refused for it;
* resend, per client (``RESEND_CLIENT_RATE`` / ``_BURST``): every resend makes webbin open a
  connection elsewhere and wait up to ``RESEND_TOTAL_TIMEOUT`` for it, so a public instance
  must not become anyone's free traffic cannon;
* bin creation, per client (``BIN_CREATE_RATE`` / ``_BURST``): bins are cheap to make and
  live for ``BIN_IDLE_TTL_SECONDS``, so a script could otherwise fill the database with them.

On top, at most ``RESEND_MAX_CONCURRENT`` resends are in flight per worker process (0: no
cap), whoever sends them: a resend holds a greenlet and a socket while the target dawdles.

Buckets live in this worker process only: with several workers a client gets up to
``workers`` times the rate. A table holds at most ``RATE_LIMIT_KEYS`` buckets and forgets the
least recently used one first; a forgotten bucket comes back full, which is what a client
that has been quiet long enough to be forgotten would have anyway.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, Response, current_app, jsonify, render_template, request

from webbin.proxies import request_client_address

# URL parameters that address a bin, whoever's route they are on.
BIN_KEYS = ("bin_id", "token")


@dataclass
class TokenBucket:
    tokens: float
    updated: float


class RateLimiter:
    """``take(key)`` spends one token of ``key``'s bucket, or says how long until one is back."""

    def __init__(
        self,
        rate: float,
        burst: int,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = float(rate)
        self.burst = int(burst)
        self.max_keys = max(int(max_keys), 1)
        self.clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket(self, key: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(float(self.burst), now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def take(self, key: str) -> float:
        """Spend a token; 0.0 when allowed, else the seconds until the next token."""
        if not self.enabled:
            return 0.0
        with self._lock:
            bucket = self._bucket(key, self.clock())
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate


class ConcurrencyCap:
    """At most ``limit`` holders at once per key (0: no cap); a full cap refuses rather than
    queues. Resends in flight, live viewers of a bin and a bin's delayed responses use it.

    Refusing is the point: a queued resend or viewer would still hold its client's
    connection and a greenlet, which is what the cap exists to bound.
    """

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def enter(self, key: str = "") -> bool:
        """Take a place for ``key``; False when all ``limit`` are taken."""
        with self._lock:
            if self.limit > 0 and self._held[key] >= self.limit:
                return False
            self._held[key] += 1
            return True

    def leave(self, key: str = "") -> None:
        with self._lock:
            self._held[key] -= 1
            if self._held[key] <= 0:
                del self._held[key]

    def held(self, key: str = "") -> int:
        with self._lock:
            return self._held.get(key, 0)


@dataclass
class Limiters:
    capture_client: RateLimiter
    capture_bin: RateLimiter
    probe: RateLimiter
    resend_client: RateLimiter
    resend_running: ConcurrencyCap
    bin_create: RateLimiter


def limiters(app: Flask | None = None) -> Limiters:
    return (app or current_app).extensions["webbin.ratelimit"]


def client_key() -> str:
    """The client as far as trusted proxies vouch for it (see ``WEBBIN_TRUSTED_PROXIES``)."""
    return request_client_address() or "unknown"


def too_many(retry_after: float, message: str) -> Response:
    """429 with Retry-After, as JSON on the API and capture URLs, a page in the dashboard."""
    seconds = max(1, math.ceil(retry_after))
    message = f"{message} Try again in {seconds} s."
    if request.path.startswith(("/api/", "/c/")) or request.headers.get("Upgrade"):
        response = jsonify(error="too_many_requests", message=message)
    else:
        template = "_error.html" if request.headers.get("HX-Request") == "true" else "error.html"
        response = Response(
            render_template(template, code=429, name="Too Many Requests", message=message)
        )
    response.status_code = 429
    response.headers["Retry-After"] = str(seconds)
    # The body was not read: do not make the server drain (up to MAX_BODY_BYTES of) it.
    response.headers["Connection"] = "close"
    return response


def check_capture(capture_token: str) -> Response | None:
    """Per-client, then per-bin limit on capture. Call before reading the body."""
    limits = limiters()
    wait = limits.capture_client.take(client_key())
    if wait:
        return too_many(wait, "This client is sending too many requests to webbin.")
    wait = limits.capture_bin.take(capture_token)
    if wait:
        return too_many(wait, "This bin is receiving too many requests.")
    return None


def check_resend() -> Response | None:
    """Per-client limit on resends. Call before any other work for the resend."""
    wait = limiters().resend_client.take(client_key())
    if wait:
        return too_many(wait, "This client is resending too often.")
    return None


# What a refused resend is told to wait: slots free as soon as any resend in flight ends,
# which is usually well within a second or two.
RESEND_BUSY_RETRY_SECONDS = 1.0


@contextmanager
def resend_slot() -> Iterator[Response | None]:
    """Hold one of this worker's resend places for the ``with`` block.

    Yields None when a place was free (the block then sends), else the 429 to answer.
    """
    running = limiters().resend_running
    if not running.enter():
        yield too_many(
            RESEND_BUSY_RETRY_SECONDS,
            f"This server is already sending {running.limit} resends; wait for one to finish.",
        )
        return
    try:
        yield None
    finally:
        running.leave()


def check_bin_create() -> Response | None:
    """Per-client limit on creating bins (API and dashboard alike)."""
    wait = limiters().bin_create.take(client_key())
    if wait:
        return too_many(wait, "This client is creating bins too quickly.")
    return None


def bin_addressed() -> bool:
    return any(key in (request.view_args or {}) for key in BIN_KEYS)


def _after_request(response: Response) -> Response:
    """Each "no such bin" costs the client a probe token; without one, it becomes a 429.

    Only misses count and only misses are refused: providers share egress addresses, so a
    valid bin must answer normally whatever else was probed from the same address.
    """
    if response.status_code == 404 and bin_addressed():
        wait = limiters().probe.take(client_key())
        if wait:
            return too_many(wait, "Too many requests for bins that do not exist from this client.")
    return response


def init_app(app: Flask) -> None:
    config = app.config
    keys = int(config["RATE_LIMIT_KEYS"])
    app.extensions["webbin.ratelimit"] = Limiters(
        capture_client=RateLimiter(
            config["CAPTURE_CLIENT_RATE"], config["CAPTURE_CLIENT_BURST"], keys
        ),
        capture_bin=RateLimiter(config["CAPTURE_BIN_RATE"], config["CAPTURE_BIN_BURST"], keys),
        probe=RateLimiter(config["PROBE_RATE"], config["PROBE_BURST"], keys),
        resend_client=RateLimiter(
            config["RESEND_CLIENT_RATE"], config["RESEND_CLIENT_BURST"], keys
        ),
        resend_running=ConcurrencyCap(config["RESEND_MAX_CONCURRENT"]),
        bin_create=RateLimiter(config["BIN_CREATE_RATE"], config["BIN_CREATE_BURST"], keys),
    )
    app.after_request(_after_request)
