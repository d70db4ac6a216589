"""Fixtures for running webbin as a deployment runs it: several ``webbin serve`` instances
(each with several workers, each its own data folder like separate hosts) on one PostgreSQL
schema and one Redis, each test with its own schema and its own Redis key prefix."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from deployment import REDIS_URL, wait_healthy
from helpers import Server


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    import redis

    prefix = f"webbin-test-{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``webbin serve`` instances (each its own data folder, like separate hosts),
    all stopped afterwards."""
    started: list[Server] = []

    def start(env: dict[str, str], wait: bool = True) -> Server:
        folder = tmp_path / f"host-{len(started)}"
        folder.mkdir()
        server = Server(folder, env=env)
        started.append(server)
        if wait:
            wait_healthy(server)
        return server

    yield start
    for server in started:
        server.stop()
