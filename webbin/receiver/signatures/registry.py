"""The registry of signature schemes and the ``auto`` detection order."""

from __future__ import annotations

from importlib import import_module

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


def verify(request: SignedRequest, scheme_name: str, options: Options) -> Verdict:
    """The verdict for ``request`` under ``scheme_name`` (or ``auto``)."""
    if scheme_name == "auto":
        scheme = detect(request)
        if scheme is None:
            return Verdict(
                scheme="auto",
                status="unsigned",
                reason="No signature header of any known provider is present.",
            )
    else:
        scheme = get(scheme_name)
        if scheme is None:
            raise ValueError(f"unknown signature scheme {scheme_name!r}")
    return scheme.verify(request, options)
