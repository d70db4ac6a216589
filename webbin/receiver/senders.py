"""Sender allow-lists: whether a bin's allowed networks admit the client's address (which
:mod:`webbin.proxies` works out). Presets of providers' published webhook source ranges ship as data
(``sender_networks.json``, dated), never fetched at run time.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from webbin.proxies import parse_address, parse_networks


def check(address: str | None, allowed: list[str]) -> dict[str, Any]:
    """``{"status": "allowed"|"denied"|"unchecked", "network": ..., "reason": ...}``."""
    if not allowed:
        return {
            "status": "unchecked",
            "network": None,
            "reason": "This bin has no sender allow-list.",
        }
    ip = parse_address(address)
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
