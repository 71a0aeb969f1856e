"""What the ASGI and WSGI integrations share: the prefix and the paths they answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from d8a.errors import ConfigurationError

if TYPE_CHECKING:
    from d8a.pipeline import Pipeline

__all__ = ["collector_paths", "normalised_prefix"]


def normalised_prefix(prefix: str) -> str:
    """``prefix`` without a trailing ``/``; it must be empty or start with ``/``."""
    if prefix and not prefix.startswith("/"):
        raise ConfigurationError(f"prefix {prefix!r} must be empty or start with '/'")
    return prefix.rstrip("/")


def collector_paths(pipeline: Pipeline, prefix: str, metrics: bool) -> frozenset[str]:
    """The protocols' endpoints and ``/healthz`` (and ``/metrics``) under ``prefix``."""
    extra = ("/healthz", "/metrics") if metrics else ("/healthz",)
    return frozenset(prefix + path for path in (*pipeline.receiver.paths, *extra))
