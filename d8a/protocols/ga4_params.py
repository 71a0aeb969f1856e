"""GA4 event parameters: the ``params`` list and the flat ``params_*`` columns (reference §4.4).

The flat columns are generated from :data:`FLAT_PARAMS` (in
:mod:`d8a.protocols.ga4_param_specs`), one tuple per column
``(column, type, param, cast)``. For speed, one column does the work for all of
them: :class:`EventParams` (the ``params`` column) walks each hit's parameters
once and, in the same pass, writes ``params`` *and* every flat column's value.
Each :class:`FlatParam` still has its own interface, field and catalogue entry,
depends on ``params``, and computes its value alone in :meth:`FlatParam.write`;
its :meth:`FlatParam.write_all` only fills what ``params`` did not already write.

Where we differ from the original, on purpose: a known parameter reaches its
column when sent with either prefix (``ep.`` or ``epn.``); when both are sent the
prefix the reference documents wins. Integer casts stay base-10 (``"12.0"`` is
NULL, as in the original).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import pyarrow as pa
from typing_extensions import override

from d8a.caches import remember
from d8a.columns.base import Event, EventColumn, Interface, describe_field
from d8a.columns.casts import to_bool, to_float, to_int, to_string
from d8a.protocols.ga4_param_specs import FALLBACKS, FLAT_PARAMS, ParamSpec
from d8a.protocols.ga4_sessions import COUNTED_COLUMNS

__all__ = [
    "FALLBACKS",
    "FLAT_PARAMS",
    "FLAT_WRITTEN",
    "PARAMS_TYPE",
    "EventParams",
    "FlatParam",
    "ParamSpec",
    "flat_columns",
]

PARAMS_TYPE = pa.list_(
    pa.struct(
        [
            pa.field("name", pa.string()),
            pa.field("value_string", pa.string()),
            pa.field("value_number", pa.float64()),
        ]
    )
)

_BY_NAME = itemgetter("name")
_PLANS_LIMIT = 4096
"""Distinct parameter-key sets :class:`EventParams` remembers (then it starts over)."""
FLAT_WRITTEN = "d8a.ga4.flat_params_written"
"""Event metadata key :class:`EventParams` sets once it wrote every flat column."""
_CASTS: dict[Callable[[str | None], Any], str] = {
    to_string: "string ('' is NULL, truncated)",
    to_int: "base-10 integer, else NULL",
    to_float: "number, else NULL",
    to_bool: "true/yes/1... or false/no/0..., else NULL",
}

_EVENTS_NAMESPACE = frozenset({"params_aclid", "params_anid", "params_dclid", "params_gclid"})
_EVENTS_NAMESPACE |= {"params_srsltid"}  # their interface ids use ``.../events/...``


def _split(param: str) -> tuple[str, str, str]:
    """``"ep.level"`` -> (name, documented key, the other prefix's key)."""
    prefix, _, name = param.partition(".")
    other = "epn." if prefix == "ep" else "ep."
    return name, param, other + name


def flat_value(spec: ParamSpec, params: dict[str, str]) -> Any:
    """The value of ``spec``'s column for a hit's ``params``: the documented key if
    sent, else the other prefix's, cast."""
    _, documented, other = _split(spec.param)
    raw = params.get(documented)
    if raw is None:
        raw = params.get(other)
    value = spec.cast(raw)
    if value is None and spec.column in FALLBACKS:
        value = spec.cast(params.get(FALLBACKS[spec.column]))
    return value


class FlatParam(EventColumn):
    """One ``params_*`` column. :class:`EventParams` normally writes its value, on
    the events that sent its parameter only: the column is sparse, but for the few
    the session counters read (:data:`~d8a.protocols.ga4_sessions.COUNTED_COLUMNS`)."""

    def __init__(self, spec: ParamSpec, namespace: str, params_id: str) -> None:
        scope = "events" if spec.column in _EVENTS_NAMESPACE else "event"
        _, documented, other = _split(spec.param)
        also = f", then `{FALLBACKS[spec.column]}`" if spec.column in FALLBACKS else ""
        self.interface = Interface(
            f"{namespace}/{scope}/{spec.column}",
            describe_field(
                spec.column,
                spec.type,
                description=f"`{documented}` (or `{other}`{also}): {_CASTS[spec.cast]}.",
            ),
        )
        self.depends_on = (params_id,)
        self.spec = spec
        self._name = spec.column
        self.sparse = spec.column not in COUNTED_COLUMNS

    @override
    def write(self, event: Event) -> None:
        event.values[self._name] = flat_value(self.spec, event.hit.params)

    @override
    def write_all(self, events: list[Event]) -> None:
        # ``params`` ran first (a dependency) and wrote this column's value on every
        # event that sent it, in one pass, marking each event's metadata; only a
        # ``params`` column of another make does not, and then it writes none of
        # them. (The column is sparse, so the mark, not the key, tells.) One look
        # per call keeps this free.
        if events and FLAT_WRITTEN not in events[0].metadata:
            write = self.write
            for event in events:
                write(event)


class EventParams(EventColumn):
    """``params`` -- every ``ep.<name>`` (as ``value_string``) and numeric
    ``epn.<name>`` (as ``value_number``), sorted by name -- and, in the same pass,
    the values of the flat columns ``specs`` (NULL when not sent)."""

    def __init__(self, interface: Interface, specs: Sequence[ParamSpec] = FLAT_PARAMS) -> None:
        self.interface = interface
        self._name = interface.name
        self._known: dict[str, tuple[str, Callable[[str | None], Any], str]] = {}
        for spec in specs:
            name, documented, _ = _split(spec.param)
            self._known[name] = (spec.column, spec.cast, documented)
        self._casts = {spec.column: spec.cast for spec in specs}
        self._fallbacks = tuple((c, k) for c, k in FALLBACKS.items() if c in self._casts)
        self._plans: dict[tuple[str, ...], tuple[tuple[str, str, bool], ...]] = {}

    @override
    def write(self, event: Event) -> None:
        self.write_all([event])

    def _plan(self, keys: tuple[str, ...]) -> tuple[tuple[str, str, bool], ...]:
        """The ``ep.``/``epn.`` keys among ``keys``: (key, name, numeric), remembered
        in ``_plans`` by the whole key tuple (hits of a site send few key sets)."""
        found = tuple(
            (key, key[4:], True) if key[:4] == "epn." else (key, key[3:], False)
            for key in keys
            if key[:3] == "ep." or key[:4] == "epn."
        )
        return remember(self._plans, keys, found, _PLANS_LIMIT)

    @override
    def write_all(self, events: list[Event]) -> None:
        known, own = self._known, self._name
        fallbacks, known_casts = self._fallbacks, self._casts
        plans = self._plans
        for event in events:  # the flat columns are sparse: only the values sent are set
            params = event.hit.params
            values = event.values
            event.metadata[FLAT_WRITTEN] = True
            keys = tuple(params)
            plan = plans.get(keys)
            if plan is None:
                plan = self._plan(keys)
            found: list[dict[str, Any]] = []
            for key, name, numeric in plan:
                value = params[key]
                if not numeric:
                    found.append({"name": name, "value_string": value, "value_number": None})
                else:
                    number = to_float(value)
                    if number is not None:
                        found.append({"name": name, "value_string": None, "value_number": number})
                spec = known.get(name)
                if spec is not None and (key == spec[2] or spec[2] not in params):
                    values[spec[0]] = spec[1](value)
            for column, key in fallbacks:
                if values.get(column) is None and key in params:
                    values[column] = known_casts[column](params[key])
            if len(found) > 1:
                found.sort(key=_BY_NAME)
            values[own] = found


def flat_columns(namespace: str, params_id: str) -> list[FlatParam]:
    """The flat ``params_*`` columns of :data:`FLAT_PARAMS`, in table order."""
    return [FlatParam(spec, namespace, params_id) for spec in FLAT_PARAMS]
