"""Serving webbin with gunicorn's gevent worker, which holds many idle live viewers cheaply.

Two gunicorn-specific pieces make capture exact:

* ``pre_request`` runs in the request's own greenlet before gunicorn builds the WSGI environ,
  and sees the headers as an ordered list with repeats kept (the environ joins repeats and
  drops names containing ``_``). ``RawHeaders`` moves that list into the environ.
* settings that let every method and header through (lower-case and unusual methods,
  underscores in names) instead of gunicorn refusing or dropping them.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

from gunicorn.app.base import BaseApplication

from webbin.outbound.policy import for_bind_host

# Greenlet-local once gevent has patched threading (it has, in a gevent worker).
_pending = threading.local()


def pre_request(_worker: Any, req: Any) -> None:
    _pending.headers = list(req.headers)


class RawHeaders:
    """WSGI middleware that hands the server's parsed header list to the app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        headers = getattr(_pending, "headers", None)
        _pending.headers = None
        if headers is not None:
            environ["webbin.raw_headers"] = headers
        return self.app(environ, start_response)


class WebbinServer(BaseApplication):
    def __init__(self, options: dict[str, Any], app_config: dict[str, Any] | None = None) -> None:
        self.options = options
        self.app_config = app_config
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Built here, inside the worker, after gevent has patched the standard library.
        from webbin import create_app
        from webbin.live.broker import get_broker
        from webbin.storage.retention import start as start_pruning

        app = create_app(self.app_config)
        app.wsgi_app = RawHeaders(app.wsgi_app)
        # Retention limits, enforced off the capture path; viewers of a deleted bin are told.
        start_pruning(app, get_broker(app).publish)
        return app


def options(host: str, port: int, workers: int = 1) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        # gunicorn's gevent worker, answering its size-limit refusals in webbin's JSON shape.
        "worker_class": "webbin.serving.worker.Worker",
        "workers": workers,
        "worker_connections": 2000,
        "pre_request": pre_request,
        # Capture what providers send, not what gunicorn thinks is tidy.
        "permit_unconventional_http_method": True,
        "casefold_http_method": False,
        "header_map": "dangerous",
        # Open WebSockets would otherwise hold a restart for 30 s.
        "graceful_timeout": 3,
        "timeout": 60,
        "accesslog": "-",
        # Capture tokens, bin ids and query strings never reach the logs.
        "logger_class": "webbin.serving.accesslog.RedactingLogger",
        # Bounded request heads: 431 past these header limits, 414 past the request line.
        "limit_request_fields": int(setting("MAX_HEADER_FIELDS")),
        "limit_request_field_size": int(setting("MAX_HEADER_FIELD_BYTES")),
        "limit_request_line": int(setting("MAX_REQUEST_LINE_BYTES")),
        # Only configured proxies may set the scheme (X-Forwarded-Proto); none by default.
        "forwarded_allow_ips": str(setting("TRUSTED_PROXIES")),
    }


def setting(name: str) -> Any:
    """A setting the server needs before any app exists: ``WEBBIN_<name>`` or its default."""
    from webbin.config import DEFAULTS

    raw = os.environ.get(f"WEBBIN_{name}")
    if raw is None:
        return DEFAULTS[name]
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def serve(host: str, port: int, workers: int = 1, app_config: dict[str, Any] | None = None) -> None:
    # Unless told otherwise: a loopback server is a local tool, anything else faces strangers.
    os.environ.setdefault("WEBBIN_PROFILE", for_bind_host(host))
    migrate_before_forking(app_config)
    worker_config = {**(app_config or {}), "MIGRATE_ON_START": False}
    WebbinServer(options(host, port, workers), worker_config).run()


def migrate_before_forking(app_config: dict[str, Any] | None) -> None:
    """Schema work once, here in the master before any worker exists (workers migrating a
    fresh database at once race and fail to boot); the workers then skip it. With
    MIGRATE_ON_START off, only a check that nothing is pending."""
    from webbin.storage import migrations

    app = migrations.standalone_app(app_config)
    try:
        if app.config["MIGRATE_ON_START"]:
            print(f"webbin: {migrations.upgrade(app).describe()}", file=sys.stderr, flush=True)
        else:
            migrations.require_latest(app)
    except migrations.SchemaError as exc:
        raise SystemExit(f"webbin: {exc}") from None
