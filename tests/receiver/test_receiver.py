"""Receiver features through the app: verdicts, re-verification, handshakes, custom
responses, sender checks and retry marking."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time

import pytest
from helpers import capture_path

from webbin.capture import endpoint

SECRET = "It's a Secret to Everybody"


def github_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """GitHub's X-Hub-Signature-256, written here independently of webbin's verifier."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Event": "push",
        "Content-Type": "application/json",
    }


@pytest.fixture
def bin_(client) -> dict:
    return client.post("/api/bins").get_json()


def newest(client, bin_) -> dict:
    rid = client.get(f"/api/bins/{bin_['id']}/requests?limit=1").get_json()["requests"][0]["id"]
    return client.get(f"/api/bins/{bin_['id']}/requests/{rid}").get_json()


def patch(client, bin_, data) -> dict:
    response = client.patch(f"/api/bins/{bin_['id']}", json=data)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_secret_added_later_reverifies_past_requests(client, bin_):
    body = b'{"zen": "Keep it logically awesome."}'
    client.post(capture_path(bin_), data=body, headers=github_headers(body))
    client.post(capture_path(bin_), data=body, headers=github_headers(body, "wrong secret"))
    statuses = [
        r["signature_status"]
        for r in client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"]
    ]
    assert statuses == ["unverified", "unverified"]

    patch(client, bin_, {"signature": {"scheme": "auto", "secrets": [SECRET]}})
    rows = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"]
    assert [r["signature_status"] for r in rows] == ["invalid", "valid"]
    detail = newest(client, bin_)
    assert detail["signature"]["scheme"] == "github"
    assert detail["signature"]["status"] == "invalid"
    assert detail["signature"]["received"] and detail["signature"]["expected"]


def test_secrets_are_write_only(client, bin_):
    data = patch(client, bin_, {"signature": {"secrets": ["whsec_averyveryverylongsecretvalue"]}})
    text = json.dumps(data)
    assert "averyveryverylongsecret" not in text
    assert data["signature"]["secrets"] == ["whsec_…alue"]
    page = client.get(f"/bins/{bin_['id']}").get_data(as_text=True)
    assert "averyveryverylongsecret" not in page


@pytest.mark.parametrize(
    "settings",
    [
        {"signature": {"scheme": "nope"}},
        {"signature": {"secrets": "not a list"}},
        {"signature": {"tolerance_seconds": 0}},
        {"allowed_networks": ["not-a-cidr"]},
        {"response": {"default": {"status": 42}}},
        {"response": {"default": {"delay_ms": 60000}}},
        {"handshakes": {"enabled": ["carrier-pigeon"]}},
    ],
)
def test_invalid_settings_are_400(client, bin_, settings):
    response = client.patch(f"/api/bins/{bin_['id']}", json=settings)
    assert response.status_code == 400
    assert response.get_json()["message"]


def test_handshake_settings_model_knows_every_secret():
    """The API's handshakes body and what the handshake code uses stay the same fields."""
    from dataclasses import fields

    from webbin.receiver.bin_settings import HandshakesPatch, HandshakesView
    from webbin.receiver.handshakes import HandshakeSettings

    known = {f.name for f in fields(HandshakeSettings)}
    assert set(HandshakesPatch.model_fields) == known
    assert set(HandshakesView.model_fields) == set(HandshakeSettings().to_dict())


def test_slack_handshake_is_answered_and_captured(client, bin_):
    # https://api.slack.com/events/url_verification
    body = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    response = client.post(capture_path(bin_), json=body)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == body["challenge"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert newest(client, bin_)["handshake"] == "slack"


def test_handshake_can_be_switched_off(client, bin_):
    patch(client, bin_, {"handshakes": {"enabled": ["meta"]}})
    response = client.post(capture_path(bin_), json={"type": "url_verification", "challenge": "x"})
    assert response.get_json()["ok"] is True
    assert newest(client, bin_)["handshake"] is None


def test_meta_verify_token_checked_when_configured(client, bin_):
    patch(client, bin_, {"handshakes": {"meta_verify_token": "meatyhamhock"}})
    query = "?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="
    assert client.get(capture_path(bin_) + query + "meatyhamhock").get_data() == b"1158201444"
    assert client.get(capture_path(bin_) + query + "wrong").status_code == 403
    assert "meatyhamhock" not in json.dumps(client.get(f"/api/bins/{bin_['id']}").get_json())


def test_custom_response_with_rules_and_defused_html(client, bin_):
    patch(
        client,
        bin_,
        {
            "response": {
                "default": {
                    "status": 202,
                    "content_type": "text/html",
                    "body": "<script>alert(1)</script>",
                    "headers": [["X-Custom", "yes"], ["Set-Cookie", "session=stolen"]],
                },
                "rules": [
                    {
                        "method": "POST",
                        "path": "/fail/*",
                        "response": {"status": 500, "body": "boom"},
                    }
                ],
            }
        },
    )
    answer = client.post(capture_path(bin_) + "/ok")
    assert answer.status_code == 202
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Custom"] == "yes"
    assert "Set-Cookie" not in answer.headers
    failed = client.post(capture_path(bin_) + "/fail/1")
    assert (failed.status_code, failed.get_data()) == (500, b"boom")
    assert newest(client, bin_)["response_status"] == 500


def test_custom_response_delay(client, bin_, monkeypatch):
    """The answer waits ``delay_ms``: the endpoint's sleep is asked for exactly that, inside
    the request (so before the answer leaves), and not at all once the delay is 0."""
    slept: list[float] = []
    real_sleep, capturing = time.sleep, threading.get_ident()

    def sleep(seconds: float) -> None:
        """The request's sleeps are recorded, never waited; background threads' (the
        pruner, the live relay) still sleep, as they must not spin."""
        if threading.get_ident() == capturing:
            slept.append(seconds)
        else:
            real_sleep(seconds)

    monkeypatch.setattr(endpoint.time, "sleep", sleep)
    patch(client, bin_, {"response": {"default": {"status": 201, "delay_ms": 300}}})
    assert client.post(capture_path(bin_)).status_code == 201
    assert slept == [0.3]
    patch(client, bin_, {"response": {"default": {"status": 201, "delay_ms": 0}}})
    assert client.post(capture_path(bin_)).status_code == 201
    assert slept == [0.3]


def test_sender_allow_list(client, bin_):
    patch(client, bin_, {"allowed_networks": ["192.30.252.0/22"]})
    client.post(capture_path(bin_), environ_base={"REMOTE_ADDR": "192.30.252.7"})
    assert newest(client, bin_)["sender"]["status"] == "allowed"
    client.post(capture_path(bin_), environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert newest(client, bin_)["sender"]["status"] == "denied"


def test_forwarded_for_only_from_trusted_proxies(app):
    app.config["TRUSTED_PROXY_NETWORKS"] = __import__(
        "webbin.proxies", fromlist=["x"]
    ).parse_networks(["10.0.0.0/8"])
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    client.post(
        capture_path(bin_),
        headers={"X-Forwarded-For": "198.51.100.4"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert newest(client, bin_)["remote_addr"] == "198.51.100.4"
    client.post(
        capture_path(bin_),
        headers={"X-Forwarded-For": "198.51.100.4"},
        environ_base={"REMOTE_ADDR": "203.0.113.5"},
    )
    assert newest(client, bin_)["remote_addr"] == "203.0.113.5"


def test_retries_are_marked_by_delivery_id(client, bin_):
    for body in (b'{"a": 1}', b'{"a": 2}', b'{"a": 3}'):
        client.post(
            capture_path(bin_),
            data=body,
            headers={"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
        )
    rows = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"]
    first = rows[-1]
    assert first["duplicate_of"] is None and first["delivery_attempt"] == 1
    assert [(r["duplicate_of"], r["delivery_attempt"]) for r in rows[:2]] == [
        (first["id"], 3),
        (first["id"], 2),
    ]
    assert rows[0]["delivery_key_source"] == "X-GitHub-Delivery"


def test_identical_bodies_are_marked_as_repeats(client, bin_):
    client.post(capture_path(bin_), data=b"same body")
    client.post(capture_path(bin_), data=b"same body")
    client.post(capture_path(bin_), data=b"other body")
    rows = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"]
    assert rows[0]["duplicate_of"] is None
    assert rows[1]["duplicate_of"] == rows[2]["id"]
    assert rows[1]["delivery_key_source"] == "identical body"


# The schemes the issue names, written out: the registry must match them, not itself.
ISSUE_SCHEMES = [
    "github",
    "stripe",
    "slack",
    "shopify",
    "standard-webhooks",
    "twilio",
    "sendgrid",
    "square",
    "paddle",
    "mailgun",
    "hubspot",
    "discord",
    "linear",
    "zoom",
    "typeform",
    "intercom",
    "bitbucket",
    "gitlab",
    "generic-hmac",
]


def test_registry_has_every_scheme_the_issue_names():
    from webbin.receiver.signatures import registry

    assert set(registry.SCHEMES) == set(ISSUE_SCHEMES)


@pytest.mark.parametrize("scheme", [s for s in ISSUE_SCHEMES if s != "generic-hmac"])
def test_signed_test_webhook_is_valid_for_every_scheme(sqlite_app, scheme):
    """Sign → capture → verdict through the dashboard's form, with auto-detection."""
    client = sqlite_app.test_client()
    home = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)
    bin_id = client.post("/bins", data={"csrf_token": token}).headers["Location"].rsplit("/")[-1]
    sent = client.post(f"/bins/{bin_id}/test-webhook", data={"csrf_token": token, "scheme": scheme})
    assert sent.status_code == 303
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "test webhook (answered 200)" in page
    row = client.get(f"/api/bins/{bin_id}/requests").get_json()["requests"][0]
    assert (row["signature_scheme"], row["signature_status"]) == (scheme, "valid")
    assert row["remote_addr"] == "127.0.0.1"


def test_url_signed_schemes_see_the_url_a_trusted_proxy_reports(app):
    """Twilio signs the URL it called: behind a TLS-terminating proxy that is https://public."""
    from webbin.proxies import parse_networks

    app.config["TRUSTED_PROXY_NETWORKS"] = parse_networks(["10.0.0.0/8"])
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.com"}
    client.post(
        capture_path(bin_) + "/sms?x=1", headers=forwarded, environ_base={"REMOTE_ADDR": "10.0.0.2"}
    )
    assert newest(client, bin_)["url"] == f"https://hooks.example.com{capture_path(bin_)}/sms?x=1"
    client.post(capture_path(bin_), headers=forwarded, environ_base={"REMOTE_ADDR": "203.0.113.1"})
    assert newest(client, bin_)["url"].startswith("http://localhost/c/")  # not from a stranger
