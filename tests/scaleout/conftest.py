"""Fixtures of the scale-out tests (the helpers are in ``cluster.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scaleout.cluster import Instance, Viewer


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
