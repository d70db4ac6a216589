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

Without ``REDIS_URL``, buckets live in this worker process only: with several workers (or
hosts) a client gets up to ``workers`` times the rate. A table holds at most
``RATE_LIMIT_KEYS`` buckets and forgets the least recently used one first; a forgotten
bucket comes back full, which is what a client that has been quiet long enough to be
forgotten would have anyway.

With ``REDIS_URL``, every bucket lives in Redis (:class:`SharedStore`): one Lua script
refills and spends it atomically by Redis's clock, so every worker on every host draws on
the same tokens, and a bucket expires once it would be full again. The live-viewer cap
(:class:`SharedCap`) is shared likewise, as leases that their holders renew, so the slots
of a worker that crashed free themselves. Redis failing must never fail a capture: the
first error is logged, the process counts alone (its local buckets) for a few seconds, then
tries Redis again.

Keys in Redis are digests (:meth:`SharedStore.key`), never a capture token or bin id: those
are capabilities, and Redis need not be trusted with them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from flask import Flask, Response, current_app, jsonify, render_template, request
from redis.backoff import NoBackoff
from redis.retry import Retry

from webbin import metrics
from webbin.proxies import request_client_address

T = TypeVar("T")

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
        *,
        name: str = "",
        store: SharedStore | None = None,
    ) -> None:
        self.rate = float(rate)
        self.burst = int(burst)
        self.max_keys = max(int(max_keys), 1)
        self.clock = clock
        # With a store, the buckets are in Redis under ``name``; the local ones are the
        # fallback for while Redis cannot be reached.
        self.name = name
        self.store = store
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
        return spend((self, key))[1]

    def take_local(self, key: str) -> float:
        """:meth:`take` from this process's bucket, whatever the store."""
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

    def enter(self, key: str = "", always: bool = False) -> bool:
        """Take a place for ``key``; False when all ``limit`` are taken (unless ``always``:
        a place granted elsewhere, counted here too)."""
        with self._lock:
            if not always and self.limit > 0 and self._held[key] >= self.limit:
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


# Spends one token of each bucket in order, stopping at the first that has none. KEYS are
# the buckets, ARGV their (rate, burst) pairs. Returns {0, "0"} when every bucket had a
# token, else {i, seconds until bucket i has one} (a string: Redis would truncate a number).
# The clock is Redis's, so hosts whose clocks disagree still share one bucket; a bucket
# expires once it would have refilled, which is what a missing bucket means.
_SPEND = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'updated')
  local tokens = tonumber(state[1])
  local updated = tonumber(state[2])
  if tokens == nil or updated == nil then
    tokens = burst
  else
    tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
  end
  local refused = tokens < 1
  if not refused then
    tokens = tokens - 1
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'updated', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
  if refused then
    return {i, tostring((1 - tokens) / rate)}
  end
end
return {0, '0'}
"""

# Takes a lease in the sorted set KEYS[1] (member -> end of lease, ms) unless ARGV[1] live
# leases are already there; expired leases (holders that died without leaving) go first.
# ARGV: limit, lease ms, member. Returns 1 when taken, 0 when full.
_ENTER = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""

# Renews leases: KEYS[i] holds member ARGV[i + 1]; ARGV[1] is the lease in ms. Only leases
# still there are renewed (XX): one given back meanwhile stays given back.
_RENEW = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', key, lease)
end
return #KEYS
"""

# Errors that mean "Redis cannot answer now" (timeouts and refused connections included).
REDIS_ERRORS = (redis.RedisError, OSError)


class SharedStore:
    """Redis as the limits use it: short timeouts, and after a failure a pause of
    ``RETRY_SECONDS`` during which :meth:`call` answers None at once, so callers fall back
    to their local state instead of each waiting for a timeout. The first failure of an
    outage is logged, and so is the recovery."""

    RETRY_SECONDS = 5.0
    TIMEOUT_SECONDS = 0.5

    def __init__(self, url: str, prefix: str, logger: logging.Logger) -> None:
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=self.TIMEOUT_SECONDS,
            socket_connect_timeout=self.TIMEOUT_SECONDS,
            # One retry, at once: enough for a pooled connection that a Redis restart cut,
            # and the most a capture may wait on a Redis that does not answer (2 timeouts).
            retry=Retry(NoBackoff(), 1),
        )
        self.prefix = prefix
        self.logger = logger
        self.spend = self.client.register_script(_SPEND)
        self.enter = self.client.register_script(_ENTER)
        self.renew = self.client.register_script(_RENEW)
        self._retry_at = 0.0
        self._down = False
        self._lock = threading.Lock()

    def key(self, kind: str, key: str) -> str:
        """The Redis key of ``key`` (a client address, capture token or bin id) in ``kind``."""
        digest = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
        return f"{self.prefix}{kind}:{digest}"

    def call(self, work: Callable[[], T]) -> T | None:
        """``work()``'s result, or None when Redis failed now or did a moment ago."""
        if self._down and time.monotonic() < self._retry_at:
            return None
        try:
            result = work()
        except REDIS_ERRORS as error:
            with self._lock:
                self._retry_at = time.monotonic() + self.RETRY_SECONDS
                first = not self._down
                self._down = True
            if first:
                self.logger.warning(
                    "Redis is unreachable (%s); rate limits and viewer caps count per "
                    "process until it is back",
                    type(error).__name__,
                )
            return None
        if self._down:
            with self._lock:
                recovered, self._down = self._down, False
            if recovered:
                self.logger.warning("Redis is reachable again; limits are shared again")
        return result

    def ping(self) -> str | None:
        """None when Redis answers, else what went wrong (for the readiness check)."""
        try:
            self.client.ping()
        except REDIS_ERRORS as error:
            return type(error).__name__
        return None


def spend(*wanted: tuple[RateLimiter, str]) -> tuple[int, float]:
    """Spend a token of each (limiter, key) in order, stopping at the first without one.

    Returns (-1, 0.0) when all had one, else (its index, seconds until it has one). With a
    store it is one round trip to Redis for all of them; without, or while Redis is down,
    each limiter's local bucket.
    """
    active = [(i, limiter, key) for i, (limiter, key) in enumerate(wanted) if limiter.enabled]
    store = next((limiter.store for _i, limiter, _key in active if limiter.store), None)
    if store is not None:
        keys = [store.key(f"rate:{limiter.name}", key) for _i, limiter, key in active]
        args = [value for _i, limiter, _key in active for value in (limiter.rate, limiter.burst)]
        answer = store.call(lambda: store.spend(keys=keys, args=args))
        if answer is not None:
            index, wait = int(answer[0]), float(answer[1])
            return (active[index - 1][0], wait) if index else (-1, 0.0)
    for index, (limiter, key) in enumerate(wanted):
        wait = limiter.take_local(key)
        if wait:
            return index, wait
    return -1, 0.0


@dataclass(frozen=True)
class Ticket:
    """One place taken in a :class:`SharedCap`; ``member`` names its Redis lease, if any."""

    key: str
    member: str | None


class SharedCap:
    """At most ``limit`` holders per key (0: no cap) in every process sharing ``store``;
    without a store (or while Redis is down), in this process, as :class:`ConcurrencyCap`.

    Each place taken in Redis is a lease of ``lease`` seconds that a background thread of
    this process renews every third of it, for as long as the place is held: a worker that
    crashes stops renewing, and its places free themselves once their leases run out.
    """

    def __init__(
        self, name: str, limit: int, store: SharedStore | None, lease: float = 60.0
    ) -> None:
        self.name = name
        self.local = ConcurrencyCap(limit)
        self.store = store
        self.lease = float(lease)
        self._leases: dict[str, str] = {}  # member -> its Redis key
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None

    @property
    def limit(self) -> int:
        return self.local.limit

    def enter(self, key: str) -> Ticket | None:
        """Take a place for ``key``; None when all ``limit`` are taken."""
        store = self.store
        if store is None or self.limit <= 0:
            return Ticket(key, None) if self.local.enter(key) else None
        member, redis_key = secrets.token_hex(8), store.key(self.name, key)
        lease_ms = int(self.lease * 1000)
        taken = store.call(
            lambda: store.enter(keys=[redis_key], args=[self.limit, lease_ms, member])
        )
        if taken is None:  # Redis is down: this process's count decides
            return Ticket(key, None) if self.local.enter(key) else None
        if not taken:
            return None
        self.local.enter(key, always=True)
        with self._lock:
            self._leases[member] = redis_key
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew_forever, name=f"webbin-{self.name}-leases", daemon=True
                )
                self._renewer.start()
        return Ticket(key, member)

    def leave(self, ticket: Ticket) -> None:
        self.local.leave(ticket.key)
        if ticket.member is None or self.store is None:
            return
        store = self.store
        with self._lock:
            redis_key = self._leases.pop(ticket.member, None)
        if redis_key is not None:  # if Redis is down, the lease runs out by itself
            store.call(lambda: store.client.zrem(redis_key, ticket.member))

    def held(self, key: str) -> int:
        """Places held for ``key`` in this process."""
        return self.local.held(key)

    def _renew_forever(self) -> None:
        while True:
            time.sleep(self.lease / 3)  # a greenlet sleep under gevent
            self.renew()

    def renew(self) -> None:
        """Extend every lease this process holds (the background thread calls it)."""
        store = self.store
        with self._lock:
            held = list(self._leases.items())
        if store is None or not held:
            return
        keys = [redis_key for _member, redis_key in held]
        args: list[Any] = [int(self.lease * 1000), *(member for member, _key in held)]
        store.call(lambda: store.renew(keys=keys, args=args))


@dataclass
class Limiters:
    capture_client: RateLimiter
    capture_bin: RateLimiter
    probe: RateLimiter
    resend_client: RateLimiter
    resend_running: ConcurrencyCap
    bin_create: RateLimiter
    store: SharedStore | None


def limiters(app: Flask | None = None) -> Limiters:
    return (app or current_app).extensions["webbin.ratelimit"]


def client_key() -> str:
    """The client as far as trusted proxies vouch for it (see ``WEBBIN_TRUSTED_PROXIES``)."""
    return request_client_address() or "unknown"


def shared_store(app: Flask) -> SharedStore | None:
    """The Redis every worker and host shares (``REDIS_URL``), None when there is none."""
    return limiters(app).store


def too_many(retry_after: float, message: str, limit: str) -> Response:
    """429 with Retry-After, as JSON on the API and capture URLs, a page in the dashboard;
    counted under ``limit`` (its name) in the metrics."""
    metrics.rate_limited.labels(limit).inc()
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
    refused, wait = spend(
        (limits.capture_client, client_key()), (limits.capture_bin, capture_token)
    )
    if refused == 0:
        return too_many(
            wait, "This client is sending too many requests to webbin.", "capture_client"
        )
    if refused == 1:
        return too_many(wait, "This bin is receiving too many requests.", "capture_bin")
    return None


def check_resend() -> Response | None:
    """Per-client limit on resends. Call before any other work for the resend."""
    wait = limiters().resend_client.take(client_key())
    if wait:
        return too_many(wait, "This client is resending too often.", "resend_client")
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
            "resend_running",
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
        return too_many(wait, "This client is creating bins too quickly.", "bin_create")
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
            return too_many(
                wait, "Too many requests for bins that do not exist from this client.", "probe"
            )
    return response


def init_app(app: Flask) -> None:
    config = app.config
    keys = int(config["RATE_LIMIT_KEYS"])
    store = (
        SharedStore(config["REDIS_URL"], config["REDIS_KEY_PREFIX"], app.logger)
        if config["REDIS_URL"]
        else None
    )

    def limiter(name: str, setting: str) -> RateLimiter:
        rate, burst = config[f"{setting}_RATE"], config[f"{setting}_BURST"]
        return RateLimiter(rate, burst, keys, name=name, store=store)

    app.extensions["webbin.ratelimit"] = Limiters(
        capture_client=limiter("capture_client", "CAPTURE_CLIENT"),
        capture_bin=limiter("capture_bin", "CAPTURE_BIN"),
        probe=limiter("probe", "PROBE"),
        resend_client=limiter("resend_client", "RESEND_CLIENT"),
        resend_running=ConcurrencyCap(config["RESEND_MAX_CONCURRENT"]),
        bin_create=limiter("bin_create", "BIN_CREATE"),
        store=store,
    )
    app.after_request(_after_request)
