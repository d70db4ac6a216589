"""CSRF protection for the dashboard's state-changing forms and htmx requests.

A per-session random token goes into each page (a meta tag and hidden form fields); htmx
sends it back in ``X-CSRF-Token`` and plain forms in ``csrf_token``. The JSON API needs none:
it uses no cookies, so a cross-site page gains nothing by making a browser call it.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Blueprint, Flask, abort, request, session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    token = session.get("csrf")
    if token is None:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def protect(bp: Blueprint) -> None:
    """Require the session's token on every unsafe request to ``bp``'s routes."""
    bp.before_request(_check)


def _check() -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    expected = session.get("csrf")
    if expected is None or not hmac.compare_digest(sent, expected):
        abort(
            403,
            description="This form has expired or came from another site. "
            "Reload the page and try again.",
        )


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csrf_token"] = csrf_token
