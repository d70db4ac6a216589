"""Property-based fuzzing of the JSON API from its own OpenAPI document: whatever a client
sends (valid or not, real ids or guessed ones), the API never answers with a 5xx.

Runs against the Flask app through WSGI, derandomized and bounded so it takes well under a
minute. Resends never leave the process: the resolver fails every name and dialling is
refused before any socket exists (and ``loopback_only`` would catch it if it were not).
"""

from __future__ import annotations

import socket
import zlib
from pathlib import Path

import pytest
import schemathesis
from helpers import capture_path
from hypothesis import HealthCheck, settings
from netguard import loopback_only_fixture, resolve_names  # noqa: F401
from schemathesis.checks import not_a_server_error

import webbin.outbound.client
from webbin import create_app

# Real ids, so the fuzzer also reaches code past "no such bin".
KNOWN: dict[str, list] = {"id": [], "rid": [], "capture_token": []}
APP: list = []


def seed() -> None:
    """Make sure the known bins exist and hold a request, whatever the last call deleted."""
    from webbin.storage.models import Bin, db

    app = APP[0]
    client = app.test_client()
    with app.app_context():
        for index, (bin_id, token) in enumerate(
            zip(KNOWN["id"], KNOWN["capture_token"], strict=True)
        ):
            if db.session.get(Bin, bin_id) is None:
                db.session.add(Bin(id=bin_id, capture_token=token, name="seed"))
                db.session.commit()
            listing = client.get(f"/api/bins/{bin_id}/requests").get_json()["requests"]
            if not listing:
                client.post(
                    f"/c/{token}/seed?x=1", data=b'{"a": [1, 2]}', content_type="application/json"
                )
                listing = client.get(f"/api/bins/{bin_id}/requests").get_json()["requests"]
            KNOWN["rid"][index] = listing[0]["id"]


@pytest.fixture
def api_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loopback_only):
    resolve_names(monkeypatch, {})

    def refuse(*_args, **_kwargs):
        raise ConnectionRefusedError(socket.errno.ECONNREFUSED, "fuzzing: no dialling")

    monkeypatch.setattr(webbin.outbound.client, "_dial", refuse)
    app = create_app(
        {
            "TESTING": True,
            "DATA_DIR": str(tmp_path),
            "PROFILE": "production",
            "PROBE_BURST": 0,  # the fuzzer guesses ids all day long; that is the point
            "CAPTURE_CLIENT_RATE": 0,
            "CAPTURE_BIN_RATE": 0,
        }
    )
    APP[:] = [app]
    for known in KNOWN.values():
        known.clear()
    for name in ("one", "two"):
        bin_ = app.test_client().post("/api/bins", json={"name": name}).get_json()
        KNOWN["id"].append(bin_["id"])
        KNOWN["capture_token"].append(capture_path(bin_).rsplit("/", 1)[1])
        KNOWN["rid"].append(0)
    seed()
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


@schemathesis.hook
def after_call(context, case, response):
    seed()


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    """Half of the generated ids become real ones (chosen by a stable hash, not at random)."""
    if not path_parameters:
        return path_parameters
    mapped = dict(path_parameters)
    for name, known in KNOWN.items():
        if name in mapped and known and zlib.crc32(repr(mapped[name]).encode()) % 2 == 0:
            mapped[name] = known[zlib.crc32(repr(mapped[name]).encode()) % len(known)]
    return mapped


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_answers_5xx(case):
    case.call_and_validate(checks=[not_a_server_error])
