"""Per-bin settings: the typed models of what the API and the dashboard send (validated
strictly, one readable error per bad field), and of the masked view they show back.
Secrets are write-only: sent, stored and used, never returned in full.

Changes are partial: only the settings present change, and inside ``signature`` and
``handshakes`` only the fields present; ``generic`` and ``response`` are replaced whole.
The same models generate the OpenAPI components (:mod:`webbin.web.openapi`), so the
document and the validation cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Annotated, Any, Literal

from pydantic import Field

from webbin.receiver.handshakes import PROVIDERS, SECRET_CAP, HandshakeSettings
from webbin.receiver.responses import ResponseSettingsModel
from webbin.receiver.responses import parse as parse_response
from webbin.receiver.responses import to_dict as response_dict
from webbin.receiver.signatures import registry
from webbin.receiver.strict import StrictModel, absent, bounded_int, invalid, text, validate
from webbin.storage.models import Bin

MAX_SECRETS = 10
MAX_SECRET_LENGTH = 4096
MAX_NETWORKS = 500
MAX_TOLERANCE = 365 * 24 * 3600
GENERIC_ALGORITHMS = ("sha1", "sha256", "sha512")
GENERIC_ENCODINGS = ("hex", "base64")


def mask(secret: str) -> str:
    """Enough to tell two secrets apart, never enough to use one."""
    if len(secret) < 16:
        return "•" * 8
    return f"{secret[:6]}…{secret[-4:]}"


def scheme_names() -> list[str]:
    return ["auto", *registry.SCHEMES]


# --- field types ------------------------------------------------------------------------


def _secret(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise invalid("must not be empty")
    if len(stripped) > MAX_SECRET_LENGTH:
        raise invalid(f"must be at most {MAX_SECRET_LENGTH} characters")
    return stripped


def _network(value: str) -> str:
    """A CIDR or single address, stored normalised (``10.1.2.3/8`` -> ``10.0.0.0/8``)."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise invalid("must be an IP address or CIDR network, e.g. 192.30.252.0/22") from None


def _header(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise invalid("must name the signature header")
    return stripped


SchemeName = Literal[tuple(scheme_names())]  # type: ignore[valid-type]
Provider = Literal[PROVIDERS]  # type: ignore[valid-type]
Secret = text(_secret, min_length=1, json_schema_extra={"pattern": r"^[^\u0000]*\S[^\u0000]*$"})
Network = text(_network, min_length=1, max_length=100)
Tolerance = bounded_int(1, MAX_TOLERANCE, "Replay window for signed timestamps, in seconds.")
HandshakeSecret = text(max_length=SECRET_CAP)
SignatureHeader = text(_header, min_length=1, max_length=100)
Prefix = text(max_length=50)


# --- what clients send ------------------------------------------------------------------


class GenericHmac(StrictModel):
    """How `generic-hmac` finds and checks a signature; replaced whole when sent."""

    header: SignatureHeader = Field(description="The request header holding the signature.")
    algorithm: Literal[GENERIC_ALGORITHMS] = Field(  # type: ignore[valid-type]
        default="sha256", description="HMAC hash."
    )
    encoding: Literal[GENERIC_ENCODINGS] = Field(  # type: ignore[valid-type]
        default="hex", description="How the digest is written in the header."
    )
    prefix: Prefix = Field(default="", description="Text before the digest, e.g. `sha256=`.")


class SignaturePatch(StrictModel):
    """Signature verification settings to change; changing them re-verifies every stored
    request."""

    scheme: SchemeName = absent("`auto` (detect from the headers) or one scheme's name.")
    secrets: Annotated[list[Secret], Field(max_length=MAX_SECRETS)] = absent(
        "Every secret to try (replaces the saved ones; `[]` removes them). Write-only."
    )
    tolerance_seconds: Tolerance = absent("Replay window for signed timestamps, in seconds.")
    generic: GenericHmac = absent("Settings of the `generic-hmac` scheme.")


class HandshakesPatch(StrictModel):
    """Handshake replies to change; a secret left out (or null) stays as it is."""

    enabled: list[Provider] | None = absent(
        "The providers whose handshakes are answered (exactly these); null for all of them."
    )
    meta_verify_token: HandshakeSecret | None = absent(
        "Meta's hub.verify_token; an empty string clears it. Write-only."
    )
    zoom_secret: HandshakeSecret | None = absent(
        "Zoom's secret token, needed to answer its validation; an empty string clears it. "
        "Write-only."
    )
    twitter_consumer_secret: HandshakeSecret | None = absent(
        "X (Twitter)'s consumer secret, needed to answer its CRC check; an empty string "
        "clears it. Write-only."
    )


class SettingsPatch(StrictModel):
    """The settings part of a change to a bin: only the keys present change."""

    signature: SignaturePatch = absent("Signature verification.")
    allowed_networks: Annotated[list[Network], Field(max_length=MAX_NETWORKS)] = absent(
        "Sender allow-list (CIDRs or addresses; replaces the saved list; `[]` turns the check off)."
    )
    handshakes: HandshakesPatch = absent("Handshake replies.")
    response: ResponseSettingsModel | None = absent(
        "Custom responses (replaced whole); null or `{}` for webbin's usual 200."
    )
    cors: bool = absent(
        "Answer browsers' CORS preflights (204, the requested method and headers allowed) and "
        "add `Access-Control-Allow-Origin: *` to every answer, so a web page can send to the "
        "capture URL; never with credentials. Preflights are captured either way."
    )


# --- what webbin shows back -------------------------------------------------------------


class SignatureView(StrictModel):
    scheme: str = Field(description="`auto` or a scheme name such as `github`, `stripe`.")
    secrets: list[str] = Field(description="Masked hints of the saved secrets (write-only).")
    tolerance_seconds: int = Field(description="Replay window for timestamps.", ge=1)
    generic: GenericHmac | None = Field(description="generic-hmac's settings, or null.")


class HandshakesView(StrictModel):
    enabled: list[Provider] = Field(description="Providers whose handshakes are answered.")
    meta_verify_token_set: bool
    zoom_secret_set: bool
    twitter_consumer_secret_set: bool


class SettingsView(StrictModel):
    """A bin's settings as the API and the page show them: secrets only as masked hints."""

    signature: SignatureView
    allowed_networks: list[str] = Field(
        description="Sender allow-list (CIDRs); empty means not checked."
    )
    handshakes: HandshakesView
    response: ResponseSettingsModel
    cors: bool = Field(description="Whether capture URLs answer CORS preflights and browsers.")


# --- applying a change ------------------------------------------------------------------


def _signature(bin_: Bin, patch: SignaturePatch) -> None:
    fields = patch.model_fields_set
    if "scheme" in fields:
        bin_.signature_scheme = patch.scheme
    if "secrets" in fields:
        bin_.signature_secrets = list(patch.secrets)
    if "tolerance_seconds" in fields:
        bin_.signature_tolerance = patch.tolerance_seconds
    if "generic" in fields:
        bin_.signature_options = patch.generic.model_dump()


def _handshakes(bin_: Bin, patch: HandshakesPatch) -> None:
    current = HandshakeSettings.from_dict(bin_.handshake_settings)
    changes: dict[str, Any] = {}
    if "enabled" in patch.model_fields_set:
        changes["enabled"] = frozenset(PROVIDERS if patch.enabled is None else patch.enabled)
    for name in patch.model_fields_set - {"enabled"}:
        value = getattr(patch, name)
        if value is not None:  # null leaves the secret as it is
            changes[name] = value or None  # an explicit empty string clears it
    bin_.handshake_settings = dataclasses.replace(current, **changes).to_storage_dict()


def parse(data: Any) -> SettingsPatch:
    """``data`` as a settings change; :class:`~webbin.receiver.strict.InvalidInput` (a
    ValueError naming each bad field's path) on anything invalid or unknown."""
    return validate(SettingsPatch, data)


def apply(bin_: Bin, patch: SettingsPatch | dict[str, Any]) -> bool:
    """Apply a settings change to ``bin_``; True when verdicts must be recomputed.

    A dict is validated first (raising InvalidInput, a ValueError with a message fit for
    the user); nothing is changed unless all of it is valid.
    """
    if not isinstance(patch, SettingsPatch):
        patch = parse(patch)
    before = (
        bin_.signature_scheme,
        list(bin_.signature_secrets or []),
        bin_.signature_tolerance,
        dict(bin_.signature_options or {}),
    )
    fields = patch.model_fields_set
    if "signature" in fields:
        _signature(bin_, patch.signature)
    if "allowed_networks" in fields:
        bin_.allowed_networks = list(patch.allowed_networks)
    if "handshakes" in fields:
        _handshakes(bin_, patch.handshakes)
    if "response" in fields:
        response = patch.response or ResponseSettingsModel()
        bin_.response_settings = response_dict(response.settings())
    if "cors" in fields:
        bin_.cors = patch.cors
    after = (
        bin_.signature_scheme,
        list(bin_.signature_secrets or []),
        bin_.signature_tolerance,
        dict(bin_.signature_options or {}),
    )
    return before != after


def view(bin_: Bin) -> dict[str, Any]:
    """The settings as the API and the page show them (secrets masked)."""
    return {
        "signature": {
            "scheme": bin_.signature_scheme,
            "secrets": [mask(s) for s in bin_.signature_secrets or []],
            "tolerance_seconds": bin_.signature_tolerance,
            "generic": bin_.signature_options or None,
        },
        "allowed_networks": list(bin_.allowed_networks or []),
        "handshakes": HandshakeSettings.from_dict(bin_.handshake_settings).to_dict(),
        "response": response_dict(parse_response(bin_.response_settings)),
        "cors": bin_.cors,
    }
