"""Typed API bodies through the real app, on SQLite and PostgreSQL: bodies that used to
answer 500, unknown keys at every level, wrong types named by their path, and the partial
update semantics the API has always had."""

from __future__ import annotations

import json

import pytest
from helpers import capture_path


@pytest.fixture
def bin_(client) -> dict:
    return client.post("/api/bins").get_json()


def patch(client, bin_, body):
    """PATCH with ``body`` sent as written (a str) or as JSON."""
    data = body if isinstance(body, str) else json.dumps(body)
    return client.patch(f"/api/bins/{bin_['id']}", data=data, content_type="application/json")


def refused(response) -> dict[str, str]:
    """The 400's errors as {path: message}, after checking the common error shape."""
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error", "message", "errors"}
    assert body["error"] == "bad_request" and body["message"]
    assert body["errors"] and all(set(e) == {"path", "message"} for e in body["errors"])
    return {e["path"]: e["message"] for e in body["errors"]}


# --- what answered 500 before -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ('{"response": {"default": {"headers": 5}}}', "response.default.headers"),
        ('{"response": {"default": {"headers": null}}}', "response.default.headers"),
        ('{"handshakes": {"enabled": [["x"]]}}', "handshakes.enabled[0]"),
        # PostgreSQL refuses NUL in text, and no database can store a lone surrogate.
        ('{"name": "a\\u0000b"}', "name"),
        ('{"name": "a\\ud800b"}', "name"),
        ('{"resend_url": "http://x/\\u0000"}', "resend_url"),
        # gunicorn refuses to send such a header: every capture of the bin answered 500.
        (
            '{"response": {"default": {"headers": [["X-Price", "5 \\u20ac"]]}}}',
            "response.default.headers[0][1]",
        ),
        (
            '{"response": {"default": {"content_type": "text/plain\\u0001"}}}',
            "response.default.content_type",
        ),
    ],
)
def test_bodies_that_answered_500_are_400_with_the_path(client, bin_, body, path):
    errors = refused(patch(client, bin_, body))
    assert path in errors, errors
    assert client.get(f"/api/bins/{bin_['id']}").status_code == 200


def test_a_bad_name_on_create_is_400(client):
    errors = refused(
        client.post("/api/bins", data='{"name": "a\\u0000"}', content_type="application/json")
    )
    assert list(errors) == ["name"]


# --- unknown keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"nmae": "typo"}, "nmae"),
        ({"signature": {"secret": ["s"]}}, "signature.secret"),
        ({"signature": {"generic": {"header": "X-Sig", "hash": "md5"}}}, "signature.generic.hash"),
        ({"handshakes": {"disabled": ["slack"]}}, "handshakes.disabled"),
        ({"response": {"defaults": {}}}, "response.defaults"),
        ({"response": {"default": {"code": 201}}}, "response.default.code"),
        ({"response": {"rules": [{"response": {}, "glob": "/x"}]}}, "response.rules[0].glob"),
        (
            {"response": {"rules": [{"response": {}}, {"response": {"wait": 1}}]}},
            "response.rules[1].response.wait",
        ),
        ({"x y": 1}, '["x y"]'),
    ],
)
def test_unknown_keys_are_400_naming_key_and_path(client, bin_, body, path):
    response = patch(client, bin_, {"name": "kept", **body})
    errors = refused(response)
    assert errors == {path: "is not a known field"}
    assert path in response.get_json()["message"]
    assert client.get(f"/api/bins/{bin_['id']}").get_json()["name"] is None  # nothing changed


def test_unknown_keys_in_other_bodies(client, bin_):
    created = client.post("/api/bins", json={"name": "x", "colour": "red"})
    assert refused(created) == {"colour": "is not a known field"}
    client.post(capture_path(bin_))
    rid = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]["id"]
    resent = client.post(f"/api/bins/{bin_['id']}/requests/{rid}/resend", json={"URL": "http://x/"})
    assert refused(resent) == {"URL": "is not a known field"}


# --- wrong types, with paths ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"name": 5}, "name", "must be a valid string"),
        ({"signature": "github"}, "signature", "must be an object"),
        (
            {"signature": {"tolerance_seconds": "300"}},
            "signature.tolerance_seconds",
            "must be a valid integer",
        ),
        (
            {"signature": {"tolerance_seconds": True}},
            "signature.tolerance_seconds",
            "must be a valid integer",
        ),
        (
            {"signature": {"tolerance_seconds": 1.5}},
            "signature.tolerance_seconds",
            "must be a valid integer",
        ),
        ({"signature": {"secrets": ["ok", 7]}}, "signature.secrets[1]", "must be a valid string"),
        ({"signature": {"secrets": None}}, "signature.secrets", "must be a valid list"),
        (
            {"allowed_networks": ["10.0.0.0/8", "nope"]},
            "allowed_networks[1]",
            "must be an IP address or CIDR network, e.g. 192.30.252.0/22",
        ),
        ({"handshakes": {"enabled": "slack"}}, "handshakes.enabled", "must be a valid list"),
        ({"handshakes": {"zoom_secret": 5}}, "handshakes.zoom_secret", "must be a valid string"),
        (
            {"response": {"default": {"status": "200"}}},
            "response.default.status",
            "must be a valid integer",
        ),
        (
            {"response": {"default": {"status": False}}},
            "response.default.status",
            "must be a valid integer",
        ),
        (
            {"response": {"default": {"status": 42}}},
            "response.default.status",
            "must be an integer from 100 to 599",
        ),
        (
            {"response": {"default": {"headers": [[1, "x"]]}}},
            "response.default.headers[0][0]",
            "must be a valid string",
        ),
        (
            {"response": {"default": {"headers": ["X-A: b"]}}},
            "response.default.headers[0]",
            "must be a valid tuple",
        ),
        (
            {"response": {"default": {"headers": [["X A", "b"]]}}},
            "response.default.headers[0][0]",
            "must be a header name: 1 to 100 letters, digits or !#$%&'*+.^_`|~-",
        ),
        (
            {"response": {"rules": [{"response": {}}, {"method": 5, "response": {}}]}},
            "response.rules[1].method",
            "must be a valid string",
        ),
        ({"response": {"rules": [{"path": "/x"}]}}, "response.rules[0].response", "is required"),
        ({"response": {"rules": {"path": "/x"}}}, "response.rules", "must be a valid list"),
    ],
)
def test_wrong_types_are_400_with_the_fields_path(client, bin_, body, path, message):
    assert refused(patch(client, bin_, body)) == {path: message}


def test_every_bad_field_is_reported(client, bin_):
    errors = refused(
        patch(
            client,
            bin_,
            {
                "signature": {"scheme": "nope", "secrets": " "},
                "response": {"default": {"delay_ms": -1}},
            },
        )
    )
    assert set(errors) == {"signature.scheme", "signature.secrets", "response.default.delay_ms"}


def test_body_that_is_not_an_object(client, bin_):
    response = patch(client, bin_, "[1, 2]")
    assert refused(response) == {"": "The request body must be a JSON object."}


# --- semantics kept ---------------------------------------------------------------------


def test_partial_patch_changes_only_the_fields_present(client, bin_):
    patch(
        client, bin_, {"signature": {"scheme": "github", "secrets": ["first-secret-long-enough"]}}
    )
    changed = patch(client, bin_, {"signature": {"tolerance_seconds": 60}}).get_json()
    assert changed["signature"]["scheme"] == "github"
    assert changed["signature"]["secrets"] == ["first-…ough"]
    assert changed["signature"]["tolerance_seconds"] == 60
    renamed = patch(client, bin_, {"name": "n"}).get_json()
    assert renamed["signature"] == changed["signature"]
    # JSON has one number type: 300.0 is the integer 300.
    assert (
        patch(client, bin_, {"signature": {"tolerance_seconds": 300.0}}).get_json()["signature"][
            "tolerance_seconds"
        ]
        == 300
    )


def test_handshake_secrets_null_keeps_empty_clears(client, bin_):
    patch(client, bin_, {"handshakes": {"zoom_secret": "z", "meta_verify_token": "m"}})
    kept = patch(client, bin_, {"handshakes": {"zoom_secret": None, "enabled": ["zoom"]}})
    assert kept.get_json()["handshakes"] == {
        "enabled": ["zoom"],
        "meta_verify_token_set": True,
        "zoom_secret_set": True,
        "twitter_consumer_secret_set": False,
    }
    cleared = patch(client, bin_, {"handshakes": {"zoom_secret": "", "enabled": None}})
    assert cleared.get_json()["handshakes"]["zoom_secret_set"] is False
    assert cleared.get_json()["handshakes"]["meta_verify_token_set"] is True
    assert len(cleared.get_json()["handshakes"]["enabled"]) == 6  # null: all on again


def test_values_are_normalised_as_before(client, bin_):
    data = patch(
        client,
        bin_,
        {
            "name": "",
            "signature": {"secrets": ["  padded-secret-value-here  "]},
            "allowed_networks": [" 10.1.2.3/8 ", "2001:db8::1"],
            "response": {"default": {"headers": [["X-Ok", "1"], ["Set-Cookie", "a=b"]]}},
        },
    ).get_json()
    assert data["name"] is None
    assert data["signature"]["secrets"] == ["padded…here"]
    assert data["allowed_networks"] == ["10.0.0.0/8", "2001:db8::1/128"]
    assert data["response"]["default"]["headers"] == [["X-Ok", "1"]]  # cookies are dropped
    reset = patch(client, bin_, {"response": None}).get_json()
    assert reset["response"] == {"default": None, "rules": []}
    assert client.post(capture_path(bin_)).get_json()["ok"] is True


def test_a_refused_body_changes_nothing(client, bin_):
    patch(client, bin_, {"response": {"default": {"status": 202}}})
    response = patch(client, bin_, {"name": "x", "response": {"default": {"status": 42}}})
    assert response.status_code == 400
    data = client.get(f"/api/bins/{bin_['id']}").get_json()
    assert data["name"] is None and data["response"]["default"]["status"] == 202
    assert client.post(capture_path(bin_)).status_code == 202
