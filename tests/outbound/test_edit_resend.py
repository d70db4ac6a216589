"""Edit and resend: a captured request sent again with its method, headers or body changed,
re-signed for the bin's scheme on request, and recorded with what was sent.

Deliveries are signed here as each provider signs them and captured by a real ``webbin
serve``; the resend goes to a loopback target that checks the signature with the provider's
construction written in tests/resend_target.py, not with webbin's code.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import resend_target as providers
from flask import Flask
from helpers import Server, capture_path
from netguard import loopback_only_fixture  # noqa: F401
from resend_target import Target, running_target

from webbin import create_app
from webbin.storage.models import db

STRIPE_SECRET = "whsec_test_secret_for_webbin_resend"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard webhooks key of 32 byte").decode()
PLAIN_SECRET = "plain-shared-secret-0123456789"
HOUR_AGO = int(time.time()) - 3600


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    yield from running_target()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that lets this module create bins and resend beyond a client's usual bursts."""
    env = {
        "WEBBIN_RESEND_CLIENT_BURST": "1000",
        "WEBBIN_RESEND_CLIENT_RATE": "1000",
        "WEBBIN_BIN_CREATE_BURST": "1000",
    }
    running = Server(tmp_path_factory.mktemp("server"), env)
    yield running
    running.stop()


def call(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def signed_bin(server: Server, scheme: str, secrets: list[str]) -> dict:
    bin_ = server.new_bin()
    status, _ = call(
        server,
        "PATCH",
        f"/api/bins/{bin_['id']}",
        {"signature": {"scheme": scheme, "secrets": secrets}},
    )
    assert status == 200
    return bin_


def capture(bin_: dict, suffix: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        bin_["capture_url"] + suffix, data=body, method="POST", headers=headers
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["id"]


def resend(server: Server, bin_: dict, rid: int, **body: Any) -> tuple[int, Any]:
    return call(server, "POST", f"/api/bins/{bin_['id']}/requests/{rid}/resend", body)


def wire_headers(sent: dict, target: Target) -> list[tuple[str, str]]:
    """What the target should have received: Host, the headers sent, Content-Length."""
    host = f"127.0.0.1:{target.port}"
    body = base64.b64decode(sent["body_base64"])
    return [("Host", host), *map(tuple, sent["headers"]), ("Content-Length", str(len(body)))]


# --- each provider: a captured delivery, edited, then re-signed or not -----------------------

JSON = {"Content-Type": "application/json"}
ORIGINAL = json.dumps({"id": "evt_1", "data": {"amount": 100}}).encode()
EDITED = json.dumps({"id": "evt_1", "data": {"amount": 4200, "note": "edited"}}).encode()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TWILIO_ORIGINAL = urlencode({"Body": "hello", "From": "+15005550006", "To": "+1500"}).encode()
TWILIO_EDITED = urlencode({"Body": "edited", "From": "+15005550006", "To": "+1500"}).encode()


PROVIDERS = {
    # name: (bin scheme, secret, original headers, edited body, original body, check)
    "github": (
        "auto",  # detected from the headers the request carries
        PLAIN_SECRET,
        lambda bin_: {**JSON, "X-GitHub-Event": "push", "X-Hub-Signature-256": providers.github_header(ORIGINAL, PLAIN_SECRET)},
        ORIGINAL,
        EDITED,
        providers.github_valid,
    ),
    "stripe": (
        "stripe",
        STRIPE_SECRET,
        lambda bin_: {**JSON, "Stripe-Signature": providers.stripe_header(ORIGINAL, STRIPE_SECRET, HOUR_AGO)},
        ORIGINAL,
        EDITED,
        providers.stripe_valid,
    ),
    "slack": (
        "slack",
        PLAIN_SECRET,
        lambda bin_: {**JSON, **providers.slack_headers(ORIGINAL, PLAIN_SECRET, HOUR_AGO)},
        ORIGINAL,
        EDITED,
        providers.slack_valid,
    ),
    "standard-webhooks": (
        "standard-webhooks",
        STANDARD_SECRET,
        lambda bin_: {**JSON, **providers.standard_webhooks_headers(ORIGINAL, STANDARD_SECRET, HOUR_AGO, "msg_2abc")},
        ORIGINAL,
        EDITED,
        providers.standard_webhooks_valid,
    ),
    "shopify": (
        "shopify",
        PLAIN_SECRET,
        lambda bin_: {**JSON, "X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": providers.shopify_header(ORIGINAL, PLAIN_SECRET)},
        ORIGINAL,
        EDITED,
        providers.shopify_valid,
    ),
    "twilio": (  # URL-signed: re-signed over the target's URL
        "twilio",
        PLAIN_SECRET,
        lambda bin_: {**FORM, "X-Twilio-Signature": providers.twilio_signature(bin_["capture_url"] + "/sms", TWILIO_ORIGINAL, PLAIN_SECRET)},
        TWILIO_ORIGINAL,
        TWILIO_EDITED,
        providers.twilio_valid,
    ),
}  # fmt: skip


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_an_edited_request_re_signed_verifies_at_the_target(server, target, provider):
    scheme, secret, headers, original, edited, valid = PROVIDERS[provider]
    bin_ = signed_bin(server, scheme, [secret])
    captured_headers = headers(bin_)
    rid = capture(bin_, "/sms" if provider == "twilio" else "/hook", original, captured_headers)
    status, detail = call(server, "GET", f"/api/bins/{bin_['id']}/requests/{rid}")
    assert detail["signature"]["status"] in ("valid", "stale")  # as captured: genuine

    # The body changed, re-signed: the provider's own check passes at the target.
    status, result = resend(
        server, bin_, rid, url=target.url("/hook/in"), body_text=edited.decode(), resign=True
    )
    assert status == 200, result
    arrival = target.last()
    assert arrival.body == edited
    assert valid(arrival, secret), arrival.headers
    sent = result["sent"]
    assert (sent["edited"], sent["resigned"]) == (True, provider)
    assert arrival.headers == wire_headers(sent, target)  # recorded exactly as it went out
    assert base64.b64decode(sent["body_base64"]) == edited
    if provider == "standard-webhooks":  # the message id is part of what is signed: kept
        assert arrival.header("webhook-id") == "msg_2abc"
    if provider in ("stripe", "slack", "standard-webhooks"):  # a fresh timestamp
        stamp = re.search(r"\d{10}", arrival.header(
            {"stripe": "Stripe-Signature", "slack": "X-Slack-Request-Timestamp"}.get(provider, "webhook-timestamp")
        )).group()  # fmt: skip
        assert abs(int(stamp) - time.time()) < 60

    # The same edit without re-signing carries the captured signature: the target refuses it.
    status, plain = resend(server, bin_, rid, url=target.url("/hook/in"), body_text=edited.decode())
    assert status == 200
    assert target.last().body == edited
    assert not valid(target.last(), secret)
    assert (plain["sent"]["edited"], plain["sent"]["resigned"]) == (True, None)
    received = [(name.lower(), value) for name, value in target.last().headers]
    for name, value in captured_headers.items():  # urllib capitalised the names it sent
        assert (name.lower(), value) in received  # the signature went as captured

    # Both attempts are listed with what they sent.
    status, listed = call(server, "GET", f"/api/bins/{bin_['id']}/requests/{rid}/resends")
    assert [a["sent"]["resigned"] for a in listed["resends"]] == [None, provider]
    assert listed["resends"][1]["sent"] == sent


def test_re_signing_an_unchanged_request_refreshes_a_stale_signature(server, target):
    bin_ = signed_bin(server, "stripe", [STRIPE_SECRET])
    rid = capture(bin_, "/hook", ORIGINAL, PROVIDERS["stripe"][2](bin_))
    status, plain = resend(server, bin_, rid, url=target.url())
    assert not providers.stripe_valid(target.last(), STRIPE_SECRET)  # an hour old
    assert (plain["sent"]["edited"], plain["sent"]["resigned"]) == (False, None)
    status, result = resend(server, bin_, rid, url=target.url(), resign=True)
    assert providers.stripe_valid(target.last(), STRIPE_SECRET)
    assert target.last().body == ORIGINAL
    assert (result["sent"]["edited"], result["sent"]["resigned"]) == (False, "stripe")


def test_method_headers_in_order_with_repeats_and_a_binary_body_go_out_as_edited(server, target):
    bin_ = server.new_bin()
    rid = capture(bin_, "/hook", b"captured", {"X-Old": "1"})
    body = bytes(range(256)) + b"\x00\xff"
    headers = [["X-B", "1"], ["x-a", "two words"], ["X-B", "3"], ["Content-Type", "image/png"]]
    status, result = resend(
        server,
        bin_,
        rid,
        url=target.url("/bin{path}"),
        method="PUT",
        headers=headers + [["Host", "evil.example"], ["Content-Length", "1"]],
        body_base64=base64.b64encode(body).decode(),
    )
    assert status == 200, result
    arrival = target.last()
    assert (arrival.method, arrival.path, arrival.body) == ("PUT", "/bin/hook", body)
    # In order, repeats and spelling kept; Host and Content-Length are the connection's.
    assert arrival.headers[1:4] == [("X-B", "1"), ("x-a", "two words"), ("X-B", "3")]
    assert arrival.header("Host") == f"127.0.0.1:{target.port}"
    sent = result["sent"]
    assert sent["method"] == "PUT" and sent["body_text"] is None
    assert sent["headers"][:4] == headers
    assert sent["headers"][4][0] == "X-Webbin-Resend"  # the loop mark, and nothing else
    assert len(sent["headers"]) == 5
    assert arrival.headers == wire_headers(sent, target)


def test_schemes_signed_with_a_private_key_cannot_be_re_signed(server, target):
    arrived = len(target.arrivals)
    bin_ = signed_bin(server, "discord", ["a" * 64])
    rid = capture(
        bin_,
        "/interactions",
        b'{"type":1}',
        {"X-Signature-Ed25519": "00" * 64, "X-Signature-Timestamp": "1"},
    )
    status, answer = resend(server, bin_, rid, url=target.url(), resign=True, body_text="{}")
    assert status == 400
    assert answer["errors"][0]["path"] == "resign"
    assert "private key that only Discord holds" in answer["message"]
    assert len(target.arrivals) == arrived  # nothing was sent
    assert call(server, "GET", f"/api/bins/{bin_['id']}/requests/{rid}/resends")[1] == {
        "resends": []
    }


@pytest.mark.parametrize(
    ("scheme", "secrets", "reason"),
    [
        ("stripe", [], "no signing secret"),
        ("auto", [PLAIN_SECRET], "can't tell which provider"),
        (
            "standard-webhooks",
            ["whpk_" + base64.b64encode(b"k" * 32).decode()],
            "None of the bin's secrets can sign",
        ),
    ],
)
def test_re_signing_that_cannot_be_done_says_why(server, target, scheme, secrets, reason):
    bin_ = signed_bin(server, scheme, secrets)
    rid = capture(bin_, "/hook", ORIGINAL, JSON)
    status, answer = resend(server, bin_, rid, url=target.url(), resign=True)
    assert status == 400 and answer["errors"][0]["path"] == "resign"
    assert reason in answer["message"]


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        ({"body_text": "a", "body_base64": "YQ=="}, ""),
        ({"body_base64": "not base64!"}, "body_base64"),
        ({"headers": [["Bad Name", "x"]]}, "headers[0][0]"),
        ({"headers": [["X-Split", "a\r\nInjected: 1"]]}, "headers[0][1]"),
        ({"headers": [["X-Only-Name"]]}, "headers[0][1]"),
        ({"headers": {"X-A": "1"}}, "headers"),
        ({"method": "GE T"}, "method"),
        ({"resign": "yes"}, "resign"),
        ({"body_text": "\ud800"}, "body_text"),
    ],
)
def test_an_invalid_edit_is_400_and_records_nothing(server, target, edit, path):
    arrived = len(target.arrivals)
    bin_ = server.new_bin()
    rid = capture(bin_, "/hook", b"x", {})
    status, answer = resend(server, bin_, rid, url=target.url(), **edit)
    assert status == 400, answer
    assert path in [error["path"] for error in answer["errors"]]
    assert len(target.arrivals) == arrived
    assert call(server, "GET", f"/api/bins/{bin_['id']}/requests/{rid}/resends")[1] == {
        "resends": []
    }


# --- limits: the body limit, the address policy and the resend rate all still apply -----------


def make_app(tmp_path: Path, **config: Any) -> Flask:
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path), **config})


@pytest.fixture
def small_app(tmp_path: Path) -> Iterator[Flask]:
    app = make_app(tmp_path, MAX_BODY_BYTES=64, PROFILE="production", RESEND_CLIENT_BURST=3)
    yield app
    with app.app_context():
        db.engine.dispose()


def captured_in(app: Flask) -> tuple[Any, str]:
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    rid = client.post(capture_path(bin_) + "/hook", data=b"small").get_json()["id"]
    return client, f"/api/bins/{bin_['id']}/requests/{rid}/resend"


def test_an_edited_body_over_the_limit_is_refused(small_app, loopback_only):
    client, endpoint = captured_in(small_app)
    answer = client.post(endpoint, json={"url": "http://127.0.0.1:9/", "body_text": "x" * 65})
    assert answer.status_code == 400
    assert answer.get_json()["errors"] == [
        {"path": "body", "message": "The body is larger than this server's limit (64 bytes)."}
    ]
    assert loopback_only.connects == []


def test_the_address_policy_and_the_rate_limit_apply_to_edited_resends(small_app, loopback_only):
    client, endpoint = captured_in(small_app)
    edited = {"url": "http://127.0.0.1:9/", "method": "PATCH", "body_text": "changed"}
    result = client.post(endpoint, json=edited).get_json()
    assert result["error_kind"] == "blocked"  # production refuses loopback, edited or not
    assert (result["sent"]["method"], result["sent"]["body_text"]) == ("PATCH", "changed")
    assert loopback_only.connects == []
    for _ in range(2):
        client.post(endpoint, json=edited)
    refused = client.post(endpoint, json=edited)
    assert refused.status_code == 429  # the fourth within the burst of 3
    assert len(client.get(endpoint + "s").get_json()["resends"]) == 3


# --- the dashboard's editor (``app`` is SQLite's and PostgreSQL's, see conftest) ------------------


def csrf(client: Any, bin_id: str) -> dict[str, str]:
    page = client.get(f"/bins/{bin_id}").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    return {"HX-Request": "true", "X-CSRF-Token": token}


def textarea(html: str, name: str) -> str:
    """A text box's value as a browser reads it (the newline after the start tag dropped)."""
    raw = re.search(rf'<textarea name="{name}"[^>]*>\n(.*?)</textarea>', html, re.S).group(1)
    return raw.replace("&#34;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_the_editor_is_filled_from_the_request_and_sends_what_the_form_says(app, target):
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    body = b'\r\n{"a": 1,\r\n "b": "<x>"}\r\n'  # a leading line end, CRLF lines: kept exactly
    rid = client.post(
        capture_path(bin_) + "/p", data=body, headers={"X-Mark": "<1>", **JSON}
    ).get_json()["id"]
    headers = csrf(client, bin_["id"])
    form = client.get(f"/bins/{bin_['id']}/requests/{rid}/edit", headers=headers)
    html = form.get_data(as_text=True)
    assert 'name="newlines" value="crlf"' in html and 'name="encoding" value="text"' in html
    lines = textarea(html, "headers").splitlines()
    assert {"X-Mark: <1>", "Content-Type: application/json"} <= set(lines)
    assert not any(line.startswith(("Host:", "Content-Length:")) for line in lines)

    # A browser sends the text boxes with CRLF line ends; unchanged, the body is as captured.
    fields = {
        "edit": "1",
        "url": target.url("/from-form"),
        "method": "POST",
        "headers": "\r\n".join(lines),
        "body": textarea(html, "body").replace("\r\n", "\n").replace("\n", "\r\n"),
        "encoding": "text",
        "newlines": "crlf",
    }
    sent = client.post(f"/bins/{bin_['id']}/requests/{rid}/resend", data=fields, headers=headers)
    assert sent.status_code == 200
    assert target.last().body == body
    attempt = client.get(f"/api/bins/{bin_['id']}/requests/{rid}/resends").get_json()["resends"][0]
    assert attempt["sent"]["edited"] is False
    assert 'class="badge edited"' not in sent.get_data(as_text=True)

    fields["headers"] += "\r\nX-Added:  two spaces"
    fields["method"] = "PATCH"
    again = client.post(f"/bins/{bin_['id']}/requests/{rid}/resend", data=fields, headers=headers)
    assert 'class="badge edited"' in again.get_data(as_text=True)
    assert target.last().method == "PATCH"
    attempt = client.get(f"/api/bins/{bin_['id']}/requests/{rid}/resends").get_json()["resends"][0]
    assert attempt["sent"]["headers"][-2] == ["X-Added", " two spaces"]  # one is the separator

    fields["headers"] = "X-Ok: 1\r\nno colon here"
    bad = client.post(f"/bins/{bin_['id']}/requests/{rid}/resend", data=fields, headers=headers)
    assert bad.status_code == 400 and "must be Name: value" in bad.get_data(as_text=True)


def test_a_binary_body_is_edited_as_base64(app, target):
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    body = b"\x89PNG\r\n\x1a\n\x00\x00"
    rid = client.post(capture_path(bin_), data=body).get_json()["id"]
    headers = csrf(client, bin_["id"])
    html = client.get(f"/bins/{bin_['id']}/requests/{rid}/edit", headers=headers).get_data(
        as_text=True
    )
    assert 'name="encoding" value="base64"' in html
    assert textarea(html, "body") == base64.b64encode(body).decode()
    changed = base64.b64encode(body + b"\x01").decode()
    fields = {
        "edit": "1",
        "url": target.url(),
        "method": "POST",
        "body": changed[:8] + "\r\n" + changed[8:],
        "encoding": "base64",
    }
    answer = client.post(f"/bins/{bin_['id']}/requests/{rid}/resend", data=fields, headers=headers)
    assert answer.status_code == 200
    assert target.last().body == body + b"\x01"  # line breaks in the base64 are ignored
    # Text bodies can be asked for as base64 too.
    text_rid = client.post(capture_path(bin_), data=b"plain").get_json()["id"]
    as_b64 = client.get(f"/bins/{bin_['id']}/requests/{text_rid}/edit?as=base64", headers=headers)
    assert textarea(as_b64.get_data(as_text=True), "body") == base64.b64encode(b"plain").decode()


def test_the_editor_says_when_re_signing_is_impossible(app):
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    client.patch(
        f"/api/bins/{bin_['id']}", json={"signature": {"scheme": "sendgrid", "secrets": ["pk"]}}
    )
    rid = client.post(capture_path(bin_), data=b"[]").get_json()["id"]
    html = client.get(
        f"/bins/{bin_['id']}/requests/{rid}/edit", headers=csrf(client, bin_["id"])
    ).get_data(as_text=True)
    assert 'name="resign" value="1" disabled' in html
    assert "private key that only SendGrid holds" in html
    client.patch(
        f"/api/bins/{bin_['id']}",
        json={"signature": {"scheme": "stripe", "secrets": [STRIPE_SECRET]}},
    )
    html = client.get(
        f"/bins/{bin_['id']}/requests/{rid}/edit", headers=csrf(client, bin_["id"])
    ).get_data(as_text=True)
    assert "Re-sign as Stripe" in " ".join(html.split()) and " disabled" not in html
