"""Defences against hostile traffic, wired in one place (see SECURITY.md for the whole model).

Each concern has its own module; this only registers them on the app, in this order:
the profile and outbound policy first (so bad settings fail at start), then response
headers, 503s for database trouble, the resend-loop check, rate limits, viewer limits, and
redaction of the app's log. Pruning runs from the server (webbin.server) and `webbin prune`.
"""

from __future__ import annotations

from flask import Flask

from . import loopguard, profiles, ratelimit, security, unavailable, viewers
from .accesslog import RedactingFilter


def init_app(app: Flask) -> None:
    profiles.init_app(app)
    security.init_app(app)
    unavailable.init_app(app)
    loopguard.init_app(app)
    ratelimit.init_app(app)
    viewers.init_app(app)
    if not any(isinstance(f, RedactingFilter) for f in app.logger.filters):
        app.logger.addFilter(RedactingFilter())
