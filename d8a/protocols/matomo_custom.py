"""Custom Matomo columns from the ``matomo_custom_dimensions`` and
``matomo_custom_variables`` settings (reference §4.9).

- ``matomo_custom_dimensions: [{"slot", "name", "column_name"?, "scope"?}]`` adds a
  string column ``column_name`` (default ``custom_dimension_<name>``) holding the
  value of custom dimension ``slot`` (``dimension<slot>``);
- ``matomo_custom_variables: [{"name", "column_name"?, "scope"?}]`` adds a string
  column ``column_name`` (default ``custom_variable_<name>``) holding the value of
  the custom variable called ``name``.

``scope`` is ``"event"`` (the default: an event column read from the event's
``custom_dimensions`` / ``custom_variables``, i.e. ``dimension<N>`` / ``cvar``) or
``"session"`` (a session column read from ``session_custom_dimensions`` /
``session_custom_variables``, i.e. ``dimension<N>`` / ``_cvar`` merged over the
session). When several entries match, the last non-null value wins. The
interface id is ``customcolumns.d8a.tech/<scope>/<column_name>``; event columns
come after Matomo's event columns, session columns after its session columns.

The settings' entries (:class:`MatomoCustomDimension`, :class:`MatomoCustomVariable`)
are read and validated in :mod:`d8a.protocols.matomo_custom_entries`, and
importable from here too: an optional ``"type"`` key must be ``"string"``;
unknown keys, a missing name, a slot that is not a positive integer, another
scope, a column name that is not an SQL identifier or one used twice (across
both settings) raise :class:`ConfigurationError`. A column name a built-in
Matomo column already has is rejected when the pipeline is built.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import (
    Event,
    EventColumn,
    Interface,
    Session,
    SessionColumn,
    SessionScopedEventColumn,
    describe_field,
)
from d8a.columns.casts import to_string
from d8a.config import Settings
from d8a.protocols.matomo_custom_entries import (
    MatomoCustomDimension,
    MatomoCustomVariable,
    matomo_custom_dimensions_setting,
    matomo_custom_settings,
    matomo_custom_variables_setting,
)

__all__ = [
    "MatomoCustomDimension",
    "MatomoCustomVariable",
    "matomo_custom_dimensions_setting",
    "matomo_custom_event_columns",
    "matomo_custom_session_columns",
    "matomo_custom_session_scoped_columns",
    "matomo_custom_settings",
    "matomo_custom_variables_setting",
]

_NAMESPACE = "matomo.protocols.d8a.tech"

# scope -> (interface id of the column read, its name) per kind of entry
_SOURCES: dict[str, dict[str, tuple[str, str]]] = {
    "dimension": {
        "event": (f"{_NAMESPACE}/event/custom_dimensions", "custom_dimensions"),
        "session": (f"{_NAMESPACE}/session/session_custom_dimensions", "session_custom_dimensions"),
    },
    "variable": {
        "event": (f"{_NAMESPACE}/event/custom_variables", "custom_variables"),
        "session": (f"{_NAMESPACE}/session/session_custom_variables", "session_custom_variables"),
    },
}


def _pick(records: object, key: str, wanted: object) -> str | None:
    """The last non-null ``value`` of the records whose ``key`` equals ``wanted``."""
    if not isinstance(records, list):
        return None
    for record in reversed(records):
        if isinstance(record, Mapping) and record.get(key) == wanted:
            value = record.get("value")
            if value is not None:
                return to_string(value if isinstance(value, str) else str(value))
    return None


def _interface(scope: str, column: str, description: str) -> Interface:
    return Interface(
        f"customcolumns.d8a.tech/{scope}/{column}",
        describe_field(column, pa.string(), description=description),
    )


def _describe(entry: MatomoCustomDimension | MatomoCustomVariable) -> tuple[str, str, object]:
    """(kind, description, the value records are matched on)."""
    merged = " merged over the session" if entry.scope == "session" else ""
    if isinstance(entry, MatomoCustomDimension):
        return (
            "dimension",
            f"Custom: Matomo custom dimension dimension{entry.slot}{merged} "
            "(matomo_custom_dimensions).",
            entry.slot,
        )
    param = "_cvar" if entry.scope == "session" else "cvar"
    return (
        "variable",
        f"Custom: Matomo custom variable {entry.name!r} from {param}{merged} "
        "(matomo_custom_variables).",
        entry.name,
    )


def _lookup(
    scope: str, entry: MatomoCustomDimension | MatomoCustomVariable
) -> tuple[Interface, tuple[str, ...], tuple[str, str, str, object]]:
    """Interface, dependencies and (column, source column, match key, wanted value)
    of the ``scope`` column of ``entry``."""
    kind, description, wanted = _describe(entry)
    source_id, source = _SOURCES[kind][scope]
    key = "slot" if kind == "dimension" else "name"
    interface = _interface(scope, entry.column_name, description)
    return interface, (source_id,), (entry.column_name, source, key, wanted)


class CustomEventLookup(EventColumn):
    """An event-scope custom column: one entry of the event's ``custom_dimensions``
    (matched by slot) or ``custom_variables`` (matched by name)."""

    def __init__(self, entry: MatomoCustomDimension | MatomoCustomVariable) -> None:
        self.interface, self.depends_on, self._lookup = _lookup("event", entry)

    @override
    def write(self, event: Event) -> None:
        name, source, key, wanted = self._lookup
        event.values[name] = _pick(event.values.get(source), key, wanted)


class CustomSessionLookup(SessionColumn):
    """A session-scope custom column: one entry of ``session_custom_dimensions``
    (matched by slot) or ``session_custom_variables`` (matched by name)."""

    def __init__(self, entry: MatomoCustomDimension | MatomoCustomVariable) -> None:
        self.interface, self.depends_on, self._lookup = _lookup("session", entry)

    @override
    def write(self, session: Session) -> None:
        name, source, key, wanted = self._lookup
        session.values[name] = _pick(session.values.get(source), key, wanted)


def _configured(settings: Settings) -> list[MatomoCustomDimension | MatomoCustomVariable]:
    dimensions, variables = matomo_custom_settings(
        settings.matomo_custom_dimensions, settings.matomo_custom_variables
    )
    return [*dimensions, *variables]


def matomo_custom_event_columns(settings: Settings) -> list[EventColumn]:
    """The custom columns of scope ``event``: dimensions, then variables, each in
    setting order."""
    return [CustomEventLookup(e) for e in _configured(settings) if e.scope == "event"]


def matomo_custom_session_columns(settings: Settings) -> list[SessionColumn]:
    """The custom columns of scope ``session`` (session columns, as in the original):
    dimensions, then variables, each in setting order. :func:`matomo_session_columns
    <d8a.protocols.matomo_sessions.matomo_session_columns>` places them last."""
    return [CustomSessionLookup(e) for e in _configured(settings) if e.scope == "session"]


def matomo_custom_session_scoped_columns(settings: Settings) -> list[SessionScopedEventColumn]:
    """Custom session-scoped event columns: none. A ``scope: "session"`` column is a
    session column (:func:`matomo_custom_session_columns`), one value per session
    as in the original; this hook stays for the protocol's column assembly."""
    return []
