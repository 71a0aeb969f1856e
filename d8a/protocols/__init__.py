"""Tracking protocols: how each request format becomes hits and which columns it adds."""

from __future__ import annotations

from d8a.errors import ConfigurationError
from d8a.protocols.base import Endpoint, Protocol
from d8a.protocols.ga4 import D8AProtocol, GA4Protocol
from d8a.protocols.matomo import MatomoProtocol

__all__ = [
    "D8AProtocol",
    "Endpoint",
    "GA4Protocol",
    "MatomoProtocol",
    "Protocol",
    "protocol_by_name",
]

_BUILTIN: dict[str, type[Protocol]] = {
    "ga4": GA4Protocol,
    "d8a": D8AProtocol,
    "matomo": MatomoProtocol,
}


def protocol_by_name(name: str) -> Protocol:
    """A built-in protocol by its id (``ga4``, ``d8a``, ``matomo``)."""
    try:
        return _BUILTIN[name]()
    except KeyError:
        raise ConfigurationError(
            f"unknown protocol {name!r}; available: {', '.join(sorted(_BUILTIN))}"
        ) from None
