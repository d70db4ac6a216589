"""Provider and event type of a delivery (webbin.receiver.events): every signed test webhook
webbin can send is recognised as its provider through the real capture path, and
hand-written deliveries cover what the samples do not (header priority, shared signature
headers, form bodies, CloudEvents, bodies too big or not JSON)."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask

from webbin.receiver import events
from webbin.receiver.signatures import registry

# What each provider's sample (webbin.receiver.testwebhooks.sample) says its event is.
SAMPLE_EVENTS = {
    "stripe": "invoice.paid",
    "slack": "app_mention",
    "linear": "Issue",
    "zoom": "meeting.started",
    "sendgrid": "processed",
    "hubspot": "contact.creation",
    "discord": "PING",
    "mailgun": "delivered",
    "standard-webhooks": "webbin.test",
    "square": "webbin.test",
    "bitbucket": "repo:push",
}
SCHEMES = sorted(name for name in registry.SCHEMES if name != "generic-hmac")


def new_bin(client) -> tuple[str, str]:
    home = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)
    location = client.post("/bins", data={"csrf_token": token}).headers["Location"]
    return location.rsplit("/", 1)[-1], token


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_signed_test_webhook_is_recognised(app: Flask, scheme: str):
    client = app.test_client()
    bin_id, token = new_bin(client)
    sent = client.post(f"/bins/{bin_id}/test-webhook", data={"csrf_token": token, "scheme": scheme})
    assert sent.status_code == 303
    (row,) = client.get(f"/api/bins/{bin_id}/requests").get_json()["requests"]
    assert row["signature_status"] == "valid"
    assert row["provider"] == scheme
    assert row["event"] == SAMPLE_EVENTS.get(scheme)
    detail = client.get(f"/bins/{bin_id}?r={row['id']}").get_data(as_text=True)
    assert f"<dt>Provider</dt><dd hx-ignore>{scheme}" in detail


def classify(headers: dict[str, str], body: bytes | dict | list = b"", **verdict):
    data = json.dumps(body).encode() if isinstance(body, dict | list) else body
    return events.classify(list(headers.items()), data, **verdict)


JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("headers", "body", "verdict", "expected"),
    [
        ({"X-GitHub-Event": "pull_request"}, b"", {}, ("github", "pull_request")),
        # Gitea also sends GitHub's header, for compatibility: its own wins.
        ({"X-GitHub-Event": "push", "X-Gitea-Event": "push"}, b"", {}, ("gitea", "push")),
        ({"x-gitlab-event": "Merge Request Hook"}, b"", {}, ("gitlab", "Merge Request Hook")),
        ({"X-Shopify-Topic": "orders/paid"}, b"{}", {}, ("shopify", "orders/paid")),
        ({"X-Event-Key": "repo:push"}, b"", {}, ("bitbucket", "repo:push")),
        ({**JSON, "Stripe-Signature": "t=1"}, {"type": "charge.refunded"}, {},
         ("stripe", "charge.refunded")),
        ({**JSON, "Stripe-Signature": "t=1"}, {"type": 5}, {}, ("stripe", None)),
        ({**JSON, "Stripe-Signature": "t=1"}, b"{not json", {}, ("stripe", None)),
        ({**JSON, "Stripe-Signature": "t=1"}, b"[]", {}, ("stripe", None)),
        # Bodies over BODY_CAP are never parsed.
        ({**JSON, "Stripe-Signature": "t=1"},
         b'{"type": "big", "pad": "' + b"x" * events.BODY_CAP + b'"}', {}, ("stripe", None)),
        ({**JSON, "X-Slack-Signature": "v0=1"}, {"type": "url_verification"}, {},
         ("slack", "url_verification")),
        ({**FORM, "X-Slack-Signature": "v0=1"}, b"payload=%7B%22type%22%3A%22block_actions%22%7D",
         {}, ("slack", "block_actions")),
        ({**FORM, "X-Slack-Signature": "v0=1"}, b"command=%2Fdeploy&text=now", {},
         ("slack", "/deploy")),
        ({**FORM, "X-Twilio-Signature": "x"}, b"MessageSid=SM1&MessageStatus=delivered", {},
         ("twilio", "delivered")),
        ({**JSON, "X-Twilio-Signature": "x"}, [{"type": "com.twilio.messaging.message.sent"}],
         {}, ("twilio", "com.twilio.messaging.message.sent")),
        ({**JSON, "X-Signature-Ed25519": "ab"}, {"type": 1, "event": {"type": "ENTITLEMENT_CREATE"}},
         {}, ("discord", "ENTITLEMENT_CREATE")),
        ({**JSON, "X-Signature-Ed25519": "ab"}, {"type": 2}, {}, ("discord", "APPLICATION_COMMAND")),
        ({**JSON, "Paddle-Signature": "ts=1"}, {"event_type": "transaction.completed"}, {},
         ("paddle", "transaction.completed")),
        ({**FORM, "Paddle-Signature": "ts=1"}, b"alert_name=subscription_created", {},
         ("paddle", "subscription_created")),
        ({**JSON, "X-PagerDuty-Signature": "v1=a"}, {"event": {"event_type": "incident.triggered"}},
         {}, ("pagerduty", "incident.triggered")),
        ({**JSON, "webhook-signature": "v1,a"}, {"type": "user.created"}, {},
         ("standard-webhooks", "user.created")),
        ({"Linear-Event": "Comment"}, {"type": "Issue"}, {}, ("linear", "Comment")),
        # A header several providers send names none; the verdict tells them apart.
        ({**JSON, "X-Hub-Signature": "sha1=ab"}, {"topic": "conversation.user.created"},
         {"signature_scheme": "intercom", "signature_status": "valid"},
         ("intercom", "conversation.user.created")),
        ({**JSON, "X-Hub-Signature": "sha1=ab"}, {"topic": "x"},
         {"signature_scheme": "auto", "signature_status": "unverified"}, (None, None)),
        # A bin set to one scheme judges other deliveries "unsigned": that names nobody.
        ({}, b"{}", {"signature_scheme": "stripe", "signature_status": "unsigned"}, (None, None)),
        ({**JSON}, {"event-data": {"event": "opened"}},
         {"signature_scheme": "mailgun", "signature_status": "unverified"}, ("mailgun", "opened")),
        ({}, b"", {"handshake": "meta"}, ("meta", None)),
        # CloudEvents in binary mode say their type in a header, provider or not.
        ({"ce-type": "com.example.object.deleted.v2"}, b"", {}, (None, "com.example.object.deleted.v2")),
        # An ordinary JSON post names nothing, and its body is not looked at.
        ({**JSON}, {"type": "looks.like.an.event"}, {}, (None, None)),
        ({"X-GitHub-Event": "  " + "e" * 300 + "  "}, b"", {}, ("github", "e" * events.EVENT_CAP)),
        ({"X-GitHub-Event": "   "}, b"", {}, ("github", None)),
    ],
)  # fmt: skip
def test_provider_and_event(headers, body, verdict, expected):
    assert classify(headers, body, **verdict) == expected


def test_every_stored_provider_name_is_known_to_searches():
    assert {"github", "stripe", "shopify", "slack", "gitlab", "twilio", "intercom", "meta"} <= set(
        events.PROVIDERS
    )
    assert set(registry.SCHEMES) - {"generic-hmac"} <= set(events.PROVIDERS)
