"""Bin settings through the dashboard's forms (test client, with the CSRF token)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from helpers import capture_path


@pytest.fixture
def page(sqlite_app):
    """(client, bin id, csrf token, bin data) for a bin created through the home page."""
    client = sqlite_app.test_client()
    home = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)
    location = client.post("/bins", data={"csrf_token": token}).headers["Location"]
    bin_id = location.rsplit("/", 1)[1]
    return client, bin_id, token, client.get(f"/api/bins/{bin_id}").get_json()


def post_form(client, url, token, **fields):
    response = client.post(url, data={"csrf_token": token, **fields})
    assert response.status_code == 303
    return client.get(response.headers["Location"]).get_data(as_text=True)


def test_custom_response_form(page):
    client, bin_id, token, data = page
    html = post_form(
        client,
        f"/bins/{bin_id}/settings/response",
        token,
        status="503",
        content_type="text/plain",
        headers="Retry-After: 120",
        body="try later",
        delay_ms="0",
        rules="",
    )
    assert "Custom response saved." in html
    answer = client.post(capture_path(data))
    assert (answer.status_code, answer.get_data(), answer.headers["Retry-After"]) == (
        503,
        b"try later",
        "120",
    )
    assert "→ 503" in client.get(f"/bins/{bin_id}").get_data(as_text=True)


def test_invalid_response_form_says_why(page):
    client, bin_id, token, _ = page
    html = post_form(
        client,
        f"/bins/{bin_id}/settings/response",
        token,
        status="99",
        content_type="text/plain",
        delay_ms="0",
        body="",
        headers="",
        rules="",
    )
    assert "status must be an integer from 100 to 599" in html


def test_sender_preset_form(page):
    client, bin_id, token, data = page
    html = post_form(
        client,
        f"/bins/{bin_id}/settings/senders",
        token,
        allowed_networks="198.51.100.0/24",
        preset="github",
    )
    assert "Sender allow-list saved." in html
    networks = client.get(f"/api/bins/{bin_id}").get_json()["allowed_networks"]
    assert networks[0] == "198.51.100.0/24" and "192.30.252.0/22" in networks
    client.post(capture_path(data), environ_base={"REMOTE_ADDR": "198.51.100.20"})
    rid = client.get(f"/api/bins/{bin_id}/requests").get_json()["requests"][0]["id"]
    detail = client.get(f"/bins/{bin_id}?r={rid}").get_data(as_text=True)
    assert "sender-allowed" in detail


def test_handshake_form_switches_off_and_keeps_secrets_hidden(page):
    client, bin_id, token, data = page
    post_form(
        client,
        f"/bins/{bin_id}/settings/handshakes",
        token,
        enabled=["meta", "graph"],
        zoom_secret="zoom-secret-value-123",
    )
    settings = client.get(f"/api/bins/{bin_id}").get_json()["handshakes"]
    assert settings["enabled"] == ["meta", "graph"] and settings["zoom_secret_set"] is True
    assert "zoom-secret-value-123" not in client.get(f"/bins/{bin_id}").get_data(as_text=True)
    answer = client.post(capture_path(data), json={"type": "url_verification", "challenge": "c"})
    assert answer.get_json()["ok"] is True  # Slack's handshake is off


def test_signature_form_reverifies(page):
    client, bin_id, token, data = page
    client.post(capture_path(data), data=b"{}", headers={"X-Gitlab-Token": "tok-123"})
    html = post_form(
        client,
        f"/bins/{bin_id}/settings/signature",
        token,
        scheme="gitlab",
        secrets="tok-123\n",
        tolerance_seconds="300",
    )
    assert "1 captured request re-verified." in html
    assert "sig-valid" in html


def test_retry_badge_in_the_list(page):
    client, bin_id, _, data = page
    for _ in range(2):
        client.post(capture_path(data), headers={"X-GitHub-Delivery": "abc-123"}, data=b"{}")
    html = client.get(f"/bins/{bin_id}").get_data(as_text=True)
    assert re.search(r"retry 2 of #1, \+\d+ s", html)


@pytest.mark.parametrize(
    ("url", "fields", "says"),
    [
        (
            "response",
            {"status": "200", "rules": '[{"method": "POST", "response": {"status": "x"}}]'},
            "response.rules[0].response.status must be a valid integer.",
        ),
        (
            "response",
            {"status": "200", "rules": '[{"response": {}, "pathh": "/x"}]'},
            "response.rules[0].pathh is not a known field.",
        ),
        (
            "response",
            {"status": "200", "headers": "X-Price: 5 €"},
            "response.default.headers[0][1]",
        ),
        (
            "signature",
            {"scheme": "auto", "tolerance_seconds": "soon"},
            "signature.tolerance_seconds",
        ),
        (
            "signature",
            {"scheme": "generic-hmac", "generic_header": " "},
            "signature.generic.header must name the signature header.",
        ),
        ("senders", {"allowed_networks": "10.0.0.0/8\nnot-a-network"}, "allowed_networks[1]"),
    ],
)
def test_settings_forms_flash_the_fields_path(page, url, fields, says):
    """The forms go through the same typed validation as the API, and say where it failed."""
    client, bin_id, token, _ = page
    html = post_form(client, f"/bins/{bin_id}/settings/{url}", token, **fields)
    flashed = re.search(r'<p class="flash flash-error"[^>]*>([^<]*)</p>', html)
    assert flashed, "no error was flashed"
    assert says in unescape(flashed.group(1))
    assert client.get(f"/api/bins/{bin_id}").get_json()["response"]["default"] is None
