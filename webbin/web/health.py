"""What load balancers, orchestrators and Prometheus ask: is it alive, may it take traffic,
and how is it doing.

* ``GET /healthz``: the process answers (nothing else is looked at, so a database outage
  does not get every worker restarted);
* ``GET /readyz``: the database answers, its schema is at this webbin's latest revision,
  and Redis answers when ``REDIS_URL`` is set. 200, or 503 with a JSON body naming each
  check that failed and why (an error class, never a URL or host);
* ``GET /metrics``: Prometheus text (:mod:`webbin.metrics`), only with ``METRICS`` on (404
  otherwise); with ``METRICS_TOKEN`` set, only for ``Authorization: Bearer <token>``.

All three are cheap and need no session or CSRF token. No rate limit counts them (none is
keyed on these paths), and the access log leaves out their successful answers
(:mod:`webbin.serving.accesslog`), which would otherwise be most of its lines.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webbin import metrics
from webbin.ratelimit import shared_store
from webbin.storage.migrations import latest_revision
from webbin.storage.models import db

bp = Blueprint("health", __name__)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    return _no_store(jsonify(status="ok"))


def readiness() -> dict[str, str]:
    """Each check's result: "ok", or what failed."""
    checks: dict[str, str] = {}
    latest = latest_revision()
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
            try:
                revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
            except SQLAlchemyError:
                revision = None
    except SQLAlchemyError as error:
        checks["database"] = f"unreachable: {type(error).__name__}"
        checks["migrations"] = "unknown: the database is unreachable"
    else:
        checks["migrations"] = (
            "ok"
            if revision == latest
            else f"not applied: the database is at {revision or 'no revision'}, this webbin "
            f"needs {latest} (run `webbin db upgrade`)"
        )
    store = shared_store(current_app)
    if store is not None:
        problem = store.ping()
        checks["redis"] = "ok" if problem is None else f"unreachable: {problem}"
    return checks


@bp.get("/readyz")
def readyz() -> Response:
    checks = readiness()
    failed = sorted(name for name, result in checks.items() if result != "ok")
    response = jsonify(status="unavailable" if failed else "ok", failed=failed, checks=checks)
    response.status_code = 503 if failed else 200
    return _no_store(response)


@bp.get("/metrics")
def metrics_text() -> Response:
    config = current_app.config
    if not config["METRICS"]:
        abort(404)
    token = config["METRICS_TOKEN"]
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = jsonify(
                error="unauthorized", message="/metrics needs Authorization: Bearer <token>."
            )
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="webbin metrics"'
            return response
    body, content_type = metrics.render()
    return _no_store(Response(body, content_type=content_type))
