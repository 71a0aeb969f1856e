"""Values for filter expressions: column values as text, regexes, CIDRs.

The parsing caches here are bounded LRU caches keyed only by their input text,
so they hold no configuration and are safe to share between pipelines and
threads.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

__all__ = ["Network", "as_text", "dynamic_regex", "in_cidr", "in_network", "literal_network"]

Network = tuple[int, int, int]
"""An IP network as (IP version, first address, last address)."""


def as_text(value: object) -> str:
    """A column value as the text an expression sees: ``""`` for None/absent,
    ``true``/``false``, integral floats without ``.0`` (as Go's ``%v``), else ``str``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


@lru_cache(maxsize=256)
def dynamic_regex(pattern: str) -> re.Pattern[str] | None:
    """A regex built from event values, compiled once per pattern; None if invalid."""
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError):
        return None


@lru_cache(maxsize=256)
def literal_network(cidr: str) -> Network | None:
    """``10.0.0.0/8``, ``2001:db8::/32`` (host bits allowed) or a single address as a
    network; None if it is neither."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    first, last = int(network.network_address), int(network.broadcast_address)
    return (network.version, first, last)


@lru_cache(maxsize=8192)
def _address(text: str) -> tuple[int, int] | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # as Go's net.IPNet.Contains does
    return (address.version, int(address))


def in_network(ip: str, network: Network) -> bool:
    """Whether the address ``ip`` is in ``network``; False when ``ip`` is not an address."""
    address = _address(ip)
    if address is None or address[0] != network[0]:
        return False
    return network[1] <= address[1] <= network[2]


def in_cidr(ip: str, cidr: str) -> bool:
    """``inCidr`` with a CIDR that is not a literal; False if either does not parse
    (as in the original)."""
    network = literal_network(cidr)
    return network is not None and in_network(ip, network)
