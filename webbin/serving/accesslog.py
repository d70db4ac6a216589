"""Logs without secrets: capability URLs and query strings never reach a log line.

A capture URL (``/c/<token>``) lets anyone write into a bin and a bin id (``/bins/<id>``,
``/api/bins/<id>``) lets anyone read it, and query strings of webhooks often carry tokens
too. Whoever can read the server's logs must not learn any of them, so the access log shows
``/c/~1a2b3c4d/hook?…``: a short, irreversible fingerprint (enough to tell bins apart while
debugging) and no query. The same redaction filters gunicorn's error log and the app's log.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from gunicorn.glogging import Logger

# A capability segment: what follows /c/ or /bins/ (the API's /api/bins/ included).
_CAPABILITY = re.compile(r"(/c/|/bins/)([A-Za-z0-9_-]{6,})")
# A path followed by a query, inside a longer message (gunicorn quotes request lines).
_PATH_QUERY = re.compile(r"(/[^\s'\"?]*)\?[^\s'\"]+")
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
    """gunicorn's logger, with the access log's request line and referrer redacted."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not any(isinstance(f, RedactingFilter) for f in self.error_log.filters):
            self.error_log.addFilter(RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        target = redact_target(str(environ.get("RAW_URI") or ""))
        atoms["r"] = f"{atoms['m']} {target} {atoms['H']}"
        atoms["U"] = redact(str(atoms["U"] or ""))
        atoms["q"] = "…" if atoms["q"] else ""
        atoms["f"] = redact_target(str(atoms["f"]))
        for key, value in list(atoms.items()):
            if key.startswith("{") and key[-2:] in ("}i", "}e"):
                name = key[1:-2]
                secret = name in _SECRET_HEADERS or name.startswith("http_") or name in _RAW_TARGET
                atoms[key] = "-" if secret else redact(str(value))
        return atoms
