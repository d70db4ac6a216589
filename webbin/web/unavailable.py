"""Database trouble is a 503, not a 500: "try again later" is the truth, and the one answer
that makes webhook providers retry.

Capture handles its own failure (it must never acknowledge what it did not store); this
covers every other page and API call. The log gets the error's class and message only:
SQL parameters are hidden engine-wide (``hide_parameters``), so captured bodies, tokens and
secrets never reach it.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, render_template, request
from sqlalchemy import exc

# Errors that mean "the database cannot be reached or is busy", not "webbin has a bug".
UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError, exc.DisconnectionError)
RETRY_AFTER_SECONDS = 5
MESSAGE = "webbin's database is unavailable or busy right now; nothing was changed. Try again."


def handle(error: Exception) -> tuple[Response | str, int, dict[str, str]]:
    current_app.logger.error("database unavailable: %s", type(error).__name__)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path.startswith(("/api/", "/c/")):
        return jsonify(error="service_unavailable", message=MESSAGE), 503, headers
    template = "_error.html" if request.headers.get("HX-Request") == "true" else "error.html"
    page = render_template(template, code=503, name="Service Unavailable", message=MESSAGE)
    return page, 503, headers


def init_app(app: Flask) -> None:
    for error in UNAVAILABLE:
        app.register_error_handler(error, handle)
