"""GitLab: ``X-Gitlab-Token`` carries the webhook's secret token itself, not a signature.

Nothing is signed: the token proves only that the sender knows it, not that the body is
intact or fresh. It is compared with each configured secret in constant time. ``expected``
stays empty because it would be the secret itself, and a verdict is shown to anyone who can
see the bin.
"""

from __future__ import annotations

from typing import Any

from ._common import HeaderScheme, unsigned, unverified
from .base import Options, SignedRequest, Status, Verdict, constant_time_equal

HEADER = "X-Gitlab-Token"
CONSTRUCTION = "token equality (no signature)"


class GitLab(HeaderScheme):
    name = "gitlab"
    title = "GitLab"
    header = HEADER

    def verify(self, request: SignedRequest, options: Options) -> Verdict:
        received = request.header(HEADER)
        if received is None:
            return unsigned(self.name, HEADER)
        if not options.secrets:
            return unverified(self.name, [HEADER], [received], CONSTRUCTION)
        # Every secret is compared, so the time taken does not reveal which one matched.
        matches = [constant_time_equal(secret, received) for secret in options.secrets]

        def verdict(status: Status, reason: str, **fields: Any) -> Verdict:
            return Verdict(
                scheme=self.name,
                status=status,
                reason=reason,
                headers_read=[HEADER],
                construction=CONSTRUCTION,
                received=[received],
                **fields,
            )

        if any(matches):
            return verdict("valid", "The token matches.", matched_secret=matches.index(True))
        reason = "The token does not equal any configured secret."
        if not options.explain:
            return verdict("invalid", reason)
        trimmed = any(constant_time_equal(s.strip(), received.strip()) for s in options.secrets)
        hint = (
            "The token matches once surrounding whitespace is removed: it was copied with a "
            "stray space or line break, in GitLab's webhook settings or here."
            if trimmed
            else "No configured secret equals this token: the webhook is probably set up with "
            "another token (another project's or group's webhook, or one since changed)."
        )
        return verdict("invalid", reason, hint=hint)

    def sign(
        self, body: bytes, secret: str, timestamp: int, url: str, options: Options
    ) -> list[tuple[str, str]]:
        """GitLab sends the token as is; ``body``, ``timestamp`` and ``url`` play no part."""
        return [(HEADER, secret)]


SCHEME = GitLab()
