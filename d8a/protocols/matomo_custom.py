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

An optional ``"type"`` key is accepted for the original's configuration files,
and must be ``"string"``. Unknown keys, a missing name, a slot that is not a
positive integer, another scope, a column name that is not an SQL identifier
or one used twice (across both settings) raise :class:`ConfigurationError`.
A column name a built-in Matomo column already has is rejected when the
pipeline is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

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
from d8a.errors import ConfigurationError

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

_Scope = Literal["event", "session"]
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


@dataclass(frozen=True, slots=True)
class MatomoCustomDimension:
    """One validated ``matomo_custom_dimensions`` entry."""

    slot: int
    """The dimension's slot: ``dimension<slot>`` in the request."""
    name: str
    column_name: str
    scope: _Scope = "event"


@dataclass(frozen=True, slots=True)
class MatomoCustomVariable:
    """One validated ``matomo_custom_variables`` entry."""

    name: str
    """The custom variable's name (the first item of its ``[name, value]`` pair)."""
    column_name: str
    scope: _Scope = "event"


def _common(setting: str, value: Mapping[str, Any], keys: set[str]) -> tuple[str, str, _Scope]:
    """Name, column name and scope of one entry, checked."""
    unknown = set(value) - keys
    if unknown:
        raise ConfigurationError(
            f"{setting} entry {dict(value)!r}: unknown key(s) {sorted(map(str, unknown))}; "
            f"known: {sorted(keys)}"
        )
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{setting} entry {dict(value)!r} needs a non-empty 'name'")
    scope = value.get("scope") or "event"
    if scope not in ("event", "session"):
        raise ConfigurationError(
            f"{setting} {name!r}: scope must be 'event' or 'session', not {scope!r}"
        )
    type_ = value.get("type") or "string"
    if type_ != "string":
        raise ConfigurationError(
            f"{setting} {name!r}: type must be 'string' (Matomo values are strings), not {type_!r}"
        )
    prefix = "custom_dimension_" if setting == "matomo_custom_dimensions" else "custom_variable_"
    column = value.get("column_name") or prefix + name
    from d8a.warehouse.base import validate_identifier  # lazy: config imports this module

    try:
        validate_identifier(column)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"{setting} {name!r}: column name {column!r} is not usable ({exc}); set 'column_name'"
        ) from None
    return name, column, cast(_Scope, scope)


def _dimension(value: object) -> MatomoCustomDimension:
    if isinstance(value, MatomoCustomDimension):
        return value
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"a matomo_custom_dimensions entry must be a mapping, not {value!r}"
        )
    name, column, scope = _common(
        "matomo_custom_dimensions", value, {"slot", "name", "column_name", "scope", "type"}
    )
    slot = value.get("slot")
    if isinstance(slot, bool) or not isinstance(slot, int) or not 1 <= slot < 2**63:
        raise ConfigurationError(
            f"matomo_custom_dimensions {name!r}: slot must be a positive integer "
            f"(N of dimensionN), not {slot!r}"
        )
    return MatomoCustomDimension(slot, name, column, scope)


def _variable(value: object) -> MatomoCustomVariable:
    if isinstance(value, MatomoCustomVariable):
        return value
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"a matomo_custom_variables entry must be a mapping, not {value!r}"
        )
    name, column, scope = _common(
        "matomo_custom_variables", value, {"name", "column_name", "scope", "type"}
    )
    return MatomoCustomVariable(name, column, scope)


def _entries(setting: str, value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise ConfigurationError(f"{setting} must be a list of mappings, not {value!r}")
    return list(value)


def _unique(columns: Sequence[str]) -> None:
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise ConfigurationError(
                f"Matomo custom column {column!r} is defined twice (column names must be "
                "unique across matomo_custom_dimensions and matomo_custom_variables)"
            )
        seen.add(column)


def matomo_custom_dimensions_setting(value: object) -> tuple[MatomoCustomDimension, ...]:
    """Read the ``matomo_custom_dimensions`` setting (mappings or validated entries)."""
    entries = tuple(_dimension(item) for item in _entries("matomo_custom_dimensions", value))
    _unique([entry.column_name for entry in entries])
    return entries


def matomo_custom_variables_setting(value: object) -> tuple[MatomoCustomVariable, ...]:
    """Read the ``matomo_custom_variables`` setting (mappings or validated entries)."""
    entries = tuple(_variable(item) for item in _entries("matomo_custom_variables", value))
    _unique([entry.column_name for entry in entries])
    return entries


def matomo_custom_settings(
    dimensions: object, variables: object
) -> tuple[tuple[MatomoCustomDimension, ...], tuple[MatomoCustomVariable, ...]]:
    """Both settings read, with column names unique across the two."""
    read_dimensions = matomo_custom_dimensions_setting(dimensions)
    read_variables = matomo_custom_variables_setting(variables)
    _unique(
        [entry.column_name for entry in read_dimensions]
        + [entry.column_name for entry in read_variables]
    )
    return read_dimensions, read_variables


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
