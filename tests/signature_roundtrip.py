"""The round-trip checks that every signature scheme's tests share.

A provider's test file describes its requests once, as a :class:`Provider`, and calls these
checks from its own test functions. Each check asserts what must hold for every scheme and
returns the verdict, so that the test can go on to assert what is particular to its provider.
Known-answer vectors, and where they come from, stay in the provider's own test file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from webbin.receiver.signatures.base import Options, Scheme, SignedRequest, Verdict


@dataclass(frozen=True)
class Provider:
    scheme: Scheme
    secret: str  # the secret ``signed`` signs with unless told otherwise
    # A request signed as the provider signs it; keywords (``body=``, ``sent=`` for the body
    # actually carried, ``timestamp=``, …) are the test file's own.
    signed: Callable[..., SignedRequest]
    unsigned: Callable[[], SignedRequest]  # the same request without its signature
    # Bin settings the scheme needs besides secrets (generic-hmac's header name, …).
    settings: Mapping[str, Any] = field(default_factory=dict)

    def verify(self, request: SignedRequest, *secrets: str, **settings: Any) -> Verdict:
        return self.scheme.verify(
            request, Options(secrets=secrets, **{**self.settings, **settings})
        )

    def valid(self, **changes: Any) -> Verdict:
        """Signed with the secret: valid, matched by the first secret, nothing to hint at."""
        verdict = self.verify(self.signed(**changes), self.secret)
        assert (verdict.status, verdict.matched_secret, verdict.hint) == ("valid", 0, None)
        return verdict

    def invalid(
        self, request: SignedRequest | None = None, *secrets: str, **changes: Any
    ) -> Verdict:
        """``request`` (or one ``signed`` with ``changes``) checked with ``secrets`` (or the
        secret): invalid, with a reason."""
        if request is None:
            request = self.signed(**changes)
        verdict = self.verify(request, *(secrets or (self.secret,)))
        assert verdict.status == "invalid"
        assert verdict.reason
        return verdict

    def hint(self, request: SignedRequest | None = None, *secrets: str, **changes: Any) -> str:
        """The hint that explains why ``request`` (as for :meth:`invalid`) is invalid."""
        hint = self.invalid(request, *secrets, **changes).hint
        assert hint is not None
        return hint

    def stale(self, tolerance: int = 300, **changes: Any) -> Verdict:
        """Signed outside the replay window: stale, though the first secret matches."""
        verdict = self.verify(self.signed(**changes), self.secret, tolerance_seconds=tolerance)
        assert (verdict.status, verdict.matched_secret) == ("stale", 0)
        return verdict

    def header_removed(self) -> Verdict:
        verdict = self.verify(self.unsigned(), self.secret)
        assert verdict.status == "unsigned"
        return verdict

    def no_secret(self, **changes: Any) -> Verdict:
        """Signed, but checked with no secret: unverified."""
        verdict = self.verify(self.signed(**changes))
        assert verdict.status == "unverified"
        return verdict

    def second_secret(self, first: str) -> Verdict:
        """Checked with ``first`` (another endpoint's or a rotated-out secret), then the secret:
        matched by the second."""
        verdict = self.verify(self.signed(), first, self.secret)
        assert (verdict.status, verdict.matched_secret) == ("valid", 1)
        return verdict
