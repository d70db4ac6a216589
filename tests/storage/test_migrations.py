"""Migrations: revision 0001 is 0.1.0's schema, the latest is what the models describe, and a
0.1.0 database upgrades in place with nothing lost, through the code paths users run
(``create_app``, ``webbin db upgrade``, ``webbin serve`` with several workers)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import HeadMaintainer, MigrationContext
from conftest import DATABASES
from helpers import capture_path, free_port, wait_for_port
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    LargeBinary,
    bindparam,
    create_engine,
    inspect,
    text,
)

from webbin import create_app
from webbin.cli import main
from webbin.storage import migrations
from webbin.storage.models import db

FIXTURES = Path(__file__).parent / "fixtures"
HEAD = "0010"


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file in ``tmp_path``, or a fresh PostgreSQL schema."""
    if request.param == "postgres":
        return request.getfixturevalue("pg_schema_url")
    return f"sqlite:///{tmp_path / 'webbin.sqlite3'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A plain engine on the database, for raw SQL and inspection."""
    created = create_engine(database_url)
    yield created
    created.dispose()


def config(tmp_path: Path, database_url: str, **extra: object) -> dict:
    return {"TESTING": True, "DATA_DIR": str(tmp_path), "DATABASE_URL": database_url, **extra}


def create_0_1_0_schema(engine: Engine) -> None:
    """The tables exactly as 0.1.0's ``db.create_all()`` made them."""
    ddl = (FIXTURES / f"schema-0.1.0-{engine.dialect.name}.sql").read_text()
    with engine.begin() as conn:
        for statement in ddl.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)


def schema_of(engine: Engine) -> dict:
    """Everything about the tables that matters, independent of the order SQLite keeps
    them in and of the PostgreSQL schema's name: columns, keys, indexes, constraints, and
    (SQLite) AUTOINCREMENT."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return _sqlite_schema(conn)
        return _postgresql_schema(conn)


def _sqlite_schema(conn) -> dict:
    tables = {}
    for name, sql in conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
        "AND name NOT IN ('alembic_version', 'sqlite_sequence')"
    ):
        indexes = set()
        for _seq, index, unique, origin, partial in conn.exec_driver_sql(
            f"PRAGMA index_list('{name}')"
        ):
            columns = tuple(row[2] for row in conn.exec_driver_sql(f"PRAGMA index_info('{index}')"))
            # Automatic indexes are numbered by position; name only the declared ones.
            indexes.add((index if origin == "c" else origin, unique, partial, columns))
        tables[name] = {
            "columns": conn.exec_driver_sql(f"PRAGMA table_xinfo('{name}')").fetchall(),
            "foreign_keys": sorted(
                row[2:] for row in conn.exec_driver_sql(f"PRAGMA foreign_key_list('{name}')")
            ),
            "indexes": indexes,
            "autoincrement": "AUTOINCREMENT" in sql.upper(),
        }
    return tables


def _postgresql_schema(conn) -> dict:
    schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    columns = conn.exec_driver_sql(
        "SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length,"
        " is_nullable, column_default FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name <> 'alembic_version'"
        " ORDER BY table_name, ordinal_position"
    ).fetchall()
    indexes = conn.exec_driver_sql(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        " AND tablename <> 'alembic_version' ORDER BY indexname"
    ).fetchall()
    constraints = conn.exec_driver_sql(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE connamespace = current_schema()::regnamespace"
        " AND conrelid::regclass::text <> 'alembic_version' ORDER BY 1, 2"
    ).fetchall()
    sequences = conn.exec_driver_sql(
        "SELECT sequencename, data_type FROM pg_sequences WHERE schemaname = current_schema()"
        " ORDER BY 1"
    ).fetchall()
    described = {
        "columns": columns,
        "indexes": indexes,
        "constraints": constraints,
        "sequences": sequences,
    }
    return {key: re.sub(rf"\b{schema}\.", "", str(value)) for key, value in described.items()}


def drop_everything(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (
            "replay_outcomes",
            "replay_jobs",
            "forward_jobs",
            "forwarders",
            "instance_secrets",
            "resend_attempts",
            "captured_requests",
            "bins",
            "alembic_version",
        ):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")


def upgrade_to(tmp_path: Path, database_url: str, revision: str) -> None:
    app = migrations.standalone_app(config(tmp_path, database_url))
    with app.app_context():
        command.upgrade(migrations.migrate.get_config(), revision)


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# --- The schema ------------------------------------------------------------------------------


def test_revision_0001_is_the_schema_of_0_1_0(tmp_path, database_url, engine):
    create_0_1_0_schema(engine)
    made_by_0_1_0 = schema_of(engine)
    drop_everything(engine)

    upgrade_to(tmp_path, database_url, "0001")

    assert revision_of(engine) == "0001"
    assert schema_of(engine) == made_by_0_1_0
    if engine.dialect.name == "sqlite":  # the defect revision 0002 repairs is there
        assert not made_by_0_1_0["captured_requests"]["autoincrement"]


def test_migrated_schema_is_what_the_models_describe(tmp_path, database_url, engine):
    create_app(config(tmp_path, database_url))  # a fresh database: migrated on start

    assert revision_of(engine) == HEAD
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
    migrated = schema_of(engine)
    drop_everything(engine)
    db.metadata.create_all(engine)
    assert migrated == schema_of(engine)
    if engine.dialect.name == "sqlite":
        assert migrated["captured_requests"]["autoincrement"]
        assert migrated["resend_attempts"]["autoincrement"]


def test_migrate_on_start_off_leaves_the_database_alone(tmp_path, database_url, engine):
    # With a key of its own: without one, a PostgreSQL app reads the shared key from the
    # (migrated) database (tests/ops/test_secret.py).
    create_app(config(tmp_path, database_url, MIGRATE_ON_START=False, SECRET_KEY="k" * 32))
    assert inspect(engine).get_table_names() == []


# --- A 0.1.0 database, filled, then upgraded -------------------------------------------------

BIN = "bin-set"
AT = datetime(2026, 11, 19, 8, 30, 15, 123456, tzinfo=UTC)
SETTINGS = {
    "name": "orders",
    "resend_url": "http://127.0.0.1:9/hook",
    "signature_scheme": "generic-hmac",
    "signature_secrets": ["s3cret-one", "s3cret-two"],
    "signature_tolerance": 120,
    "signature_options": {
        "header": "X-Sig",
        "algorithm": "sha512",
        "encoding": "base64",
        "prefix": "v1=",
    },
    "allowed_networks": ["10.0.0.0/8", "2001:db8::/32"],
    "handshake_settings": {
        "enabled": ["slack", "zoom"],
        "meta_verify_token": None,
        "zoom_secret": "zsecret",
        "twitter_consumer_secret": None,
    },
    "response_settings": {
        "default": {
            "status": 202,
            "content_type": "text/plain",
            "headers": [["X-A", "1"], ["X-A", "2"]],
            "body": "ok\u00e9",
            "delay_ms": 5,
        },
        "rules": [
            {
                "method": "PUT",
                "path": "/x/*",
                "response": {
                    "status": 418,
                    "content_type": "application/json",
                    "headers": [],
                    "body": "teapot",
                    "delay_ms": 0,
                },
            }
        ],
    },
}
BODIES = [
    b'{"event": "order.created", "id": 1}',
    b"\x00\x01binary\xff\xfe\xc3\x28 with NUL\x00 bytes\x00",
    b"",
    bytes(range(256)) * 4,
]
HEADERS = [
    ["Host", "hooks.example"],
    ["X-Repeated", "first"],
    ["Content-Type", "application/octet-stream"],
    ["X-Repeated", "second"],
    ["X_Under_Score", "kept"],
]
JSON_COLUMNS = {
    "signature_secrets",
    "signature_options",
    "allowed_networks",
    "handshake_settings",
    "response_settings",
    "headers",
    "response_headers",
}
TYPES = {"created_at": DateTime(timezone=True), "received_at": DateTime(timezone=True)}
TYPES |= {name: JSON() for name in JSON_COLUMNS}
TYPES |= {"body": LargeBinary(), "response_body": LargeBinary(), "truncated": Boolean()}


def insert(conn, table: str, row: dict) -> None:
    """Raw SQL, typed only so each driver gets dates, JSON and bytes as 0.1.0 stored them."""
    names = ", ".join(row)
    statement = text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + n for n in row)})")
    statement = statement.bindparams(*(bindparam(n, type_=TYPES[n]) for n in row if n in TYPES))
    conn.execute(statement, row)


def fill_0_1_0(engine: Engine) -> None:
    """Two bins (one with every setting changed), requests with awkward bodies and repeated
    headers, resend attempts; the newest request deleted, as users do."""
    with engine.begin() as conn:
        insert(conn, "bins", {"id": "bin-plain", "capture_token": "tok-plain", "name": None,
                              "created_at": AT, "last_seq": 1, "resend_url": None,
                              "signature_scheme": "auto", "signature_secrets": [],
                              "signature_tolerance": 300, "signature_options": {},
                              "allowed_networks": [], "handshake_settings": {},
                              "response_settings": {}})  # fmt: skip
        insert(conn, "bins", {"id": "bin-set", "capture_token": "tok-set", "created_at": AT,
                              "last_seq": len(BODIES) + 1, **SETTINGS})  # fmt: skip
        insert(conn, "captured_requests", request_row(1, "bin-plain", 1, b"{}"))
        for seq, body in enumerate(BODIES, start=1):
            insert(conn, "captured_requests", request_row(seq + 1, "bin-set", seq, body))
        # The newest (id 6) was deleted: 0.1.0 would give its id to the next capture.
        insert(conn, "captured_requests", request_row(6, "bin-set", len(BODIES) + 1, b"gone"))
        conn.exec_driver_sql("DELETE FROM captured_requests WHERE id = 6")
        if engine.dialect.name == "postgresql":  # 0.1.0 took these ids from the sequences
            conn.exec_driver_sql("SELECT setval('captured_requests_id_seq', 6)")
            conn.exec_driver_sql("SELECT setval('resend_attempts_id_seq', 3)")
        for attempt, (request_id, status) in enumerate([(2, 200), (3, None), (3, 502)], 1):
            insert(conn, "resend_attempts", {
                "id": attempt, "request_id": request_id, "url": f"http://127.0.0.1:9/r{attempt}",
                "created_at": AT, "status": status, "reason": "OK" if status else None,
                "response_headers": [["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]],
                "response_body": b"\x00answer\xff" * attempt, "truncated": attempt == 3,
                "elapsed_ms": 12.5 * attempt, "error": None if status else "refused",
                "error_kind": None if status else "connect"})  # fmt: skip


def request_row(request_id: int, bin_id: str, seq: int, body: bytes) -> dict:
    return {
        "id": request_id,
        "bin_id": bin_id,
        "seq": seq,
        "method": "PUT" if seq % 2 else "POST",
        "path": f"/hook/{seq}/%7Bid%7D",
        "query_string": "a=1&a=2",
        "headers": HEADERS + [["Content-Length", str(len(body))]],
        "body": body,
        "content_type": "application/octet-stream",
        "size": len(body),
        "remote_addr": "203.0.113.7",
        "received_at": AT,
        "url": f"https://hooks.example/c/tok/hook/{seq}?a=1&a=2",
        "signature_scheme": "generic-hmac" if bin_id == "bin-set" else None,
        "signature_status": "invalid" if bin_id == "bin-set" else "unsigned",
        "handshake": "slack" if seq == 3 else None,
        "response_status": 202,
        "delivery_key": f"key-{seq % 2}",
        "delivery_key_source": "body-digest",
        "duplicate_of": 2 if seq == 3 else None,
        "delivery_attempt": 2 if seq == 3 else 1,
    }


def snapshot(engine: Engine) -> dict:
    """Every stored value as the database holds it: text for all but the byte columns."""
    binary = {"body", "response_body"}
    found = {}
    with engine.connect() as conn:
        for table in ("bins", "captured_requests", "resend_attempts"):
            names = [c["name"] for c in inspect(conn).get_columns(table)]
            columns = ", ".join(n if n in binary else f"CAST({n} AS TEXT)" for n in names)
            rows = conn.exec_driver_sql(f"SELECT {columns} FROM {table} ORDER BY id").fetchall()
            found[table] = [dict(zip(names, row, strict=True)) for row in rows]
    return found


def test_a_0_1_0_database_upgrades_on_start_with_nothing_lost(tmp_path, database_url, engine):
    create_0_1_0_schema(engine)
    fill_0_1_0(engine)
    before = snapshot(engine)
    assert [r["body"] for r in before["captured_requests"][1:]] == BODIES  # filled as meant
    assert len(before["resend_attempts"]) == 3

    app = create_app(config(tmp_path, database_url))  # the real path: migrated on start

    assert revision_of(engine) == HEAD
    after = snapshot(engine)
    # 0003's new column, backfilled with each bin's real count (id 6 was deleted).
    counts = {row["id"]: row.pop("request_count") for row in after["bins"]}
    assert counts == {"bin-plain": "1", "bin-set": str(len(BODIES))}
    # 0004's new columns: webbin made these attempts itself, none went to a provider.
    added = {
        (r.pop("forwarder"), r.pop("reply"), r.pop("replied")) for r in after["resend_attempts"]
    }
    assert added in ({(None, "0", "0")}, {(None, "false", "false")})
    # 0006's columns of what a resend sent: unknown (null) for attempts made before it.
    sent_columns = ("sent_method", "sent_headers", "sent_body", "sent_edited", "sent_resigned")
    for row in after["resend_attempts"]:
        assert [row.pop(column) for column in sent_columns] == [None] * len(sent_columns)
    # 0007's new column: every request there was captured live, none imported.
    assert {row.pop("imported_at") for row in after["captured_requests"]} == {None}
    # 0008's new column: CORS on for the bins that were there too.
    cors = {row["id"]: row.pop("cors") in ("1", "true") for row in after["bins"]}
    assert cors == {"bin-plain": True, "bin-set": True}
    # 0009's new columns: NULL for requests captured before them.
    for row in after["captured_requests"]:
        assert (row.pop("provider"), row.pop("event")) == (None, None)
    assert after == before  # every value, byte for byte
    client = app.test_client()
    bin_ = client.get(f"/api/bins/{BIN}").get_json()
    assert bin_["name"] == "orders"
    assert bin_["resend_url"] == SETTINGS["resend_url"]
    assert bin_["request_count"] == len(BODIES)
    assert bin_["signature"] == {
        "scheme": "generic-hmac",
        "secrets": [bin_["signature"]["secrets"][0]] * 2,
        "tolerance_seconds": 120,
        "generic": SETTINGS["signature_options"],
    }
    assert "s3cret" not in str(bin_["signature"]["secrets"])
    assert bin_["allowed_networks"] == SETTINGS["allowed_networks"]
    assert bin_["handshakes"]["enabled"] == ["slack", "zoom"]
    assert bin_["handshakes"]["zoom_secret_set"] is True
    assert bin_["response"] == SETTINGS["response_settings"]
    assert bin_["cors"] is True

    listed = client.get(f"/api/bins/{BIN}/requests").get_json()["requests"]
    assert [r["id"] for r in listed] == [5, 4, 3, 2]
    for request_id, body in zip([2, 3, 4, 5], BODIES, strict=True):
        detail = client.get(f"/api/bins/{BIN}/requests/{request_id}").get_json()
        assert base64.b64decode(detail["body_base64"]) == body
        assert detail["headers"] == HEADERS + [["Content-Length", str(len(body))]]
        assert detail["received_at"] == "2026-11-19T08:30:15.123456Z"
        raw = client.get(f"/api/bins/{BIN}/requests/{request_id}/raw")
        assert raw.data == body
    resends = client.get(f"/api/bins/{BIN}/requests/3/resends").get_json()["resends"]
    assert [(r["id"], r["status"], r["truncated"]) for r in resends] == [
        (3, 502, True),
        (2, None, False),
    ]
    assert base64.b64decode(resends[0]["body_base64"]) == b"\x00answer\xff" * 3
    assert resends[0]["headers"] == [["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]]
    assert resends[1]["error"] == "refused"

    # Foreign keys still hold: deleting a request still takes its resend attempts along.
    assert client.delete(f"/api/bins/{BIN}/requests/3").status_code == 204
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM resend_attempts").scalar() == 1

    # From now on ids are never reused: the newest deleted, the next capture still gets a
    # new one (0.1.0 on SQLite would hand out 5 again).
    assert client.delete(f"/api/bins/{BIN}/requests/5").status_code == 204
    answer = client.post("/c/tok-set/after-upgrade", data=b"new")
    assert answer.status_code == 202  # the bin's custom default response
    newest = client.get(f"/api/bins/{BIN}/requests?limit=1").get_json()["requests"]
    assert newest[0]["path"] == "/after-upgrade"
    assert newest[0]["id"] > 5


def test_upgrading_from_0002_backfills_each_bins_request_count(tmp_path, database_url, engine):
    """0003 counts what each bin holds; from then on captures and deletes keep it exact."""
    upgrade_to(tmp_path, database_url, "0002")
    fill_0_1_0(engine)  # 0002 has 0.1.0's columns: two bins, 1 and 4 requests
    with engine.begin() as conn:
        insert(conn, "bins", {"id": "bin-empty", "capture_token": "tok-empty", "name": None,
                              "created_at": AT, "last_seq": 3, "resend_url": None,
                              "signature_scheme": "auto", "signature_secrets": [],
                              "signature_tolerance": 300, "signature_options": {},
                              "allowed_networks": [], "handshake_settings": {},
                              "response_settings": {}})  # fmt: skip
        conn.exec_driver_sql("DELETE FROM captured_requests WHERE id = 3")

    upgrade_to(tmp_path, database_url, HEAD)

    with engine.connect() as conn:
        stored = dict(conn.exec_driver_sql("SELECT id, request_count FROM bins").fetchall())
        counted = dict(
            conn.exec_driver_sql(
                "SELECT bins.id, count(captured_requests.id) FROM bins LEFT JOIN "
                "captured_requests ON captured_requests.bin_id = bins.id GROUP BY bins.id"
            ).fetchall()
        )
    assert stored == counted == {"bin-plain": 1, "bin-set": len(BODIES) - 1, "bin-empty": 0}

    client = create_app(config(tmp_path, database_url)).test_client()
    assert client.post("/c/tok-set/after-upgrade", data=b"new").status_code == 202
    assert client.delete(f"/api/bins/{BIN}/requests/2").status_code == 204
    assert client.get(f"/api/bins/{BIN}").get_json()["request_count"] == len(BODIES) - 1
    assert client.post("/c/tok-empty/first", data=b"").status_code == 200
    assert client.get("/api/bins/bin-empty").get_json()["request_count"] == 1


def test_db_upgrade_and_current_say_what_they_did(
    tmp_path, database_url, engine, monkeypatch, capsys
):
    create_0_1_0_schema(engine)
    fill_0_1_0(engine)
    monkeypatch.setenv("WEBBIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WEBBIN_DATABASE_URL", database_url)

    main(["db", "current"])
    assert capsys.readouterr().out.startswith("none: a database made by webbin 0.1.0")
    assert inspect(engine).has_table("alembic_version") is False  # `current` changes nothing

    main(["db", "upgrade"])
    assert capsys.readouterr().out == (
        f"database upgraded from 0001 to {HEAD} (a webbin 0.1.0 database, adopted as 0001 first)\n"
    )
    main(["db", "current"])
    assert capsys.readouterr().out == f"{HEAD} (latest)\n"
    main(["db", "upgrade"])
    assert capsys.readouterr().out == f"database already at the latest revision, {HEAD}\n"


def test_db_upgrade_of_an_empty_database(tmp_path, database_url, engine, monkeypatch, capsys):
    monkeypatch.setenv("WEBBIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WEBBIN_DATABASE_URL", database_url)
    main(["db", "upgrade"])
    assert capsys.readouterr().out == f"database upgraded from an empty database to {HEAD}\n"
    assert set(inspect(engine).get_table_names()) >= {
        "bins",
        "captured_requests",
        "resend_attempts",
    }


def test_an_older_database_is_refused_with_a_clear_message(
    tmp_path, database_url, engine, monkeypatch, capsys
):
    create_0_1_0_schema(engine)
    with engine.begin() as conn:  # what a webbin before 0.1.0 lacked, for example
        conn.exec_driver_sql("ALTER TABLE captured_requests DROP COLUMN delivery_attempt")
    monkeypatch.setenv("WEBBIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WEBBIN_DATABASE_URL", database_url)
    with pytest.raises(SystemExit) as exited:
        main(["db", "upgrade"])
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert "captured_requests.delivery_attempt" in error
    assert "older than 0.1.0" in error
    assert revision_of(engine) is None  # nothing was changed


def test_a_database_from_a_newer_webbin_is_refused(
    tmp_path, database_url, engine, monkeypatch, capsys
):
    create_app(config(tmp_path, database_url))
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    monkeypatch.setenv("WEBBIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WEBBIN_DATABASE_URL", database_url)
    with pytest.raises(SystemExit):
        main(["db", "upgrade"])
    assert "revision 0099, which this webbin does not know" in capsys.readouterr().err


def test_a_failed_upgrade_changes_nothing(tmp_path, engine, database_url, monkeypatch):
    """One transaction: a revision failing half-way leaves the 0.1.0 database as it was."""
    create_0_1_0_schema(engine)
    fill_0_1_0(engine)
    before = (schema_of(engine), snapshot(engine))
    original = HeadMaintainer.update_to_step

    def fail_on_the_last_step(self, step):
        # After 0002 has rebuilt the tables (SQLite), when it would be recorded as done.
        if HEAD in step.to_revisions:
            raise RuntimeError("disk on fire")
        return original(self, step)

    monkeypatch.setattr(HeadMaintainer, "update_to_step", fail_on_the_last_step)
    with pytest.raises(RuntimeError, match="disk on fire"):
        create_app(config(tmp_path, database_url))
    assert revision_of(engine) is None
    assert (schema_of(engine), snapshot(engine)) == before


# --- webbin serve ----------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(3))
def test_serve_with_several_workers_starts_on_a_fresh_database(
    tmp_path, database_url, engine, attempt
):
    """Every time: the master migrates once before forking, the workers never do."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {"WEBBIN_DATA_DIR": str(tmp_path), "WEBBIN_DATABASE_URL": database_url}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "webbin.cli", "serve", "--port", str(port), "--workers", "3"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process)
        deadline = time.monotonic() + 20
        while log.read_text().count("Booting worker") < 3:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        for _ in range(12):  # spread over the workers as they accept
            with urllib.request.urlopen(
                urllib.request.Request(url + "/api/bins", method="POST")
            ) as r:
                bin_ = json.load(r)
            with urllib.request.urlopen(url + capture_path(bin_), data=b"{}") as r:
                assert r.status == 200
        assert process.poll() is None, log.read_text()
        text_log = log.read_text()
        assert "failed to boot" not in text_log
        assert "Traceback" not in text_log
        assert text_log.count(f"database upgraded from an empty database to {HEAD}") == 1
        assert revision_of(engine) == HEAD
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_serve_without_migrating_refuses_an_out_of_date_database(tmp_path, database_url, engine):
    """MIGRATE_ON_START=false is for upgrading by hand: serve then says so rather than start
    workers on a schema they do not match."""
    create_0_1_0_schema(engine)
    env = {
        **os.environ,
        "WEBBIN_DATA_DIR": str(tmp_path),
        "WEBBIN_DATABASE_URL": database_url,
        "WEBBIN_MIGRATE_ON_START": "false",
    }
    done = subprocess.run(
        [sys.executable, "-m", "webbin.cli", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "MIGRATE_ON_START is off, so run `webbin db upgrade` first" in done.stderr
    assert revision_of(engine) is None
