"""Configuration: built-in defaults, then ``WEBBIN_*`` environment variables, then test overrides.

Every setting can be set from the environment as ``WEBBIN_<NAME>``; values are parsed as JSON
when they can be (so ``WEBBIN_MAX_BODY_BYTES=1048576`` is an int), else kept as strings.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from webbin.proxies import parse_networks

DEFAULTS: dict[str, Any] = {
    # Folder for the default SQLite file and the generated secret key.
    "DATA_DIR": "data",
    # SQLAlchemy URL; empty means a SQLite file in DATA_DIR.
    "DATABASE_URL": "",
    # Largest captured body; GitHub caps its payloads at 25 MB, most providers far lower.
    "MAX_BODY_BYTES": 10 * 1024 * 1024,
    # Base URL shown in capture URLs (e.g. https://hooks.example.com behind a proxy);
    # empty means the URL the dashboard was reached on.
    "PUBLIC_URL": "",
    # Apply pending schema migrations on start (`webbin serve`: once, before its workers
    # start); when false, serve refuses an out-of-date database: run `webbin db upgrade`.
    "MIGRATE_ON_START": True,
    # Requests per page in the dashboard list and the API's default limit.
    "PAGE_SIZE": 50,
    # Resend: seconds to wait for a connection and for the answer; bytes of answer kept.
    "RESEND_CONNECT_TIMEOUT": 5.0,
    "RESEND_READ_TIMEOUT": 10.0,
    "RESEND_MAX_RESPONSE_BYTES": 1024 * 1024,
    # A live stream re-reads the database at least this often, even without a broker
    # notification, so viewers on another worker process still see every arrival.
    "STREAM_POLL_SECONDS": 5.0,
    # Proxies (CIDRs, comma-separated) whose X-Forwarded-For names the real sender.
    "TRUSTED_PROXIES": "",
    # Session-cookie signing key; generated once into DATA_DIR when empty.
    "SECRET_KEY": "",
    # --- Hardening (see SECURITY.md) -------------------------------------------------------
    # "local" or "production"; empty: "local", or chosen by `webbin serve` from its bind host.
    "PROFILE": "",
    # CIDRs a resend may reach even where the profile refuses them (comma-separated).
    "OUTBOUND_ALLOWLIST": "",
    # Resend: seconds for the whole exchange, however the target trickles.
    "RESEND_TOTAL_TIMEOUT": 30.0,
    # Capture rate limits, per client address and per bin: tokens per second, bucket size.
    "CAPTURE_CLIENT_RATE": 50.0,
    "CAPTURE_CLIENT_BURST": 500,
    "CAPTURE_BIN_RATE": 50.0,
    "CAPTURE_BIN_BURST": 500,
    # "No such bin" answers a client may get: per second, bucket size.
    "PROBE_RATE": 1.0,
    "PROBE_BURST": 60,
    # Buckets each limiter keeps in memory (least recently used forgotten first).
    "RATE_LIMIT_KEYS": 10000,
    # Live streams per bin (per worker process); largest WebSocket message accepted.
    "MAX_VIEWERS_PER_BIN": 20,
    "WS_MAX_MESSAGE_BYTES": 4096,
    # Header fields, bytes per field, bytes of request line (gunicorn; 431 / 414 beyond).
    "MAX_HEADER_FIELDS": 100,
    "MAX_HEADER_FIELD_BYTES": 8190,
    "MAX_REQUEST_LINE_BYTES": 8190,
    # Retention, enforced by pruning in the background (0 turns a limit off).
    "MAX_REQUESTS_PER_BIN": 10000,
    "REQUEST_TTL_SECONDS": 30 * 24 * 3600,
    "BIN_IDLE_TTL_SECONDS": 90 * 24 * 3600,
    "STORAGE_QUOTA_BYTES": 5 * 1024**3,
    "PRUNE_INTERVAL_SECONDS": 60.0,
    "PRUNE_BATCH": 200,
    "PRUNE_BATCH_BYTES": 32 * 1024 * 1024,
}


def load(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Fill ``app.config`` from defaults, the environment and ``overrides``, in that order."""
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env(prefix="WEBBIN")
    if overrides:
        app.config.update(overrides)

    data_dir = Path(app.config["DATA_DIR"]).resolve()
    app.config["DATA_DIR"] = str(data_dir)
    if not app.config["DATABASE_URL"]:
        data_dir.mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{data_dir / 'webbin.sqlite3'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    # Error messages and logs never carry SQL parameters (captured bodies, tokens, secrets).
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {}).setdefault("hide_parameters", True)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _persistent_secret(data_dir / "secret_key")
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["PUBLIC_URL"] = str(app.config["PUBLIC_URL"]).rstrip("/")
    proxies = app.config["TRUSTED_PROXIES"]
    if isinstance(proxies, str):
        proxies = [p for p in proxies.split(",") if p.strip()]
    app.config["TRUSTED_PROXY_NETWORKS"] = parse_networks(proxies)


def _persistent_secret(path: Path) -> str:
    """Read the key from ``path``, creating it on first start so restarts keep sessions."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key
