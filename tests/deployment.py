"""Helpers for tests that run webbin as a deployment does (tests/ops): plain HTTP calls that
return errors instead of raising, waiting for a server's workers, its readiness, and whether
Redis is there."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from helpers import PG_URL, Server

REDIS_URL = "redis://127.0.0.1:6379/0"

needs_postgres = pytest.mark.skipif(not PG_URL, reason="WEBBIN_TEST_DATABASE_URL is not set")


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


needs_redis = pytest.mark.skipif(not redis_available(), reason=f"no Redis at {REDIS_URL}")


def get(
    url: str, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a GET, errors included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def post(url: str, data: bytes = b"", timeout: float = 10) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_healthy(server: Server, timeout: float = 30) -> None:
    """Until a worker answers /healthz (the port is bound before any worker has booted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"webbin serve exited: {server.log.read_text()}")
        try:
            if get(server.url + "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"webbin serve never became healthy: {server.log.read_text()}")


def readyz(server: Server) -> tuple[int, dict]:
    status, _headers, body = get(server.url + "/readyz")
    return status, json.loads(body)
