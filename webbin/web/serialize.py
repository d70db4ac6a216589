"""Plain-data views of stored rows, shared by the API, the live streams and the dashboard.

Functions take anything with the row's attributes (an ORM object or a Core row), so the
live stream can use lean Core queries and still produce exactly what the API returns.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from flask import url_for

from webbin.capture.wire import CAPTURE_PREFIX
from webbin.proxies import public_base
from webbin.receiver import bin_settings as settings
from webbin.receiver import senders, verification
from webbin.storage.models import Bin, CapturedRequest, ResendAttempt


def rfc3339(moment: datetime) -> str:
    """UTC with a ``Z``; SQLite hands back naive datetimes, which webbin always stores as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def capture_url(bin_: Bin) -> str:
    return f"{public_base()}{CAPTURE_PREFIX}{bin_.capture_token}"


def bin_data(bin_: Bin, request_count: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": bin_.id,
        "name": bin_.name,
        "capture_url": capture_url(bin_),
        "dashboard_url": public_base() + url_for("dashboard.bin_page", bin_id=bin_.id),
        "created_at": rfc3339(bin_.created_at),
        "resend_url": bin_.resend_url,
    }
    data.update(settings.view(bin_))
    if request_count is not None:
        data["request_count"] = request_count
    return data


def request_summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "seq": row.seq,
        "method": row.method,
        "path": row.path,
        "query_string": row.query_string,
        "content_type": row.content_type,
        "size": row.size,
        "received_at": rfc3339(row.received_at),
        "remote_addr": row.remote_addr,
        "signature_status": row.signature_status,
        "signature_scheme": row.signature_scheme,
        "handshake": row.handshake,
        "response_status": row.response_status,
        "duplicate_of": row.duplicate_of,
        "delivery_attempt": row.delivery_attempt,
        "delivery_key_source": row.delivery_key_source,
        "provider": row.provider,
        "event": row.event,
    }


def body_text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def request_detail(row: CapturedRequest, bin_: Bin) -> dict[str, Any]:
    """Everything about one request, with its signature verdict and sender check computed
    from the bin's current settings."""
    data = request_summary(row)
    data["url"] = row.url
    data["headers"] = [list(pair) for pair in row.headers]
    data["body_base64"] = base64.b64encode(row.body).decode("ascii")
    data["body_text"] = body_text(row.body)
    data["signature"] = verification.verdict(bin_, row).as_dict()
    data["sender"] = senders.check(row.remote_addr, bin_.allowed_networks)
    return data


def resend_data(attempt: ResendAttempt) -> dict[str, Any]:
    body = attempt.response_body or b""
    text = body_text(body)
    return {
        "id": attempt.id,
        "url": attempt.url,
        "created_at": rfc3339(attempt.created_at),
        "status": attempt.status,
        "reason": attempt.reason,
        "headers": [list(pair) for pair in attempt.response_headers or []],
        "body_text": text,
        "body_base64": None if text is not None else base64.b64encode(body).decode("ascii"),
        "truncated": attempt.truncated,
        "elapsed_ms": round(attempt.elapsed_ms, 2),
        "error": attempt.error,
        "error_kind": attempt.error_kind,
        "forwarder": attempt.forwarder,
        "replied": bool(attempt.replied),
        "sent": sent_data(attempt),
    }


def forwarder_data(forwarder: Any) -> dict[str, Any]:
    """A connected forwarder (:class:`webbin.live.forwarders.Connected`); its id is what a
    resend through it names."""
    return {
        "id": forwarder.id,
        "name": forwarder.name,
        "target": forwarder.target,
        "reply_timeout": forwarder.reply_timeout,
        "connected_at": rfc3339(forwarder.connected_at),
        "last_seen": rfc3339(forwarder.last_seen),
    }


def sent_data(attempt: ResendAttempt) -> dict[str, Any] | None:
    """The request as the attempt sent it; None for attempts made before webbin kept it."""
    if attempt.sent_method is None:
        return None
    body = attempt.sent_body or b""
    text = body_text(body)
    return {
        "method": attempt.sent_method,
        "url": attempt.url,
        "headers": [list(pair) for pair in attempt.sent_headers or []],
        "body_text": text,
        "body_base64": base64.b64encode(body).decode("ascii"),
        "edited": bool(attempt.sent_edited),
        "resigned": attempt.sent_resigned,
    }
