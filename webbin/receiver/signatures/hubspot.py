"""HubSpot: three signature versions, all keyed by the app's client secret.

- v1: ``X-HubSpot-Signature`` = hex SHA-256 (a plain hash, not an HMAC) of
  ``{client_secret}{body}``, with ``X-HubSpot-Signature-Version: v1``.
- v2: the same header = hex SHA-256 of ``{client_secret}{method}{uri}{body}``, with version
  ``v2``; the URI is the full URL HubSpot called, protocol and query order included.
- v3: ``X-HubSpot-Signature-v3`` = base64 HMAC-SHA256 of ``{method}{uri}{body}{timestamp}``,
  ``X-HubSpot-Request-Timestamp`` in milliseconds. HubSpot rejects v3 requests older than
  five minutes; the bin's tolerance applies here. For v3 HubSpot signs the URI with these
  escapes decoded: ``%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B`` (any other ``%XX``
  stays encoded).

HubSpot sends v3 alongside v1 or v2 for backward compatibility; v3, the only one with a
timestamp, is verified when present.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from ._common import (
    BODY_REENCODED_HINT,
    HmacSpec,
    Variant,
    decode_hex,
    encoding_hint,
    first_match,
    malformed,
    matched,
    mismatch_reason,
    other_endpoint_hint,
    oversized,
    reencoded_bodies,
    text_bytes,
    text_hmac,
    unverified,
    url_hint,
    url_variants,
    verify_hmac,
)
from .base import Options, SignedRequest, Verdict, constant_time_equal

SIGNATURE = "X-HubSpot-Signature"
VERSION = "X-HubSpot-Signature-Version"
SIGNATURE_V3 = "X-HubSpot-Signature-v3"
TIMESTAMP = "X-HubSpot-Request-Timestamp"
CONSTRUCTION_V1 = "{client_secret}{body}"
_MAX_MS_DIGITS = 15  # milliseconds until the year 33658; longer is junk, not a time
_V3_DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
_V3_ESCAPE = re.compile("|".join(_V3_DECODED), re.IGNORECASE)
_UNDECODED_HINT = (
    "The signature matches the URI left percent-encoded: HubSpot decodes %3A, %2F, %3F, %40, "
    "%21, %24, %27, %28, %29, %2A, %2C and %3B in the URI before signing v3, and the sender "
    "skipped that step."
)


def v3_uri(url: str) -> str:
    """The URI as HubSpot signs it for v3: the URL with the listed escapes decoded."""
    return _V3_ESCAPE.sub(lambda m: _V3_DECODED[m.group().upper()], url)


def _v3_message(method: str, uri: str, body: bytes, timestamp: str) -> bytes:
    return text_bytes(method + uri) + body + text_bytes(timestamp)


def _v1_v2_digest(secret: str, method: str | None, uri: str, body: bytes) -> str:
    """v1 when ``method`` is None, else v2."""
    prefix = secret if method is None else secret + method + uri
    return hashlib.sha256(text_bytes(prefix) + body).hexdigest()


class HubSpot:
    name = "hubspot"
    title = "HubSpot"

    def detect(self, request: SignedRequest) -> bool:
        return request.header(SIGNATURE_V3) is not None or request.header(SIGNATURE) is not None

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        v3 = request.header(SIGNATURE_V3)
        if v3 is not None:
            return self._verify_v3(request, v3, options)
        v1_v2 = request.header(SIGNATURE)
        if v1_v2 is not None:
            return self._verify_v1_v2(request, v1_v2, options)
        return Verdict(
            scheme=self.name,
            status="unsigned",
            reason=f"No {SIGNATURE_V3} or {SIGNATURE} header.",
            headers_read=[SIGNATURE_V3, SIGNATURE],
        )

    def _verify_v3(self, request: SignedRequest, value: str, options: Options) -> Verdict:
        headers_read = [SIGNATURE_V3, TIMESTAMP]
        uri = v3_uri(request.url)
        construction = f"{{method}}{{uri}}{{body}}{{{TIMESTAMP}}}, uri = {uri}"
        if refusal := oversized(self.name, SIGNATURE_V3, value, headers_read, construction):
            return refusal
        value = value.strip()
        sent_at = (request.header(TIMESTAMP) or "").strip()
        if not (sent_at.isascii() and sent_at.isdigit() and len(sent_at) <= _MAX_MS_DIGITS):
            reason = (
                f"No {TIMESTAMP} header, which the v3 signature covers."
                if request.header(TIMESTAMP) is None
                else f"{TIMESTAMP} is not a Unix time in milliseconds."
            )
            return malformed(
                self.name, reason, headers_read, received=[value], construction=construction
            )
        method = request.method

        def message(candidate_uri: str, body: bytes) -> bytes:
            return _v3_message(method, candidate_uri, body, sent_at)

        def variants() -> Iterator[Variant]:
            for changes, variant in url_variants(request.url):
                yield url_hint(changes, variant), message(v3_uri(variant), request.body)
            if uri != request.url:
                yield _UNDECODED_HINT, message(request.url, request.body)

        return verify_hmac(
            request,
            options,
            HmacSpec(
                scheme=self.name,
                headers_read=headers_read,
                construction=construction,
                received=[value],
                signatures=[value],
                message=message(uri, request.body),
                encoding="base64",
                resign_body=lambda body: message(uri, body),
                message_variants=variants,
                timestamp=int(sent_at) // 1000,
            ),
        )

    def _verify_v1_v2(self, request: SignedRequest, value: str, options: Options) -> Verdict:
        headers_read = [SIGNATURE, VERSION]
        version = request.header(VERSION)
        if refusal := oversized(self.name, SIGNATURE, value, headers_read):
            return refusal
        value = value.strip()
        if version not in ("v1", "v2"):
            reason = (
                f"No {VERSION} header, so the signature's version is unknown."
                if version is None
                else f"{VERSION} is not v1 or v2."
            )
            return malformed(self.name, reason, headers_read, received=[value])
        method = None if version == "v1" else request.method
        construction = (
            CONSTRUCTION_V1
            if method is None
            else f"{{client_secret}}{{method}}{{uri}}{{body}}, uri = {request.url}"
        )
        if not options.secrets:
            return unverified(self.name, headers_read, [value], construction)
        index, expected = first_match(
            [value], options.secrets, lambda s: _v1_v2_digest(s, method, request.url, request.body)
        )
        fields = dict(headers_read=headers_read, construction=construction, received=[value])
        if index is not None:
            return matched(self.name, options, index, expected=expected, **fields)
        if len(decode_hex(value) or b"") != hashlib.sha256().digest_size:
            reason = f"{SIGNATURE} is not a SHA-256 digest in hex."
            return Verdict(
                scheme=self.name, status="invalid", reason=reason, expected=expected, **fields
            )
        return Verdict(
            scheme=self.name,
            status="invalid",
            reason=mismatch_reason(1, len(options.secrets)),
            hint=self._v1_v2_hint(value, options.secrets, method, request)
            if options.explain
            else None,
            expected=expected,
            **fields,
        )

    @staticmethod
    def _v1_v2_hint(
        value: str, secrets: tuple[str, ...], method: str | None, request: SignedRequest
    ) -> str:
        def found(uri: str, body: bytes) -> bool:
            return any(
                constant_time_equal(_v1_v2_digest(s, method, uri, body), value) for s in secrets
            )

        for secret in secrets:
            digest = bytes.fromhex(_v1_v2_digest(secret, method, request.url, request.body))
            hint = encoding_hint([value], digest, "hex")
            if hint:
                return hint
        if any(found(request.url, variant) for variant in reencoded_bodies(request.body)):
            return BODY_REENCODED_HINT
        if method is not None:
            for changes, variant in url_variants(request.url):
                if found(variant, request.body):
                    return url_hint(changes, variant)
        return other_endpoint_hint(request.body)

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """The headers of a HubSpot webhook POST to ``url``: v1 (as for CRM subscriptions) and
        v3. ``secret`` is the client secret; ``timestamp`` is in seconds, sent in
        milliseconds."""
        sent_at = str(timestamp * 1000)
        v3 = text_hmac(secret, _v3_message("POST", v3_uri(url), body, sent_at), encoding="base64")
        return [
            (SIGNATURE, _v1_v2_digest(secret, None, url, body)),
            (VERSION, "v1"),
            (SIGNATURE_V3, v3),
            (TIMESTAMP, sent_at),
        ]


SCHEME = HubSpot()
