"""webbin: a self-hosted webhook inspector.

``create_app`` wires the pieces together; each lives in its own module:
capture (take requests) -> models (store) -> broker/live (publish) -> dashboard/api (render).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from .resources import resource_dir


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ``WEBBIN_*`` environment variables, then ``config``."""
    from . import api, broker, capture, csrf, dashboard, errors, filters, hardening, live
    from . import config as settings
    from .models import db

    app = Flask(
        __name__,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    settings.load(app, config)

    db.init_app(app)
    broker.init_app(app, app.config.get("BROKER"))
    live.init_app(app)
    csrf.init_app(app)
    filters.init_app(app)
    errors.init_app(app)
    hardening.init_app(app)

    app.register_blueprint(capture.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(dashboard.bp)

    with app.app_context():
        db.create_all()
    return app
