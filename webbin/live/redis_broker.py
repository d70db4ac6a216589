"""Live notifications over Redis pub/sub (``WEBBIN_REDIS_URL``), for any database and any
number of workers and hosts.

All of a deployment's notifications go on one channel (:func:`channel`); each process subscribes
once (:mod:`webbin.live.relay` keeps that one subscription and fans out locally) and ignores
bins it has no reader for. Timeouts are short: the sender is off the capture path, but a
Redis that hangs must not hold up even it for long, and a listener must notice a dead
connection (it sends PING when the line has been quiet) instead of waiting on it.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# The channel after ``WEBBIN_REDIS_KEY_PREFIX`` (``webbin:live`` by default). Pub/sub channels
# are shared by every database number of a Redis server: deployments that share one Redis
# keep their notifications apart by their prefixes, as they do their keys.
CHANNEL_SUFFIX = "live"
CONNECT_TIMEOUT = 1.0
# Reads and writes of a command (PUBLISH, SUBSCRIBE's confirmation).
SOCKET_TIMEOUT = 1.0
# A listener quiet this long sends PING; without an answer that long again, it reconnects.
QUIET_SECONDS = 5.0


def describe(url: str) -> str:
    """Where the Redis is, without credentials: ``Redis at host:6379``."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"Redis at {parts.path}"
    return f"Redis at {parts.hostname or 'localhost'}:{parts.port or 6379}"


def channel(prefix: str) -> str:
    return prefix + CHANNEL_SUFFIX


class RedisTransport:
    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.channel = channel(prefix)
        self.description = describe(url)
        self._client: redis.Redis | None = None

    def _connect(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
            # The relay decides about retrying (once, then it drops and readers poll).
            retry=Retry(NoBackoff(), 0),
            client_name="webbin-live",
        )

    def send(self, messages: list[str]) -> None:
        if self._client is None:
            self._client = self._connect()
        pipe = self._client.pipeline(transaction=False)
        for message in messages:
            pipe.publish(self.channel, message)
        pipe.execute()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def listen(self) -> RedisListening:
        return RedisListening(self._connect(), self.channel)


class RedisListening:
    """One SUBSCRIBE, active once Redis has confirmed it (the constructor waits for that)."""

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._client = client
        self._pubsub = client.pubsub()
        try:
            self._pubsub.subscribe(channel)
            deadline = time.monotonic() + SOCKET_TIMEOUT
            while not self._confirmed(self._pubsub.get_message(timeout=SOCKET_TIMEOUT)):
                if time.monotonic() > deadline:
                    raise redis.ConnectionError("Redis did not confirm the subscription")
        except BaseException:
            self.close()
            raise
        self._heard = time.monotonic()
        self._pinged: float | None = None

    @staticmethod
    def _confirmed(message: dict[str, Any] | None) -> bool:
        return message is not None and message["type"] == "subscribe"

    def receive(self, timeout: float) -> list[str]:
        messages: list[str] = []
        message = self._pubsub.get_message(timeout=timeout)
        while message is not None:
            self._heard, self._pinged = time.monotonic(), None
            if message["type"] == "message":
                data = message["data"]
                text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
                messages.append(text)
            message = self._pubsub.get_message(timeout=0)
        now = time.monotonic()
        if self._pinged is not None and now - self._pinged > QUIET_SECONDS:
            raise redis.ConnectionError(f"no answer to PING for {QUIET_SECONDS:g} s")
        if self._pinged is None and now - self._heard > QUIET_SECONDS:
            self._pubsub.ping()
            self._pinged = now
        return messages

    def close(self) -> None:
        try:
            self._pubsub.close()
        finally:
            self._client.close()
