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

__all__ = ["EventValue", "ParamColumn", "SessionEventValue", "SessionValue", "constant"]


class _Constant:
    """A callable returning one value; :class:`EventValue` writes it without calling."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, event: Event) -> Any:
        return self.value


def constant(value: Any) -> Callable[[Event], Any]:
    """A column function that always returns ``value`` (cheaper than a lambda)."""
    return _Constant(value)


class EventValue(EventColumn):
    """An event column whose value is ``fn(event)``. With ``constant(None)`` (a
    column that is always NULL, such as geo without a database) it is sparse and
    writes nothing: rows leave it out and the table holds NULL."""

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
        self.sparse = isinstance(fn, _Constant) and fn.value is None

    @override
    def write(self, event: Event) -> None:
        event.values[self._name] = self._fn(event)

    @override
    def write_all(self, events: list[Event]) -> None:
        name, fn = self._name, self._fn
        if isinstance(fn, _Constant):
            value = fn.value
            if value is None:  # sparse: a missing key is NULL
                return
            for event in events:
                event.values[name] = value
            return
        for event in events:
            event.values[name] = fn(event)


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

    @override
    def write_all(self, events: list[Event]) -> None:
        name, param, cast = self._name, self._param, self._cast
        for event in events:
            event.values[name] = cast(event.hit.params.get(param))


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

    @override
    def write_sessions(self, sessions: list[Session]) -> None:
        name, fn = self._name, self._fn
        for session in sessions:
            for index, event in enumerate(session.events):
                event.values[name] = fn(session, index)


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

    @override
    def write_all(self, sessions: list[Session]) -> None:
        name, fn = self._name, self._fn
        for session in sessions:
            session.values[name] = fn(session)
