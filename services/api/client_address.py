"""The client's address: the peer, or what a trusted proxy says in X-Forwarded-For.

X-Forwarded-For is believed only from addresses in LOWKEY_TRUSTED_PROXIES, and then read
right to left, skipping further trusted hops: anything left of that is client-supplied.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from litestar.datastructures import Headers
from litestar.types import Scope

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def _is_trusted(address: str, networks: Iterable[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


def _valid_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def client_address(scope: Scope, trusted_proxies: tuple[str, ...]) -> str:
    """The address rate limits and anonymous idempotency records are keyed by."""
    client = scope.get("client")
    peer = client[0] if client else UNKNOWN
    networks = _networks(trusted_proxies)
    if not networks or not _is_trusted(peer, networks):
        return peer
    forwarded = Headers.from_scope(scope).getall("x-forwarded-for", [])
    hops = [hop.strip() for line in forwarded for hop in line.split(",") if hop.strip()]
    address = peer
    for hop in reversed(hops):
        ip = _valid_ip(hop)
        if ip is None:
            break  # garbage from beyond the last trusted proxy: stop believing
        address = ip
        if not _is_trusted(ip, networks):
            break
    return address
