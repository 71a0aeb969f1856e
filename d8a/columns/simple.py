"""Columns built from a plain function: the quick way to define one.

``EventValue(interface, fn)`` writes ``fn(event)``; ``SessionValue`` writes
``fn(session)``; ``ParamColumn`` casts one request parameter. Host code can
use them for custom columns too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from typing_extensions import override

from d8a.columns.base import (
    Event,
    EventColumn,
    Interface,
    Session,
    SessionColumn,
    SessionScopedEventColumn,
)

__all__ = ["EventValue", "ParamColumn", "SessionEventValue", "SessionValue"]


class EventValue(EventColumn):
    """An event column whose value is ``fn(event)``."""

    def __init__(
        self,
        interface: Interface,
        fn: Callable[[Event], Any],
        depends_on: Sequence[str] = (),
    ) -> None:
        self.interface = interface
        self.depends_on = tuple(depends_on)
        self._fn = fn
        self._name = interface.name

    @override
    def write(self, event: Event) -> None:
        event.values[self._name] = self._fn(event)


class ParamColumn(EventColumn):
    """An event column holding ``cast(hit.params.get(param))``."""

    def __init__(
        self,
        interface: Interface,
        param: str,
        cast: Callable[[str | None], Any],
        depends_on: Sequence[str] = (),
    ) -> None:
        self.interface = interface
        self.depends_on = tuple(depends_on)
        self._param = param
        self._cast = cast
        self._name = interface.name

    @override
    def write(self, event: Event) -> None:
        event.values[self._name] = self._cast(event.hit.params.get(self._param))


class SessionEventValue(SessionScopedEventColumn):
    """A session-scoped event column whose value is ``fn(session, index)``."""

    def __init__(
        self,
        interface: Interface,
        fn: Callable[[Session, int], Any],
        depends_on: Sequence[str] = (),
    ) -> None:
        self.interface = interface
        self.depends_on = tuple(depends_on)
        self._fn = fn
        self._name = interface.name

    @override
    def write(self, session: Session, index: int) -> None:
        session.events[index].values[self._name] = self._fn(session, index)


class SessionValue(SessionColumn):
    """A session column whose value is ``fn(session)``."""

    def __init__(
        self,
        interface: Interface,
        fn: Callable[[Session], Any],
        depends_on: Sequence[str] = (),
    ) -> None:
        self.interface = interface
        self.depends_on = tuple(depends_on)
        self._fn = fn
        self._name = interface.name

    @override
    def write(self, session: Session) -> None:
        session.values[self._name] = self._fn(session)
