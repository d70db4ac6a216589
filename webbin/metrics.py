"""Prometheus metrics: the few numbers an operator watches, counted where they happen.

The metrics are module-level objects, so any layer (capture, live, outbound, storage, the
rate limits) counts with one line; this module sits in the lowest layer for that reason and
imports nothing of webbin. Counting is always on and costs an in-memory add; only *serving*
them is a setting (``WEBBIN_METRICS``, see :mod:`webbin.web.health`).

Several gunicorn workers each count their own share. ``webbin serve`` with metrics on sets
``PROMETHEUS_MULTIPROC_DIR`` to a fresh folder before it forks (prometheus-client chooses
its storage when first imported, so that must happen before anything imports this module):
each worker then writes its values to files there, :func:`render` adds up every worker's,
and the ``live_viewers`` gauge (``livesum``) drops a worker's share when the worker exits
(:func:`webbin.serving.server.child_exit`).
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

captures = Counter(
    "webbin_captures",
    "Requests to capture URLs, by the HTTP status answered (429: rate limited, 503: not stored).",
    ["status"],
)
capture_seconds = Histogram(
    "webbin_capture_duration_seconds",
    "Time from a capture request's first hook to its answer (body read, stored, published).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
live_viewers = Gauge(
    "webbin_live_viewers",
    "Open live streams (WebSockets), all bins.",
    multiprocess_mode="livesum",
)
broker_published = Counter(
    "webbin_broker_published", "Notifications published to the live broker (one per bin and batch)."
)
broker_received = Counter(
    "webbin_broker_received", "Notifications a bin's live reader received from the broker."
)
broker_fallback_polls = Counter(
    "webbin_broker_fallback_polls",
    "Database reads a live reader made because no notification came for STREAM_POLL_SECONDS.",
)
resend_attempts = Counter(
    "webbin_resend_attempts",
    "Resends by outcome: answered, or the error kind (blocked, dns, refused, timeout, tls, ...).",
    ["outcome"],
)
pruned_rows = Counter(
    "webbin_pruned_rows",
    "Rows pruning deleted, by reason (expired_bins, expired_requests, evicted_over_bin_limit, "
    "evicted_for_quota).",
    ["reason"],
)
rate_limited = Counter(
    "webbin_rate_limit_refusals",
    "Requests refused with 429, by limit (capture_client, capture_bin, probe, resend_client, "
    "resend_running, bin_create, viewers).",
    ["limit"],
)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type: every worker's values added up when
    ``webbin serve`` runs several, this process's otherwise."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def init_app(app: Flask, capture_endpoint: str) -> None:
    """Count and time the requests to ``capture_endpoint``.

    Call it before any other ``after_request`` hook is registered: Flask runs them last
    registered first, so this one then sees the final status (a probe's 429 included).
    """

    def start() -> None:
        if request.endpoint == capture_endpoint:
            g.webbin_capture_started = time.perf_counter()

    def finish(response: Response) -> Response:
        started = g.pop("webbin_capture_started", None)
        if started is not None:
            capture_seconds.observe(time.perf_counter() - started)
            captures.labels(str(response.status_code)).inc()
        return response

    app.before_request(start)
    app.after_request(finish)
