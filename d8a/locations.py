"""Backend URLs: ``scheme:///relative/path``, ``scheme:////absolute/path``, ``memory://``.

The SQLAlchemy convention: after ``scheme://`` comes an empty host, then ``/``
and the path. Used for queue, state and warehouse URLs alike.
"""

from __future__ import annotations

from d8a.errors import ConfigurationError

__all__ = ["split_url"]


def split_url(url: str, kind: str, schemes: tuple[str, ...]) -> tuple[str, str]:
    """Return ``(scheme, path)`` of ``url``; ConfigurationError naming ``schemes``
    when the scheme is not one of them or the URL has a host part."""
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in schemes:
        supported = ", ".join(f"{name}://" for name in schemes)
        raise ConfigurationError(f"unsupported {kind} URL {url!r}; supported: {supported}")
    if rest and not rest.startswith("/"):
        raise ConfigurationError(
            f"{url!r} has a host part; write {scheme}:///relative/path or {scheme}:////absolute/path"
        )
    return scheme, rest[1:]
