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
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

import webbin.outbound.client
from webbin import create_app

# Real ids, so the fuzzer also reaches code past "no such bin".
KNOWN: dict[str, list] = {"id": [], "rid": [], "capture_token": []}
APP: list = []


def seed() -> None:
    """Make sure the known bins exist, answer at once and hold a request, whatever the last
    call deleted or changed."""
    from webbin.storage.models import Bin, db

    app = APP[0]
    client = app.test_client()
    with app.app_context():
        for index, (bin_id, token) in enumerate(
            zip(KNOWN["id"], KNOWN["capture_token"], strict=True)
        ):
            bin_ = db.session.get(Bin, bin_id)
            if bin_ is None:
                db.session.add(Bin(id=bin_id, capture_token=token, name="seed"))
            else:  # a fuzzed custom response may delay answers by up to 30 s: undo it
                bin_.response_settings = {}
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


def leaf_paths(value, prefix=""):
    """Every path into a JSON value, e.g. ``response.default.headers``."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path
            yield from leaf_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            yield from leaf_paths(item, prefix)


NESTED = {
    "signature.scheme",
    "signature.secrets",
    "signature.generic.header",
    "handshakes.enabled",
    "handshakes.zoom_secret",
    "response.default.status",
    "response.default.headers",
    "response.rules.response",
}


def test_fuzzer_reaches_nested_settings(api_schema):
    """Schemathesis' coverage phase, run on PATCH /api/bins/{id}: from the document alone it
    builds bodies that fill every nested settings field, that break each one and that add
    an unknown key at each level. Nothing gets a 5xx; bodies that fit the document are
    accepted (only CIDRs are beyond what JSON Schema can say); the others get 400 with the
    path of each bad field."""
    operation = api_schema["/api/bins/{id}"]["PATCH"]
    config = api_schema.config.generation_for(operation=operation)
    cases = [
        case
        for case in api_schema.iter_coverage_cases(
            operation, generation_modes=list(GenerationMode), generation_config=config
        )
        if case.method == "PATCH"  # the phase also tries unexpected methods
    ]
    accepted: set[str] = set()
    error_paths: set[str] = set()
    for case in cases:
        case.path_parameters = {"id": KNOWN["id"][0]}
        response = case.call()
        assert response.status_code < 500, (case.body, response.text)
        if response.status_code == 200:
            accepted.update(leaf_paths(case.body))
            continue
        assert response.status_code == 400, (case.body, response.text)
        errors = response.json()["errors"]
        assert errors and all(e["message"] for e in errors), response.json()
        error_paths.update(e["path"] for e in errors)
        if case.meta.generation.mode is GenerationMode.POSITIVE:
            assert all(e["path"].startswith("allowed_networks[") for e in errors), errors
    assert accepted >= NESTED, NESTED - accepted
    unknown = '["x-schemathesis-unknown-property"]'
    for level in (
        "",
        "signature",
        "signature.generic",
        "handshakes",
        "response",
        "response.default",
        "response.rules[0]",
        "response.rules[0].response",
    ):
        assert level + unknown in error_paths, level
    for field in (
        "signature.tolerance_seconds",
        "handshakes.enabled[0]",
        "response.default.status",
        "response.default.headers[0][0]",
        "response.rules[0].response.delay_ms",
    ):
        assert field in error_paths, field
