"""One session key for every host: without WEBBIN_SECRET_KEY, a PostgreSQL webbin generates
its key once into the database and every host uses it, so a browser's session survives the
load balancer sending it elsewhere. SQLite keeps its key file; a configured key wins."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

import pytest
from deployment import needs_postgres
from sqlalchemy import create_engine, inspect, select

from webbin import create_app
from webbin.storage.models import InstanceSecret


def stored_secrets(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(InstanceSecret.value)))
    finally:
        engine.dispose()


@pytest.mark.postgres
@needs_postgres
def test_hosts_of_one_database_share_the_key_it_keeps(pg_schema_url, tmp_path):
    hosts = [
        create_app({"DATA_DIR": str(tmp_path / name), "DATABASE_URL": pg_schema_url})
        for name in ("a", "b")
    ]
    keys = {app.config["SECRET_KEY"] for app in hosts}
    assert len(keys) == 1
    assert stored_secrets(pg_schema_url) == list(keys)
    assert len(keys.pop()) >= 32
    # Nothing per host: no key file was made.
    assert not (tmp_path / "a" / "secret_key").exists()


@pytest.mark.postgres
@needs_postgres
def test_a_host_key_file_from_before_is_adopted(pg_schema_url, tmp_path):
    (tmp_path / "secret_key").write_text("an-existing-key-from-webbin-0-1\n")
    app = create_app({"DATA_DIR": str(tmp_path), "DATABASE_URL": pg_schema_url})
    assert app.config["SECRET_KEY"] == "an-existing-key-from-webbin-0-1"
    other = create_app({"DATA_DIR": str(tmp_path / "other"), "DATABASE_URL": pg_schema_url})
    assert other.config["SECRET_KEY"] == "an-existing-key-from-webbin-0-1"


@pytest.mark.postgres
@needs_postgres
def test_a_configured_key_is_used_and_nothing_is_stored(pg_schema_url, tmp_path):
    app = create_app(
        {"DATA_DIR": str(tmp_path), "DATABASE_URL": pg_schema_url, "SECRET_KEY": "k" * 40}
    )
    assert app.config["SECRET_KEY"] == "k" * 40
    assert stored_secrets(pg_schema_url) == []


def test_sqlite_keeps_its_key_file_and_stores_nothing(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path)})
    assert (tmp_path / "secret_key").read_text() == app.config["SECRET_KEY"]
    engine = create_engine(app.config["DATABASE_URL"])
    try:
        assert "instance_secrets" in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert list(conn.scalars(select(InstanceSecret.value))) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
@needs_postgres
def test_a_session_made_on_one_server_is_good_on_the_other(serve, pg_schema_url):
    env = {"WEBBIN_DATABASE_URL": pg_schema_url, "WEBBIN_WORKERS": "2"}
    first, second = serve(env), serve(env)
    # Cookies belong to 127.0.0.1 whatever the port: one browser, two hosts behind one name.
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    home = browser.open(first.url + "/").read().decode()
    token = re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "name": "made-on-the-first"}).encode()
    browser.open(first.url + "/bins", data=form).read()
    assert "made-on-the-first" in browser.open(second.url + "/").read().decode()
    # And the CSRF token of the session is accepted there too.
    form = urllib.parse.urlencode({"csrf_token": token, "name": "made-on-the-second"}).encode()
    browser.open(second.url + "/bins", data=form).read()
    assert "made-on-the-second" in browser.open(first.url + "/").read().decode()
