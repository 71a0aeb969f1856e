"""The entries of the ``matomo_custom_dimensions`` and ``matomo_custom_variables``
settings, read and validated (reference §4.9); the columns they add are built
in :mod:`d8a.protocols.matomo_custom`.

- ``matomo_custom_dimensions: [{"slot", "name", "column_name"?, "scope"?}]`` reads
  as :class:`MatomoCustomDimension` entries (column ``custom_dimension_<name>`` by
  default);
- ``matomo_custom_variables: [{"name", "column_name"?, "scope"?}]`` reads as
  :class:`MatomoCustomVariable` entries (column ``custom_variable_<name>`` by
  default).

An optional ``"type"`` key is accepted for the original's configuration files,
and must be ``"string"``. Unknown keys, a missing name, a slot that is not a
positive integer, a scope other than ``"event"`` or ``"session"``, a column name
that is not an SQL identifier or one used twice (across both settings) raise
:class:`ConfigurationError`. This module does not import :mod:`d8a.config`,
which reads the settings with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from d8a.errors import ConfigurationError

__all__ = [
    "MatomoCustomDimension",
    "MatomoCustomVariable",
    "matomo_custom_dimensions_setting",
    "matomo_custom_settings",
    "matomo_custom_variables_setting",
]

_Scope = Literal["event", "session"]


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


_DIMENSION_KEYS = frozenset({"slot", "name", "column_name", "scope", "type"})
_VARIABLE_KEYS = frozenset({"name", "column_name", "scope", "type"})


def _common(
    setting: str, value: object, keys: frozenset[str]
) -> tuple[Mapping[str, Any], str, str, _Scope]:
    """The entry as a mapping, and its name, column name and scope, checked."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"a {setting} entry must be a mapping, not {value!r}")
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
    return value, name, column, cast(_Scope, scope)


def _dimension(value: object) -> MatomoCustomDimension:
    if isinstance(value, MatomoCustomDimension):
        return value
    entry, name, column, scope = _common("matomo_custom_dimensions", value, _DIMENSION_KEYS)
    slot = entry.get("slot")
    if isinstance(slot, bool) or not isinstance(slot, int) or not 1 <= slot < 2**63:
        raise ConfigurationError(
            f"matomo_custom_dimensions {name!r}: slot must be a positive integer "
            f"(N of dimensionN), not {slot!r}"
        )
    return MatomoCustomDimension(slot, name, column, scope)


def _variable(value: object) -> MatomoCustomVariable:
    if isinstance(value, MatomoCustomVariable):
        return value
    _, name, column, scope = _common("matomo_custom_variables", value, _VARIABLE_KEYS)
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
