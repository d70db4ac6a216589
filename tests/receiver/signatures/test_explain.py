"""Explanations are optional and bounded: ``Options(explain=False)`` (capture,
re-verification) gives every scheme's status without the hints, and the hints that re-encode
the body never look at a body over 1 MiB.

Every other test under tests/receiver is checked for the same status with explanations on
and off by the guard in tests/receiver/conftest.py; the matrix here drives each provider
through its own signer for each status.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from importlib import import_module
from typing import Any

import pytest

from webbin.receiver.signatures import _common, registry
from webbin.receiver.signatures._common import BODY_REENCODED_HINT, MAX_REENCODE_BYTES
from webbin.receiver.signatures.base import Options, SignedRequest, Verdict
from webbin.receiver.signatures.twilio import SCHEME as TWILIO
from webbin.receiver.testwebhooks import _new_secret, sample

NOW = 1_700_000_000
RECEIVED = datetime.fromtimestamp(NOW, UTC)
BASE_URL = "https://bin.example/h/token"
GENERIC = {"header": "X-Signature", "algorithm": "sha256", "encoding": "hex", "prefix": ""}
# Providers that sign a time, and so can be stale; the others sign none.
TIMESTAMPED = {
    "discord",
    "hubspot",
    "linear",
    "mailgun",
    "paddle",
    "sendgrid",
    "slack",
    "standard-webhooks",
    "stripe",
    "zoom",
}
# Providers whose signature covers the body as sent (the re-encoded-body hint applies).
BODY_SIGNED = set(registry.SCHEMES) - {"gitlab", "mailgun", "twilio"}
TOO_LARGE = "too large to look for re-encoding"


def options(name: str, *secrets: str, **changes: Any) -> Options:
    extra = GENERIC if name == "generic-hmac" else {}
    return Options(secrets=secrets, **{**extra, **changes})


def signed(
    name: str, when: int = NOW, body: bytes | None = None, signed_body: bytes | None = None
) -> tuple[SignedRequest, str]:
    """A request signed as ``name``'s provider signs it at ``when`` (``signed_body`` instead
    of the body carried, when given), and the secret that verifies it."""
    scheme = registry.SCHEMES[name]
    signing, verifying = _new_secret(name)
    path, content_type, sample_body = sample(name, when)
    body = sample_body if body is None else body
    if name == "mailgun":
        body = scheme.sign_body(body, signing, when)
    url = BASE_URL + path
    headers = scheme.sign(
        body if signed_body is None else signed_body, signing, when, url, options(name)
    )
    request = SignedRequest("POST", url, [("Content-Type", content_type), *headers], body, RECEIVED)
    return request, verifying


def unsigned(name: str) -> SignedRequest:
    path, content_type, body = sample(name, NOW)
    return SignedRequest("POST", BASE_URL + path, [("Content-Type", content_type)], body, RECEIVED)


def both(request: SignedRequest, name: str, opts: Options) -> tuple[Verdict, Verdict]:
    """(explained, quiet) verdicts, under the scheme itself and checked to agree."""
    explained = registry.SCHEMES[name].verify(request, opts)
    quiet = registry.SCHEMES[name].verify(request, replace(opts, explain=False))
    assert (quiet.scheme, quiet.status, quiet.matched_secret) == (
        explained.scheme,
        explained.status,
        explained.matched_secret,
    )
    assert quiet.hint in (None, explained.hint)  # fixed text (stale, unverified) may stay
    return explained, quiet


def cases(name: str) -> list[tuple[str, SignedRequest, Options]]:
    request, secret = signed(name)
    _, other_secret = _new_secret(name)
    found = [
        ("valid", request, options(name, secret)),
        ("invalid", request, options(name, other_secret)),
        ("unverified", request, options(name)),
        ("unsigned", unsigned(name), options(name, secret)),
    ]
    if name in TIMESTAMPED:
        old, old_secret = signed(name, when=NOW - 3600)
        found.append(("stale", old, options(name, old_secret, tolerance_seconds=300)))
    return found


@pytest.mark.parametrize("name", sorted(registry.SCHEMES))
def test_status_is_the_same_with_and_without_explanations(name: str) -> None:
    seen = set()
    for status, request, opts in cases(name):
        explained, _ = both(request, name, opts)
        assert explained.status == status, (status, explained)
        seen.add(status)
        if name != "generic-hmac":  # never auto-detected
            auto = registry.verify(request, "auto", opts)
            quiet = registry.verify(request, "auto", replace(opts, explain=False))
            assert (quiet.scheme, quiet.status) == (auto.scheme, auto.status)
            if status != "unsigned":
                assert auto.scheme == name
    assert seen == {"valid", "invalid", "unverified", "unsigned"} | (
        {"stale"} if name in TIMESTAMPED else set()
    )


def reencodable(name: str, size: int) -> tuple[bytes, bytes]:
    """(body sent, compact re-serialisation that was signed) for ``name``'s sample, padded
    to at least ``size`` bytes."""
    data = json.loads(sample(name, NOW)[2])
    padding = {"padding": "x" * size}
    data = [*data, padding] if isinstance(data, list) else {**data, **padding}
    return json.dumps(data, indent=2).encode(), json.dumps(data, separators=(",", ":")).encode()


@pytest.mark.parametrize("name", sorted(BODY_SIGNED))
def test_reencoded_body_hint_looks_only_at_bodies_up_to_1_mib(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dumps = []
    real_dumps = json.dumps
    small_sent, small_signed = reencodable(name, 100)
    large_sent, large_signed = reencodable(name, MAX_REENCODE_BYTES)
    small, small_secret = signed(name, body=small_sent, signed_body=small_signed)
    large, large_secret = signed(name, body=large_sent, signed_body=large_signed)
    assert len(large.body) > MAX_REENCODE_BYTES
    monkeypatch.setattr(json, "dumps", lambda *a, **k: dumps.append(1) or real_dumps(*a, **k))

    explained, _ = both(small, name, options(name, small_secret))
    assert (explained.status, explained.hint) == ("invalid", BODY_REENCODED_HINT)
    assert dumps  # the hint re-serialised the small body

    dumps.clear()
    explained, _ = both(large, name, options(name, large_secret))
    assert explained.status == "invalid"
    assert TOO_LARGE in explained.hint.lower()
    assert not dumps


@pytest.mark.parametrize("name", sorted(BODY_SIGNED))
def test_nothing_is_re_encoded_without_explanations(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent, signed_copy = reencodable(name, 100)
    request, secret = signed(name, body=sent, signed_body=signed_copy)
    calls = spy_on_reencoding(monkeypatch)
    quiet = registry.SCHEMES[name].verify(request, options(name, secret, explain=False))
    assert (quiet.status, quiet.hint, calls) == ("invalid", None, [])
    registry.SCHEMES[name].verify(request, options(name, secret))
    assert calls  # explaining does look


def spy_on_reencoding(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count calls of ``reencoded_bodies`` from every signature module that imports it."""
    calls: list[int] = []
    real = _common.reencoded_bodies

    def spy(body: bytes) -> list[bytes]:
        calls.append(len(body))
        return real(body)

    modules = {_common, *(import_module(type(s).__module__) for s in registry.SCHEMES.values())}
    for module in modules:
        if hasattr(module, "reencoded_bodies"):
            monkeypatch.setattr(module, "reencoded_bodies", spy)
    return calls


@pytest.mark.parametrize(("size", "hint"), [(100, BODY_REENCODED_HINT), (2 << 20, None)])
def test_twilio_body_hash_hint_is_bounded_too(size: int, hint: str | None) -> None:
    data = {"padding": "x" * size}
    sent, signed_copy = json.dumps(data, indent=2).encode(), json.dumps(data).encode()
    url = f"{BASE_URL}/twilio?bodySHA256={hashlib.sha256(signed_copy).hexdigest()}"
    headers = TWILIO.sign(signed_copy, "token", NOW, url, Options())
    request = SignedRequest("POST", url, headers, sent, RECEIVED)
    explained, quiet = both(request, "twilio", Options(secrets=("token",)))
    assert explained.status == "invalid"
    if hint is None:
        assert TOO_LARGE in explained.hint
    else:
        assert explained.hint == hint
