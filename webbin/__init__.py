"""webbin: a self-hosted webhook inspector.

``create_app`` is the composition root: it wires every layer onto one Flask app. The layers,
lowest first (each may import only those below it; ``.importlinter`` enforces it):

* ``config``, ``resources``, ``proxies``, ``ratelimit``, ``metrics``: settings and shared
  helpers;
* ``storage``: tables, reads and deletes, retention, migrations;
* ``receiver`` and ``live``: what to answer and what a delivery's verdict is; live fan-out;
* ``outbound``: the only code that makes HTTP requests (resend);
* ``capture``: the capture endpoint, walking capture -> receiver -> storage -> live;
* ``web``: dashboard, API, OpenAPI;
* ``serving`` and ``cli``: gunicorn and the ``webbin`` command.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from webbin.resources import resource_dir


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ``WEBBIN_*`` environment variables, then ``config``."""
    from webbin import config as settings
    from webbin import metrics, ratelimit
    from webbin.capture import endpoint as capture
    from webbin.live import broker, forwarders, stream, viewers
    from webbin.outbound import policy
    from webbin.serving.accesslog import RedactingFilter
    from webbin.storage import instance, migrations
    from webbin.storage.models import db
    from webbin.web import (
        api,
        csrf,
        dashboard,
        errors,
        exports,
        filters,
        health,
        replays,
        security,
        unavailable,
    )

    app = Flask(
        __name__,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    settings.load(app, config)

    db.init_app(app)
    migrations.init_app(app)
    # First of the request hooks, so its after_request hook sees every final status.
    metrics.init_app(app, capture_endpoint="capture.capture")
    # The outbound policy first, so bad settings fail at start.
    policy.init_app(app)
    broker.init_app(app, app.config.get("BROKER"))
    stream.init_app(app)
    forwarders.init_app(app)
    csrf.init_app(app)
    filters.init_app(app)
    errors.init_app(app)
    # Defences against hostile traffic (SECURITY.md): response headers, 503 for database
    # trouble, rate limits, viewer limits, a log without capabilities (capture checks resend
    # loops and its own rate limits itself).
    security.init_app(app)
    unavailable.init_app(app)
    ratelimit.init_app(app)
    viewers.init_app(app)
    if not any(isinstance(f, RedactingFilter) for f in app.logger.filters):
        app.logger.addFilter(RedactingFilter())

    app.register_blueprint(capture.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(health.bp)
    for blueprint in (exports.api, exports.pages, replays.api, replays.pages):
        app.register_blueprint(blueprint)

    # The schema comes from the migrations only; `webbin serve` applies them once before
    # its workers start and turns this off for them.
    if app.config["MIGRATE_ON_START"]:
        migrations.upgrade(app)
    # A server database's hosts share one session key; `webbin serve` reads it once in its
    # master and hands it to the workers, so this only runs outside it.
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = instance.shared_secret(app)
    return app
