"""Every network exchange of ``webbin forward``: the webbin API, its WebSocket, the target.

Kept in one module so it is easy to see that the forwarder talks to exactly two places,
both named by the user: the webbin server of the bin URL, and the ``--to`` target. No proxy
from the environment is used for either (a proxy would be a third place), and nothing is
fetched from anywhere else.

The forwarder is a client on the developer's machine, not part of the server: webbin's own
outbound module (:mod:`webbin.outbound.client`) and its address policy do not apply here,
since sending to the developer's localhost is the whole point.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

USER_AGENT = "webbin-forward"
# RFC 9110 section 7.6.1 connection-specific fields, plus the ones the new request
# recomputes (Content-Length) or sets for its own connection (Host, unless --keep-host).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
# Bytes of the target's answer kept and reported (the server keeps its own maximum).
MAX_ANSWER_BYTES = 1024 * 1024


class ServerError(Exception):
    """webbin answered something other than what the forwarder asked for."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Server:
    """Where the bin lives: the server's base URL (scheme, host, port, any path prefix) and
    the bin id."""

    base: str
    bin_id: str

    @property
    def dashboard_url(self) -> str:
        return f"{self.base}/bins/{self.bin_id}"


class Api:
    """The webbin server's JSON API, one keep-alive connection per thread."""

    def __init__(self, server: Server, timeout: float = 30.0) -> None:
        self.server = server
        self.timeout = timeout
        self._parts = urlsplit(server.base)
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            host, port = self._parts.hostname or "", self._parts.port
            if self._parts.scheme == "https":
                conn = http.client.HTTPSConnection(host, port, timeout=self.timeout)
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """One exchange; a dropped keep-alive connection is retried once on a new one."""
        url = self._parts.path.rstrip("/") + f"/api/bins/{quote(self.server.bin_id)}{path}"
        data = None if body is None else json.dumps(body).encode()
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, url, body=data, headers=headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _json(self, method: str, path: str, body: Any = None, ok: int = 200) -> Any:
        status, data = self._call(method, path, body)
        if status != ok:
            try:
                message = json.loads(data)["message"]
            except (ValueError, KeyError, TypeError):
                message = data[:200].decode("utf-8", "replace")
            raise ServerError(status, f"webbin answered {status}: {message}")
        return json.loads(data)

    def bin(self) -> dict[str, Any]:
        return self._json("GET", "")

    def newest(self, limit: int = 1, before: int | None = None) -> list[dict[str, Any]]:
        """The bin's requests, newest first (a page of the list)."""
        query = f"?limit={limit}" + (f"&before={before}" if before else "")
        return self._json("GET", f"/requests{query}")["requests"]

    def request(self, request_id: int) -> dict[str, Any] | None:
        """A request with its headers and exact body (``body`` as bytes); None if deleted."""
        try:
            detail = self._json("GET", f"/requests/{request_id}")
        except ServerError as error:
            if error.status == 404:
                return None
            raise
        detail["body"] = base64.b64decode(detail.pop("body_base64"))
        return detail

    def report(self, request_id: int, outcome: dict[str, Any]) -> None:
        """Tell webbin what the target answered (shown on the request); 404: it is gone."""
        self._json("POST", f"/requests/{request_id}/forwards", outcome, ok=201)

    def stream_url(self, query: str) -> str:
        scheme = "wss" if self._parts.scheme == "https" else "ws"
        path = self._parts.path.rstrip("/") + f"/api/bins/{quote(self.server.bin_id)}/forward"
        return f"{scheme}://{self._parts.netloc}{path}?{query}"


# --- the WebSocket ---------------------------------------------------------------------------


class Refused(Exception):
    """The server will not take this forwarder as it is (no such bin, a bad name): retrying
    the same connection cannot help."""


class Busy(Exception):
    """The server refused for now (too many viewers of the bin): retry later."""


@contextmanager
def follow(url: str) -> Iterator[ClientConnection]:
    """An open forwarder WebSocket; :class:`Refused` or :class:`Busy` for the server's no,
    OSError (and websockets' errors) for a network that is not there."""
    try:
        ws = ws_connect(
            url,
            proxy=None,
            user_agent_header=USER_AGENT,
            open_timeout=15,
            ping_interval=20,
            ping_timeout=30,
            close_timeout=2,
            max_size=4 * 1024 * 1024,
        )
    except InvalidStatus as error:
        status = error.response.status_code
        if status == 429:
            raise Busy("the bin already has as many live viewers as the server allows") from None
        if status in (400, 403, 404):
            raise Refused(f"the server refused the stream ({status})") from None
        raise
    with ws:
        yield ws


def close_reason(error: ConnectionClosed) -> tuple[int | None, str]:
    received = error.rcvd
    if received is None:
        return None, "the connection dropped"
    return received.code, received.reason or f"closed with code {received.code}"


# --- the target ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One request for the target, ready to write."""

    method: str
    url: str  # absolute: the target as --to named it, plus the captured path and query
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Answer:
    """What the target did: its answer, or why there was none."""

    status: int | None = None
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    truncated: bool = False
    elapsed_ms: float = 0.0
    error: str | None = None
    error_kind: str | None = None

    @property
    def answered(self) -> bool:
        return self.status is not None


def outgoing_headers(
    captured: list[list[str]], host: str, keep_host: bool, body: bytes
) -> list[tuple[str, str]]:
    """The captured headers in order, repeats kept, less the hop-by-hop ones (and those the
    captured ``Connection`` header named); ``Host`` for the target unless ``keep_host``;
    ``Content-Length`` for the exact body."""
    named = {
        token.strip().lower()
        for name, value in captured
        if name.lower() == "connection"
        for token in value.split(",")
    }
    original_host = next((v for n, v in captured if n.lower() == "host"), None)
    headers = [("Host", original_host if keep_host and original_host else host)]
    had_length = False
    for name, value in captured:
        lower = name.lower()
        had_length = had_length or lower in ("content-length", "transfer-encoding")
        if lower in HOP_BY_HOP or lower in named or lower == "host":
            continue
        headers.append((name, value))
    if body or had_length:
        headers.append(("Content-Length", str(len(body))))
    return headers


def send(
    outgoing: Outgoing, timeout: float, insecure: bool, max_answer: int = MAX_ANSWER_BYTES
) -> Answer:
    """Send to the target on a new connection and read its answer (body raw: as the target
    encoded it), within ``timeout`` seconds per step and ``3 * timeout`` in all."""
    parts = urlsplit(outgoing.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    started = time.monotonic()
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=context
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    answer = Answer()
    try:
        conn.putrequest(outgoing.method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in outgoing.headers:
            conn.putheader(name, value)
        conn.endheaders(outgoing.body or None)
        response = conn.getresponse()
        answer.status, answer.reason = response.status, response.reason
        answer.headers = list(response.getheaders())
        answer.body = _read_capped(response, max_answer, started + 3 * timeout)
        answer.truncated = len(answer.body) > max_answer
        answer.body = answer.body[:max_answer]
    except (ValueError, http.client.InvalidURL) as error:
        answer.error, answer.error_kind = f"cannot send this request: {error}", "invalid_request"
    except ssl.SSLError as error:
        answer.error, answer.error_kind = f"TLS failed: {error.reason or error}", "tls"
    except TimeoutError:
        answer.error, answer.error_kind = f"no answer within {timeout:g} s", "timeout"
    except ConnectionRefusedError:
        answer.error, answer.error_kind = "connection refused (is the app running?)", "refused"
    except socket.gaierror as error:
        answer.error, answer.error_kind = f"cannot resolve the host: {error}", "dns"
    except (OSError, http.client.HTTPException) as error:
        answer.error, answer.error_kind = f"{type(error).__name__}: {error}", "other"
    finally:
        conn.close()
        answer.elapsed_ms = (time.monotonic() - started) * 1000
    if answer.error is not None and answer.status is not None:
        # The head came but the body did not finish: still no complete answer.
        answer.status = answer.reason = None
    return answer


def _read_capped(response: http.client.HTTPResponse, limit: int, deadline: float) -> bytes:
    """The body up to ``limit + 1`` bytes (one more says it was cut), by ``deadline``."""
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read1(min(65536, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def report_body(answer: Answer) -> dict[str, Any]:
    """The answer as the server's outcome report takes it."""
    return {
        "status": answer.status,
        "reason": answer.reason[:200] if answer.reason else None,
        "headers": [[name, value] for name, value in answer.headers][:500],
        "body_base64": base64.b64encode(answer.body).decode("ascii"),
        "truncated": answer.truncated,
        "elapsed_ms": round(answer.elapsed_ms, 3),
        "error": answer.error[:2000] if answer.error else None,
        "error_kind": answer.error_kind,
    }


__all__ = [
    "Answer",
    "Api",
    "Busy",
    "ConnectionClosed",
    "InvalidHandshake",
    "Outgoing",
    "Refused",
    "Server",
    "ServerError",
    "close_reason",
    "follow",
    "outgoing_headers",
    "report_body",
    "send",
]
