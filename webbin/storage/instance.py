"""The session key of a webbin whose database may be shared by several hosts.

Flask signs the session cookie (the browser's list of bins, its CSRF token) with
``SECRET_KEY``. Unset, a SQLite webbin generates one into its data folder
(:func:`webbin.config.load`): one file, one host. A PostgreSQL database may be behind several
hosts, and keys generated per host would make every host refuse the others' cookies, so the
key is generated once into the database instead (``instance_secrets``), and every host reads
that one. The first host to start wins; a host that had a key file from before (a webbin that
ran on PostgreSQL before this table existed) offers that key, so its sessions survive.

Whoever can read the database can read this key. It protects nothing that database access
does not already give away (every bin id, every captured request); SECURITY.md says so.
"""

from __future__ import annotations

import secrets

from flask import Flask
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from webbin import config
from webbin.storage.models import InstanceSecret, db

SESSION = "session"


def shared_secret(app: Flask) -> str:
    """The database's session key, generated (or adopted from this host's key file) the
    first time. Safe when several hosts start at once: one insert wins, all read it."""
    try:
        offered = config.secret_path(app).read_text().strip()
    except FileNotFoundError:
        offered = ""
    with app.app_context():
        with db.engine.connect() as conn:
            found = conn.scalar(select(InstanceSecret.value).where(InstanceSecret.name == SESSION))
        if found:
            return found
        try:
            with db.engine.begin() as conn:
                conn.execute(
                    insert(InstanceSecret).values(
                        name=SESSION, value=offered or secrets.token_urlsafe(32)
                    )
                )
        except IntegrityError:
            pass  # another host inserted it first: theirs is the key
        with db.engine.connect() as conn:
            return conn.execute(
                select(InstanceSecret.value).where(InstanceSecret.name == SESSION)
            ).scalar_one()
