"""The ``Protocol`` extension point: how one tracking format becomes hits.

A protocol names its endpoints, parses a request into hits, answers CORS, and
contributes the columns specific to it. Inside this package ``typing.Protocol``
is imported as ``t.Protocol`` to avoid the name clash.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from d8a.columns.base import EventColumn, SessionColumn, SessionScopedEventColumn
from d8a.config import Settings
from d8a.hits import Hit, Request

if TYPE_CHECKING:
    from d8a.columns.attribution import Attribution

__all__ = ["Endpoint", "Protocol"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A path a protocol serves and the methods that create hits there."""

    path: str
    methods: tuple[str, ...] = ("GET", "POST")
    cors: bool = True
    """Answer CORS headers and OPTIONS preflights (as the original does for GA4)."""


class Protocol(ABC):
    """Turns requests of one tracking format into hits and declares its columns."""

    id: str
    """Short name used in settings and the ``protocol`` hit field, e.g. ``"ga4"``."""
    attribution: Attribution | None = None
    """Source/medium/term lists for ``session_source`` (reference §5); None for the
    bundled ones. See ``docs/attribution.md``."""

    def __init__(self, *, attribution: Attribution | None = None) -> None:
        if attribution is not None:
            self.attribution = attribution

    @abstractmethod
    def endpoints(self, settings: Settings) -> Sequence[Endpoint]:
        """The paths this protocol serves."""

    @abstractmethod
    def parse(self, request: Request, settings: Settings) -> list[Hit]:
        """Hits of ``request`` (ids, times, client and property set). Raise
        ``ProtocolError`` with a reason for bad input; a whole request is
        accepted or rejected. Must be thread-safe and free of I/O."""

    @abstractmethod
    def event_columns(self, settings: Settings) -> Sequence[EventColumn]:
        """Event columns in table order, core ones included."""

    def session_scoped_columns(self, settings: Settings) -> Sequence[SessionScopedEventColumn]:
        """Session-scoped event columns in table order."""
        from d8a.columns.session_core import core_session_scoped_columns

        return core_session_scoped_columns()

    def session_columns(self, settings: Settings) -> Sequence[SessionColumn]:
        """Session columns in table order (reference §4.10): the core ones, the
        dominant-client ones, page-view totals, this protocol's counters, the split
        cause, then the protocol's other session columns."""
        from d8a.columns.session_columns import page_view_totals, split_cause_column
        from d8a.columns.session_core import core_session_columns
        from d8a.columns.session_dominant import dominant_client_columns

        counters, others = self.protocol_session_columns(settings)
        return [
            *core_session_columns(self.attribution),
            *dominant_client_columns(),
            *page_view_totals(),
            *counters,
            split_cause_column(),
            *others,
        ]

    def protocol_session_columns(
        self, settings: Settings
    ) -> tuple[Sequence[SessionColumn], Sequence[SessionColumn]]:
        """This protocol's own session columns: (those placed before
        ``session_split_cause``, those after it). None by default."""
        return (), ()
