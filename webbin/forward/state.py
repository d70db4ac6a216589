"""Where a forwarder is: the last request it forwarded, kept on disk per bin and target.

The file lives in the user's state directory (``$XDG_STATE_HOME/webbin/forward``, else
``~/.local/state/webbin/forward``), one per (server, bin, target), named by a digest of the
three (the bin id is a read key: it is in the file, not in its name; files are 0600). Every
change is written whole to a temporary file, flushed to disk and renamed over the old one, so
a crash or power cut leaves the previous position or the new one, never a torn file.

What is kept: ``cursor`` (every request up to this id is done: forwarded, or skipped on
purpose), ``done`` (ids past the cursor already forwarded, when several go at once) and
``inflight`` (ids being sent right now: if the forwarder dies before their answer is noted,
they are sent again on the next start, and the forwarder says so).

A lock (``flock`` on a ``.lock`` file beside it) keeps two forwarders of the same bin and
target from running at once, which would forward everything twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "webbin" / "forward"


class AlreadyRunning(Exception):
    """Another forwarder holds this bin and target."""


@dataclass
class Position:
    cursor: int
    done: set[int] = field(default_factory=set)
    inflight: set[int] = field(default_factory=set)

    def is_done(self, request_id: int) -> bool:
        return request_id <= self.cursor or request_id in self.done


class StateFile:
    """The saved position of one (server, bin, target), locked while this process runs."""

    def __init__(self, server: str, bin_id: str, target: str, directory: Path | None = None):
        self.directory = directory or state_dir()
        key = hashlib.sha256("\n".join((server, bin_id, target)).encode()).hexdigest()[:24]
        self.path = self.directory / f"{key}.json"
        self._identity = {"server": server, "bin": bin_id, "target": target}
        self._lock: IO[str] | None = None

    def lock(self) -> None:
        """Take the lock, or AlreadyRunning."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = open(self.path.with_suffix(".lock"), "a+")  # noqa: SIM115  # held until unlock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AlreadyRunning(
                "another webbin forward is already forwarding this bin to this target"
            ) from None
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def load(self) -> Position | None:
        """The saved position; None when there is none (a new forwarder) or it is unreadable."""
        try:
            data = json.loads(self.path.read_text())
            return Position(
                int(data["cursor"]),
                {int(i) for i in data.get("done", [])},
                {int(i) for i in data.get("inflight", [])},
            )
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def save(self, position: Position) -> None:
        data: dict[str, Any] = {
            **self._identity,
            "cursor": position.cursor,
            "done": sorted(position.done),
            "inflight": sorted(position.inflight),
        }
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)
