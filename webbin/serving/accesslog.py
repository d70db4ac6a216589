"""Logs without secrets: capability URLs and query strings never reach a log line.

A capture URL (``/c/<token>``) lets anyone write into a bin and a bin id (``/bins/<id>``,
``/api/bins/<id>``) lets anyone read it, and query strings of webhooks often carry tokens
too. Whoever can read the server's logs must not learn any of them, so the access log shows
``/c/~1a2b3c4d/hook?…``: a short, irreversible fingerprint (enough to tell bins apart while
debugging) and no query. The same redaction filters gunicorn's error log and the app's log.

Successful answers to health checks and metric scrapes are not logged at all: a load
balancer asks every few seconds, and those lines would bury the rest. A failing one is.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

from gunicorn.glogging import Logger

# A capability segment: what follows /c/ or /bins/ (the API's /api/bins/ included).
_CAPABILITY = re.compile(r"(/c/|/bins/)([A-Za-z0-9_-]{6,})")
# A path followed by a query, inside a longer message (gunicorn quotes request lines).
_PATH_QUERY = re.compile(r"(/[^\s'\"?]*)\?[^\s'\"]+")
# Health checks and metric scrapes (webbin.web.health): their successes are not logged. Kept
# here, not imported from there: gunicorn loads this logger in its master, which must not
# import the app's modules (Redis's client imports ssl, which gevent then cannot patch).
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Request headers whose values are secrets whatever they look like.
_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-csrf-token"})
# Environ entries that hold the request target with its query.
_RAW_TARGET = frozenset({"raw_uri", "request_uri", "query_string"})


def fingerprint(secret: str) -> str:
    return "~" + hashlib.sha256(secret.encode()).hexdigest()[:8]


def redact(text: str) -> str:
    """Replace every capability in ``text`` (a path, a log message) by its fingerprint."""
    return _CAPABILITY.sub(lambda m: m.group(1) + fingerprint(m.group(2)), text)


def redact_message(text: str) -> str:
    """A free-form log message: capabilities fingerprinted, query strings of paths cut."""
    return _PATH_QUERY.sub(lambda m: m.group(1) + "?…", redact(text))


def redact_target(target: str) -> str:
    """A request target for the log: capabilities fingerprinted, the query left out."""
    path, question, _query = target.partition("?")
    return redact(path) + ("?…" if question else "")


class RedactingFilter(logging.Filter):
    """Redacts a record's message and traceback text before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_message(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_message(record.exc_text)
        return True


class RedactingLogger(Logger):
    """gunicorn's logger, with the access log's request line and referrer redacted.

    gunicorn builds every atom of every request (one per header and per environ entry,
    each then checked for secrets) before formatting a line that uses nine of them; that
    was about a tenth of a capture's time. :class:`LazyAtoms` works out only the atoms the
    format asks for.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not any(isinstance(f, RedactingFilter) for f in self.error_log.filters):
            self.error_log.addFilter(RedactingFilter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        if environ.get("PATH_INFO") in QUIET_PATHS and (resp.status_code or 500) < 400:
            return
        try:
            atoms = LazyAtoms(self, resp, req, environ, request_time)
            self.access_log.info(self.cfg.access_log_format, atoms)
        except Exception:
            self.error(traceback.format_exc())


class LazyAtoms(Mapping[str, Any]):
    """The access log's atoms (gunicorn's names and meanings), each worked out when the
    format asks for it, redacted as :func:`redact` and :func:`redact_target` say, with
    quotes escaped and "-" for anything unknown, as gunicorn's ``SafeAtoms`` does."""

    def __init__(
        self, logger: Logger, resp: Any, req: Any, environ: dict[str, Any], request_time: Any
    ) -> None:
        self.logger, self.resp, self.req, self.environ = logger, resp, req, environ
        self.request_time = request_time

    def __getitem__(self, key: str) -> Any:
        value = self._value(key)
        return value.replace('"', '\\"') if isinstance(value, str) else value

    def __iter__(self) -> Iterator[str]:
        return iter(_SIMPLE_ATOMS)

    def __len__(self) -> int:
        return len(_SIMPLE_ATOMS)

    def _value(self, key: str) -> Any:
        environ, time_taken = self.environ, self.request_time
        if key.startswith("{") and key[-2:] in ("}i", "}o", "}e"):
            name, kind = key[1:-2].lower(), key[-1]
            if kind == "o":
                return _last(self.resp.headers, name)
            if name in _SECRET_HEADERS or name.startswith("http_") or name in _RAW_TARGET:
                return "-"
            if kind == "i":
                value = _last(getattr(self.req, "headers", self.req), name)
            else:
                value = next((v for k, v in environ.items() if k.lower() == name), "-")
            return redact(str(value))
        match key:
            case "h":
                return environ.get("REMOTE_ADDR", "-")
            case "u":
                return self.logger._get_user(environ) or "-"
            case "t":
                return _clf_now()
            case "r":
                method, protocol = environ["REQUEST_METHOD"], environ["SERVER_PROTOCOL"]
                return f"{method} {redact_target(str(environ.get('RAW_URI') or ''))} {protocol}"
            case "s":
                status = self.resp.status
                return status.split(None, 1)[0] if isinstance(status, str) else status
            case "m":
                return environ.get("REQUEST_METHOD")
            case "U":
                return redact(str(environ.get("PATH_INFO") or ""))
            case "q":
                return "…" if environ.get("QUERY_STRING") else ""
            case "H":
                return environ.get("SERVER_PROTOCOL")
            case "b":
                sent = getattr(self.resp, "sent", None)
                return str(sent) if sent else "-"
            case "B":
                return getattr(self.resp, "sent", None)
            case "f":
                return redact_target(str(environ.get("HTTP_REFERER", "-")))
            case "a":
                return environ.get("HTTP_USER_AGENT", "-")
            case "T":
                return time_taken.seconds
            case "D":
                return time_taken.seconds * 1_000_000 + time_taken.microseconds
            case "M":
                return time_taken.seconds * 1000 + time_taken.microseconds // 1000
            case "L":
                return f"{time_taken.seconds}.{time_taken.microseconds:06d}"
            case "p":
                return f"<{os.getpid()}>"
        return "-"


_SIMPLE_ATOMS = tuple("hlutrsmUqHbBfaTDMLp")


def _last(headers: Any, name: str) -> Any:
    """The last value of header ``name`` (gunicorn's atoms keep the last of repeats)."""
    pairs = headers.items() if hasattr(headers, "items") else headers
    found = "-"
    for key, value in pairs:
        if key.lower() == name:
            found = value
    return found


_clock: list[Any] = [None, ""]


def _clf_now() -> str:
    """The time in Apache's Common Log Format, formatted once per second."""
    second = int(time.time())
    if _clock[0] != second:
        _clock[:] = [second, time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(second))]
    return _clock[1]
