"""Sender address check: the client's address, and whether a bin's allow-list admits it.

The client address is the connection's peer, unless that peer is a configured trusted proxy,
in which case it is the right-most ``X-Forwarded-For`` entry that is not itself a trusted
proxy. Presets of providers' published webhook source ranges ship as data
(``sender_networks.json``, dated), never fetched at run time.
"""

from __future__ import annotations

import ipaddress
import json
from functools import cache
from importlib import resources
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: list[str]) -> list[Network]:
    """CIDRs (or single addresses) as networks; raises ValueError naming the bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR network") from None
    return networks


def _address(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted(peer: str | None, trusted: list[Network]) -> bool:
    """Whether the connection comes from a configured trusted proxy."""
    address = _address(peer)
    return address is not None and any(address in n for n in trusted)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: list[Network]
) -> str | None:
    """The sender's address as far as the trusted proxies vouch for it."""
    if not forwarded_for or not is_trusted(peer, trusted):
        return peer
    address = _address(peer)
    for hop in reversed(forwarded_for.split(",")):
        hop_address = _address(hop)
        if hop_address is None:
            return str(address)
        address = hop_address
        if not any(address in n for n in trusted):
            break
    return str(address)


def check(address: str | None, allowed: list[str]) -> dict[str, Any]:
    """``{"status": "allowed"|"denied"|"unchecked", "network": ..., "reason": ...}``."""
    if not allowed:
        return {
            "status": "unchecked",
            "network": None,
            "reason": "This bin has no sender allow-list.",
        }
    ip = _address(address)
    if ip is None:
        return {"status": "denied", "network": None, "reason": "The client address is unknown."}
    for network in parse_networks(allowed):
        if ip.version == network.version and ip in network:
            return {
                "status": "allowed",
                "network": str(network),
                "reason": f"{ip} is in {network}.",
            }
    return {
        "status": "denied",
        "network": None,
        "reason": f"{ip} is in none of the bin's {len(allowed)} allowed networks.",
    }


@cache
def presets() -> dict[str, Any]:
    """Providers' published webhook source ranges, as shipped with this release."""
    text = resources.files(__package__).joinpath("sender_networks.json").read_text()
    return json.loads(text)
