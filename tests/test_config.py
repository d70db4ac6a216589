"""Typed configuration: the README lists exactly the settings there are, with their defaults;
a wrong value stops the app (and ``webbin serve``) at start with one line naming the
variable, the value and what it needs; good values reach ``app.config`` typed."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import free_port

from webbin import config, create_app
from webbin.config import ConfigError

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting from the environment running the tests."""
    for name in config.FIELDS:
        monkeypatch.delenv(config.env_name(name), raising=False)
    return monkeypatch


def readme_table() -> dict[str, str | None]:
    """Variable -> default as the README's configuration table gives it (None: empty)."""
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows, "no configuration table in README.md"
    table: dict[str, str | None] = {}
    for row in rows:
        names_cell, default_cell = (cell.strip() for cell in row.strip("|").split("|")[:2])
        names = re.findall(r"`([A-Z0-9_]+)`", names_cell)
        # A default is the backticked values the cell starts with, one per variable; a cell
        # starting with words ("none", "generated ...") documents an empty default.
        leading = re.match(r"(?:`[^`]*`(?:, )?)+", default_cell)
        values = re.findall(r"`([^`]*)`", leading.group(0)) if leading else [None] * len(names)
        assert len(values) == len(names), f"README row {names}: defaults {values}"
        for name, value in zip(names, values, strict=True):
            assert name not in table, f"{name} twice in the README"
            table[name] = value
    return table


def test_readme_lists_every_setting_and_its_default(clean_env):
    table = readme_table()
    by_env = {config.env_name(name): name for name in config.FIELDS}
    assert sorted(table) == sorted(by_env)
    for variable, documented in table.items():
        name = by_env[variable]
        default = config.DEFAULTS[name]
        if documented is None:
            assert default in ("", (), None), (
                f"{variable}: README says empty, default is {default!r}"
            )
        else:
            # Read the README's text as the variable would be read, then compare values.
            value = getattr(config.read({name: documented}), name)
            assert value == default, f"{variable}: README {documented!r}, default {default!r}"


def test_every_setting_has_a_description():
    for name, field in config.FIELDS.items():
        assert field.description and len(field.description) > 10, name


# (variable, value, the whole message)
WRONG = [
    ("WEBBIN_MAX_BODY_BYTES", "10MB", "expected a whole number of bytes"),
    ("WEBBIN_MAX_BODY_BYTES", "-1", "expected a whole number of bytes, at least 0"),
    ("WEBBIN_PAGE_SIZE", "fifty", "expected a whole number"),
    ("WEBBIN_PAGE_SIZE", "0", "expected a whole number, from 1 to 500"),
    ("WEBBIN_PAGE_SIZE", "501", "expected a whole number, from 1 to 500"),
    ("WEBBIN_PAGE_SIZE", "2.5", "expected a whole number"),
    ("WEBBIN_MAX_REQUEST_LINE_BYTES", "9000", "expected a whole number of bytes, from 1 to 8190"),
    ("WEBBIN_PRUNE_BATCH", "0", "expected a whole number, at least 1"),
    ("WEBBIN_STREAM_POLL_SECONDS", "soon", "expected a number of seconds"),
    ("WEBBIN_STREAM_POLL_SECONDS", "0", "expected a number of seconds, more than 0"),
    ("WEBBIN_RESEND_TOTAL_TIMEOUT", "inf", "expected a number of seconds"),
    ("WEBBIN_CAPTURE_CLIENT_RATE", "-1", "expected a number per second, at least 0"),
    ("WEBBIN_BIN_CREATE_RATE", "nan", "expected a number per second"),
    ("WEBBIN_MIGRATE_ON_START", "maybe", "expected true or false"),
    ("WEBBIN_PROFILE", "prod", "expected local, production or empty"),
    (
        "WEBBIN_TRUSTED_PROXIES",
        "10.0.0.0/8, nonsense",
        "expected IP addresses or CIDR networks, comma-separated or as a JSON list; "
        "'nonsense' is not one",
    ),
    (
        "WEBBIN_OUTBOUND_ALLOWLIST",
        '["10.0.0.0/8", 5]',
        "expected IP addresses or CIDR networks, comma-separated or as a JSON list; 5 is not one",
    ),
    (
        "WEBBIN_OUTBOUND_ALLOWLIST",
        '["10.0.0.0/8"',
        "expected IP addresses or CIDR networks, comma-separated or as a JSON list; "
        "the JSON list does not parse",
    ),
    (
        "WEBBIN_PUBLIC_URL",
        "hooks.example.com",
        "expected empty or an http:// or https:// URL such as https://hooks.example.com; "
        "it needs http:// or https:// and a host",
    ),
    (
        "WEBBIN_PUBLIC_URL",
        "https://hooks.example.com:port",
        "expected empty or an http:// or https:// URL such as https://hooks.example.com; "
        "it does not parse as a URL",
    ),
    (
        "WEBBIN_PUBLIC_URL",
        "https://hooks.example.com/?a=1",
        "expected empty or an http:// or https:// URL such as https://hooks.example.com; "
        "it must not have a query string or fragment",
    ),
    (
        "WEBBIN_DATABASE_URL",
        "postgres://u@h/db",
        "expected empty or a SQLAlchemy URL such as postgresql+psycopg://user@host/db; "
        "SQLAlchemy knows no database 'postgres'",
    ),
    (
        "WEBBIN_DATABASE_URL",
        "not a url",
        "expected empty or a SQLAlchemy URL such as postgresql+psycopg://user@host/db; "
        "it does not parse as a database URL",
    ),
    ("PORT", "http", "expected a port number"),
    ("PORT", "70000", "expected a port number, from 1 to 65535"),
    ("WEBBIN_WORKERS", "0", "expected a whole number, at least 1"),
]


@pytest.mark.parametrize(("variable", "value", "expected"), WRONG)
def test_a_wrong_variable_stops_create_app(clean_env, tmp_path, variable, value, expected):
    clean_env.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path)})
    assert str(refused.value) == f"{variable}={value!r}: {expected}"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MAX_BODY_BYTES", "10MB", "expected a whole number of bytes"),
        ("PAGE_SIZE", 0, "expected a whole number, from 1 to 500"),
        ("STREAM_POLL_SECONDS", -0.5, "expected a number of seconds, more than 0"),
        ("MIGRATE_ON_START", "sometimes", "expected true or false"),
        ("PROFILE", "prod", "expected local, production or empty"),
        (
            "TRUSTED_PROXIES",
            ["127.0.0.1/32", "nonsense"],
            "expected IP addresses or CIDR networks, comma-separated or as a JSON list; "
            "'nonsense' is not one",
        ),
        ("DATA_DIR", 5, "expected text"),
    ],
)
def test_a_wrong_override_stops_create_app(clean_env, tmp_path, name, value, expected):
    with pytest.raises(ConfigError) as refused:
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path), name: value})
    assert str(refused.value) == f"{config.env_name(name)}={value!r}: {expected}"


def test_every_wrong_value_is_named_one_line_each(clean_env, tmp_path):
    clean_env.setenv("WEBBIN_PAGE_SIZE", "fifty")
    clean_env.setenv("WEBBIN_PROBE_BURST", "lots")
    with pytest.raises(ConfigError) as refused:
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path)})
    assert sorted(str(refused.value).splitlines()) == [
        "WEBBIN_PAGE_SIZE='fifty': expected a whole number",
        "WEBBIN_PROBE_BURST='lots': expected a whole number",
    ]


def test_good_values_reach_app_config_typed(clean_env, tmp_path):
    for variable, value in {
        "WEBBIN_MAX_BODY_BYTES": "1000",
        "WEBBIN_STREAM_POLL_SECONDS": "2",
        "WEBBIN_PAGE_SIZE": "7",
        "WEBBIN_TRUSTED_PROXIES": " 10.1.2.3/8, ::1 ",
        "WEBBIN_OUTBOUND_ALLOWLIST": '["192.168.0.0/16", "10.9.9.9"]',
        "WEBBIN_PROFILE": " Production",
        "WEBBIN_MIGRATE_ON_START": "false",
        "WEBBIN_PUBLIC_URL": "https://hooks.example.com/base/",
        "WEBBIN_RESEND_MAX_CONCURRENT": "0",
    }.items():
        clean_env.setenv(variable, value)
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "PAGE_SIZE": 9, "EXTRA": "x"})
    assert app.config["MAX_BODY_BYTES"] == 1000
    assert app.config["STREAM_POLL_SECONDS"] == 2.0
    assert isinstance(app.config["STREAM_POLL_SECONDS"], float)
    assert app.config["PAGE_SIZE"] == 9  # the override wins over the environment
    assert app.config["TRUSTED_PROXY_NETWORKS"] == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    ]
    assert [str(n) for n in app.config["OUTBOUND_ALLOWLIST"]] == ["192.168.0.0/16", "10.9.9.9/32"]
    assert app.config["PROFILE"] == "production"
    assert app.config["MIGRATE_ON_START"] is False
    assert app.config["PUBLIC_URL"] == "https://hooks.example.com/base"
    assert app.config["RESEND_MAX_CONCURRENT"] == 0
    # Keys that are not settings pass through; derived keys are filled in.
    assert app.config["EXTRA"] == "x" and app.config["TESTING"] is True
    assert app.config["DATA_DIR"] == str(tmp_path.resolve())
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'webbin.sqlite3'}"
    assert (tmp_path / "secret_key").read_text().strip() == app.config["SECRET_KEY"]
    # Every setting is in app.config.
    assert set(config.FIELDS) <= set(app.config)


def serve_with(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``webbin serve`` with ``env``; a wrong setting must end it well within the timeout."""
    ours = {config.env_name(name) for name in config.FIELDS}
    environment = {k: v for k, v in os.environ.items() if k not in ours}
    environment.update({"WEBBIN_DATA_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "-m", "webbin.cli", "serve", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"WEBBIN_MAX_BODY_BYTES": "10MB"},
            "webbin: WEBBIN_MAX_BODY_BYTES='10MB': expected a whole number of bytes\n",
        ),
        (
            {"WEBBIN_TRUSTED_PROXIES": "10.0.0.0/33"},
            "webbin: WEBBIN_TRUSTED_PROXIES='10.0.0.0/33': expected IP addresses or CIDR "
            "networks, comma-separated or as a JSON list; '10.0.0.0/33' is not one\n",
        ),
        ({"PORT": "eighty"}, "webbin: PORT='eighty': expected a port number\n"),
        (
            {"WEBBIN_PROFILE": "prod", "WEBBIN_WORKERS": "none"},
            "webbin: WEBBIN_PROFILE='prod': expected local, production or empty\n"
            "webbin: WEBBIN_WORKERS='none': expected a whole number\n",
        ),
    ],
)
def test_webbin_serve_refuses_a_wrong_setting(tmp_path, env, message):
    finished = serve_with(tmp_path, env, "--port", str(free_port()))
    assert finished.returncode == 2
    assert finished.stderr == message
    assert finished.stdout == ""


def test_webbin_prune_refuses_a_wrong_setting(tmp_path):
    environment = {**os.environ, "WEBBIN_DATA_DIR": str(tmp_path), "WEBBIN_PRUNE_BATCH": "-5"}
    finished = subprocess.run(
        [sys.executable, "-m", "webbin.cli", "prune"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert (
        finished.stderr == "webbin: WEBBIN_PRUNE_BATCH='-5': expected a whole number, at least 1\n"
    )
