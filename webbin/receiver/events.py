"""Which provider sent a delivery, and which event it reports: "github · push",
"stripe · invoice.paid", "shopify · orders/create".

Computed once at capture (:func:`webbin.receiver.decide.decide`) and stored with the
request, so the list shows it and ``provider:`` / ``event:`` searches are index seeks
(:mod:`webbin.storage.search`). It runs on the capture hot path, so it is cheap by
construction:

* the provider comes from one pass over the header names, each looked up in a table of
  headers only one provider sends (:data:`_HEADERS`); when none is there, from the
  signature verdict decide already computed (a body-signed scheme such as Mailgun, or a
  header several providers share, which the registry tells apart), then from the handshake
  webbin answered;
* the body is parsed only for a provider whose event type lives in it (Stripe's ``type``,
  Slack's ``event.type``, ...), and only when it is at most :data:`BODY_CAP` bytes; an
  ordinary JSON post from no known provider is never parsed.

The event is what the delivery itself says, as sent (case kept), cut to :data:`EVENT_CAP`
characters; ``None`` when it says nothing. Nothing here raises on hostile input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

BODY_CAP = 256 * 1024  # bodies larger than this are never parsed for an event type
EVENT_CAP = 200  # characters of an event type kept (the column's size)

Headers = Sequence[Sequence[str]]
# (headers by lower-cased name, body) -> event type or None
EventReader = Callable[[dict[str, str], bytes], str | None]


def _header(name: str) -> EventReader:
    def read(headers: dict[str, str], _body: bytes) -> str | None:
        return headers.get(name)

    return read


def _parsed(body: bytes) -> Any:
    """The body as JSON when it is small and looks like an object or array; else None."""
    if len(body) > BODY_CAP or body.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _form(body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """A small urlencoded form body as a dict (first value of each key); else empty."""
    if len(body) > BODY_CAP or "x-www-form-urlencoded" not in headers.get("content-type", ""):
        return {}
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return {}
    found: dict[str, str] = {}
    for key, value in pairs:
        found.setdefault(key, value)
    return found


def _dig(data: Any, *path: str | int) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(data, list) or len(data) <= step:
                return None
        elif not isinstance(data, dict):
            return None
        data = data[step] if isinstance(step, int) else data.get(step)
    return data


def _json(*paths: tuple[str | int, ...]) -> EventReader:
    """The first of ``paths`` into the JSON body that holds a string."""

    def read(_headers: dict[str, str], body: bytes) -> str | None:
        data = _parsed(body)
        for path in paths:
            value = _dig(data, *path)
            if isinstance(value, str):
                return value
        return None

    return read


def _slack(headers: dict[str, str], body: bytes) -> str | None:
    """Events API: ``event.type`` (``type`` for ``url_verification``); interactivity posts a
    form whose ``payload`` is JSON with a ``type``; a slash command names its ``command``."""
    found = _json(("event", "type"), ("type",))(headers, body)
    if found is not None:
        return found
    form = _form(body, headers)
    if "payload" in form:
        return _json(("type",))(headers, form["payload"].encode())
    return form.get("command")


# Discord interaction types (https://discord.com/developers/docs/interactions).
_DISCORD_INTERACTIONS = {
    1: "PING",
    2: "APPLICATION_COMMAND",
    3: "MESSAGE_COMPONENT",
    4: "APPLICATION_COMMAND_AUTOCOMPLETE",
    5: "MODAL_SUBMIT",
}


def _discord(headers: dict[str, str], body: bytes) -> str | None:
    """Webhook events carry ``event.type``; interactions a numbered ``type``."""
    data = _parsed(body)
    found = _dig(data, "event", "type")
    if isinstance(found, str):
        return found
    kind = _dig(data, "type")
    return _DISCORD_INTERACTIONS.get(kind) if isinstance(kind, int) else None


def _twilio(headers: dict[str, str], body: bytes) -> str | None:
    """Status callbacks say the status (``delivered``, ``ringing``); Event Streams post
    CloudEvents, whose ``type`` names the event."""
    found = _json((0, "type"), ("type",))(headers, body)
    if found is not None:
        return found
    form = _form(body, headers)
    return next(
        (form[key] for key in ("MessageStatus", "SmsStatus", "CallStatus") if form.get(key)),
        None,
    )


def _paddle(headers: dict[str, str], body: bytes) -> str | None:
    """Paddle Billing: JSON ``event_type``; Paddle Classic: a form's ``alert_name``."""
    return _json(("event_type",))(headers, body) or _form(body, headers).get("alert_name")


def _mailgun(headers: dict[str, str], body: bytes) -> str | None:
    return _json(("event-data", "event"))(headers, body) or _form(body, headers).get("event")


def _linear(headers: dict[str, str], body: bytes) -> str | None:
    return headers.get("linear-event") or _json(("type",))(headers, body)


_STANDARD = _json(("type",))

# What each provider's event type is read from.
_EVENTS: dict[str, EventReader] = {
    "gitea": _header("x-gitea-event"),
    "gogs": _header("x-gogs-event"),
    "github": _header("x-github-event"),
    "gitlab": _header("x-gitlab-event"),
    "bitbucket": _header("x-event-key"),
    "shopify": _header("x-shopify-topic"),
    "sentry": _header("sentry-hook-resource"),
    "stripe": _json(("type",)),
    "slack": _slack,
    "sendgrid": _json((0, "event")),
    "twilio": _twilio,
    "square": _json(("type",)),
    "paddle": _paddle,
    "hubspot": _json((0, "subscriptionType")),
    "discord": _discord,
    "linear": _linear,
    "zoom": _json(("event",)),
    "typeform": _json(("event_type",)),
    "pagerduty": _json(("event", "event_type")),
    "intercom": _json(("topic",)),
    "mailgun": _mailgun,
    "standard-webhooks": _STANDARD,
}

# Headers only one provider sends, lower-cased, in priority order: when a delivery carries
# several, the first listed wins (Gitea and Gogs also send X-GitHub-Event for
# compatibility). A shared header (X-Hub-Signature: GitHub's legacy one, Intercom's,
# Bitbucket's, Meta's X-Hub-Signature-256) is not here: the signature verdict tells them
# apart.
_HEADERS: dict[str, str] = {
    "x-gitea-event": "gitea",
    "x-gogs-event": "gogs",
    "x-github-event": "github",
    "x-github-delivery": "github",
    "x-gitlab-event": "gitlab",
    "x-gitlab-token": "gitlab",
    "x-event-key": "bitbucket",
    "x-shopify-topic": "shopify",
    "x-shopify-hmac-sha256": "shopify",
    "sentry-hook-resource": "sentry",
    "stripe-signature": "stripe",
    "x-slack-signature": "slack",
    "x-slack-request-timestamp": "slack",
    "x-twilio-email-event-webhook-signature": "sendgrid",
    "x-twilio-signature": "twilio",
    "x-square-hmacsha256-signature": "square",
    "x-square-signature": "square",
    "paddle-signature": "paddle",
    "x-hubspot-signature": "hubspot",
    "x-hubspot-signature-v3": "hubspot",
    "x-signature-ed25519": "discord",
    "linear-signature": "linear",
    "linear-event": "linear",
    "x-zm-signature": "zoom",
    "typeform-signature": "typeform",
    "x-pagerduty-signature": "pagerduty",
    "webhook-signature": "standard-webhooks",
    "svix-signature": "standard-webhooks",
}
_ORDER = list(_HEADERS)
_RANK = {header: rank for rank, header in enumerate(_ORDER)}

# Signature schemes that name no provider.
_NOT_PROVIDERS = frozenset({"auto", "generic-hmac"})

# Every provider name webbin stores: the ones above, the signature schemes' (intercom,
# mailgun, ...) and the handshakes' (meta, graph, dropbox, twitter). ``provider:`` searches
# check against it, so a misspelt name is an error rather than an empty list.
PROVIDERS: tuple[str, ...] = tuple(
    sorted(
        {
            *_EVENTS,
            *_HEADERS.values(),
            "meta",
            "graph",
            "dropbox",
            "twitter",
        }
    )
)


def classify(
    headers: Headers,
    body: bytes,
    *,
    signature_scheme: str | None = None,
    signature_status: str | None = None,
    handshake: str | None = None,
) -> tuple[str | None, str | None]:
    """(provider, event type) of a delivery; either may be None.

    ``signature_scheme`` / ``signature_status`` are the verdict decide computed and
    ``handshake`` the provider whose handshake it answered: they name the provider when no
    header does (a scheme only counts when it found its signature, not when a bin set to
    it judged a request ``unsigned``).
    """
    by_name: dict[str, str] = {}
    best: int | None = None
    for name, value in headers:
        lowered = name.lower()
        by_name.setdefault(lowered, value)
        rank = _RANK.get(lowered)
        if rank is not None and (best is None or rank < best):
            best = rank
    if best is not None:
        provider: str | None = _HEADERS[_ORDER[best]]
    elif signature_scheme not in _NOT_PROVIDERS and signature_status not in (None, "unsigned"):
        provider = signature_scheme
    else:
        provider = handshake
    event = None
    if "ce-type" in by_name:  # a CloudEvent in binary mode says its type in a header
        event = by_name["ce-type"]
    elif provider in _EVENTS:
        event = _EVENTS[provider](by_name, body)
    if event is not None:
        event = event.strip()[:EVENT_CAP] or None
    return provider, event
