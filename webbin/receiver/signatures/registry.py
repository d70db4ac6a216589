"""The registry of signature schemes and the ``auto`` detection order."""

from __future__ import annotations

from importlib import import_module

from ._common import MAX_HEADER_CHARS
from .base import Options, Scheme, SignedRequest, Verdict

# Module names under webbin.signatures, in detection order: schemes with distinctive headers
# first, generic ones (Standard Webhooks, which several providers reuse) after.
_MODULES = [
    "github",
    "stripe",
    "slack",
    "shopify",
    "twilio",
    "sendgrid",
    "square",
    "paddle",
    "mailgun",
    "hubspot",
    "discord",
    "linear",
    "zoom",
    "typeform",
    "intercom",
    "bitbucket",
    "gitlab",
    "standard_webhooks",
    "generic_hmac",
]


def _load() -> dict[str, Scheme]:
    schemes: dict[str, Scheme] = {}
    for module_name in _MODULES:
        scheme = import_module(f"{__package__}.{module_name}").SCHEME
        schemes[scheme.name] = scheme
    return schemes


SCHEMES: dict[str, Scheme] = _load()


def get(name: str) -> Scheme | None:
    return SCHEMES.get(name)


def detect(request: SignedRequest) -> Scheme | None:
    """The first scheme whose headers the request carries (generic-hmac is never detected)."""
    return next(
        (s for s in SCHEMES.values() if s.name != "generic-hmac" and s.detect(request)), None
    )


def carriers(request: SignedRequest) -> list[tuple[Scheme, str]]:
    """(scheme, header) for each scheme whose signature header the request carries, whether
    or not the scheme claims the request, in detection order. Only schemes whose header
    another provider also sends tell the two apart (``carried_header``); for the others,
    carrying the header is detecting the request."""
    found = []
    for scheme in SCHEMES.values():
        carried_header = getattr(scheme, "carried_header", None)
        header = carried_header(request) if carried_header is not None else None
        if header is not None:
            found.append((scheme, header))
    return found


def verify(request: SignedRequest, scheme_name: str, options: Options) -> Verdict:
    """The verdict for ``request`` under ``scheme_name`` (or ``auto``)."""
    if scheme_name == "auto":
        scheme = detect(request)
        if scheme is None:
            return _undetected(request, options)
    else:
        scheme = get(scheme_name)
        if scheme is None:
            raise ValueError(f"unknown signature scheme {scheme_name!r}")
    return scheme.verify(request, options)


def _undetected(request: SignedRequest, options: Options) -> Verdict:
    """The auto verdict of a request no scheme detected.

    A signature header that several providers send (``X-Hub-Signature``: GitHub's legacy
    header, Intercom's and Bitbucket Cloud's), without the headers that tell them apart, is
    checked as each of them, and the first that matches is the verdict; GitHub's legacy
    signature and Intercom's are made the same way, so such a match reads as GitHub's. With
    no secret, the verdict names the header and the providers that use it.
    """
    candidates = carriers(request)
    if not candidates:
        return Verdict(
            scheme="auto",
            status="unsigned",
            reason="No signature header of any known provider is present.",
        )
    headers = list(dict.fromkeys(header for _, header in candidates))
    values = [(request.header(header) or "").strip() for header in headers]
    fields = dict(
        scheme="auto",
        headers_read=headers,
        received=[value for value in values if len(value) <= MAX_HEADER_CHARS],
    )
    named, titles = _listed(headers), _listed([scheme.title for scheme, _ in candidates])
    if not options.secrets:
        return Verdict(
            status="unverified",
            reason=f"{named} is present, but no other header says which provider sent it: "
            f"{titles} use it.",
            hint="Add the signing secret to check the signature as each of them, or choose the "
            "provider in the bin's signature settings.",
            **fields,
        )
    tried = []
    for scheme, _ in candidates:
        verdict = scheme.verify(request, options)
        if verdict.status in ("valid", "stale"):
            return verdict
        tried.append((scheme.title, verdict.reason))
    return Verdict(
        status="invalid",
        reason=f"{named} does not match as any of the providers that use it ({titles}).",
        hint=" ".join(f"As {title}: {reason}" for title, reason in tried)
        if options.explain
        else None,
        **fields,
    )


def _listed(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
