"""Custom GA4 parameter columns from the ``ga4_params`` setting (reference §4.9).

Each entry ``{"name": ..., "column_name": ..., "type": ...}`` adds one nullable
event column, ``column_name`` (default ``params_<name>``), at the end of the
event columns, under the interface id ``customcolumns.d8a.tech/event/<column>``:

- ``type="string"`` (the default) reads ``ep.<name>`` (or ``epn.<name>``);
- ``type="int64"`` / ``"float64"`` read ``epn.<name>`` (or ``ep.<name>``), with
  the casts of the built-in columns (base-10 integers: ``"12.0"`` is NULL).

``bool`` is rejected, as in the original. Column names must be SQL identifiers;
a name used twice, or one a built-in column has, is a ConfigurationError.
Unlike the original, the columns work under the d8a protocol too: they depend
on the ``params`` column of their own protocol's namespace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import pyarrow as pa
from typing_extensions import override

from d8a.columns.base import Event, EventColumn, Interface, describe_field
from d8a.columns.casts import to_float, to_int, to_string
from d8a.errors import ConfigurationError
from d8a.protocols.ga4_params import ParamSpec, flat_value

__all__ = ["CustomParam", "CustomParamColumn", "custom_param_columns", "ga4_params_setting"]

_Type = Literal["string", "int64", "float64"]
_TYPES: dict[str, tuple[pa.DataType, str, Any]] = {
    "string": (pa.string(), "ep.", to_string),
    "int64": (pa.int64(), "epn.", to_int),
    "float64": (pa.float64(), "epn.", to_float),
}


@dataclass(frozen=True, slots=True)
class CustomParam:
    """One validated ``ga4_params`` entry."""

    name: str
    """The parameter name, without ``ep.``/``epn.``."""
    column_name: str
    type: _Type = "string"


def _entry(value: object) -> CustomParam:
    if isinstance(value, CustomParam):
        return value
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"a ga4_params entry must be a mapping, not {value!r}")
    unknown = set(value) - {"name", "column_name", "type"}
    if unknown:
        raise ConfigurationError(
            f"ga4_params entry {dict(value)!r}: unknown key(s) {sorted(unknown)}"
        )
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"ga4_params entry {dict(value)!r} needs a non-empty 'name'")
    type_ = value.get("type") or "string"
    if type_ not in _TYPES:
        raise ConfigurationError(
            f"ga4_params {name!r}: type must be 'string', 'int64' or 'float64', not {type_!r}"
        )
    column = value.get("column_name") or f"params_{name}"
    from d8a.warehouse.base import validate_identifier  # lazy: config imports this module

    return CustomParam(name, validate_identifier(column), cast(_Type, type_))


def ga4_params_setting(value: object) -> tuple[CustomParam, ...]:
    """Read the ``ga4_params`` setting: a list of mappings (or :class:`CustomParam`)."""
    if value is None:
        return ()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise ConfigurationError(
            "ga4_params must be a list of {'name', 'column_name'?, 'type'?} mappings"
        )
    entries = tuple(_entry(item) for item in value)
    seen: set[str] = set()
    for entry in entries:
        if entry.column_name in seen:
            raise ConfigurationError(f"ga4_params: column {entry.column_name!r} is defined twice")
        seen.add(entry.column_name)
    return entries


class CustomParamColumn(EventColumn):
    """The column of one ``ga4_params`` entry."""

    def __init__(self, entry: CustomParam, params_id: str) -> None:
        type_, prefix, caster = _TYPES[entry.type]
        self.interface = Interface(
            f"customcolumns.d8a.tech/event/{entry.column_name}",
            describe_field(
                entry.column_name,
                type_,
                description=f"Custom: `{prefix}{entry.name}` as {entry.type} (ga4_params).",
            ),
        )
        self.depends_on = (params_id,)
        self._spec = ParamSpec(entry.column_name, type_, prefix + entry.name, caster)
        self._name = entry.column_name

    @override
    def write(self, event: Event) -> None:
        event.values[self._name] = flat_value(self._spec, event.hit.params)

    @override
    def write_all(self, events: list[Event]) -> None:
        name, spec = self._name, self._spec
        for event in events:
            event.values[name] = flat_value(spec, event.hit.params)


def custom_param_columns(setting: object, params_id: str) -> list[EventColumn]:
    """The columns of the ``ga4_params`` setting, in its order."""
    return [CustomParamColumn(entry, params_id) for entry in ga4_params_setting(setting)]
