"""Downloads of captured bytes: exact, and inert in a browser."""

from __future__ import annotations

from io import BytesIO

from flask import Response, send_file


def raw_download(data: bytes, filename: str) -> Response:
    """Exact bytes as an attachment that a browser can neither sniff nor run."""
    response = send_file(
        BytesIO(data),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=filename,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
