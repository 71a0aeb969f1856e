"""The client's IP address: the TCP peer, or what a trusted proxy says it is.

As the original does: when the peer is one of ``trusted_proxies`` (CIDRs or
bare addresses; both ``0.0.0.0/0`` and ``::/0`` trust every peer), the first
non-empty of ``X-Real-IP``, ``X-Client-IP``, ``CF-Connecting-IP``,
``True-Client-IP``, then the left-most non-empty ``X-Forwarded-For`` element,
is the client. Otherwise headers are ignored: anyone can send them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from d8a.caches import LONGEST_KEY
from d8a.errors import ConfigurationError

__all__ = ["ClientIP"]

_SINGLE = ("X-Real-Ip", "X-Client-Ip", "Cf-Connecting-Ip", "True-Client-Ip")
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientIP:
    """Resolves the client address of a request; built once from the settings."""

    def __init__(self, trusted_proxies: Sequence[str]) -> None:
        networks: list[_Network] = []
        for entry in trusted_proxies:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except (ValueError, AttributeError):
                raise ConfigurationError(
                    f"trusted_proxies: {entry!r} is not an IP address or CIDR"
                ) from None
        texts = {str(n) for n in networks}
        self._trust_all = "0.0.0.0/0" in texts and "::/0" in texts
        self._networks = tuple(networks)
        self._cache: dict[str, bool] = {}

    @property
    def enabled(self) -> bool:
        """Whether any proxy is trusted (otherwise the peer is always the client)."""
        return bool(self._networks)

    def _trusted(self, peer: str) -> bool:
        found = self._cache.get(peer)
        if found is None:
            if self._trust_all:
                found = True
            else:
                try:
                    address = ipaddress.ip_address(peer)
                except ValueError:
                    found = False
                else:
                    found = any(address in network for network in self._networks)
            if len(self._cache) < 10_000 and len(peer) <= LONGEST_KEY:  # see d8a.caches
                self._cache[peer] = found
        return found

    def resolve(self, peer: str, headers: Mapping[str, str]) -> str:
        """The client address for a request from ``peer`` with canonical ``headers``."""
        if not self._networks or not self._trusted(peer):
            return peer
        for name in _SINGLE:
            value = headers.get(name, "").strip()
            if value:
                return value
        for element in headers.get("X-Forwarded-For", "").split(","):
            if element.strip():
                return element.strip()
        return peer
