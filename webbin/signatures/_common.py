"""Building blocks shared by the HMAC-style schemes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable

from .base import Options, SignedRequest, Verdict, constant_time_equal

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def hmac_bytes(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, message, ALGORITHMS[algorithm]).digest()


def hmac_hex(key: bytes, message: bytes, algorithm: str = "sha256") -> str:
    return hmac_bytes(key, message, algorithm).hex()


def hmac_b64(key: bytes, message: bytes, algorithm: str = "sha256") -> str:
    return base64.b64encode(hmac_bytes(key, message, algorithm)).decode("ascii")


def first_match(
    received: Iterable[str], secrets: Iterable[str], expected_for: Callable[[str], str]
) -> tuple[int | None, str | None]:
    """(index of the secret whose expected signature equals one received, or None;
    the expected signature under the first secret, for display)."""
    received = list(received)
    first_expected = None
    for index, secret in enumerate(secrets):
        expected = expected_for(secret)
        if first_expected is None:
            first_expected = expected
        if any(constant_time_equal(expected, r) for r in received):
            return index, expected
    return None, first_expected


def timestamp_age(request: SignedRequest, timestamp: int) -> float:
    return request.received_at.timestamp() - timestamp


def is_stale(age: float, options: Options) -> bool:
    return abs(age) > options.tolerance_seconds


def reencoded_bodies(body: bytes) -> list[bytes]:
    """The body as a framework might have re-serialised it before signing or checking:
    a "body re-encoded" hint fires when one of these, not the raw bytes, matches."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return []
    variants = [
        json.dumps(data, separators=(",", ":")).encode(),
        json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode(),
        json.dumps(data).encode(),
        json.dumps(data, indent=2).encode(),
    ]
    return [v for v in dict.fromkeys(variants) if v != body]


BODY_REENCODED_HINT = (
    "The signature matches a re-serialised copy of the JSON body, not the bytes that were "
    "sent: verify against the raw request body, before any JSON parsing."
)


def unverified(scheme: str, headers_read: list[str], received: list[str], construction: str,
               timestamp: int | None = None, age: float | None = None) -> Verdict:
    return Verdict(
        scheme=scheme,
        status="unverified",
        reason="A signature is present, but this bin has no secret to check it with.",
        headers_read=headers_read,
        construction=construction,
        received=received,
        timestamp=timestamp,
        age_seconds=age,
        hint="Add the endpoint's signing secret in the bin's signature settings; "
        "requests already captured are re-verified.",
    )


def unsigned(scheme: str, missing: str) -> Verdict:
    return Verdict(scheme=scheme, status="unsigned", reason=f"No {missing} header.",
                   headers_read=[missing])
