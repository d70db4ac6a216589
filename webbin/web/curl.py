"""A captured request as a ``curl`` command line, to replay it from a terminal.

Everything is quoted for a POSIX shell with :func:`shlex.quote`, so a hostile header or body
stays one inert argument. Headers that curl computes itself (Host, Content-Length, hop-by-hop)
are left out, as a resend leaves them out.

The replay must carry the captured headers and nothing else, so the command also undoes
what curl adds by itself: ``User-Agent`` and ``Accept`` always, ``Content-Type`` and
``Expect`` when it sends a body. A captured header of the same name replaces curl's anyway;
when the captured request had none, ``-H 'Name:'`` tells curl to leave its own out.
"""

from __future__ import annotations

from shlex import quote
from urllib.parse import urlsplit

from webbin.outbound.resend import forwarded_headers
from webbin.storage.models import CapturedRequest

# Bodies larger than this are not inlined: the command would be unwieldy to paste.
MAX_INLINE_BODY = 64 * 1024

# What curl sends unless told otherwise: always, and when it sends a body.
_CURL_ADDS = ("User-Agent", "Accept")
_CURL_ADDS_WITH_BODY = ("Content-Type", "Expect")
# Inline text may hold newlines and tabs; any other control character (a CR included) may be
# altered by a terminal on paste, so such bodies go by file like binary ones.
_PASTE_SAFE_CONTROLS = frozenset("\n\t")


def body_file_name(captured: CapturedRequest) -> str:
    """The name Download raw saves the body under (its Content-Disposition)."""
    return f"request-{captured.seq}.bin"


def curl_command(captured: CapturedRequest, url: str) -> tuple[str, str | None]:
    """(command, note): the note says why the body is not inlined, when it is not."""
    method = captured.method
    body = captured.body
    note = None
    parts = ["curl"]
    if any(c in url for c in "[]{}"):
        parts.append("--globoff")  # else curl reads brackets and braces as URL globs
    if _has_dot_segments(url):
        parts.append("--path-as-is")  # else curl squashes /./ and /../ before sending
    if method == "HEAD":
        # `-X HEAD` makes curl wait for a body the answer to HEAD never has.
        parts.append("--head")
        if body:
            note = "A HEAD request with a body cannot be replayed by curl: the body is left out."
            body = b""
    elif method != ("POST" if body else "GET"):  # what curl picks by itself
        parts += ["-X", quote(method)]
    parts.append(quote(url))

    headers = forwarded_headers(captured.headers)
    for name, value in headers:
        # `-H 'Name:'` would remove the header; `-H 'Name;'` sends it with an empty value.
        parts += ["-H", quote(f"{name}: {value}" if value else f"{name};")]
    present = {name.lower() for name, _ in headers}
    for name in (*_CURL_ADDS, *(_CURL_ADDS_WITH_BODY if body else ())):
        if name.lower() not in present:
            parts += ["-H", quote(f"{name}:")]

    if body:
        text = _inline_text(body)
        if text is None:
            parts += ["--data-binary", quote(f"@{body_file_name(captured)}")]
            reason = (
                "is large"
                if len(body) > MAX_INLINE_BODY
                else "is binary or holds control characters"
            )
            note = (
                f"The body {reason}: download it raw (Download raw saves "
                f"{body_file_name(captured)}) next to where you run the command."
            )
        else:
            # --data-raw, not --data-binary: a body starting with @ is text, not a file name.
            parts += ["--data-raw", quote(text)]
    return " ".join(parts), note


def _inline_text(body: bytes) -> str | None:
    """The body as text to put on the command line, or None when it must go by file."""
    if len(body) > MAX_INLINE_BODY:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any((c < " " or c == "\x7f") and c not in _PASTE_SAFE_CONTROLS for c in text):
        return None
    return text


def _has_dot_segments(url: str) -> bool:
    try:
        path = urlsplit(url).path
    except ValueError:
        return False
    return any(segment in (".", "..") for segment in path.split("/"))
