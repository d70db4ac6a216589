"""Answer webhook providers' endpoint-verification handshakes on behalf of a bin.

Several providers refuse to deliver to a URL until it proves it is listening, by
answering a challenge. :func:`reply` recognises those challenges and builds the
answer; the caller still captures the request as usual and marks it as a handshake
that was answered. Each provider is on by default and can be switched off per bin
(:class:`HandshakeSettings`).

=========  =====================================================  ===========================
provider   request recognised                                     reply
=========  =====================================================  ===========================
slack      POST JSON ``{"type": "url_verification",               200 text/plain: challenge
           "challenge": ...}``
meta       GET ``?hub.mode=subscribe&hub.challenge=...``          200 text/plain: challenge,
           (``hub.verify_token`` checked when configured)         403 on a token mismatch
graph      any method ``?validationToken=...``                    200 text/plain: the decoded
                                                                  token
zoom       POST JSON ``{"event": "endpoint.url_validation",       200 application/json
           "payload": {"plainToken": ...}}`` (needs the secret)   ``{plainToken,
                                                                  encryptedToken}``
dropbox    GET ``?challenge=...``                                 200 text/plain: challenge
twitter    GET ``?crc_token=...`` (needs the consumer secret)     200 application/json
                                                                  ``{response_token}``
=========  =====================================================  ===========================

This runs on the capture hot path, so ordinary requests must cost next to nothing:
the query string is only split when it contains one of the keys above, and a body
is only parsed as JSON when it is at most :data:`BODY_CAP` bytes *and* contains the
literal ``url_verification`` / ``endpoint.url_validation`` marker.

Security. Echoed values come from whoever sent the request and are served from
webbin's own origin, so every echo is ``text/plain; charset=utf-8`` (never HTML),
values longer than :data:`VALUE_CAP` bytes are not answered, and the caller must
send every reply with ``X-Content-Type-Options: nosniff`` (Dropbox requires it
too); :data:`REPLY_HEADERS` lists the headers to add. Nothing here raises on
hostile input (invalid JSON, bad UTF-8, repeated keys, huge bodies): anything not
clearly a handshake gives ``None``. A query key given more than once is ambiguous
and is not answered.

Pure module: standard library only, nothing imported from the rest of webbin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

PROVIDERS = ("slack", "meta", "graph", "zoom", "dropbox", "twitter")

BODY_CAP = 64 * 1024  # bodies larger than this are never parsed as JSON
QUERY_CAP = 64 * 1024  # query strings longer than this are never split
VALUE_CAP = 4 * 1024  # bytes (UTF-8) of a challenge/token we are willing to echo or sign
SECRET_CAP = 4 * 1024  # characters of a configured secret kept by from_dict

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"

#: Headers the caller must add to every handshake reply.
REPLY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
)

_SECRETS = ("meta_verify_token", "zoom_secret", "twitter_consumer_secret")

# Query keys a handshake uses, and the raw substrings that must be present before the
# query string is split at all ("challenge" also covers "hub.challenge").
_QUERY_KEYS = frozenset(
    {"hub.mode", "hub.challenge", "hub.verify_token", "validationToken", "challenge", "crc_token"}
)
_QUERY_MARKERS = ("hub.mode", "validationToken", "challenge", "crc_token")

_SLACK_MARKER = b"url_verification"
_ZOOM_MARKER = b"endpoint.url_validation"


@dataclass(frozen=True)
class HandshakeSettings:
    """Per-bin handshake switches and the secrets some providers need.

    ``enabled`` holds the providers that are answered (all by default). Secrets are
    write-only: :meth:`to_dict` reports only whether each is set.
    """

    enabled: frozenset[str] = frozenset(PROVIDERS)
    meta_verify_token: str | None = None
    zoom_secret: str | None = None
    twitter_consumer_secret: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "enabled", frozenset(self.enabled) & frozenset(PROVIDERS))

    @classmethod
    def from_dict(cls, data: dict | None) -> HandshakeSettings:
        """Settings from the JSON stored per bin; anything malformed falls back to the default.

        ``enabled`` may be a list of provider names (exactly those are on) or an object
        ``{"slack": false, ...}`` (providers not named stay on); ``disabled`` may list
        providers to switch off. Unknown names are ignored. A secret is kept when it is
        a non-empty string of at most :data:`SECRET_CAP` characters.
        """
        if not isinstance(data, dict):
            return cls()
        enabled = set(PROVIDERS)
        raw = data.get("enabled")
        if isinstance(raw, list | tuple | set | frozenset):
            enabled = {name for name in raw if isinstance(name, str)}
        elif isinstance(raw, dict):
            enabled -= {name for name, on in raw.items() if on is False}
        disabled = data.get("disabled")
        if isinstance(disabled, list | tuple | set | frozenset):
            enabled -= {name for name in disabled if isinstance(name, str)}
        secrets = {}
        for name in _SECRETS:
            value = data.get(name)
            secrets[name] = (
                value if isinstance(value, str) and 0 < len(value) <= SECRET_CAP else None
            )
        return cls(enabled=frozenset(enabled), **secrets)

    def to_dict(self) -> dict:
        """The public view: switches, and for each secret only whether it is set."""
        out: dict[str, Any] = {"enabled": [p for p in PROVIDERS if p in self.enabled]}
        for name in _SECRETS:
            out[f"{name}_set"] = getattr(self, name) is not None
        return out

    def to_storage_dict(self) -> dict:
        """Everything, secrets included, for the per-bin store; round-trips via from_dict.

        Never send this to a browser or an API client: use :meth:`to_dict`.
        """
        out: dict[str, Any] = {"enabled": [p for p in PROVIDERS if p in self.enabled]}
        for name in _SECRETS:
            out[name] = getattr(self, name)
        return out


@dataclass(frozen=True)
class HandshakeReply:
    """The answer to send instead of webbin's usual capture response."""

    provider: str  # one of PROVIDERS
    status: int
    content_type: str
    body: bytes = field(repr=False)
    note: str  # one sentence for the request's detail view


def reply(
    method: str,
    query_string: str,
    headers: list[tuple[str, str]] | list[list[str]],
    body: bytes,
    settings: HandshakeSettings,
) -> HandshakeReply | None:
    """The handshake answer for this request, or ``None`` for an ordinary request.

    ``query_string`` is the raw query (percent-escapes kept; a WSGI string, so any raw
    non-ASCII bytes arrive as latin-1 characters). ``headers`` is accepted for future
    providers and not consulted today. Never raises.
    """
    try:
        return _reply(method, query_string, body, settings)
    except Exception:  # hostile input must never break a capture
        return None


def _reply(
    method: str, query_string: str, body: bytes, settings: HandshakeSettings
) -> HandshakeReply | None:
    enabled = settings.enabled
    if not enabled:
        return None
    if (
        query_string
        and len(query_string) <= QUERY_CAP
        and any(marker in query_string for marker in _QUERY_MARKERS)
    ):
        query = _parse_query(query_string)
        for provider, handler in _QUERY_HANDLERS:
            if provider in enabled:
                answer = handler(method, query, settings)
                if answer is not None:
                    return answer
    if method == "POST" and body and len(body) <= BODY_CAP:
        if "slack" in enabled and _SLACK_MARKER in body:
            answer = _slack(_json_object(body))
            if answer is not None:
                return answer
        if "zoom" in enabled and settings.zoom_secret and _ZOOM_MARKER in body:
            answer = _zoom(_json_object(body), settings.zoom_secret)
            if answer is not None:
                return answer
    return None


# --- query-string providers -------------------------------------------------------------

# The values of the keys a handshake uses: None for a value that is not valid UTF-8.
_Query = dict[str, list[str | None]]


def _parse_query(query_string: str) -> _Query:
    """Split a raw query into the handshake keys' values (form-decoded, ``+`` is a space)."""
    try:
        raw = query_string.encode("latin-1")  # WSGI: one character per byte
    except UnicodeEncodeError:
        raw = query_string.encode("utf-8", "surrogatepass")
    out: _Query = {}
    for piece in raw.split(b"&"):
        name, _, value = piece.partition(b"=")
        key = _decode(name)
        if key in _QUERY_KEYS:
            out.setdefault(key, []).append(_decode(value))
    return out


def _decode(raw: bytes) -> str | None:
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _one(query: _Query, key: str) -> str | None:
    """The key's only value, if it was given exactly once and is echoable."""
    values = query.get(key)
    if values is None or len(values) != 1:
        return None
    return _echoable(values[0])


def _echoable(value: object) -> str | None:
    """The value if it is a non-empty string of at most VALUE_CAP bytes of valid UTF-8."""
    if not isinstance(value, str) or not value or len(value) > VALUE_CAP:
        return None
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates, e.g. from a JSON "\ud800" escape
        return None
    return value if size <= VALUE_CAP else None


def _text(provider: str, value: str, note: str, status: int = 200) -> HandshakeReply:
    return HandshakeReply(provider, status, TEXT, value.encode("utf-8"), note)


def _meta(method: str, query: _Query, settings: HandshakeSettings) -> HandshakeReply | None:
    if method != "GET" or "hub.mode" not in query:
        return None
    values = query["hub.mode"]
    if len(values) != 1 or values[0] != "subscribe":
        return None
    challenge = _one(query, "hub.challenge")
    if challenge is None:
        return None
    expected = settings.meta_verify_token
    if expected is None:
        return _text(
            "meta",
            challenge,
            "Answered Meta's hub.mode=subscribe verification; hub.verify_token was not "
            "checked because this bin has no verify token configured.",
        )
    given = query.get("hub.verify_token")
    sent = given[0] if given is not None and len(given) == 1 else None
    if sent is None or not hmac.compare_digest(
        sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    ):
        return _text(
            "meta",
            "verify token mismatch",
            "Refused Meta's hub.mode=subscribe verification with 403: hub.verify_token "
            "does not match the verify token configured for this bin.",
            status=403,
        )
    return _text(
        "meta",
        challenge,
        "Answered Meta's hub.mode=subscribe verification; hub.verify_token matched.",
    )


def _graph(method: str, query: _Query, settings: HandshakeSettings) -> HandshakeReply | None:
    token = _one(query, "validationToken")
    if token is None:
        return None
    return _text(
        "graph",
        token,
        "Answered Microsoft Graph's notification URL validation (validationToken echoed).",
    )


def _twitter(method: str, query: _Query, settings: HandshakeSettings) -> HandshakeReply | None:
    secret = settings.twitter_consumer_secret
    if method != "GET" or not secret:
        return None
    token = _one(query, "crc_token")
    if token is None:
        return None
    digest = hmac.new(secret.encode("utf-8"), token.encode("utf-8"), hashlib.sha256).digest()
    answer = {"response_token": "sha256=" + base64.b64encode(digest).decode("ascii")}
    return HandshakeReply(
        "twitter",
        200,
        JSON,
        json.dumps(answer).encode("ascii"),
        "Answered X (Twitter)'s challenge-response check (crc_token signed with the "
        "consumer secret).",
    )


def _dropbox(method: str, query: _Query, settings: HandshakeSettings) -> HandshakeReply | None:
    if method != "GET":
        return None
    challenge = _one(query, "challenge")
    if challenge is None:
        return None
    return _text(
        "dropbox",
        challenge,
        "Answered Dropbox's webhook verification request (challenge echoed; Dropbox "
        "requires Content-Type: text/plain and X-Content-Type-Options: nosniff).",
    )


_QUERY_HANDLERS = (
    ("meta", _meta),
    ("graph", _graph),
    ("twitter", _twitter),
    ("dropbox", _dropbox),
)


# --- JSON-body providers ----------------------------------------------------------------


def _json_object(body: bytes) -> dict | None:
    """The body as a JSON object, or None (bad UTF-8, bad JSON, too deep, not an object)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _slack(data: dict | None) -> HandshakeReply | None:
    if data is None or data.get("type") != "url_verification":
        return None
    challenge = _echoable(data.get("challenge"))
    if challenge is None:
        return None
    return _text("slack", challenge, "Answered Slack's url_verification challenge.")


def _zoom(data: dict | None, secret: str) -> HandshakeReply | None:
    if data is None or data.get("event") != "endpoint.url_validation":
        return None
    payload = data.get("payload")
    if not isinstance(payload, dict):
        return None
    plain = _echoable(payload.get("plainToken"))
    if plain is None:
        return None
    encrypted = hmac.new(secret.encode("utf-8"), plain.encode("utf-8"), hashlib.sha256)
    answer = json.dumps({"plainToken": plain, "encryptedToken": encrypted.hexdigest()})
    # Same JSON value, but no raw <, > or & in a document served from webbin's origin.
    answer = answer.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return HandshakeReply(
        "zoom",
        200,
        JSON,
        answer.encode("ascii"),
        "Answered Zoom's endpoint.url_validation (plainToken signed with the secret token).",
    )
