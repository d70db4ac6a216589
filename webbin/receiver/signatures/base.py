"""What every signature scheme sees and returns.

A scheme is a small object with a name, a way to tell whether a request carries its
signature (``detect``), a verifier that explains itself (``verify``) and a signer used by the
"send a signed test webhook" feature (``sign``). Verification always works on the stored raw
bytes, so a secret added later re-verifies requests already captured.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Literal, Protocol

Status = Literal["valid", "stale", "invalid", "unsigned", "unverified"]


@dataclass(frozen=True)
class SignedRequest:
    """A captured request as a verifier needs it."""

    method: str
    # The full URL as the provider saw it (public base URL + path + query), for URL-signed
    # schemes (Twilio, Square, HubSpot v2/v3, Zoom's plainToken is not URL-signed).
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    received_at: datetime

    @cached_property
    def _first_values(self) -> dict[str, str]:
        """Each header's first value by lower-cased name, built once: ``auto`` detection asks
        every scheme for its headers, which made linear scans a tenth of a capture's time."""
        first: dict[str, str] = {}
        for name, value in self.headers:
            first.setdefault(name.lower(), value)
        return first

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively (as providers' SDKs read them)."""
        return self._first_values.get(name.lower())

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for n, v in self.headers if n.lower() == wanted]


@dataclass(frozen=True)
class Verdict:
    """One request's signature verdict, with everything needed to explain it."""

    scheme: str
    status: Status
    reason: str  # one plain sentence: "Signature matches.", "No X-Hub-Signature-256 header."
    headers_read: list[str] = field(default_factory=list)
    # How the signed payload is built, e.g. "{webhook-id}.{webhook-timestamp}.{body}".
    construction: str | None = None
    received: list[str] = field(default_factory=list)  # signature(s) found in the request
    expected: str | None = None  # computed with the first secret, in the received format
    timestamp: int | None = None  # the signed timestamp (seconds since the epoch), if any
    age_seconds: float | None = None  # received_at - timestamp
    hint: str | None = None  # plain words on a likely mistake, when one is likely
    matched_secret: int | None = None  # index of the secret that matched

    def as_dict(self) -> dict:
        return {
            "scheme": self.scheme,
            "status": self.status,
            "reason": self.reason,
            "headers_read": self.headers_read,
            "construction": self.construction,
            "received": self.received,
            "expected": self.expected,
            "timestamp": self.timestamp,
            "age_seconds": self.age_seconds,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class Options:
    """Per-bin settings a scheme may use."""

    secrets: tuple[str, ...] = ()
    tolerance_seconds: int = 300
    # generic-hmac only: header name, algorithm (sha1/sha256/sha512), encoding (hex/base64),
    # optional prefix such as "sha256=".
    header: str | None = None
    algorithm: str = "sha256"
    encoding: str = "hex"
    prefix: str = ""
    # False when only the status is wanted (capture, re-verification): schemes then skip
    # hints that cost more than the check itself, such as re-encoding the body.
    explain: bool = True


class Scheme(Protocol):
    """A signature scheme. One whose header other providers send too (``X-Hub-Signature``)
    also has ``carried_header(request) -> str | None``: the header it would read, whether or
    not ``detect`` claims the request, so that auto mode can check a request no scheme
    claims as each scheme that reads its header (see ``registry``). ``verify`` honours
    ``Options.explain``: off, the status is the same, without hints or ``expected``."""

    name: str  # registry key, e.g. "github"
    title: str  # for people, e.g. "GitHub"

    def detect(self, request: SignedRequest) -> bool:
        """True when the request carries this scheme's signature header(s)."""

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        """The verdict for ``request``; never raises on hostile input."""

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """Headers a real provider would send with ``body`` (for test webhooks)."""


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    """Compare secrets and signatures without leaking where they differ."""
    if isinstance(a, str):
        a = a.encode("utf-8", "surrogateescape")
    if isinstance(b, str):
        b = b.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(a, b)
