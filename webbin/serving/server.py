"""Serving webbin with gunicorn's gevent worker, which holds many idle live viewers cheaply.

Two gunicorn-specific pieces make capture exact:

* ``pre_request`` runs in the request's own greenlet before gunicorn builds the WSGI environ,
  and sees the headers as an ordered list with repeats kept (the environ joins repeats and
  drops names containing ``_``). ``RawHeaders`` moves that list into the environ.
* settings that let every method and header through (lower-case and unusual methods,
  underscores in names) instead of gunicorn refusing or dropping them.

What must happen once per deployment happens in the master, before any worker forks: the
schema migrations (under a lock, so two hosts starting together take turns, see
:mod:`webbin.storage.migrations`), reading the session key a server database shares
(:mod:`webbin.storage.instance`; the workers get it as their ``SECRET_KEY``), and with
``METRICS`` on a fresh folder for the workers' metric files (:mod:`webbin.metrics`).
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from flask import Flask
from gevent.local import local as greenlet_local
from gunicorn.app.base import BaseApplication

from webbin import config
from webbin.config import Settings
from webbin.outbound.policy import for_bind_host

# The header list on its way from ``pre_request`` to ``RawHeaders``, one per greenlet (each
# connection has its own). gevent's own local, not ``threading.local``: this module is imported
# in the master, before the worker patches threading, so a ``threading.local`` made here would
# be the unpatched one, shared by every greenlet of the worker's single thread. gevent's is
# keyed on the current greenlet whether or not anything was patched (and so is per thread too).
_pending = greenlet_local()


def pre_request(_worker: Any, req: Any) -> None:
    """gunicorn's hook, run in the request's greenlet just before the environ is built."""
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


AppFactory = Callable[[dict[str, Any] | None], Flask]


class WebbinServer(BaseApplication):
    """gunicorn running the app that ``factory`` builds (``webbin.create_app``, handed down by
    the CLI so that serving never imports the composition root above it)."""

    def __init__(
        self,
        options: dict[str, Any],
        factory: AppFactory,
        app_config: dict[str, Any] | None = None,
    ) -> None:
        self.options = options
        self.factory = factory
        self.app_config = app_config
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Built here, inside the worker, after gevent has patched the standard library.
        from webbin.live.broker import get_broker
        from webbin.storage.retention import start as start_pruning

        app = self.factory(self.app_config)
        app.wsgi_app = RawHeaders(app.wsgi_app)
        # Retention limits, enforced off the capture path; viewers of a deleted bin are told.
        start_pruning(app, get_broker(app).publish)
        return app


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn's hook in the master when a worker has exited: its share of the live gauges
    goes (its counters stay)."""
    if os.environ.get(METRICS_DIR_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(_server: Any) -> None:
    """gunicorn's hook as the master stops: the metric files are of no further use."""
    folder = os.environ.get(METRICS_DIR_ENV)
    if folder and os.path.basename(folder).startswith(METRICS_DIR_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)


# prometheus-client's multiprocess folder (see webbin.metrics), made fresh by each serve.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_DIR_PREFIX = "webbin-metrics-"


def prepare_metrics() -> None:
    """Point prometheus-client at a fresh folder, before anything imports it: it picks its
    per-process storage on import, and the workers inherit the master's modules."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its multiprocess folder was set")
    os.environ[METRICS_DIR_ENV] = tempfile.mkdtemp(prefix=METRICS_DIR_PREFIX)


def options(
    host: str, port: int, workers: int = 1, settings: Settings | None = None
) -> dict[str, Any]:
    """gunicorn's settings for webbin; the size limits and trusted proxies from ``settings``."""
    settings = settings or config.read()
    return {
        "bind": f"{host}:{port}",
        # gunicorn's gevent worker, answering its size-limit refusals in webbin's JSON shape.
        "worker_class": "webbin.serving.worker.Worker",
        "workers": workers,
        "worker_connections": 2000,
        "pre_request": pre_request,
        "child_exit": child_exit,
        "on_exit": on_exit,
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
        "limit_request_fields": settings.MAX_HEADER_FIELDS,
        "limit_request_field_size": settings.MAX_HEADER_FIELD_BYTES,
        "limit_request_line": settings.MAX_REQUEST_LINE_BYTES,
        # Only configured proxies may set the scheme (X-Forwarded-Proto); none by default.
        "forwarded_allow_ips": ",".join(str(n) for n in settings.TRUSTED_PROXIES),
    }


class CannotListen(OSError):
    """The address to bind is taken (or not ours to take); the message says what to do."""


def check_bind(host: str, port: int) -> None:
    """Bind ``host:port`` once, as gunicorn will, and say plainly why it cannot be had.

    gunicorn itself logs "Connection in use" and retries for five seconds before giving up.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            probe.bind((host.removeprefix("[").removesuffix("]"), port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise CannotListen(
                    f"port {port} on {host} is already in use; pick another with --port"
                ) from None
            reason = error.strerror or str(error)
            raise CannotListen(f"cannot listen on port {port} on {host}: {reason}") from None


def serve(
    factory: AppFactory,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    app_config: dict[str, Any] | None = None,
) -> None:
    """Run gunicorn. Host, port and workers default to ``WEBBIN_HOST``, ``PORT`` and
    ``WEBBIN_WORKERS``. The settings are read here first, so a wrong value stops the server
    with :class:`webbin.config.ConfigError` before any worker starts, and so does a taken
    port (:class:`CannotListen`)."""
    settings = config.read(app_config)
    host = host or settings.HOST
    port = port or settings.PORT
    # Unless told otherwise: a loopback server is a local tool, anything else faces strangers.
    os.environ.setdefault("WEBBIN_PROFILE", for_bind_host(host))
    check_bind(host, port)  # before any schema work: a taken port changes nothing
    if settings.METRICS:
        prepare_metrics()
    worker_config = {**(app_config or {}), **prepare_database(app_config)}
    server_options = options(host, port, workers or settings.WORKERS, settings)
    WebbinServer(server_options, factory, worker_config).run()


def prepare_database(app_config: dict[str, Any] | None) -> dict[str, Any]:
    """Schema work once, here in the master before any worker exists (workers migrating a
    fresh database at once race and fail to boot); the workers then skip it. With
    MIGRATE_ON_START off, only a check that nothing is pending. Returns the settings the
    workers start with: no migrating, and the shared session key when the database keeps
    it (read here once, so a worker restarted while the database is away still boots)."""
    from webbin.storage import instance, migrations
    from webbin.storage.models import db

    app = migrations.standalone_app(app_config)
    try:
        if app.config["MIGRATE_ON_START"]:
            print(f"webbin: {migrations.upgrade(app).describe()}", file=sys.stderr, flush=True)
        else:
            migrations.require_latest(app)
    except migrations.SchemaError as exc:
        raise SystemExit(f"webbin: {exc}") from None
    worker_config: dict[str, Any] = {"MIGRATE_ON_START": False}
    if not app.config["SECRET_KEY"]:
        worker_config["SECRET_KEY"] = instance.shared_secret(app)
        with app.app_context():
            db.engine.dispose()  # no pooled connection of the master's goes into the forks
    return worker_config
