"""A captured request as a ``curl`` command line, to replay it from a terminal.

Everything is quoted for a POSIX shell with :func:`shlex.quote`, so a hostile header or body
stays one inert argument. Headers that curl computes itself (Host, Content-Length, hop-by-hop)
are left out, as a resend leaves them out.
"""

from __future__ import annotations

from shlex import quote

from webbin.outbound.resend import forwarded_headers
from webbin.storage.models import CapturedRequest

# Bodies larger than this are not inlined: the command would be unwieldy to paste.
MAX_INLINE_BODY = 64 * 1024


def curl_command(captured: CapturedRequest, url: str) -> tuple[str, str | None]:
    """(command, note): the note says why the body is not inlined, when it is not."""
    parts = ["curl", "-X", quote(captured.method), quote(url)]
    for name, value in forwarded_headers(captured.headers):
        parts += ["-H", quote(f"{name}: {value}")]
    note = None
    if captured.body:
        try:
            text = captured.body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or "\0" in text:
            parts += ["--data-binary", "@request.bin"]
            note = "The body is binary: download it raw as request.bin next to the command."
        elif len(captured.body) > MAX_INLINE_BODY:
            parts += ["--data-binary", "@request.bin"]
            note = "The body is large: download it raw as request.bin next to the command."
        else:
            parts += ["--data-binary", quote(text)]
    return " ".join(parts), note
