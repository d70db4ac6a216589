"""Twilio: ``X-Twilio-Signature: <base64 HMAC-SHA1>`` keyed with the account's auth token.

For form posts the signed payload is the full URL followed by every form field, sorted by
name, each name directly followed by its value. JSON bodies are signed through the URL alone,
which then carries ``bodySHA256=<hex SHA-256 of the body>`` in its query. Like Twilio's own
SDKs, the URL counts as the same with or without its port (a default port is added when none
is given), so only other URL differences are reported as mismatches.
"""

from __future__ import annotations

import dataclasses
import hashlib
from urllib.parse import parse_qs, parse_qsl, urlsplit

from ._common import (
    BODY_REENCODED_HINT,
    TOO_LARGE_TO_REENCODE,
    HeaderScheme,
    HmacSpec,
    can_reencode,
    malformed,
    oversized,
    reencoded_bodies,
    text_bytes,
    text_hmac,
    toggle_port,
    unsigned,
    url_hint,
    url_variants,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict, constant_time_equal

HEADER = "X-Twilio-Signature"
FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000
BODY_HASH = "bodySHA256"


def body_hash_param(url: str) -> str | None:
    """The ``bodySHA256`` query parameter that marks a JSON-body request, if any."""
    try:
        values = parse_qs(urlsplit(url).query).get(BODY_HASH)
    except ValueError:
        return None
    return values[0] if values else None


def form_fields(body: bytes, max_fields: int | None = None) -> list[tuple[str, str]]:
    return parse_qsl(
        body.decode("utf-8", "surrogateescape"),
        keep_blank_values=True,
        errors="surrogateescape",
        max_num_fields=max_fields,
    )


def payload(url: str, fields: list[tuple[str, str]]) -> bytes:
    """The URL then each field's name and value, sorted by name (values of a repeated name
    sorted too, as Twilio's SDKs do)."""
    return text_bytes(url + "".join(name + value for name, value in sorted(fields)))


def _body_hash_hint(body: bytes, body_hash: str) -> str | None:
    """Whether a re-encoded copy of ``body`` is what the URL's bodySHA256 hashes."""
    if not can_reencode(body):
        return TOO_LARGE_TO_REENCODE + "."
    reencoded = any(
        constant_time_equal(hashlib.sha256(variant).hexdigest(), body_hash)
        for variant in reencoded_bodies(body)
    )
    return BODY_REENCODED_HINT if reencoded else None


class Twilio(HeaderScheme):
    name = "twilio"
    title = "Twilio"
    header = HEADER

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        value = request.header(HEADER)
        if value is None:
            return unsigned(self.name, HEADER)
        body_hash = body_hash_param(request.url)
        construction = (
            "{url} (carrying bodySHA256={hex SHA-256 of body})"
            if body_hash
            else "{url}{name}{value}… (form fields sorted by name)"
        )
        if refusal := oversized(self.name, HEADER, value, [HEADER], construction):
            return refusal
        value = value.strip()
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        fields: list[tuple[str, str]] = []
        if body_hash is None and request.method.upper() == "POST" and content_type == FORM:
            try:
                fields = form_fields(request.body, MAX_FIELDS)
            except ValueError:
                return malformed(
                    self.name,
                    f"The form body has more than {MAX_FIELDS} fields.",
                    [HEADER],
                    received=[value],
                    construction=construction,
                )
        same_url = toggle_port(request.url)
        verdict = verify_hmac(
            request,
            options,
            HmacSpec(
                scheme=self.name,
                headers_read=[HEADER],
                construction=construction,
                received=[value],
                signatures=[value],
                message=payload(request.url, fields),
                algorithm="sha1",
                encoding="base64",
                equivalents=[payload(same_url, fields)] if same_url else [],
                message_variants=lambda: (
                    (url_hint(changes, variant), payload(variant, fields))
                    for changes, variant in url_variants(request.url)
                    if variant != same_url
                ),
            ),
        )
        if body_hash is None or verdict.status not in ("valid", "stale"):
            return verdict
        if constant_time_equal(hashlib.sha256(request.body).hexdigest(), body_hash):
            return verdict
        return dataclasses.replace(
            verdict,
            status="invalid",
            matched_secret=None,
            reason="The signature matches the URL, but the URL's bodySHA256 is not the SHA-256 "
            "of this body: the body differs from the one Twilio sent.",
            hint=_body_hash_hint(request.body, body_hash) if options.explain else None,
        )

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """A form post's headers, or a JSON post's when ``url`` carries ``bodySHA256`` (the
        caller puts it there: Twilio signs the URL, so it can't travel in a header)."""
        if body_hash_param(url) is not None:
            return [
                ("Content-Type", "application/json"),
                (HEADER, text_hmac(secret, text_bytes(url), "sha1", "base64")),
            ]
        signature = text_hmac(secret, payload(url, form_fields(body)), "sha1", "base64")
        return [("Content-Type", FORM), (HEADER, signature)]


SCHEME = Twilio()
