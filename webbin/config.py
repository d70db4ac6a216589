"""Configuration: one typed settings object, read from ``WEBBIN_*`` variables and overrides.

:class:`Settings` describes every setting: its type, bounds, default and meaning. The app
(:func:`load`, called by ``create_app``) and ``webbin serve`` both read it through
:func:`read`, so a wrong value stops either at start with one line naming the variable, the
value and what was expected, instead of surfacing later as a 500 on every request.

The order is: defaults, then the environment (``WEBBIN_<NAME>``; ``PORT`` has no prefix, for
platforms that set it), then the overrides passed to ``create_app``, validated alike. Keys of
the overrides that are not settings (``TESTING``, ``SQLALCHEMY_*``, ``BROKER``) pass through
to ``app.config`` untouched.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import annotated_types
from flask import Flask
from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from webbin.proxies import Network

MiB = 1024 * 1024
DAY = 24 * 3600


class Expect:
    """Annotated metadata: what a valid value looks like, for the start-up error message."""

    def __init__(self, text: str) -> None:
        self.text = text


def _networks(value: Any) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.168.1.5"`` or a JSON list as networks (host bits allowed)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise PydanticCustomError("webbin", "the JSON list does not parse") from None
        else:
            value = text.split(",")
    if not isinstance(value, list | tuple):
        raise PydanticCustomError("webbin", "it is not a list")
    networks = []
    for item in value:
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(item)
            continue
        if not isinstance(item, str):
            raise PydanticCustomError("webbin", "{entry} is not one", {"entry": repr(item)})
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise PydanticCustomError(
                "webbin", "{entry} is not one", {"entry": repr(item.strip())}
            ) from None
    return tuple(networks)


def _public_url(value: Any) -> Any:
    """Empty, or an absolute http(s) URL without query or fragment; kept without a final /."""
    if not isinstance(value, str) or not value.strip():
        return value
    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number
    except ValueError:
        raise PydanticCustomError("webbin", "it does not parse as a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("webbin", "it needs http:// or https:// and a host")
    if parts.query or parts.fragment:
        raise PydanticCustomError("webbin", "it must not have a query string or fragment")
    return text.rstrip("/")


def _database_url(value: Any) -> Any:
    """Empty, or a URL SQLAlchemy can parse and has a dialect for (the driver loads later)."""
    if not isinstance(value, str) or not value.strip():
        return value
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(value.strip())
    except ArgumentError:
        raise PydanticCustomError("webbin", "it does not parse as a database URL") from None
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise PydanticCustomError(
            "webbin", "SQLAlchemy knows no database {name}", {"name": repr(url.drivername)}
        ) from None
    return value.strip()


def _redis_url(value: Any) -> Any:
    """Empty, or a redis://, rediss:// or unix:// URL (what redis-py's ``from_url`` takes)."""
    if not isinstance(value, str) or not value.strip():
        return value
    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number
    except ValueError:
        raise PydanticCustomError("webbin", "it does not parse as a URL") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise PydanticCustomError("webbin", "it needs redis://, rediss:// or unix://")
    if parts.scheme != "unix" and not parts.hostname:
        raise PydanticCustomError("webbin", "it needs a host")
    if parts.scheme == "unix" and not parts.path:
        raise PydanticCustomError("webbin", "it needs the socket's path")
    return text


def is_sqlite(url: str) -> bool:
    """Whether a (non-empty) database URL names SQLite: one file, so one host."""
    return url.split(":", 1)[0].split("+", 1)[0] == "sqlite"


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# Types, each with what a valid value looks like. A field with bounds of its own uses an
# unbounded type (Whole, ByteSize, Duration): pydantic keeps the last of two bounds of a kind,
# which would be the type's.
Whole = Annotated[int, Expect("a whole number")]
ByteSize = Annotated[int, Expect("a whole number of bytes")]
Duration = Annotated[float, Field(allow_inf_nan=False), Expect("a number of seconds")]
Count = Annotated[Whole, annotated_types.Ge(0)]
Bytes = Annotated[ByteSize, annotated_types.Ge(0)]
Seconds = Annotated[Duration, annotated_types.Ge(0)]
WholeSeconds = Annotated[int, annotated_types.Ge(0), Expect("a whole number of seconds")]
Rate = Annotated[
    float, annotated_types.Ge(0), Field(allow_inf_nan=False), Expect("a number per second")
]
Networks = Annotated[
    tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    NoDecode,
    BeforeValidator(_networks),
    Expect("IP addresses or CIDR networks, comma-separated or as a JSON list"),
]
PublicUrl = Annotated[
    str,
    BeforeValidator(_public_url),
    Expect("empty or an http:// or https:// URL such as https://hooks.example.com"),
]
DatabaseUrl = Annotated[
    str,
    BeforeValidator(_database_url),
    Expect("empty or a SQLAlchemy URL such as postgresql+psycopg://user@host/db"),
]
RedisUrl = Annotated[
    str,
    BeforeValidator(_redis_url),
    Expect("empty or a Redis URL such as redis://127.0.0.1:6379/0"),
]
Profile = Annotated[
    Literal["local", "production", ""],
    BeforeValidator(_lower),
    Expect("local, production or empty"),
]
Flag = Annotated[bool, Expect("true or false")]
Text = Annotated[str, Expect("text")]


class Settings(BaseSettings):
    """Every setting of webbin. The README's configuration table lists the same (a test
    checks it); ``app.config[NAME]`` holds each value."""

    model_config = SettingsConfigDict(env_prefix="WEBBIN_", case_sensitive=True, extra="ignore")

    DATA_DIR: Text = Field("data", description="Folder for the SQLite file and the secret key.")
    DATABASE_URL: DatabaseUrl = Field(
        "", description="SQLAlchemy URL; empty means a SQLite file in DATA_DIR."
    )
    MAX_BODY_BYTES: Bytes = Field(
        10 * MiB,
        description="Largest captured body (GitHub caps payloads at 25 MB, most send far less).",
    )
    IMPORT_MAX_BYTES: Bytes = Field(
        64 * MiB,
        description="Largest NDJSON or HAR file an import accepts (API or dashboard); beyond: "
        "413, nothing imported.",
    )
    PUBLIC_URL: PublicUrl = Field(
        "", description="Base of capture URLs behind a proxy; empty: the URL the page was on."
    )
    PAGE_SIZE: Whole = Field(
        50, ge=1, le=500, description="Requests per dashboard page and the API's default limit."
    )
    RESEND_CONNECT_TIMEOUT: Duration = Field(
        5.0, gt=0, description="Seconds a resend waits for the target to accept the connection."
    )
    RESEND_READ_TIMEOUT: Duration = Field(
        10.0, gt=0, description="Seconds a resend waits for the target's answer."
    )
    RESEND_MAX_RESPONSE_BYTES: Bytes = Field(MiB, description="Bytes of a resend answer kept.")
    STREAM_POLL_SECONDS: Duration = Field(
        5.0,
        gt=0,
        description="A live stream re-reads the database at least this often, in case a "
        "notification from another process was lost (1 s while the notifier is down).",
    )
    REDIS_URL: RedisUrl = Field(
        "",
        description="Redis shared by every worker and host: live notifications, rate limits "
        "and viewer caps; empty: LISTEN/NOTIFY or a local notifier, and per-process limits.",
    )
    TRUSTED_PROXIES: Networks = Field(
        (), description="Proxies whose X-Forwarded-For/-Proto/-Host are believed."
    )
    SECRET_KEY: Text = Field(
        "",
        description="Session-cookie signing key; when empty, generated once into DATA_DIR "
        "(SQLite) or into the database (PostgreSQL, shared by every host).",
    )
    # --- Hardening (see SECURITY.md) -------------------------------------------------------
    PROFILE: Profile = Field(
        "",
        description='"local" or "production"; empty: local, or chosen by `webbin serve` from '
        "its bind address.",
    )
    OUTBOUND_ALLOWLIST: Networks = Field(
        (), description="Networks a resend may reach even where the profile refuses them."
    )
    RESEND_TOTAL_TIMEOUT: Duration = Field(
        30.0, gt=0, description="Seconds a whole resend may take, however the target trickles."
    )
    CAPTURE_CLIENT_RATE: Rate = Field(50.0, description="Captures per second per client address.")
    CAPTURE_CLIENT_BURST: Count = Field(500, description="Captures one client address may save up.")
    CAPTURE_BIN_RATE: Rate = Field(50.0, description="Captures per second per bin.")
    CAPTURE_BIN_BURST: Count = Field(500, description="Captures one bin may save up.")
    PROBE_RATE: Rate = Field(1.0, description='"No such bin" answers per second per client.')
    PROBE_BURST: Count = Field(60, description='"No such bin" answers one client may save up.')
    RESEND_CLIENT_RATE: Rate = Field(1.0, description="Resends per second per client address.")
    RESEND_CLIENT_BURST: Count = Field(20, description="Resends one client address may save up.")
    RESEND_MAX_CONCURRENT: Count = Field(
        8, description="Resends in flight per worker process (0: no cap)."
    )
    BIN_CREATE_RATE: Rate = Field(0.2, description="Bins per second per client address.")
    BIN_CREATE_BURST: Count = Field(20, description="Bins one client address may save up.")
    RATE_LIMIT_KEYS: Whole = Field(
        10000, ge=1, description="Buckets each limiter keeps (least recently used forgotten)."
    )
    MAX_VIEWERS_PER_BIN: Count = Field(
        20, description="Live streams per bin per worker process (0: no limit)."
    )
    WS_MAX_MESSAGE_BYTES: ByteSize = Field(
        4096, ge=1, description="Largest WebSocket message a viewer may send."
    )
    MAX_HEADER_FIELDS: Whole = Field(
        100, ge=1, le=32768, description="Header lines per request (webbin serve); beyond: 431."
    )
    MAX_HEADER_FIELD_BYTES: ByteSize = Field(
        8190, ge=1, description="Bytes per header line (webbin serve); beyond: 431."
    )
    MAX_REQUEST_LINE_BYTES: ByteSize = Field(
        8190, ge=1, le=8190, description="Bytes of the request line (webbin serve); beyond: 414."
    )
    # Retention, enforced by pruning in the background (0 turns a limit off).
    MAX_REQUESTS_PER_BIN: Count = Field(10000, description="Requests a bin keeps (0: no limit).")
    REQUEST_TTL_SECONDS: WholeSeconds = Field(
        30 * DAY, description="Requests older than this are pruned (0: kept forever)."
    )
    BIN_IDLE_TTL_SECONDS: WholeSeconds = Field(
        90 * DAY, description="Bins idle this long are deleted (0: never)."
    )
    STORAGE_QUOTA_BYTES: Bytes = Field(
        5 * 1024**3, description="Total body bytes kept before the oldest are pruned (0: none)."
    )
    PRUNE_INTERVAL_SECONDS: Seconds = Field(
        60.0, description="How often `webbin serve` prunes in the background (0: never)."
    )
    PRUNE_BATCH: Whole = Field(200, ge=1, description="Rows deleted per pruning transaction.")
    PRUNE_BATCH_BYTES: ByteSize = Field(
        32 * MiB, ge=1, description="Body bytes deleted per pruning transaction."
    )
    MIGRATE_ON_START: Flag = Field(
        True,
        description="Apply pending schema migrations when the app starts (`webbin serve`: "
        "once, before its workers start).",
    )
    # --- Running several workers and hosts (docs/deploy.md) -----------------------------
    REDIS_KEY_PREFIX: Annotated[str, Field(min_length=1), Expect("a non-empty prefix")] = Field(
        "webbin:", description="Prefix of every Redis key webbin writes (several per Redis)."
    )
    METRICS: Flag = Field(False, description="Serve Prometheus metrics at /metrics.")
    METRICS_TOKEN: Text = Field(
        "", description="When set, /metrics needs `Authorization: Bearer <token>`."
    )
    # --- `webbin serve` --------------------------------------------------------------------
    HOST: Annotated[str, Field(min_length=1), Expect("an address or host name to bind")] = Field(
        "127.0.0.1", description="Address `webbin serve` binds (its --host)."
    )
    PORT: Annotated[int, Expect("a port number")] = Field(
        8080,
        ge=1,
        le=65535,
        validation_alias="PORT",
        description="Port `webbin serve` binds (its --port); PORT, without prefix.",
    )
    WORKERS: Whole = Field(1, ge=1, description="Worker processes of `webbin serve`.")

    @model_validator(mode="after")
    def _live_notifications_can_cross_processes(self) -> Settings:
        """PostgreSQL serves any number of workers and hosts, whose live viewers hear of
        captures through Redis or else LISTEN/NOTIFY, which webbin speaks with psycopg 3
        whatever driver the URL names: without either, refuse now (docs/scaling.md)."""
        if self.REDIS_URL or not self.DATABASE_URL.startswith("postgresql"):
            return self
        if importlib.util.find_spec("psycopg") is None:
            raise PydanticCustomError(
                "webbin",
                "WEBBIN_DATABASE_URL is PostgreSQL and WEBBIN_REDIS_URL is empty: live views "
                "on other worker processes and hosts then hear of new requests through "
                "PostgreSQL's LISTEN/NOTIFY, which needs psycopg 3, not installed here; "
                "install it (pip install 'webbin[postgres]') or set WEBBIN_REDIS_URL",
            )
        return self


FIELDS = Settings.model_fields

# The defaults by name (the OpenAPI document quotes some of them).
DEFAULTS: dict[str, Any] = {name: field.default for name, field in FIELDS.items()}


def env_name(name: str) -> str:
    """The environment variable of setting ``name``."""
    alias = FIELDS[name].validation_alias
    return alias if isinstance(alias, str) else f"WEBBIN_{name}"


class ConfigError(ValueError):
    """A setting has a value of the wrong kind; the message says which, and what it needs."""


def read(overrides: dict[str, Any] | None = None) -> Settings:
    """The settings from the environment and ``overrides`` (keys that are settings only).

    Raises :class:`ConfigError` with one line per wrong value.
    """
    given = {k: v for k, v in (overrides or {}).items() if k in FIELDS}
    try:
        return Settings(**given)
    except ValidationError as error:
        raise ConfigError("\n".join(_explain(e, given) for e in error.errors())) from None


def _explain(error: Any, given: dict[str, Any]) -> str:
    """``WEBBIN_PAGE_SIZE='0': expected a whole number, from 1 to 500``."""
    loc = error["loc"]
    if not loc:  # about several settings together: the message names them
        return error["msg"]
    name = next((n for n in FIELDS if n == loc[0] or env_name(n) == loc[0]), str(loc[0]))
    if name not in FIELDS:
        return f"{name}: {error['msg']}"
    raw = given[name] if name in given else os.environ.get(env_name(name), error["input"])
    field = FIELDS[name]
    expected = next((m.text for m in field.metadata if isinstance(m, Expect)), "a valid value")
    line = f"{env_name(name)}={raw!r}: expected {expected}"
    if error["type"] in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        line += ", " + _bounds(field.metadata)
    elif error["type"] == "webbin":
        line += f"; {error['msg']}"
    return line


def _bounds(metadata: list[Any]) -> str:
    """``from 1 to 500``, ``at least 0``, ``more than 0``: the tightest of the type's and
    the field's own bounds."""
    lows = [(m.ge, False) for m in metadata if isinstance(m, annotated_types.Ge)]
    lows += [(m.gt, True) for m in metadata if isinstance(m, annotated_types.Gt)]
    highs = [m.le for m in metadata if isinstance(m, annotated_types.Le)]
    low = max(lows) if lows else None  # (0, True) "more than 0" beats (0, False)
    high = min(highs) if highs else None
    if low is None:
        return f"at most {high}" if high is not None else ""
    value, strict = low
    if high is None:
        return f"more than {value}" if strict else f"at least {value}"
    return f"more than {value} and at most {high}" if strict else f"from {value} to {high}"


def load(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Fill ``app.config`` from :func:`read`, plus the overrides that are not settings, plus
    what follows from them (database URI, proxy networks, the secret key)."""
    settings = read(overrides)
    app.config.update(settings.model_dump())
    app.config.update({k: v for k, v in (overrides or {}).items() if k not in FIELDS})

    data_dir = Path(settings.DATA_DIR).resolve()
    app.config["DATA_DIR"] = str(data_dir)
    if not settings.DATABASE_URL:
        data_dir.mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{data_dir / 'webbin.sqlite3'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    # Error messages and logs never carry SQL parameters (captured bodies, tokens, secrets).
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {}).setdefault("hide_parameters", True)
    # A server database may be shared by several hosts, so its secret is kept in it (see
    # webbin.storage.instance); a SQLite file has one host, and its secret sits beside it.
    if not settings.SECRET_KEY and is_sqlite(app.config["DATABASE_URL"]):
        app.config["SECRET_KEY"] = _persistent_secret(secret_path(app))
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["TRUSTED_PROXY_NETWORKS"] = list(settings.TRUSTED_PROXIES)


def secret_path(app: Flask) -> Path:
    """Where a generated session key is kept on this host."""
    return Path(app.config["DATA_DIR"]) / "secret_key"


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
