"""Re-signing for every scheme the registry knows: each one signed with a shared secret is
re-signed over an edited body so that its own verifier (and so the provider's construction,
which each scheme's tests pin with known answers) accepts it; each signed with a private
key is refused in words. Only signature headers change, in place."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from importlib import import_module
from urllib.parse import urlencode

import pytest

from webbin.receiver import signing
from webbin.receiver.signatures import registry
from webbin.receiver.signatures.base import Options, SignedRequest

NOW = int(time.time())
URL = "https://app.example/hooks/in?x=1"
SECRETS = {"standard-webhooks": "whsec_" + base64.b64encode(b"k" * 24).decode()}
OPTIONS = {"generic-hmac": {"header": "X-Signature", "prefix": "sha256="}}
FORM = {"twilio": urlencode({"Body": "edited", "From": "+1"}).encode()}
PUBLIC_KEY = [name for name, s in registry.SCHEMES.items() if signing.is_public_key_scheme(s)]
SHARED_SECRET = [name for name in registry.SCHEMES if name not in PUBLIC_KEY]


def options(name: str, *secrets: str) -> Options:
    return Options(secrets=secrets or (SECRETS.get(name, "s3cret-value"),), **OPTIONS.get(name, {}))


def test_public_key_schemes_are_exactly_discord_and_sendgrid():
    assert sorted(PUBLIC_KEY) == ["discord", "sendgrid"]


@pytest.mark.parametrize("name", SHARED_SECRET)
def test_every_shared_secret_scheme_re_signs_an_edited_body(name):
    scheme = registry.SCHEMES[name]
    opts = options(name)
    body = FORM.get(name, b'{"event": "edited", "n": 2}')
    # What was captured: signed an hour ago over another body, with headers around it.
    old = scheme.sign(b'{"event": "original"}', opts.secrets[0], NOW - 3600, URL, opts)
    old = [(n, v) for n, v in old if n.lower() not in ("user-agent", "content-type")]
    headers = [("User-Agent", "provider/1"), *old, ("X-Trace", "t-1"), ("Content-Type", "x/y")]
    if name == "twilio":
        headers[-1] = ("Content-Type", "application/x-www-form-urlencoded")
    result = signing.resign(
        scheme, opts, method="POST", url=URL, headers=headers, body=body, now=NOW
    )
    at = datetime.fromtimestamp(NOW, UTC)
    verdict = scheme.verify(SignedRequest("POST", URL, result.headers, result.body, at), opts)
    assert verdict.status == "valid", verdict.reason
    # Headers that carry no signature are left as they were, in their places.
    kept = [pair for pair in result.headers if pair[0] in ("User-Agent", "X-Trace", "Content-Type")]
    assert kept == [headers[0], headers[-2], headers[-1]]
    assert result.headers[0] == headers[0]
    names = [n.lower() for n, _ in result.headers]
    assert len(names) == len(set(names))  # each signature header once
    if name != "mailgun":  # Mailgun signs inside the body; the event itself is left alone
        assert result.body == body


@pytest.mark.parametrize("name", PUBLIC_KEY)
def test_private_key_schemes_are_refused_in_words(name):
    scheme = registry.SCHEMES[name]
    public = import_module(type(scheme).__module__).generate_keypair()[1]
    with pytest.raises(signing.CannotResign, match=f"private key that only {scheme.title} holds"):
        signing.resign(
            scheme, options(name, public), method="POST", url=URL, headers=[], body=b"{}", now=NOW
        )


def test_a_repeated_signature_header_becomes_one_in_the_first_ones_place():
    scheme = registry.SCHEMES["stripe"]
    headers = [("stripe-signature", "t=1,v1=a"), ("X-A", "1"), ("Stripe-Signature", "t=2,v1=b")]
    result = signing.resign(
        scheme, options("stripe"), method="POST", url=URL, headers=headers, body=b"{}", now=NOW
    )
    assert [n for n, _ in result.headers] == ["stripe-signature", "X-A"]  # spelling kept
    assert result.headers[0][1].startswith(f"t={NOW},v1=")
    assert result.changed == ["stripe-signature"]


def test_standard_webhooks_keeps_the_message_id_and_header_family():
    scheme = registry.SCHEMES["standard-webhooks"]
    headers = [("svix-id", "msg_kept"), ("svix-timestamp", "1"), ("svix-signature", "v1,old")]
    result = signing.resign(
        scheme,
        options("standard-webhooks"),
        method="POST",
        url=URL,
        headers=headers,
        body=b"{}",
        now=NOW,
    )
    assert [n for n, _ in result.headers] == ["svix-id", "svix-timestamp", "svix-signature"]
    assert result.headers[:2] == [("svix-id", "msg_kept"), ("svix-timestamp", str(NOW))]


def test_the_first_secret_that_can_sign_is_used():
    scheme = registry.SCHEMES["standard-webhooks"]
    public_only = "whpk_" + base64.b64encode(b"p" * 32).decode()
    opts = Options(secrets=(public_only, SECRETS["standard-webhooks"]))
    result = signing.resign(scheme, opts, method="POST", url=URL, headers=[], body=b"{}", now=NOW)
    at = datetime.fromtimestamp(NOW, UTC)
    assert (
        scheme.verify(SignedRequest("POST", URL, result.headers, b"{}", at), opts).status == "valid"
    )


def test_a_result_that_would_not_verify_is_refused():
    """Twilio signs a JSON body through the URL's bodySHA256, which re-signing leaves alone:
    webbin says so rather than send a signature its own check refuses."""
    scheme = registry.SCHEMES["twilio"]
    with pytest.raises(signing.CannotResign, match="does not verify"):
        signing.resign(
            scheme,
            options("twilio"),
            method="POST",
            url=URL + "&bodySHA256=" + "0" * 64,
            headers=[("Content-Type", "application/json")],
            body=b"{}",
            now=NOW,
        )


def test_auto_mode_signs_as_the_headers_say_else_as_judged():
    stripe = SignedRequest("POST", URL, [("Stripe-Signature", "t=1,v1=x")], b"", datetime.now(UTC))
    plain = SignedRequest("POST", URL, [], b"", datetime.now(UTC))
    assert signing.choose_scheme("auto", None, stripe).name == "stripe"
    assert signing.choose_scheme("auto", "github", plain).name == "github"
    assert signing.choose_scheme("slack", "github", stripe).name == "slack"  # the bin's wins
    with pytest.raises(signing.CannotResign, match="can't tell which provider"):
        signing.choose_scheme("auto", "auto", plain)
