"""Signed test webhooks: webbin signs a sample payload as a provider would, to be captured
into the bin itself, so a user sees a ``valid`` verdict and the exact headers a provider
sends."""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from importlib import import_module
from urllib.parse import urlencode

from webbin.receiver.signatures import registry
from webbin.receiver.signatures.base import Options
from webbin.receiver.verification import options_for, reverify
from webbin.storage.models import Bin, db

# (path, content type, body) per scheme; JSON unless the provider sends something else.
_FORM = "application/x-www-form-urlencoded"


def sample(scheme: str, now: int) -> tuple[str, str, bytes]:
    """A small payload of the kind ``scheme``'s provider delivers."""
    if scheme == "twilio":
        body = urlencode(
            {
                "AccountSid": "AC" + "0" * 32,
                "Body": "Hello from webbin",
                "From": "+15005550006",
                "MessageSid": "SM" + secrets.token_hex(16),
                "To": "+15005550001",
            }
        )
        return "/twilio/sms", _FORM, body.encode()
    payloads = {
        "github": {"zen": "Design for failure.", "hook_id": 1, "hook": {"type": "Repository"}},
        "stripe": {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "type": "invoice.paid",
            "created": now,
            "data": {"object": {"id": "in_test", "amount_paid": 4200, "currency": "usd"}},
        },
        "slack": {
            "type": "event_callback",
            "event_id": "Ev" + secrets.token_hex(5).upper(),
            "event": {"type": "app_mention", "text": "hello webbin"},
        },
        "shopify": {"id": 820982911946154508, "email": "jon@example.com", "total_price": "42.00"},
        "linear": {
            "action": "create",
            "type": "Issue",
            "webhookTimestamp": now * 1000,
            "data": {"id": secrets.token_hex(8), "title": "Test issue"},
        },
        "zoom": {
            "event": "meeting.started",
            "event_ts": now * 1000,
            "payload": {"object": {"id": "85746065", "topic": "webbin test"}},
        },
        "sendgrid": [{"email": "example@test.com", "event": "processed", "timestamp": now}],
        "hubspot": [{"eventId": 1, "subscriptionType": "contact.creation", "objectId": 123}],
        "discord": {"type": 1, "id": secrets.token_hex(8), "application_id": "123"},
        "mailgun": {"event-data": {"event": "delivered", "timestamp": now}},
    }
    payload = payloads.get(
        scheme,
        {"type": "webbin.test", "provider": scheme, "timestamp": now, "id": secrets.token_hex(8)},
    )
    return f"/{scheme}", "application/json", json.dumps(payload, indent=2).encode()


def _new_secret(scheme: str) -> tuple[str, str]:
    """(secret to sign with, secret the bin verifies with) for a bin that has none."""
    module = import_module(type(registry.SCHEMES[scheme]).__module__)
    keypair = getattr(module, "generate_keypair", None)
    if keypair is not None:  # public-key schemes: sign privately, verify with the public key
        return keypair()
    if scheme == "standard-webhooks":
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    elif scheme == "stripe":
        secret = "whsec_" + secrets.token_hex(16)
    else:
        secret = secrets.token_hex(20)
    return secret, secret


@dataclass(frozen=True)
class SignedSample:
    """A signed sample delivery, ready to be captured into its bin."""

    title: str  # the provider, for people
    path: str  # below the bin's capture URL
    headers: list[list[str]]
    body: bytes
    added_secret: bool  # webbin added a test secret to the bin's settings to sign it


def prepare(bin_: Bin, scheme: str, capture_url: str) -> SignedSample:
    """Sign a sample payload for ``scheme`` as its provider would, for ``bin_`` at
    ``capture_url`` (URL-signed schemes sign it). Adds a test secret to a bin without one.

    The caller hands the result to capture directly rather than over the network: the Host
    header of the page that asked must never steer a request webbin makes (SSRF), and a
    proxy in front of webbin may not route webbin's own calls back to it.
    """
    if scheme not in registry.SCHEMES or scheme == "generic-hmac":
        raise ValueError("Pick a provider to send a test webhook for.")
    module = import_module(type(registry.SCHEMES[scheme]).__module__)
    public_key_scheme = hasattr(module, "generate_keypair")
    added = False
    if bin_.signature_secrets and not public_key_scheme:
        signing_secret = bin_.signature_secrets[0]
    else:
        signing_secret, verifying_secret = _new_secret(scheme)
        bin_.signature_secrets = [*(bin_.signature_secrets or []), verifying_secret]
        db.session.commit()
        reverify(bin_)
        added = True
    now = int(time.time())
    path, content_type, body = sample(scheme, now)
    options: Options = options_for(bin_)
    signer = registry.SCHEMES[scheme]
    sign_body = getattr(signer, "sign_body", None)
    if sign_body is not None:  # Mailgun signs inside the body
        body = sign_body(body, signing_secret, now)
    headers = signer.sign(body, signing_secret, now, capture_url + path, options)
    named = {name.lower() for name, _ in headers}
    for name, value in (("Content-Type", content_type), ("User-Agent", f"webbin-test/{scheme}")):
        if name.lower() not in named:  # the provider's own choice wins (Intercom's user agent)
            headers.insert(0, (name, value))
    return SignedSample(
        title=signer.title,
        path=path,
        headers=[[name, value] for name, value in headers],
        body=body,
        added_secret=added,
    )
