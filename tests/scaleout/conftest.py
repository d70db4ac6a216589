"""Fixtures of the scale-out tests (the helpers are in ``cluster.py``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from scaleout.cluster import Instance, RedisServer, Viewer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    running = RedisServer(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def instances() -> Iterator[list[Instance]]:
    """Instances a test starts (append them); all stopped at the end."""
    started: list[Instance] = []
    yield started
    for instance in started:
        instance.stop()


@pytest.fixture
def viewers() -> Iterator[list[Viewer]]:
    opened: list[Viewer] = []
    yield opened
    for viewer in opened:
        viewer.close()
