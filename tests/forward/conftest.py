"""Fixtures of the forwarder tests (the helpers are in :mod:`forward.support`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from forward.support import Forward, Target


@pytest.fixture
def target() -> Iterator[Target]:
    started = Target()
    yield started
    started.stop()


@pytest.fixture
def forward(tmp_path: Path) -> Iterator[Callable[..., Forward]]:
    """Start forwarders (all stopped at the end); they share one state directory."""
    started: list[Forward] = []
    state = tmp_path / "state"

    def start(bin_url: str, to: str, *args: str) -> Forward:
        started.append(Forward(bin_url, to, state, *args))
        return started[-1]

    start.state = state  # type: ignore[attr-defined]
    yield start
    for running in started:
        running.close()
