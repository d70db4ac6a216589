"""Configuration profiles: how much a webbin trusts the network around it.

``local`` is a tool on a developer's machine: resend may reach the user's own app on
localhost or the office network. ``production`` is a webbin that strangers can reach: resend
may only reach public addresses, plus the CIDRs listed in ``WEBBIN_OUTBOUND_ALLOWLIST``.

``WEBBIN_PROFILE`` picks one. When it is unset, ``webbin serve`` chooses by the address it
binds: loopback means ``local``, anything else (``0.0.0.0``, a public IP) ``production``;
an app built some other way (``create_app()`` in another server, the tests) is ``local``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Flask, current_app

from webbin.outbound.client import LOCAL_POLICY, PRODUCTION_POLICY, AddressPolicy

LOCAL = "local"
PRODUCTION = "production"
PROFILES = (LOCAL, PRODUCTION)


def for_bind_host(host: str) -> str:
    """The default profile of a server bound to ``host``: only loopback is ``local``."""
    name = host.strip().removeprefix("[").removesuffix("]")
    if name.lower() == "localhost":
        return LOCAL
    try:
        return LOCAL if ipaddress.ip_address(name).is_loopback else PRODUCTION
    except ValueError:
        return PRODUCTION  # a host name, a unix socket: assume it is reachable from outside


def parse_allowlist(value: Any) -> tuple[str, ...]:
    """``"10.0.0.0/8, 192.168.1.5"`` or a JSON list, as CIDR strings checked now, at start-up."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    networks = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ValueError(
                f"WEBBIN_OUTBOUND_ALLOWLIST: {text!r} is not an IP address or CIDR network"
            ) from None
    return tuple(networks)


def init_app(app: Flask) -> None:
    """Validate the profile and build the outbound policy once, so bad settings fail early."""
    profile = str(app.config.get("PROFILE") or LOCAL).strip().lower()
    if profile not in PROFILES:
        raise ValueError(f"WEBBIN_PROFILE must be one of {', '.join(PROFILES)}, not {profile!r}")
    app.config["PROFILE"] = profile
    allowlist = parse_allowlist(app.config.get("OUTBOUND_ALLOWLIST"))
    base = LOCAL_POLICY if profile == LOCAL else PRODUCTION_POLICY
    app.extensions["webbin.outbound_policy"] = AddressPolicy(
        allow_loopback=base.allow_loopback,
        allow_private=base.allow_private,
        allowlist=allowlist,  # type: ignore[arg-type]  # AddressPolicy parses strings
    )


def outbound_policy(app: Flask | None = None) -> AddressPolicy:
    """The address policy every resend and forward must pass to :func:`outbound.send`."""
    return (app or current_app).extensions["webbin.outbound_policy"]
