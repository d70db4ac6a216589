"""Per-bin settings: validation of what the API and the dashboard send, and the masked view
they show back. Secrets are write-only: sent, stored and used, never returned in full."""

from __future__ import annotations

from typing import Any

from webbin.receiver.handshakes import PROVIDERS, HandshakeSettings
from webbin.receiver.responses import parse as parse_response
from webbin.receiver.responses import to_dict as response_dict
from webbin.receiver.senders import parse_networks
from webbin.receiver.signatures import registry
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


def _signature(bin_: Bin, data: Any) -> None:
    if not isinstance(data, dict):
        raise ValueError("'signature' must be an object.")
    unknown = set(data) - {"scheme", "secrets", "tolerance_seconds", "generic"}
    if unknown:
        raise ValueError(f"'signature' has unknown field(s): {', '.join(sorted(unknown))}.")
    if "scheme" in data:
        if data["scheme"] not in scheme_names():
            raise ValueError(f"'signature.scheme' must be one of: {', '.join(scheme_names())}.")
        bin_.signature_scheme = data["scheme"]
    if "secrets" in data:
        secrets = data["secrets"]
        if (
            not isinstance(secrets, list)
            or len(secrets) > MAX_SECRETS
            or not all(
                isinstance(s, str) and 0 < len(s.strip()) <= MAX_SECRET_LENGTH for s in secrets
            )
        ):
            raise ValueError(
                f"'signature.secrets' must be a list of at most {MAX_SECRETS} non-empty strings."
            )
        bin_.signature_secrets = [s.strip() for s in secrets]
    if "tolerance_seconds" in data:
        tolerance = data["tolerance_seconds"]
        if (
            not isinstance(tolerance, int)
            or isinstance(tolerance, bool)
            or not (1 <= tolerance <= MAX_TOLERANCE)
        ):
            raise ValueError(f"'signature.tolerance_seconds' must be from 1 to {MAX_TOLERANCE}.")
        bin_.signature_tolerance = tolerance
    if "generic" in data:
        bin_.signature_options = _generic(data["generic"])


def _generic(data: Any) -> dict[str, str]:
    if not isinstance(data, dict):
        raise ValueError("'signature.generic' must be an object.")
    header = data.get("header")
    if not isinstance(header, str) or not header.strip() or len(header) > 100:
        raise ValueError("'signature.generic.header' must name the signature header.")
    algorithm = data.get("algorithm", "sha256")
    if algorithm not in GENERIC_ALGORITHMS:
        raise ValueError(f"'signature.generic.algorithm' must be one of {GENERIC_ALGORITHMS}.")
    encoding = data.get("encoding", "hex")
    if encoding not in GENERIC_ENCODINGS:
        raise ValueError(f"'signature.generic.encoding' must be one of {GENERIC_ENCODINGS}.")
    prefix = data.get("prefix", "")
    if not isinstance(prefix, str) or len(prefix) > 50:
        raise ValueError("'signature.generic.prefix' must be a short string, e.g. 'sha256='.")
    return {
        "header": header.strip(),
        "algorithm": algorithm,
        "encoding": encoding,
        "prefix": prefix,
    }


def _networks(data: Any) -> list[str]:
    if (
        not isinstance(data, list)
        or len(data) > MAX_NETWORKS
        or not all(isinstance(n, str) for n in data)
    ):
        raise ValueError(f"'allowed_networks' must be a list of at most {MAX_NETWORKS} CIDRs.")
    return [str(n) for n in parse_networks(data)]


def _handshakes(bin_: Bin, data: Any) -> None:
    if not isinstance(data, dict):
        raise ValueError("'handshakes' must be an object.")
    enabled = data.get("enabled")
    if enabled is not None and (
        not isinstance(enabled, list) or not set(enabled) <= set(PROVIDERS)
    ):
        raise ValueError(f"'handshakes.enabled' must list some of: {', '.join(PROVIDERS)}.")
    merged = dict(bin_.handshake_settings or {})
    merged.update({k: v for k, v in data.items() if v is not None or k == "enabled"})
    for secret in ("meta_verify_token", "zoom_secret", "twitter_consumer_secret"):
        if data.get(secret) == "":  # an explicit empty string clears it
            merged.pop(secret, None)
    bin_.handshake_settings = HandshakeSettings.from_dict(merged).to_storage_dict()


def apply(bin_: Bin, data: dict[str, Any]) -> bool:
    """Apply the settings in ``data`` to ``bin_``; True when verdicts must be recomputed.

    Raises ValueError with a message fit for the user on anything invalid.
    """
    before = (
        bin_.signature_scheme,
        list(bin_.signature_secrets or []),
        bin_.signature_tolerance,
        dict(bin_.signature_options or {}),
    )
    if "signature" in data:
        _signature(bin_, data["signature"])
    if "allowed_networks" in data:
        bin_.allowed_networks = _networks(data["allowed_networks"])
    if "handshakes" in data:
        _handshakes(bin_, data["handshakes"])
    if "response" in data:
        bin_.response_settings = response_dict(parse_response(data["response"]))
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
    }
