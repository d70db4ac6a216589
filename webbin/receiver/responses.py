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
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator

from webbin.receiver.strict import (
    InvalidInput,
    StrictModel,
    bounded_int,
    invalid,
    text,
    validate,
)

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


def _header_name(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise invalid("must be a header name: 1 to 100 letters, digits or !#$%&'*+.^_`|~-")
    return value


def _line(value: str) -> str:
    """A header value as HTTP allows it (and gunicorn checks it, answering 500 otherwise):
    spaces, tabs and visible Latin-1 characters only, so no CR, LF or other controls."""
    if not _FIELD_VALUE.fullmatch(value):
        raise invalid(
            "must be one line of printable Latin-1 text (no control characters but tab, "
            "nothing beyond U+00FF)"
        )
    return value


def _body(value: str) -> str:
    if len(value.encode("utf-8")) > MAX_BODY:
        raise invalid(f"must be at most {MAX_BODY} bytes as UTF-8")
    return value


def _method(value: str) -> str:
    if not _METHOD.fullmatch(value):
        raise invalid("must be a method name such as POST, or null")
    return value


def _path_glob(value: str) -> str:
    if not value.startswith("/"):
        raise invalid("must be a path glob starting with '/', or null")
    return value


_METHOD = re.compile(r"[A-Za-z]{1,20}")
# RFC 9110's field-value characters: SP, HTAB, VCHAR and obs-text.
_FIELD_VALUE = re.compile(r"[ \t\x21-\x7e\x80-\xff]*")
_LINE_PATTERN = "^[\\t\\u0020-\\u007e\\u0080-\\u00ff]*$"

HeaderName = text(_header_name, json_schema_extra={"pattern": f"^{_TOKEN.pattern}$"})
HeaderValue = text(_line, json_schema_extra={"pattern": _LINE_PATTERN})
Status = bounded_int(100, 599, "HTTP status.")
Delay = bounded_int(0, MAX_DELAY_MS, "Delay before answering, in milliseconds.")
ContentType = text(
    _line,
    min_length=1,
    max_length=200,
    description="Content type (HTML, SVG, XML and scripts are served as text/plain).",
    json_schema_extra={"pattern": _LINE_PATTERN},
)
Body = text(_body, max_length=MAX_BODY, description="Body text.")
Method = text(_method, json_schema_extra={"pattern": f"^{_METHOD.pattern}$"})
PathGlob = text(_path_glob, json_schema_extra={"pattern": "^/[^\\u0000]*$"})
# JSON has no tuples: a header is a two-item array, so the pair itself is validated laxly
# (a list is accepted) while its items stay strict strings.
HeaderPair = Annotated[
    tuple[HeaderName, HeaderValue],
    Field(strict=False, description="One header as [name, value]."),
]


class ResponseSpecModel(StrictModel):
    """One answer a capture URL gives. Every field has a default, so `{}` is a plain 200."""

    model_config = ConfigDict(title="ResponseSpec")

    status: Status = 200
    content_type: ContentType = "application/json"
    headers: list[HeaderPair] = Field(
        default_factory=list,
        description="Extra headers. Set-Cookie, CSP, X-Content-Type-Options and framing "
        "headers (Content-Length, Transfer-Encoding, Connection, ...) are dropped.",
    )
    body: Body = ""
    delay_ms: Delay = 0

    @field_validator("headers", mode="after")
    @classmethod
    def _drop_forbidden(cls, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(name, value) for name, value in headers if name.lower() not in _FORBIDDEN]

    def spec(self) -> ResponseSpec:
        return ResponseSpec(
            self.status, self.content_type, tuple(self.headers), self.body, self.delay_ms
        )


class RuleModel(StrictModel):
    """Answer `response` to requests with this method and path; the first match wins."""

    model_config = ConfigDict(title="ResponseRule")

    method: Method | None = Field(default=None, description="Method such as POST, or null for any.")
    path: PathGlob | None = Field(
        default=None, description="Path glob such as /stripe/*, or null for any."
    )
    response: ResponseSpecModel


class ResponseSettingsModel(StrictModel):
    """A bin's custom responses; `{}` (or null) means webbin's usual 200."""

    model_config = ConfigDict(title="ResponseSettings")

    default: ResponseSpecModel | None = Field(
        default=None, description="The answer when no rule matches; null for webbin's usual 200."
    )
    rules: Annotated[list[RuleModel], Field(max_length=MAX_RULES)] | None = Field(
        default_factory=list, description="Rules by method and path, tried in order."
    )

    def settings(self) -> ResponseSettings:
        # An empty default object ({}) counts as no default, as it always has.
        default = self.default.spec() if self.default and self.default.model_fields_set else None
        rules = tuple(Rule(r.method, r.path, r.response.spec()) for r in self.rules or ())
        return ResponseSettings(default, rules)


def parse(data: Any) -> ResponseSettings:
    """The custom responses stored for a bin; null or `{}` is none.

    Runs on every capture, so it never raises: settings stored by an older release that
    no longer validate (a header value gunicorn would refuse to send, say) count as no
    custom response, which is what their sender would otherwise get as a 500.
    """
    try:
        return validate(ResponseSettingsModel, data or {}).settings()
    except InvalidInput:
        return ResponseSettings()


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
