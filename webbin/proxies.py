"""What trusted reverse proxies vouch for: the client's address and the URL the sender used.

The connection's peer is the client, unless that peer is one of ``WEBBIN_TRUSTED_PROXIES``;
then ``X-Forwarded-For`` is walked from the right past every trusted proxy, and the matching
(rightmost trusted) entries of ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` give the
scheme and host the sender used. Entries further left were written by the sender itself and
are never believed.

The forwarded headers are read from the exact header list the server parsed (see
:mod:`webbin.capture.wire`): gunicorn's ``header_map="dangerous"``, which webbin needs to
keep names with ``_``, would otherwise fold ``X_Forwarded_For`` into ``X-Forwarded-For``.
"""

from __future__ import annotations

import ipaddress
import re

from flask import current_app, request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(values: list[str]) -> list[Network]:
    """CIDRs (or single addresses) as networks; raises ValueError naming the bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR network") from None
    return networks


def parse_address(value: str | None) -> Address | None:
    """An address (IPv4-mapped IPv6 as IPv4), or None when ``value`` is not one."""
    try:
        address = ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted(peer: str | None, trusted: list[Network]) -> bool:
    """Whether the connection comes from a configured trusted proxy."""
    address = parse_address(peer)
    return address is not None and any(address in n for n in trusted)


def trusted_hops(peer: str | None, forwarded_for: str | None, trusted: list[Network]) -> int:
    """How many proxies in the chain are trusted, counting the peer (0 when it is not)."""
    if not is_trusted(peer, trusted):
        return 0
    hops = 1
    for hop in reversed((forwarded_for or "").split(",")):
        address = parse_address(hop)
        if address is None or not any(address in n for n in trusted):
            break
        hops += 1
    return hops


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: list[Network]
) -> str | None:
    """The sender's address as far as the trusted proxies vouch for it."""
    if not forwarded_for or not is_trusted(peer, trusted):
        return peer
    address = parse_address(peer)
    for hop in reversed(forwarded_for.split(",")):
        hop_address = parse_address(hop)
        if hop_address is None:
            return str(address)
        address = hop_address
        if not any(address in n for n in trusted):
            break
    return str(address)


def exact_header(name: str) -> str | None:
    """Header ``name`` from the exact parsed list (repeats joined with ``,``), else werkzeug's.

    Only a name spelled with hyphens matches: ``X_Forwarded_For`` is another header.
    """
    parsed = request.environ.get("webbin.raw_headers")
    if parsed is None:
        return request.headers.get(name)
    wanted = name.lower()
    values = [value for key, value in parsed if key.lower() == wanted]
    return ",".join(values) if values else None


def _trusted_entry(value: str | None, hops: int) -> str:
    """The entry the outermost trusted proxy wrote: ``hops`` from the right, or the leftmost
    one there is when proxies overwrote rather than appended."""
    entries = [part.strip() for part in (value or "").split(",") if part.strip()]
    if not entries or hops <= 0:
        return ""
    return entries[max(len(entries) - hops, 0)]


def _trusted() -> list[Network]:
    return current_app.config.get("TRUSTED_PROXY_NETWORKS") or []


def request_client_address() -> str | None:
    """The client of the current request, as far as trusted proxies vouch for it."""
    trusted = _trusted()
    if not trusted:  # the usual case: no forwarded header can matter, so none is looked up
        return request.remote_addr
    return client_address(request.remote_addr, exact_header("X-Forwarded-For"), trusted)


def public_host() -> str:
    """The host (and port) the sender addressed: a trusted proxy's ``X-Forwarded-Host``,
    else the ``Host`` header."""
    return _public_host(_trusted_hops())


def public_base() -> str:
    """The public base URL: configured, else the one the sender used. URL-signed schemes
    (Twilio, Square, HubSpot) sign exactly this URL."""
    configured = current_app.config["PUBLIC_URL"]
    if configured:
        return configured
    hops = _trusted_hops()
    if not hops:  # nothing forwarded is believed: the request's own scheme and host
        return f"{request.scheme}://{request.host}"
    proto = _trusted_entry(exact_header("X-Forwarded-Proto"), hops).lower()
    scheme = proto if proto in ("http", "https") else request.scheme
    return f"{scheme}://{_public_host(hops)}"


def _trusted_hops() -> int:
    """:func:`trusted_hops` for the current request, without reading any header when no
    proxy is trusted (the default: every capture asks, so it is kept cheap)."""
    trusted = _trusted()
    if not trusted:
        return 0
    return trusted_hops(request.remote_addr, exact_header("X-Forwarded-For"), trusted)


def _public_host(hops: int) -> str:
    if not hops:
        return request.host
    forwarded = _trusted_entry(exact_header("X-Forwarded-Host"), hops)
    return forwarded if _HOST.fullmatch(forwarded) else request.host


_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
