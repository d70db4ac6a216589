"""Mailgun: the signature travels in the body, not in a header.

Webhooks post JSON ``{"signature": {"timestamp", "token", "signature"}, "event-data": ...}``;
legacy webhooks and routes post the same three as form fields. The signature is the hex
HMAC-SHA256 of ``{timestamp}{token}`` keyed with the HTTP webhook signing key; subaccount
events add ``parent-signature``, made with the primary account's key. The event itself is
not signed.
"""

from __future__ import annotations

import email
import email.utils
import json
import secrets
from typing import Any
from urllib.parse import parse_qsl

from ._common import (
    MAX_HEADER_CHARS,
    HmacSpec,
    malformed,
    parse_timestamp,
    text_bytes,
    text_hmac,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict

FIELDS = ("timestamp", "token", "signature", "parent-signature")
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def _json_fields(body: bytes) -> dict[str, str] | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    signature = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(signature, dict):
        return None
    return {name: text for name in FIELDS if (text := _text(signature.get(name))) is not None}


def _multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    message = email.message_from_bytes(
        b"Content-Type: " + text_bytes(content_type) + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    if not message.is_multipart():
        return fields
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition")
        name = email.utils.collapse_rfc2231_value(name) if name else None
        payload = part.get_payload(decode=True)
        if name in FIELDS and isinstance(payload, bytes):
            fields.setdefault(name, payload.decode("utf-8", "surrogateescape"))
    return fields


def signature_fields(request: SignedRequest) -> tuple[dict[str, str], str] | None:
    """The signature fields and where they were found ("signature." for JSON, "" for forms),
    or None when the body carries no Mailgun signature."""
    if b"signature" not in request.body:
        return None
    content_type = request.header("Content-Type") or ""
    media_type = content_type.split(";")[0].strip().lower()
    if request.body.lstrip().startswith(b"{"):
        fields, where = _json_fields(request.body), "signature."
    elif media_type == FORM:
        pairs = parse_qsl(
            request.body.decode("utf-8", "surrogateescape"),
            keep_blank_values=True,
            errors="surrogateescape",
        )
        fields = {}
        for name, value in pairs:
            if name in FIELDS:
                fields.setdefault(name, value)
        where = ""
    elif media_type == MULTIPART:
        fields, where = _multipart_fields(content_type, request.body), ""
    else:
        return None
    return (fields, where) if fields and "signature" in fields else None


class Mailgun:
    name = "mailgun"
    title = "Mailgun"

    def detect(self, request: SignedRequest) -> bool:
        """All three fields, so a stray "signature" key in another provider's JSON isn't
        mistaken for Mailgun's."""
        found = signature_fields(request)
        return found is not None and {"timestamp", "token"} <= found[0].keys()

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        found = signature_fields(request)
        construction = "{timestamp}{token}"
        if found is None:
            return Verdict(
                scheme=self.name,
                status="unsigned",
                reason="No Mailgun signature (timestamp, token, signature) in the body.",
                headers_read=["body: signature"],
            )
        fields, where = found
        headers_read = [f"body: {where}{name}" for name in FIELDS if name in fields]
        received = [fields[name] for name in ("signature", "parent-signature") if name in fields]
        if any(len(value) > MAX_HEADER_CHARS for value in fields.values()):
            return malformed(
                self.name,
                "A signature field is far longer than a signature.",
                headers_read,
                construction=construction,
            )
        missing = [name for name in ("timestamp", "token") if not fields.get(name)]
        if missing:
            return malformed(
                self.name,
                f"The body's signature has no {where}{missing[0]}.",
                headers_read,
                received=received,
                construction=construction,
            )
        timestamp = parse_timestamp(fields["timestamp"])
        if timestamp is None:
            return malformed(
                self.name,
                f"{where}timestamp is not a Unix timestamp in seconds.",
                headers_read,
                received=received,
                construction=construction,
            )
        return verify_hmac(
            request,
            options,
            HmacSpec(
                scheme=self.name,
                headers_read=headers_read,
                construction=construction,
                received=received,
                signatures=received,
                message=text_bytes(fields["timestamp"].strip() + fields["token"]),
                timestamp=timestamp,
            ),
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """Mailgun sends no signature header: the signature goes in the body (see
        :meth:`sign_body`), so only the content type is returned."""
        return [("Content-Type", "application/json")]

    def sign_body(self, body: bytes, secret: str, timestamp: int) -> bytes:
        """``body`` (a JSON object) with a fresh ``signature`` object, as Mailgun posts it;
        ``ValueError`` for a body that isn't a JSON object."""
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("a Mailgun webhook body is a JSON object")
        token = secrets.token_hex(25)
        data["signature"] = {
            "timestamp": str(timestamp),
            "token": token,
            "signature": text_hmac(secret, f"{timestamp}{token}".encode()),
        }
        return json.dumps(data).encode()


SCHEME = Mailgun()
