"""Custom responses: what a capture URL answers, per bin, optionally by method and path.

The body and headers are chosen by whoever knows the bin id and are served from webbin's own
origin, so they are defused: HTML, SVG and XML go out as ``text/plain``, every answer carries
``nosniff`` and a ``sandbox`` CSP, and headers that could touch webbin's origin (cookies, CSP)
or break framing (lengths, connection) are dropped.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

MAX_DELAY_MS = 30_000
MAX_BODY = 64 * 1024
MAX_RULES = 50

# Headers a custom response may not set.
_FORBIDDEN = frozenset(
    {
        "set-cookie",
        "content-security-policy",
        "content-security-policy-report-only",
        "x-content-type-options",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "trailer",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
_ACTIVE_TYPES = ("html", "svg", "xml", "javascript", "ecmascript", "xsl")

SAFETY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "sandbox; default-src 'none'"),
)


@dataclass(frozen=True)
class ResponseSpec:
    status: int = 200
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    delay_ms: int = 0

    def served_content_type(self) -> str:
        """The content type actually sent: anything a browser would run becomes text."""
        lowered = self.content_type.lower()
        if any(kind in lowered for kind in _ACTIVE_TYPES):
            return "text/plain; charset=utf-8"
        return self.content_type


@dataclass(frozen=True)
class Rule:
    method: str | None  # None matches any method
    path: str | None  # a glob such as "/stripe/*"; None matches any path
    response: ResponseSpec

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method.upper()) and (
            self.path is None or fnmatch.fnmatchcase(path, self.path)
        )


@dataclass(frozen=True)
class ResponseSettings:
    default: ResponseSpec | None = None
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    def choose(self, method: str, path: str) -> ResponseSpec | None:
        """The first matching rule's response, else the bin's default, else None."""
        return next((r.response for r in self.rules if r.matches(method, path)), self.default)


def _spec(data: Any, where: str) -> ResponseSpec:
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be an object.")
    unknown = set(data) - {"status", "content_type", "headers", "body", "delay_ms"}
    if unknown:
        raise ValueError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}.")
    status = data.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"{where}.status must be an integer from 100 to 599.")
    content_type = data.get("content_type", "application/json")
    if (
        not isinstance(content_type, str)
        or not content_type
        or len(content_type) > 200
        or any(c in content_type for c in "\r\n\0")
    ):
        raise ValueError(f"{where}.content_type must be a media type.")
    body = data.get("body", "")
    if not isinstance(body, str) or len(body.encode()) > MAX_BODY:
        raise ValueError(f"{where}.body must be a string of at most {MAX_BODY} bytes.")
    delay = data.get("delay_ms", 0)
    if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= MAX_DELAY_MS:
        raise ValueError(f"{where}.delay_ms must be an integer from 0 to {MAX_DELAY_MS}.")
    headers = []
    for pair in data.get("headers", []):
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(isinstance(p, str) for p in pair)
            or not _TOKEN.fullmatch(pair[0])
            or any(c in pair[1] for c in "\r\n\0")
        ):
            raise ValueError(f"{where}.headers must be a list of [name, value] strings.")
        if pair[0].lower() not in _FORBIDDEN:
            headers.append((pair[0], pair[1]))
    return ResponseSpec(status, content_type, tuple(headers), body, delay)


def parse(data: Any) -> ResponseSettings:
    """Validate the JSON stored per bin (or sent to the API); ValueError says what is wrong."""
    if not data:
        return ResponseSettings()
    if not isinstance(data, dict):
        raise ValueError("response must be an object.")
    unknown = set(data) - {"default", "rules"}
    if unknown:
        raise ValueError(f"response has unknown field(s): {', '.join(sorted(unknown))}.")
    default = _spec(data["default"], "response.default") if data.get("default") else None
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list) or len(raw_rules) > MAX_RULES:
        raise ValueError(f"response.rules must be a list of at most {MAX_RULES} rules.")
    rules = []
    for index, raw in enumerate(raw_rules):
        where = f"response.rules[{index}]"
        if not isinstance(raw, dict) or "response" not in raw:
            raise ValueError(f"{where} must be an object with a 'response'.")
        method, path = raw.get("method"), raw.get("path")
        if method is not None and (not isinstance(method, str) or not method.isalpha()):
            raise ValueError(f"{where}.method must be a method name such as POST, or null.")
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            raise ValueError(f"{where}.path must be a path glob starting with '/', or null.")
        rules.append(Rule(method, path, _spec(raw["response"], f"{where}.response")))
    return ResponseSettings(default, tuple(rules))


def to_dict(settings: ResponseSettings) -> dict[str, Any]:
    def spec(s: ResponseSpec) -> dict[str, Any]:
        return {
            "status": s.status,
            "content_type": s.content_type,
            "headers": [list(h) for h in s.headers],
            "body": s.body,
            "delay_ms": s.delay_ms,
        }

    return {
        "default": spec(settings.default) if settings.default else None,
        "rules": [
            {"method": r.method, "path": r.path, "response": spec(r.response)}
            for r in settings.rules
        ],
    }
