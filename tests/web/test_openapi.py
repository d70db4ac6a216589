"""The OpenAPI document: valid, in step with the app's routes, and true to real responses.

Every response in the round trips is checked against the document: its status code must be
listed for the operation, and its JSON body must validate against the documented schema with
no undocumented fields (objects are closed for the check).
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

from webbin import create_app
from webbin.storage.models import db
from webbin.web.openapi import openapi_document

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Flask adds these to every rule; the document lists only what the code defines.
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}
# Flask argument name -> OpenAPI path parameter name.
PARAMETER_NAMES = {
    "bin_id": "id",
    "request_id": "rid",
    "other_id": "other",
    "token": "capture_token",
    "sub_path": "path",
    "job_id": "job",
}
DOC_URI = "urn:webbin:openapi"


@pytest.fixture
def api_app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app({"DATA_DIR": str(tmp_path), "TESTING": True})
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def api_client(api_app: Flask) -> FlaskClient:
    return api_app.test_client()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


# --- the document itself ----------------------------------------------------------------


def test_document_is_valid_openapi_3_1(document):
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document["openapi"].startswith("3.1.")


def test_servers_resolve_against_the_serving_host(document):
    for server in document.get("servers", []):
        assert server["url"].startswith("/")


def test_operation_ids_are_unique(document):
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))


def test_served_at_api_openapi_json(api_client):
    response = api_client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == openapi_document()


# --- the document against the app's routes ----------------------------------------------


def openapi_path(rule: str) -> str:
    """``/api/bins/<bin_id>/requests/<int:request_id>`` -> ``/api/bins/{id}/requests/{rid}``."""
    return re.sub(
        r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: "{" + PARAMETER_NAMES[m.group(1)] + "}", rule
    )


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def documented_methods(document: dict[str, Any], path: str) -> set[str]:
    return {method.upper() for p, method, _ in operations(document) if p == path}


def test_every_api_route_is_documented_with_its_methods(api_app, document):
    routes: dict[str, set[str]] = {}
    for rule in api_app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            methods = set(rule.methods or ()) - AUTOMATIC_METHODS
            routes.setdefault(openapi_path(rule.rule), set()).update(methods)
    assert "/api/bins/{id}/stream" in routes  # the WebSocket route, documented as a GET

    documented = {p: documented_methods(document, p) for p in document["paths"]}
    for path, methods in routes.items():
        assert documented.get(path) == methods, path
    for path in documented:
        if path.startswith("/api/"):
            assert path in routes, f"{path} is documented but not served"


def test_capture_paths_match_capture_rules(api_app, document):
    capture_rules = [r for r in api_app.url_map.iter_rules() if r.endpoint == "capture.capture"]
    served = {openapi_path(r.rule).rstrip("/") for r in capture_rules}
    documented = {p for p in document["paths"] if p.startswith("/c/")}
    assert documented == served
    # The rules take every method, so the document lists every method OpenAPI can name.
    assert all(rule.methods is None for rule in capture_rules)
    for path in documented:
        assert documented_methods(document, path) == {m.upper() for m in HTTP_METHODS}


def test_websocket_stream_is_described(document):
    stream = document["paths"]["/api/bins/{id}/stream"]
    assert "101" in stream["get"]["responses"]
    assert stream["x-websocket"]["message"]["schema"] == {
        "$ref": "#/components/schemas/RequestSummary"
    }
    assert "/api/bins/{id}/stream?after={rid}" in document["info"]["description"]


# --- real responses against the document ------------------------------------------------


def closed(node: Any) -> Any:
    """A copy of ``node`` in which every object schema with properties forbids others."""
    if isinstance(node, list):
        return [closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: closed(value) for key, value in node.items()}
    if result.get("type") == "object" and isinstance(result.get("properties"), dict):
        result.setdefault("additionalProperties", False)
    return result


format_checker = FormatChecker()


@format_checker.checks("byte", raises=(binascii.Error, ValueError))
def is_base64(value: object) -> bool:
    return not isinstance(value, str) or base64.b64decode(value, validate=True) is not None


@format_checker.checks("uri")
def is_absolute_uri(value: object) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return parts is None or bool(parts.scheme and parts.netloc)


class Contract:
    """Checks a response against the documented operation that its request reached."""

    def __init__(self, app: Flask, document: dict[str, Any]) -> None:
        self.urls = app.url_map.bind("localhost")
        self.document = document
        strict = closed(copy.deepcopy(document))
        self.registry = Registry().with_resource(DOC_URI, Resource(strict, DRAFT202012))

    def operation(self, method: str, url_path: str) -> dict[str, Any]:
        rule, _ = self.urls.match(url_path, method=method, return_rule=True)
        return self.document["paths"][openapi_path(rule.rule).rstrip("/")][method.lower()]

    def check(self, response: TestResponse) -> Any:
        """Assert ``response`` is documented for its request; return its (JSON) body."""
        request = response.request
        responses = self.operation(request.method, request.path)["responses"]
        status = str(response.status_code)
        assert status in responses, f"{request.method} {request.path} -> {status} undocumented"
        content = responses[status].get("content")
        if content is None or request.method == "HEAD":
            assert response.data == b""
            return None
        if "application/json" not in content:
            assert response.mimetype in content
            return response.data
        assert response.mimetype == "application/json"
        schema = content["application/json"]["schema"]
        if "$ref" in schema:
            schema = {"$ref": DOC_URI + schema["$ref"]}
        body = response.get_json()
        Draft202012Validator(
            schema, registry=self.registry, format_checker=format_checker
        ).validate(body)
        return body


@pytest.fixture
def contract(api_app, document) -> Contract:
    return Contract(api_app, document)


class Target(BaseHTTPRequestHandler):
    """A resend target that answers every request with a small JSON body."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"received": true}'
        self.send_response(202, "Accepted")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def target_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Target)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    server.server_close()


def test_round_trip_matches_the_document(api_client, contract, target_url):
    c, check = api_client, contract.check
    bin_ = check(c.post("/api/bins", json={"name": "hooks"}))
    assert (bin_["name"], bin_["request_count"]) == ("hooks", 0)
    assert check(c.post("/api/bins"))["name"] is None  # the body is optional
    api = f"/api/bins/{bin_['id']}"

    capture_path = urlsplit(bin_["capture_url"]).path
    captured = c.post(capture_path, data=b'{"a":1}', headers={"Content-Type": "application/json"})
    assert check(captured) == {"ok": True, "id": captured.get_json()["id"], "seq": 1}
    assert check(c.put(f"{capture_path}/github/push?x=1", data=b"\xff\x00"))["seq"] == 2
    assert check(c.head(capture_path)) is None  # captured too; HEAD answers have no body

    page = check(c.get(f"{api}/requests"))
    assert [r["seq"] for r in page["requests"]] == [3, 2, 1]
    assert page["next_before"] is None
    third, second, first = (r["id"] for r in page["requests"])
    assert check(c.get(f"{api}/requests?limit=1"))["next_before"] == third
    assert [r["id"] for r in check(c.get(f"{api}/requests?before={third}"))["requests"]] == [
        second,
        first,
    ]

    detail = check(c.get(f"{api}/requests/{first}"))
    assert (detail["method"], detail["path"]) == ("POST", "/")
    assert ["Content-Type", "application/json"] in detail["headers"]
    assert base64.b64decode(detail["body_base64"]) == b'{"a":1}'
    assert detail["body_text"] == '{"a":1}'
    changed = check(c.get(f"{api}/requests/{first}/diff/{second}"))
    assert (changed["body"]["kind"], changed["request_line"][0]["field"]) == ("binary", "method")
    assert check(c.get(f"{api}/requests/{first}/diff/{first}"))["body"]["kind"] == "identical"
    binary = check(c.get(f"{api}/requests/{second}"))
    assert (binary["path"], binary["query_string"]) == ("/github/push", "x=1")
    assert binary["body_text"] is None

    raw = c.get(f"{api}/requests/{first}/raw")
    assert check(raw) == b'{"a":1}'
    documented = contract.operation("GET", raw.request.path)["responses"]["200"]["headers"]
    assert set(documented) <= set(raw.headers.keys())

    assert check(c.get(f"{api}/requests/{first}/resends")) == {"resends": []}
    sent = check(c.post(f"{api}/requests/{first}/resend", json={"url": target_url + "{path}"}))
    assert (sent["status"], sent["body_text"], sent["error"]) == (202, '{"received": true}', None)
    assert sent["sent"]["body_text"] == '{"a":1}' and not sent["sent"]["edited"]
    edited = {"url": target_url, "method": "PUT", "headers": [["X-A", "1"]], "body_text": "x"}
    assert check(c.post(f"{api}/requests/{first}/resend", json=edited))["sent"]["edited"]
    invalid = c.post(f"{api}/requests/{first}/resend", json={"url": "ftp://nowhere/"})
    assert invalid.status_code == 400 and "http" in check(invalid)["message"]  # not recorded
    closed = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connect is refused
    failed = check(c.post(f"{api}/requests/{first}/resend", json={"url": closed}))
    assert failed["status"] is None
    assert failed["error"]
    resends = check(c.get(f"{api}/requests/{first}/resends"))["resends"]
    assert [r["id"] for r in resends][::2] == [failed["id"], sent["id"]]

    assert check(c.get(api))["resend_url"] == closed  # remembered: it went out
    patched = check(c.patch(api, json={"name": None, "resend_url": ""}))
    assert (patched["name"], patched["resend_url"], patched["request_count"]) == (None, None, 3)

    check(c.delete(f"{api}/requests/{first}"))
    check(c.delete(f"{api}/requests"))
    check(c.delete(api))
    assert check(c.get(api))["error"] == "not_found"


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status"),
    [
        ("post", "/api/bins", {"data": "[1]", "content_type": "application/json"}, 400),
        ("post", "/api/bins", {"json": {"name": 7}}, 400),
        ("get", "/api/bins/nope", {}, 404),
        ("patch", "/api/bins/{id}", {"data": "not json"}, 400),
        ("patch", "/api/bins/{id}", {"json": {"resend_url": "x" * 2001}}, 400),
        ("patch", "/api/bins/nope", {"json": {}}, 404),
        ("patch", "/api/bins/{id}", {"json": {"colour": "red"}}, 400),
        ("patch", "/api/bins/{id}", {"json": {"response": {"default": {"headers": 5}}}}, 400),
        ("patch", "/api/bins/{id}", {"json": {"handshakes": {"enabled": [["x"]]}}}, 400),
        ("post", "/api/bins/{id}/requests/{rid}/resend", {"json": {"url": 5}}, 400),
        ("delete", "/api/bins/nope", {}, 404),
        ("get", "/api/bins/{id}/requests?limit=0", {}, 400),
        ("get", "/api/bins/{id}/requests?limit=501", {}, 400),
        ("get", "/api/bins/{id}/requests?before=0", {}, 400),
        ("get", "/api/bins/{id}/requests?before=x", {}, 400),
        ("get", "/api/bins/nope/requests", {}, 404),
        ("delete", "/api/bins/nope/requests", {}, 404),
        ("get", "/api/bins/{id}/requests/99999", {}, 404),
        ("delete", "/api/bins/{id}/requests/99999", {}, 404),
        ("get", "/api/bins/{id}/requests/99999/raw", {}, 404),
        ("get", "/api/bins/{id}/requests/99999/resends", {}, 404),
        ("get", "/api/bins/{id}/requests/{rid}/diff/99999", {}, 404),
        ("get", "/api/bins/nope/requests/{rid}/diff/{rid}", {}, 404),
        (
            "post",
            "/api/bins/{id}/requests/{rid}/resend",
            {"json": {"headers": [["a b", "c"]]}},
            400,
        ),
        (
            "post",
            "/api/bins/{id}/requests/{rid}/resend",
            {"json": {"url": "http://x/", "resign": True}},
            400,
        ),
        ("post", "/api/bins/{id}/requests/99999/resend", {"json": {"url": "http://x/"}}, 404),
        ("post", "/api/bins/{id}/requests/{rid}/resend", {"json": {}}, 400),
        ("post", "/api/bins/{id}/requests/{rid}/resend", {}, 400),
    ],
)
def test_errors_match_the_document(api_client, contract, method, url, kwargs, status):
    bin_ = api_client.post("/api/bins").get_json()
    api_client.post(urlsplit(bin_["capture_url"]).path, data=b"x")
    rid = api_client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]["id"]
    response = getattr(api_client, method)(url.format(id=bin_["id"], rid=rid), **kwargs)
    assert response.status_code == status
    assert contract.check(response)["message"]


def test_capture_errors_match_the_document(tmp_path, document):
    app = create_app({"DATA_DIR": str(tmp_path), "TESTING": True, "MAX_BODY_BYTES": 16})
    client, check = app.test_client(), Contract(app, document).check
    assert check(client.post("/c/no-such-token", data=b"x"))["error"] == "not_found"
    capture_path = urlsplit(client.post("/api/bins").get_json()["capture_url"]).path
    too_large = check(client.post(capture_path + "/deep/path", data=b"x" * 17))
    assert too_large["error"] == "body_too_large"
    with app.app_context():
        db.engine.dispose()


# --- bodies and settings, generated from the models the API validates with --------------


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` itself, or the component it refers to (directly or as the non-null branch
    of a nullable ``anyOf``)."""
    if "anyOf" in schema:
        (schema,) = [s for s in schema["anyOf"] if s.get("type") != "null"]
    if "$ref" in schema:
        return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def nested_properties(
    document: dict[str, Any], schema: dict[str, Any], prefix: str = "", body: bool = True
) -> set[str]:
    """Every property path the schema describes, e.g. ``response.default.headers``; for a
    request ``body``, checks on the way that every object is closed."""
    schema = resolve(document, schema)
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return nested_properties(document, schema["items"], prefix, body)
    paths: set[str] = set()
    if schema.get("type") == "object":
        assert not body or schema.get("additionalProperties") is False, prefix or "the body"
        for name, sub in schema["properties"].items():
            path = f"{prefix}.{name}" if prefix else name
            paths |= {path} | nested_properties(document, sub, path, body)
    return paths


SETTINGS_FIELDS = {
    "signature.scheme",
    "signature.secrets",
    "signature.tolerance_seconds",
    "signature.generic.header",
    "signature.generic.algorithm",
    "signature.generic.encoding",
    "signature.generic.prefix",
    "allowed_networks",
    "handshakes.enabled",
    "response.default.status",
    "response.default.content_type",
    "response.default.headers",
    "response.default.body",
    "response.default.delay_ms",
    "response.rules.method",
    "response.rules.path",
    "response.rules.response.status",
    "response.rules.response.headers",
}


def request_body(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


def test_patch_body_describes_every_nested_setting(document):
    fields = nested_properties(document, request_body(document, "/api/bins/{id}", "patch"))
    assert (
        SETTINGS_FIELDS
        | {
            "name",
            "resend_url",
            "handshakes.meta_verify_token",
            "handshakes.zoom_secret",
            "handshakes.twitter_consumer_secret",
        }
        <= fields
    )
    headers = resolve(document, _at(document, "ResponseSpec", "headers"))
    assert headers["items"]["prefixItems"][0]["pattern"].startswith("^[!#$")
    status = _at(document, "ResponseSpec", "status")
    assert (status["minimum"], status["maximum"]) == (100, 599)


def test_other_bodies_are_closed_too(document):
    assert nested_properties(document, request_body(document, "/api/bins", "post")) == {"name"}
    resend = request_body(document, "/api/bins/{id}/requests/{rid}/resend", "post")
    assert nested_properties(document, resend) == {
        "url",
        "method",
        "headers",
        "body_text",
        "body_base64",
        "resign",
        "forwarder",
    }


def test_bin_describes_its_settings_as_shown(document):
    fields = nested_properties(document, {"$ref": "#/components/schemas/Bin"}, body=False)
    assert SETTINGS_FIELDS | {"handshakes.zoom_secret_set", "request_count"} <= fields
    assert "handshakes.zoom_secret" not in fields  # secrets are write-only


def test_components_refer_only_to_components(document):
    text = str(document["components"])
    assert "$defs" not in text
    refs = set(re.findall(r"#/components/schemas/(\w+)", str(document)))
    assert refs <= set(document["components"]["schemas"])


def _at(document: dict[str, Any], component: str, name: str) -> dict[str, Any]:
    return document["components"]["schemas"][component]["properties"][name]


FULL_SETTINGS = {
    "name": "all of it",
    "resend_url": "http://127.0.0.1:9/{path}",
    "signature": {
        "scheme": "generic-hmac",
        "secrets": ["first-secret-of-enough-length", "second"],
        "tolerance_seconds": 600,
        "generic": {"header": "X-Sig", "algorithm": "sha1", "encoding": "base64", "prefix": "s="},
    },
    "allowed_networks": ["192.30.252.0/22", "2001:db8::/32"],
    "handshakes": {"enabled": ["slack", "zoom"], "zoom_secret": "z", "meta_verify_token": ""},
    "response": {
        "default": {
            "status": 202,
            "content_type": "text/plain",
            "headers": [["X-One", "1"]],
            "body": "ok",
            "delay_ms": 0,
        },
        "rules": [
            {"method": "POST", "path": "/fail/*", "response": {"status": 500}},
            {"method": None, "path": None, "response": {}},
        ],
    },
}


def test_full_settings_round_trip_matches_the_document(api_client, contract):
    bin_ = contract.check(api_client.post("/api/bins", json={}))
    changed = contract.check(api_client.patch(f"/api/bins/{bin_['id']}", json=FULL_SETTINGS))
    assert changed["signature"]["generic"] == FULL_SETTINGS["signature"]["generic"]
    assert changed["response"]["rules"][1]["response"]["status"] == 200  # defaults filled in
    assert changed["handshakes"]["zoom_secret_set"] is True
    assert changed.pop("reverified") == 0  # no request stored yet
    assert contract.check(api_client.get(f"/api/bins/{bin_['id']}")) == changed


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": None, "resend_url": ""},
        {"response": None},
        {"response": {}},
        {"response": {"default": None, "rules": None}},
        {"signature": {"tolerance_seconds": 1}},
        {"handshakes": {"enabled": None, "zoom_secret": None}},
        FULL_SETTINGS,
        {"extra": 1},
        {"signature": None},
        {"signature": {"scheme": "md5"}},
        {"signature": {"secrets": ["x"] * 11}},
        {"signature": {"tolerance_seconds": 0}},
        {"signature": {"generic": {}}},
        {"signature": {"generic": {"header": "X", "algorithm": "md5"}}},
        {"handshakes": {"enabled": ["pigeon"]}},
        {"handshakes": {"enabled": [], "other": 1}},
        {"response": {"default": {"status": 600}}},
        {"response": {"default": {"delay_ms": 30001}}},
        {"response": {"default": {"headers": [["X", "a", "b"]]}}},
        {"response": {"default": {"headers": [["X:", "a"]]}}},
        {"response": {"default": {"content_type": ""}}},
        {"response": {"rules": [{"response": {}}] * 51}},
        {"response": {"rules": [{"method": "GET"}]}},
        {"response": {"rules": [{"path": "no-slash", "response": {}}]}},
        {"name": "x" * 201},
    ],
)
def test_the_document_and_the_validation_agree(api_client, document, body):
    """A PATCH body is accepted exactly when it validates against the document's schema."""
    bin_ = api_client.post("/api/bins").get_json()
    registry = Registry().with_resource(DOC_URI, Resource(document, DRAFT202012))
    schema = {"$ref": DOC_URI + request_body(document, "/api/bins/{id}", "patch")["$ref"]}
    valid = Draft202012Validator(schema, registry=registry).is_valid(body)
    response = api_client.patch(f"/api/bins/{bin_['id']}", json=body)
    assert response.status_code == (200 if valid else 400), response.get_json()
