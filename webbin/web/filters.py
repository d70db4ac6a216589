"""Jinja filters for the dashboard. They return plain strings: autoescaping still applies."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from webbin.web.serialize import rfc3339


def filesize(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


def duration(delta: timedelta) -> str:
    """A short human span: "+5 min", "+2 h", "+3 d"."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"+{seconds} s"
    if seconds < 3600:
        return f"+{seconds // 60} min"
    if seconds < 86400:
        return f"+{seconds // 3600} h"
    return f"+{seconds // 86400} d"


def decode_preview(data: bytes) -> str:
    """Response bodies of a resend, shown as text; undecodable bytes become U+FFFD."""
    return data.decode("utf-8", errors="replace")


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        rfc3339=rfc3339, filesize=filesize, decode_preview=decode_preview, duration=duration
    )
