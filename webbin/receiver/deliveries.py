"""Retry and duplicate detection: which earlier delivery a request repeats.

Providers retry a failed delivery with the same delivery id; webbin keys each request by the
first id it finds (in this order), or, failing any, by a digest of the method, path and a
non-empty body, which only counts as a repeat within ``BODY_WINDOW``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

# (header, key prefix) in the order they are trusted.
_HEADER_IDS = (
    ("X-GitHub-Delivery", "github"),
    ("webhook-id", "standard-webhooks"),
    ("svix-id", "standard-webhooks"),
    ("X-Shopify-Event-Id", "shopify-event"),
    ("X-Shopify-Webhook-Id", "shopify"),
    ("Idempotency-Key", "idempotency"),
)

# Event ids inside JSON bodies are only looked for in bodies up to this size.
_MAX_JSON = 1024 * 1024
BODY_WINDOW = timedelta(minutes=10)


def _first_values(headers: list[list[str]] | list[tuple[str, str]]) -> dict[str, str]:
    """Each header's first value by lower-cased name: one pass instead of one per id."""
    first: dict[str, str] = {}
    for name, value in headers:
        first.setdefault(name.lower(), value)
    return first


def _json_field(body: bytes, field: str) -> str | None:
    if len(body) > _MAX_JSON or not body.lstrip().startswith(b"{"):
        return None
    try:
        value = json.loads(body).get(field)
    except (ValueError, RecursionError, AttributeError):
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 200 else None


def delivery_key(
    method: str, path: str, headers: list[list[str]], body: bytes
) -> tuple[str, str] | None:
    """(key, where it came from) for this request, or None when nothing identifies it."""
    first = _first_values(headers)
    for name, prefix in _HEADER_IDS:
        value = first.get(name.lower())
        if value:
            return f"{prefix}:{value[:200]}", name
    if "stripe-signature" in first:
        event_id = _json_field(body, "id")
        if event_id:
            return f"stripe:{event_id}", "Stripe event id"
    if "x-slack-signature" in first or first.get("x-slack-retry-num"):
        event_id = _json_field(body, "event_id")
        if event_id:
            return f"slack:{event_id}", "Slack event_id"
    if body:
        # The same body sent with another method or to another path is another event.
        digest = hashlib.sha256(f"{method} {path}\n".encode("utf-8", "surrogateescape"))
        digest.update(body)
        return "body:" + digest.hexdigest(), "identical body"
    return None


def is_body_key(key: str) -> bool:
    return key.startswith("body:")
