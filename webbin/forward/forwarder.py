"""The forwarder: follow a bin, send each arrival to the target, keep its place on disk.

Threads, each with one job:

* the **reader** holds the WebSocket (reconnecting with backoff whenever it drops) and queues
  each arrival, in id order, and each resend the dashboard asks of this forwarder;
* **workers** (``--concurrency``, 1 by default, which keeps the order) take arrivals, fetch
  each one's headers and exact body from the API, send it to the target and note it done;
* the **resender** does the dashboard's resends, one at a time, beside the arrivals (a
  target that is down does not hold them behind a retrying arrival);
* the **reporter** tells webbin each outcome, retrying while webbin is away.

Exactly once at the target: a request is noted done on disk (:mod:`webbin.forward.state`)
right after the target answered, and only then; the saved cursor is the highest id up to
which everything is done. After a restart, reconnect, sleep or a server restart the stream
is asked for what comes after it, so what arrived meanwhile is forwarded in order and
nothing twice. (The one window left: the process killed in the milliseconds between the
target's answer and the write. The next start then sends that request again and says so.)
A reconnect within one run asks for what comes after the last id *queued*, since queued
requests are still in memory.

A target that does not answer (refused, timed out, TLS failure) is retried with backoff
(``--on-failure retry``, the default) and the cursor never passes the request, so nothing
behind it is lost or reordered; ``--on-failure skip`` notes the error and moves on. Any HTTP
answer, 500 included, is a delivery: it is the local app's answer to show, not a network
failure.
"""

from __future__ import annotations

import fnmatch
import json
import queue
import re
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from webbin.forward import transport
from webbin.forward.output import Output
from webbin.forward.state import Position, StateFile

# Arrivals held in memory; past it the reader stops reading and the server holds the rest.
MAX_QUEUED = 10_000
MAX_BACKOFF = 30.0
RECONNECT_MAX_BACKOFF = 15.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str) -> str | int | timedelta:
    """``now``, a request id, or a duration such as ``90s``, ``10m``, ``2h``, ``1d``."""
    text = text.strip().lower()
    if text == "now":
        return "now"
    if text.isdigit() and int(text) > 0:
        return int(text)
    found = _DURATION.fullmatch(text)
    if found:
        return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])
    raise ValueError(f"{text!r} is not now, a request id or a duration like 10m, 2h, 1d")


@dataclass(frozen=True)
class Options:
    server: transport.Server
    target: str
    name: str
    since: str | int | timedelta = "now"
    since_given: bool = False
    reset: bool = False
    path_prefixes: tuple[tuple[str, str], ...] = ()
    methods: frozenset[str] = frozenset()
    paths: tuple[str, ...] = ()
    concurrency: int = 1
    timeout: float = 10.0
    insecure: bool = False
    keep_host: bool = False
    on_failure: str = "retry"
    reply: float = 0.0
    as_json: bool = False


def target_url(
    target: str, path: str, query: str, prefixes: tuple[tuple[str, str], ...] = ()
) -> str:
    """Where a captured request goes: ``target``'s path plus the path the request had after
    the capture URL (its first ``--path-prefix FROM=TO`` applied), and its query string
    after any the target has."""
    for old, new in prefixes:
        if path.startswith(old):
            path = new + path[len(old) :]
            break
    base = urlsplit(target)
    if path in ("", "/"):
        joined = base.path or "/"
    else:
        joined = base.path.rstrip("/") + "/" + path.lstrip("/")
    joined_query = "&".join(q for q in (base.query, query) if q)
    return urlunsplit((base.scheme, base.netloc, joined, joined_query, ""))


# Headers naming the event, by provider.
_EVENT_HEADERS = (
    ("X-GitHub-Event", "github"),
    ("X-Gitlab-Event", "gitlab"),
    ("X-Shopify-Topic", "shopify"),
    ("X-Event-Key", "bitbucket"),
    ("X-Hook-Event", None),
    ("X-Event-Type", None),
)


def describe(detail: dict[str, Any]) -> tuple[str | None, str | None]:
    """(provider, event type) when the request says: the signature scheme that judged it,
    an event header, or a ``type`` field of a JSON body."""
    scheme = detail.get("signature_scheme")
    provider = scheme if scheme and scheme != "auto" else None
    headers = {name.lower(): value for name, value in detail.get("headers", [])}
    for header, named in _EVENT_HEADERS:
        value = headers.get(header.lower())
        if value:
            return provider or named, value[:80]
    body = detail.get("body", b"")
    if body[:1] == b"{" and len(body) <= 1024 * 1024:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("type", "event_type", "event", "topic"):
                value = data.get(key)
                if isinstance(value, dict):  # Slack's event callbacks
                    value = value.get("type")
                if isinstance(value, str) and 0 < len(value) <= 80:
                    return provider, value
    return provider, None


class Forwarder:
    def __init__(
        self,
        options: Options,
        output: Output | None = None,
        state: StateFile | None = None,
    ) -> None:
        self.options = options
        self.output = output or Output(options.as_json)
        self.api = transport.Api(options.server)
        self.state = state or StateFile(options.server.base, options.server.bin_id, options.target)
        self.stopping = threading.Event()
        self.fatal: str | None = None
        self.arrivals: queue.Queue[dict[str, Any]] = queue.Queue(MAX_QUEUED)
        self.resends: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        self.reports: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        self._lock = threading.Lock()
        self.position = Position(0)
        # Ids received from the stream and not yet done, in order: the cursor moves up to
        # the first of them once every id before it is done.
        self._pending: list[int] = []
        self._seen = 0  # the highest id queued: where a reconnect resumes
        self._ws: Any = None

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> int:
        """Forward until Ctrl-C (or SIGTERM); the exit status."""
        self.state.lock()
        try:
            try:
                self._start_position()
            except KeyboardInterrupt:
                return 0  # nothing was forwarded yet; the place (if any) is saved
            if self.stopping.is_set():
                return 1 if self.fatal else 0
            threads = [
                threading.Thread(target=self._read, name="reader", daemon=True),
                threading.Thread(target=self._resend, name="resender", daemon=True),
                threading.Thread(target=self._report, name="reporter", daemon=True),
            ]
            workers = [
                threading.Thread(target=self._work, name=f"worker-{n}", daemon=True)
                for n in range(self.options.concurrency)
            ]
            for thread in threads + workers:
                thread.start()
            previous = signal.signal(signal.SIGTERM, lambda *_: self.stop())
            try:
                while not self.stopping.wait(0.5):
                    pass
            except KeyboardInterrupt:
                self.stop()
            finally:
                signal.signal(signal.SIGTERM, previous)
            self._shut_down(workers, threads)
        finally:
            self.state.unlock()
        return 1 if self.fatal else 0

    def stop(self, fatal: str | None = None) -> None:
        if fatal is not None and self.fatal is None:
            self.fatal = fatal
            self.output.note("fatal", fatal, style="bold red")
        self.stopping.set()
        ws = self._ws
        if ws is not None:
            ws.close()

    def _shut_down(self, workers: list[threading.Thread], others: list[threading.Thread]) -> None:
        """Let the deliveries in flight finish (their answers noted), then save."""
        try:
            deadline = time.monotonic() + 3 * self.options.timeout + 2
            for thread in workers + others:
                thread.join(max(deadline - time.monotonic(), 0.1))
        except KeyboardInterrupt:
            self.output.note("stopped", "stopped at once; in-flight requests go again next time")
            return
        with self._lock:
            self.state.save(self.position)
            cursor, waiting = self.position.cursor, len(self._pending)
        if not self.fatal:
            later = f"; {waiting} received but not yet forwarded go first" if waiting else ""
            self.output.note(
                "stopped",
                f"stopped; the next start resumes after request id {cursor}{later}",
                style="bold",
                cursor=cursor,
            )

    def _start_position(self) -> None:
        """Where to start: the saved place, else ``--since`` (saved at once, so requests
        captured before the first one arrives are not lost if this stops)."""
        options = self.options
        saved = None if options.reset else self.state.load()
        if saved is not None:
            self.position = saved
            note = f"resuming after request id {saved.cursor} (saved)"
            if options.since_given:
                note += "; --since is for a new forwarder (add --reset to start over)"
            self.output.note("resume", note, style="bold", cursor=saved.cursor)
            for request_id in sorted(saved.inflight):
                self.output.note(
                    "repeat",
                    f"request id {request_id} was being forwarded when the forwarder stopped; "
                    "it is sent again, so the target may see it twice",
                    style="yellow",
                    id=request_id,
                )
            saved.inflight.clear()
        else:
            cursor = self._call_until_up(lambda: self._since_cursor(options.since))
            if cursor is None:
                return
            self.position = Position(cursor)
            self.state.save(self.position)
        self._seen = self.position.cursor

    def _since_cursor(self, since: str | int | timedelta) -> int:
        if since == "now":
            newest = self.api.newest(1)
            return newest[0]["id"] if newest else 0
        if isinstance(since, int):
            return since - 1
        assert isinstance(since, timedelta)
        cutoff = datetime.now(UTC) - since
        before = None
        while True:
            page = self.api.newest(500, before)
            for row in page:
                received = datetime.fromisoformat(row["received_at"].replace("Z", "+00:00"))
                if received < cutoff:
                    return row["id"]
            if len(page) < 500:
                return 0
            before = page[-1]["id"]

    def _call_until_up(self, call: Any) -> Any:
        """``call()``, waiting out a webbin that is not reachable; None if stopped. A bin
        that does not exist stops the forwarder."""
        delay = 0.5
        while not self.stopping.is_set():
            try:
                return call()
            except transport.ServerError as error:
                if error.status == 404:
                    self.stop(
                        f"no bin {self.options.server.bin_id!r} at {self.options.server.base}"
                    )
                    return None
                problem = str(error)
            except (OSError, ValueError) as error:
                problem = f"{type(error).__name__}: {error}"
            self.output.note(
                "waiting",
                f"webbin is not answering ({problem}); trying again in {delay:g} s",
                style="yellow",
            )
            self.stopping.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX_BACKOFF)
        return None

    # --- the reader --------------------------------------------------------------------------

    def _stream_url(self) -> str:
        query = {"after": self._seen, "name": self.options.name, "target": self.options.target}
        if self.options.reply:
            query["reply"] = self.options.reply
        return self.api.stream_url(urlencode(query))

    def _read(self) -> None:
        delay = 0.5
        dropped_at: float | None = None
        first = True
        while not self.stopping.is_set():
            problem = "the server closed the connection"
            try:
                with transport.follow(self._stream_url()) as ws:
                    self._ws = ws
                    if self.stopping.is_set():
                        return
                    hello = json.loads(ws.recv(timeout=15))
                    delay = 0.5
                    self._connected(hello, first, dropped_at)
                    first, dropped_at = False, None
                    for message in ws:
                        self._received(json.loads(message))
            except transport.Refused as error:
                self.stop(f"{error}: check the bin URL")
                return
            except transport.ConnectionClosed as error:
                code, reason = transport.close_reason(error)
                if code == 4404:
                    self.stop(f"the bin {self.options.server.dashboard_url} no longer exists")
                    return
                if code == 4400:
                    self.stop(f"the server refused this forwarder: {reason}")
                    return
                problem = reason
            except (OSError, TimeoutError, transport.InvalidHandshake, ValueError) as error:
                problem = str(error) or type(error).__name__
            except transport.Busy as error:
                problem = str(error)
            finally:
                self._ws = None
            if self.stopping.is_set():
                return
            if dropped_at is None:
                dropped_at = time.monotonic()
                self.output.note(
                    "disconnected",
                    f"connection to webbin lost ({problem}); reconnecting…",
                    style="bold yellow",
                    reason=problem,
                )
            self.stopping.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX_BACKOFF)

    def _connected(self, hello: dict[str, Any], first: bool, dropped_at: float | None) -> None:
        backlog = int(hello.get("backlog", 0))
        if first:
            self.output.note(
                "connected",
                f"forwarding {self.options.server.dashboard_url} to {self.options.target} "
                f"as {self.options.name}"
                + (f"; {backlog} waiting since the last one forwarded" if backlog else ""),
                style="bold green",
                backlog=backlog,
            )
            return
        away = f" after {time.monotonic() - dropped_at:.0f} s" if dropped_at else ""
        self.output.note(
            "reconnected",
            f"reconnected{away}; caught up with {backlog} request"
            f"{'s' if backlog != 1 else ''} captured meanwhile",
            style="bold green",
            backlog=backlog,
        )

    def _received(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "request":
            request = message["request"]
            request_id = int(request["id"])
            if request_id <= self._seen:
                return  # never twice, whatever the network did
            self._seen = request_id
            with self._lock:
                self._pending.append(request_id)
                if request_id in self.position.done:  # forwarded before a restart
                    self._advance()
                    return
            while not self.stopping.is_set():
                try:
                    self.arrivals.put(request, timeout=0.5)
                    return
                except queue.Full:
                    continue
        elif kind == "resend":
            self.resends.put((int(message["job"]), message["request"]))

    # --- deliveries --------------------------------------------------------------------------

    def _work(self) -> None:
        while not self.stopping.is_set():
            try:
                request = self.arrivals.get(timeout=0.2)
            except queue.Empty:
                continue
            self._deliver(request)

    def _deliver(self, summary: dict[str, Any]) -> None:
        request_id = summary["id"]
        if not self._wanted(summary):
            self._done(request_id)
            return
        detail = self._call_until_up(lambda: self.api.request(request_id))
        if self.stopping.is_set():
            return
        if detail is None:
            self.output.note(
                "deleted", f"request id {request_id} was deleted before it was forwarded"
            )
            self._done(request_id)
            return
        outgoing = self._outgoing(detail)
        provider, event_type = describe(detail)
        delay = 1.0
        while True:
            self._inflight(request_id, True)
            answer = transport.send(outgoing, self.options.timeout, self.options.insecure)
            if answer.answered or self.options.on_failure == "skip":
                break
            self._inflight(request_id, False)
            self.output.delivery(
                "forward", summary, outgoing.url, answer, provider, event_type, retrying_in=delay
            )
            if self.stopping.wait(delay):
                return  # not delivered: the next start sends it
            delay = min(delay * 2, MAX_BACKOFF)
        self._done(request_id)
        self.output.delivery("forward", summary, outgoing.url, answer, provider, event_type)
        report = {
            "forwarder": self.options.name,
            "url": outgoing.url,
            **transport.report_body(answer),
            "reply": bool(self.options.reply),
        }
        self.reports.put((request_id, report))

    def _wanted(self, summary: dict[str, Any]) -> bool:
        """The --method and --path filters; what they leave out is passed over for good."""
        methods, paths = self.options.methods, self.options.paths
        if methods and summary["method"].upper() not in methods:
            return False
        return not paths or any(fnmatch.fnmatchcase(summary["path"], p) for p in paths)

    def _outgoing(self, detail: dict[str, Any]) -> transport.Outgoing:
        url = target_url(
            self.options.target, detail["path"], detail["query_string"], self.options.path_prefixes
        )
        headers = transport.outgoing_headers(
            detail["headers"], urlsplit(url).netloc, self.options.keep_host, detail["body"]
        )
        return transport.Outgoing(detail["method"], url, headers, detail["body"])

    def _inflight(self, request_id: int, sending: bool) -> None:
        with self._lock:
            if sending:
                self.position.inflight.add(request_id)
            else:
                self.position.inflight.discard(request_id)
            self.state.save(self.position)

    def _done(self, request_id: int) -> None:
        """Note the request done, move the cursor over every done id at the front, save."""
        with self._lock:
            self.position.inflight.discard(request_id)
            self.position.done.add(request_id)
            self._advance()
            self.state.save(self.position)

    def _advance(self) -> None:
        """The cursor moves over the done ids at the front of the pending ones (the lock is
        held)."""
        position = self.position
        while self._pending and self._pending[0] in position.done:
            position.cursor = max(position.cursor, self._pending.pop(0))
            position.done.discard(position.cursor)
        position.done = {i for i in position.done if i > position.cursor}

    # --- resends the dashboard asks for -------------------------------------------------------

    def _resend(self) -> None:
        while not self.stopping.is_set():
            try:
                job, summary = self.resends.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                detail = self.api.request(summary["id"])
            except (OSError, ValueError, transport.ServerError) as error:
                self.output.note("error", f"could not read request id {summary['id']}: {error}")
                continue
            if detail is None:
                continue
            outgoing = self._outgoing(detail)
            answer = transport.send(outgoing, self.options.timeout, self.options.insecure)
            provider, event_type = describe(detail)
            self.output.delivery("resend", summary, outgoing.url, answer, provider, event_type)
            report = {
                "forwarder": self.options.name,
                "url": outgoing.url,
                **transport.report_body(answer),
                "job": job,
            }
            self.reports.put((summary["id"], report))

    # --- outcomes to webbin ------------------------------------------------------------------

    def _report(self) -> None:
        while True:
            try:
                request_id, report = self.reports.get(timeout=0.2)
            except queue.Empty:
                if self.stopping.is_set():
                    return
                continue
            delay = 0.5
            while True:
                try:
                    self.api.report(request_id, report)
                    break
                except transport.ServerError as error:
                    if error.status != 503:  # 404: the request is gone; 400: never accepted
                        if error.status != 404:
                            self.output.note("error", f"webbin refused an outcome: {error}")
                        break
                except (OSError, ValueError):
                    pass
                if self.stopping.wait(delay):
                    return  # unreported outcomes are lost with the process (docs say so)
                delay = min(delay * 2, RECONNECT_MAX_BACKOFF)
