"""One reader per bin per process: it follows the bin's new rows and renders each once.

Without it every viewer read the database and rendered its own copy on every capture: 50
viewers made one capture 50 reads and 50 renders. Here the first viewer of a bin starts a
:class:`Feed`, whose reader (a thread; a greenlet under gevent) is the bin's only broker
subscriber. On each notification (from this process, or relayed from another worker or host
by :mod:`webbin.live.relay`; or every ``STREAM_POLL_SECONDS`` when none comes, a safety poll
in case one was lost) it reads the rows after its own cursor once,
renders each once per format (the API's JSON summary, the dashboard's row: each format's
renderer is registered by the first viewer asking for it) into a WebSocket frame, appends the
frames to a bounded backlog and wakes the viewers. Each viewer then sends the same bytes from
the backlog after its own cursor, in its own greenlet, so a slow viewer never holds back the
reader or another viewer.

The delivery rule is the cursor's: a viewer is sent a row iff its id is past the viewer's
cursor, and the cursor only moves forward. Ids grow in commit order within a bin (see
:mod:`webbin.capture`), so reading "after my cursor" never skips a row. The backlog holds
every row after its ``base`` up to the reader's ``head``; a viewer whose cursor is before
``base`` (a new viewer replaying, or one that fell more than the backlog behind) reads the
database after its cursor in bounded chunks, exactly as a viewer did before feeds, until it
reaches the backlog again: never skipped, never sent a row twice.
"""

from __future__ import annotations

import bisect
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask

from webbin.live.broker import get_broker
from webbin.storage import queries

Render = Callable[[Any], str]

# Rows per database read, for the reader and for a viewer catching up.
BATCH = 200
# Rows a feed keeps rendered: how far a viewer may fall behind before it is resynchronised
# from the database (about a second at 200 captures/s; ~2 KiB per row for both formats).
BACKLOG = 256

GONE = "gone"  # the bin was deleted
FAILED = "failed"  # the reader hit an error (logged); viewers are closed and reconnect


class Viewer(Protocol):
    def wake(self) -> None:
        """Something changed: look at the feed again (never blocks)."""


@dataclass(frozen=True)
class Behind:
    """The viewer's cursor is before the backlog: read the database after it. Once a read
    comes back short, every row up to ``base`` has been seen, and the cursor may move to
    ``base`` (rows deleted in between are simply not there)."""

    base: int


def frame(text: str) -> bytes:
    """One unmasked, unfragmented WebSocket text frame (RFC 6455 section 5.2), as a server
    sends it: built once per row and format, then written as is to every viewer's socket.
    Valid with or without permessage-deflate (an uncompressed message has RSV1 clear)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    return head + payload


class Feed:
    """The live rows of one bin in this process, and the viewers following them."""

    def __init__(self, feeds: Feeds, bin_id: str, url_root: str) -> None:
        self.bin_id = bin_id
        self._feeds = feeds
        self._url_root = url_root
        self._lock = threading.Lock()
        self._formats: dict[str, Render] = {}
        # Per format: the id after which every row's frame of that format is in the backlog
        # (a format first asked for mid-way has frames only from then on).
        self._since: dict[str, int] = {}
        # (id, frame per format, the summary row: viewers with a filter test it).
        self._entries: list[tuple[int, dict[str, bytes], Any]] = []
        self._base = 0
        self._head: int | None = None  # None until the reader has looked
        self._viewers: set[Viewer] = set()
        self._state: str | None = None  # GONE or FAILED once over
        self._stopping = False
        self._subscription: Any = None

    # --- viewers' side ------------------------------------------------------------------

    def add(self, viewer: Viewer, fmt: str, render: Render) -> None:
        with self._lock:
            self._viewers.add(viewer)
            if fmt not in self._formats:
                self._formats[fmt] = render
                self._since[fmt] = self._head if self._head is not None else 0

    def remove(self, viewer: Viewer) -> int:
        """Forget ``viewer``; how many are left."""
        with self._lock:
            self._viewers.discard(viewer)
            return len(self._viewers)

    def viewer_count(self) -> int:
        with self._lock:
            return len(self._viewers)

    def after(self, fmt: str, cursor: int) -> list[tuple[int, bytes, Any]] | Behind | str:
        """What a viewer of ``fmt`` at ``cursor`` should do next: send these (id, frame,
        row) entries (none: wait to be woken), catch up from the database, or close
        (GONE/FAILED)."""
        with self._lock:
            if self._state is not None:
                return self._state
            if self._head is None:
                return []
            base = max(self._base, self._since[fmt])
            if cursor < base:
                return Behind(base)
            start = bisect.bisect_right(self._entries, cursor, key=lambda entry: entry[0])
            return [(row_id, frames[fmt], row) for row_id, frames, row in self._entries[start:]]

    # --- the reader ---------------------------------------------------------------------

    def start(self, app: Flask) -> None:
        reader = threading.Thread(
            target=self._run, args=(app,), name=f"feed-{self.bin_id}", daemon=True
        )
        reader.start()

    def stop(self) -> None:
        """The last viewer left: the reader ends at once instead of at its next poll."""
        with self._lock:
            self._stopping = True
            subscription = self._subscription
        if subscription is not None:
            subscription.interrupt()

    def _run(self, app: Flask) -> None:
        poll = float(app.config["STREAM_POLL_SECONDS"])
        # Renderers build relative URLs, which need a request; the viewers' own is theirs.
        with app.app_context(), app.test_request_context(base_url=self._url_root):
            try:
                with get_broker(app).subscribe(self.bin_id) as subscription:
                    # Subscribed first: a row stored after this read is announced.
                    head = queries.newest_id(self.bin_id)
                    if head is None:
                        self._finish(GONE)
                        return
                    with self._lock:
                        self._subscription = subscription
                        self._head = self._base = head
                        self._since = dict.fromkeys(self._formats, head)
                    self._wake_all()
                    while not self._stopping:
                        notified = subscription.wait(poll)
                        if self._stopping:
                            return
                        news = subscription.take()
                        if notified and news is not None and news <= head:
                            continue  # every viewer here has it (or will get it from us)
                        head = self._catch_up(head)
                        if head is None:
                            self._finish(GONE)
                            return
            except Exception:
                app.logger.exception("live feed of bin %s failed; closing its viewers", self.bin_id)
                self._finish(FAILED)

    def _catch_up(self, head: int) -> int | None:
        """Read, render and publish every row after ``head``; the new head, None if the bin
        is gone."""
        while True:
            rows = queries.rows_after(self.bin_id, head, BATCH)
            if rows is None:
                return None
            if not rows:
                return head
            with self._lock:
                formats = dict(self._formats)
            entries = [
                (row.id, {fmt: frame(render(row)) for fmt, render in formats.items()}, row)
                for row in rows
            ]
            head = rows[-1].id
            with self._lock:
                self._entries.extend(entries)
                self._head = head
                for fmt in self._formats.keys() - formats.keys():
                    self._since[fmt] = head  # asked for while rendering: frames from now on
                excess = len(self._entries) - self._feeds.backlog
                if excess > 0:
                    self._base = self._entries[excess - 1][0]
                    del self._entries[:excess]
            self._wake_all()
            if len(rows) < BATCH:
                return head

    def _finish(self, state: str) -> None:
        with self._lock:
            self._state = state
        self._feeds.discard(self)
        self._wake_all()

    def _wake_all(self) -> None:
        with self._lock:
            viewers = list(self._viewers)
        for viewer in viewers:
            viewer.wake()


class Feeds:
    """The feeds of one process, by bin: created by a bin's first viewer, ended by its last."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._feeds: dict[str, Feed] = {}
        self.backlog = BACKLOG

    @contextmanager
    def watch(
        self, bin_id: str, fmt: str, render: Render, viewer: Viewer, url_root: str
    ) -> Iterator[Feed]:
        """``viewer`` follows the bin's feed for as long as the ``with`` block lasts."""
        with self._lock:
            feed = self._feeds.get(bin_id)
            new = feed is None
            if feed is None:
                feed = self._feeds[bin_id] = Feed(self, bin_id, url_root)
            feed.add(viewer, fmt, render)
        if new:
            feed.start(self._app)
        try:
            yield feed
        finally:
            with self._lock:
                last = feed.remove(viewer) == 0
                if last and self._feeds.get(bin_id) is feed:
                    del self._feeds[bin_id]
            if last:
                feed.stop()

    def discard(self, feed: Feed) -> None:
        """A feed that is over: the bin's next viewer starts a fresh one."""
        with self._lock:
            if self._feeds.get(feed.bin_id) is feed:
                del self._feeds[feed.bin_id]

    def viewer_count(self, bin_id: str) -> int:
        with self._lock:
            feed = self._feeds.get(bin_id)
        return 0 if feed is None else feed.viewer_count()


def init_app(app: Flask) -> None:
    app.extensions["webbin.feeds"] = Feeds(app)


def get_feeds(app: Flask) -> Feeds:
    return app.extensions["webbin.feeds"]
