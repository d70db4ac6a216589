"""CORS for capture URLs, so that a web page's ``fetch`` can deliver to a bin and read the answer.

A browser sends a cross-origin request with a JSON body or a custom header only after a
preflight (``OPTIONS`` with ``Access-Control-Request-Method``) was answered with permission,
and it lets the page read an answer only when that answer carries
``Access-Control-Allow-Origin``. A bin with its ``cors`` setting on (the default) therefore
answers every preflight 204, allowing the requested method and echoing the requested headers
(``Authorization`` and friends are not covered by a wildcard), and adds
``Access-Control-Allow-Origin: *`` and ``Access-Control-Expose-Headers: *`` to its other
answers. The preflight itself is still captured and listed like any other request.

Never with credentials: ``*`` forbids them, so a page can send cookies nowhere through this,
and capture URLs have no session anyway (:class:`webbin.capture.endpoint.NoSessionOnCapture`).
What a page can read is what any client holding the capture URL gets back already.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFLIGHT_STATUS = 204

# RFC 9110 tokens: a method name, a header name.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
# The header names a preflight may ask for, as one comma-separated list (bounded: it is
# echoed back, and gunicorn refuses over-long header lines anyway).
_TOKEN_LIST = re.compile(r"[ \t]*(?:[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}[ \t]*(?:,[ \t]*|$))+")
MAX_REQUESTED_HEADERS = 4096

# On every answer of a bin with CORS on. The wildcard exposes the custom response's own
# headers too; without credentials a browser honours it.
ANSWER_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "*"),
)


@dataclass(frozen=True)
class Preflight:
    """What a capture URL answers to a browser's preflight: 204 and these headers."""

    headers: tuple[tuple[str, str], ...]
    status: int = PREFLIGHT_STATUS


def _first(headers: list[list[str]], name: str) -> str | None:
    lowered = name.lower()
    return next((value for n, value in headers if n.lower() == lowered), None)


def preflight(method: str, headers: list[list[str]]) -> Preflight | None:
    """The answer to ``method`` and ``headers`` if they are a CORS preflight, else None.

    The requested method is allowed as it was asked for (a capture URL takes every method);
    the requested headers are echoed when they are a list of header names, and left out
    otherwise, so a malformed list makes the browser refuse instead of webbin sending it back.
    """
    if method.upper() != "OPTIONS":
        return None
    requested = _first(headers, "Access-Control-Request-Method")
    if requested is None:
        return None
    answer: list[tuple[str, str]] = [("Access-Control-Allow-Origin", "*")]
    requested = requested.strip()
    if _TOKEN.fullmatch(requested):
        answer.append(("Access-Control-Allow-Methods", requested))
    asked = (_first(headers, "Access-Control-Request-Headers") or "").strip()
    if asked and len(asked) <= MAX_REQUESTED_HEADERS and _TOKEN_LIST.fullmatch(asked):
        answer.append(("Access-Control-Allow-Headers", asked))
    # Chromium asks before a public page may reach a private address (a webbin on a laptop).
    if (_first(headers, "Access-Control-Request-Private-Network") or "").strip() == "true":
        answer.append(("Access-Control-Allow-Private-Network", "true"))
    answer.append(("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers"))
    return Preflight(tuple(answer))
