"""Every verdict a receiver test asks for is also computed without explanations.

Capture and re-verification store the status computed with ``Options(explain=False)``, and
the detail view explains it with ``explain=True``: the two must never disagree. Rather than
repeat every provider's known-answer vectors and round trips, this guard wraps each scheme's
``verify`` (and the registry's, for ``auto``) for the length of each test under
``tests/receiver``: each call is made a second time with ``explain=False`` and must give the
same scheme, status and matching secret, with no hint that costs work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from webbin.receiver.signatures import registry
from webbin.receiver.signatures.base import SignedRequest, Verdict


def assert_same_status(explained: Verdict, quiet: Verdict) -> None:
    """What capture stores (``quiet``) is what the detail view explains (``explained``)."""
    assert (quiet.scheme, quiet.status, quiet.matched_secret) == (
        explained.scheme,
        explained.status,
        explained.matched_secret,
    ), f"explain=False gave {quiet}, explain=True gave {explained}"
    assert quiet.expected is None or quiet.expected == explained.expected


def _checked(verify: Callable[..., Verdict]) -> Callable[..., Verdict]:
    """``verify(request, [scheme name,] options)``, checked again without explanations."""

    def checked(request: SignedRequest, *args: Any) -> Verdict:
        verdict = verify(request, *args)
        *scheme_name, options = args
        if options.explain:
            assert_same_status(
                verdict, verify(request, *scheme_name, replace(options, explain=False))
            )
        return verdict

    return checked


@pytest.fixture(autouse=True)
def explain_never_changes_a_status(monkeypatch: pytest.MonkeyPatch) -> None:
    for scheme in registry.SCHEMES.values():
        monkeypatch.setattr(scheme, "verify", _checked(scheme.verify))
    monkeypatch.setattr(registry, "verify", _checked(registry.verify))
