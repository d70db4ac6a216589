"""Jinja filters for the dashboard. They return plain strings: autoescaping still applies."""

from __future__ import annotations

from flask import Flask

from .records import rfc3339


def filesize(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


def decode_preview(data: bytes) -> str:
    """Response bodies of a resend, shown as text; undecodable bytes become U+FFFD."""
    return data.decode("utf-8", errors="replace")


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(rfc3339=rfc3339, filesize=filesize, decode_preview=decode_preview)
