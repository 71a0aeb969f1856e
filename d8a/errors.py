"""Exceptions raised by d8a.

The tree::

    D8AError
     ├── ConfigurationError        a setting or a build() wiring is wrong (raised early)
     ├── MissingDependencyError    an optional extra is not installed
     ├── ProtocolError             a request cannot be turned into hits (answered 4xx)
     ├── ColumnError               a column failed on one event or session
     │    ├── BrokenEventError
     │    └── BrokenSessionError
     ├── TableNotFoundError        a warehouse table does not exist
     ├── TransientError            marker: retrying the same call may succeed
     └── TerminalError             marker: retrying will not help

Backends raise ``TransientError`` (or a subclass) for failures worth a retry,
such as a locked database or a dropped connection, so that the pipeline can
retry without knowing the backend.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadValuesError",
    "BrokenEventError",
    "BrokenSessionError",
    "ColumnError",
    "ConfigurationError",
    "D8AError",
    "MissingDependencyError",
    "PartialRequestError",
    "ProtocolError",
    "TableNotFoundError",
    "TerminalError",
    "TransientError",
]


class D8AError(Exception):
    """Root of every exception d8a raises on purpose."""


class ConfigurationError(D8AError, ValueError):
    """A setting or the pipeline wiring is invalid; raised at build time."""


class MissingDependencyError(D8AError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package!r} is not installed; install it with: pip install 'd8a[{extra}]'"
        )
        self.package = package
        self.extra = extra


class ProtocolError(D8AError):
    """A request cannot be parsed into hits; ``status`` is the HTTP answer."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class PartialRequestError(ProtocolError):
    """Part of a request (a bulk element) failed; ``hits`` are the valid ones.

    A protocol raises it from ``parse``; the receiver stores ``hits`` and answers
    ``status`` with ``reason``, which names the failing parts.
    """

    def __init__(self, reason: str, hits: list[Any], status: int = 400) -> None:
        super().__init__(reason, status)
        self.hits = hits


class ColumnError(D8AError):
    """A column could not compute its value."""


class BrokenEventError(ColumnError):
    """The event cannot be written; it is dropped and the reason recorded."""


class BrokenSessionError(ColumnError):
    """The whole session cannot be written; it is dropped and the reason recorded."""


class TableNotFoundError(D8AError, LookupError):
    """The warehouse has no table of that name."""


class TransientError(D8AError):
    """Marker: the operation failed for a reason that may go away; retry it."""


class TerminalError(D8AError):
    """Marker: the operation failed for good; retrying will not help."""


class BadValuesError(TypeError):
    """Values of one column that do not fit its Arrow type, by row index (raised by
    the layouts; the closer leaves those rows out and counts them as broken)."""

    def __init__(self, column: str, rows: list[int]) -> None:
        super().__init__(f"column {column!r}: {len(rows)} value(s) do not fit its type")
        self.column = column
        self.rows = rows
