"""Readable errors: JSON for the API and capture URLs, a page or fragment for the dashboard."""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/c/"))


def handle_http_error(error: HTTPException) -> tuple[Response | str, int]:
    code = error.code or 500
    name = error.name
    message = error.description or name
    if wants_json():
        response = jsonify(error=name.lower().replace(" ", "_"), message=message)
    elif request.headers.get("HX-Request") == "true":
        response = render_template("_error.html", code=code, name=name, message=message)
    else:
        response = render_template("error.html", code=code, name=name, message=message)
    return response, code


def handle_unexpected(error: Exception) -> tuple[Response | str, int]:
    """Log the traceback; show the user a plain 500, never a stack trace."""
    current_app.logger.exception("unhandled error", exc_info=error)
    return handle_http_error(InternalServerError("Something went wrong inside webbin."))


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
