"""Re-signing: the signature a provider would send with a request that was edited before a
resend, so that the changed request still verifies at its target.

A resend may change the method, URL, headers or body; the captured signature then no longer
matches. Re-signing computes it again the way the provider does, with the bin's secret and a
fresh timestamp wherever the scheme signs one (Stripe's ``t=``, Slack's
``X-Slack-Request-Timestamp``, Standard Webhooks' ``webhook-timestamp``, Zoom's, HubSpot's,
Paddle's ``ts=``, Mailgun's), over the URL the request now goes to for the URL-signed schemes
(Twilio, Square, HubSpot). The computation is each scheme's own ``sign`` (the one the signed
test webhooks use), so signing and verifying cannot disagree; and every result is verified
with the scheme before it is used, so webbin never claims a signature it would itself refuse.

Only the headers that carry the signature and its timestamp change, in place (the first of
each keeps its position and spelling, later repeats go); headers that describe the delivery
(its content type, user agent, event and delivery ids) stay as the user left them. A Standard
Webhooks ``webhook-id`` (or ``svix-id``) already present is kept and signed, since it is part
of the signed content. Mailgun signs inside the body, so there the body's ``signature``
object is replaced.

Schemes signed with a private key (Discord's Ed25519, SendGrid's ECDSA) cannot be re-signed:
the bin holds the provider's public key, which checks a signature but cannot make one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import import_module

from webbin.receiver.signatures import registry, standard_webhooks
from webbin.receiver.signatures.base import Options, Scheme, SignedRequest

# Headers some signers send that describe the delivery rather than carry its signature: a
# re-sign never adds or changes them (Twilio's and Mailgun's content type, Intercom's user
# agent, Bitbucket's event key and delivery ids).
_DESCRIPTIVE = frozenset(
    {"content-type", "user-agent", "x-event-key", "x-hook-uuid", "x-request-uuid"}
)


class CannotResign(ValueError):
    """Re-signing is impossible for this request or bin; the message says why, for people."""


@dataclass(frozen=True)
class Resigned:
    """An edited request with its signature made again."""

    scheme: str  # registry name of the scheme that signed it
    title: str  # the provider, for people
    headers: list[tuple[str, str]]  # the edited headers, signature headers replaced
    body: bytes  # the edited body (Mailgun's carries the new signature)
    changed: list[str]  # names of the headers re-signing set, as sent


def is_public_key_scheme(scheme: Scheme) -> bool:
    """Signed with a private key only the provider holds (its module can make key pairs)."""
    return hasattr(import_module(type(scheme).__module__), "generate_keypair")


def choose_scheme(bin_scheme: str, judged: str | None, request: SignedRequest) -> Scheme:
    """The scheme to sign ``request`` with: the bin's, or in ``auto`` mode the one whose
    headers the edited request carries, else the one that judged the captured request."""
    if bin_scheme != "auto":
        scheme = registry.get(bin_scheme)
        if scheme is None:
            raise CannotResign(f"Unknown signature scheme {bin_scheme!r}.")
        return scheme
    detected = registry.detect(request)
    if detected is not None:
        return detected
    stored = registry.get(judged) if judged else None
    if stored is not None:
        return stored
    raise CannotResign(
        "webbin can't tell which provider's signature to make: the request carries no known "
        "signature header. Choose the provider in the bin's signature settings."
    )


def problem(scheme: Scheme, options: Options) -> str | None:
    """Why ``scheme`` cannot be re-signed with the bin's settings, or None when it can be
    tried (a secret may still turn out unusable, see :func:`resign`)."""
    if is_public_key_scheme(scheme):
        return (
            f"{scheme.title} signs with a private key that only {scheme.title} holds; the "
            "bin keeps its public key, which checks a signature but cannot make one, so "
            "webbin cannot re-sign it. Resend without re-signing (the captured signature "
            "still matches only the captured body)."
        )
    if not options.secrets:
        return (
            f"The bin has no signing secret to re-sign with as {scheme.title}: add it in the "
            "bin's signature settings."
        )
    return None


def resign(
    scheme: Scheme,
    options: Options,
    *,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    now: int,
) -> Resigned:
    """``headers`` and ``body`` signed again as ``scheme`` for a request to ``url`` at
    ``now`` (seconds), with the first of the bin's secrets that can sign; CannotResign when
    none can, or when the result would not verify."""
    reason = problem(scheme, options)
    if reason is not None:
        raise CannotResign(reason)
    failures = []
    for index, secret in enumerate(options.secrets):
        try:
            signed_body, signed = _sign(scheme, secret, options, url, headers, body, now)
        except (ValueError, TypeError) as error:  # a secret or body this scheme can't sign
            failures.append(f"secret {index + 1}: {error}")
            continue
        merged, changed = _merge(headers, signed)
        check = replace(options, secrets=(secret,), explain=False)
        at = datetime.fromtimestamp(now, UTC)
        verdict = scheme.verify(SignedRequest(method, url, merged, signed_body, at), check)
        if verdict.status != "valid":
            raise CannotResign(
                f"Re-signed as {scheme.title}, but the result does not verify: {verdict.reason}"
            )
        return Resigned(scheme.name, scheme.title, merged, signed_body, changed)
    raise CannotResign(
        f"None of the bin's secrets can sign as {scheme.title} ({'; '.join(failures)})."
    )


def _sign(
    scheme: Scheme,
    secret: str,
    options: Options,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    now: int,
) -> tuple[bytes, list[tuple[str, str]]]:
    """(body, signature headers) as ``scheme`` makes them with ``secret``."""
    sign_body = getattr(scheme, "sign_body", None)
    if sign_body is not None:  # Mailgun: the signature lives in the body
        body = sign_body(body, secret, now)
    if scheme.name == standard_webhooks.SCHEME.name:
        kept = _standard_webhooks(secret, headers, body, now)
        if kept is not None:
            return body, kept
    return body, scheme.sign(body, secret, now, url, options)


def _standard_webhooks(
    secret: str, headers: list[tuple[str, str]], body: bytes, now: int
) -> list[tuple[str, str]] | None:
    """The three headers under the message id (and header family) the request already has,
    or None when it has none (the scheme's own signer then picks a new id)."""
    present = {name.lower(): value for name, value in reversed(headers)}
    for id_name, timestamp_name, signature_name in standard_webhooks.HEADER_SETS:
        message_id = present.get(id_name)
        if message_id is None:
            continue
        key = standard_webhooks.read_secret(secret)
        entry = standard_webhooks.expected_entry(key, f"{message_id}.{now}.".encode() + body)
        if entry is None:
            raise ValueError(key.problem or "a whpk_ public key verifies but cannot sign")
        return [(id_name, message_id), (timestamp_name, str(now)), (signature_name, entry)]
    return None


def _merge(
    headers: list[tuple[str, str]], signed: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], list[str]]:
    """``headers`` with ``signed``'s signature headers in place of the same-named ones (the
    first keeps its place and spelling, repeats go), new ones appended; and the names set."""
    replacements: dict[str, list[str]] = {}
    spelled: dict[str, str] = {}
    for name, value in signed:
        if name.lower() not in _DESCRIPTIVE:
            replacements.setdefault(name.lower(), []).append(value)
            spelled.setdefault(name.lower(), name)
    merged: list[tuple[str, str]] = []
    placed: set[str] = set()
    for name, value in headers:
        lowered = name.lower()
        if lowered not in replacements:
            merged.append((name, value))
        elif lowered not in placed:
            placed.add(lowered)
            spelled[lowered] = name
            merged.extend((name, new) for new in replacements[lowered])
    for lowered, values in replacements.items():
        if lowered not in placed:
            merged.extend((spelled[lowered], value) for value in values)
    return merged, [spelled[lowered] for lowered in replacements]
