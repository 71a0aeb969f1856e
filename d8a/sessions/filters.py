"""Traffic filters (reference §6.4): drop or tag the events of split sessions.

The ``filters`` setting, as a host or a TOML file gives it::

    {"fields": ["ip_address"],                      # default: ["ip_address"]
     "conditions": [{"name": "office", "type": "exclude", "test_mode": False,
                     "expression": 'inCidr(ip_address, "203.0.113.0/24")'}]}

:meth:`TrafficFilters.from_setting` validates it and compiles every expression
once (see :mod:`d8a.sessions.expressions`); :meth:`TrafficFilters.apply` runs
on the sessions of one protosession after splitting, before session-scoped
and session columns, so those see only the kept events. Per event:

- an ``exclude`` condition that matches drops the event;
- if any ``allow`` condition exists, an event that matches none is dropped;
- a ``test_mode`` condition drops nothing: the name of the last one (in
  setting order) that matches goes to ``event.metadata["traffic_filter_name"]``;
- a session left without events is dropped.

Dropped events are counted by reason: ``filters: <condition name>``, or
:data:`NOT_ALLOWED`. An expression reads only the names listed in ``fields``
(an unlisted name is a ConfigurationError, where the original silently read
nothing); :meth:`TrafficFilters.check_fields` checks, once the columns are
known, that each is an event column.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from d8a.errors import ConfigurationError
from d8a.sessions.expressions import EvaluationError, Evaluator, compile_expression

if TYPE_CHECKING:
    from d8a.columns.base import Session
    from d8a.columns.columnset import ColumnSet

__all__ = ["DEFAULT_FIELDS", "FILTER_NAME_KEY", "NOT_ALLOWED", "FilterCondition", "TrafficFilters"]

log = logging.getLogger(__name__)

DEFAULT_FIELDS: tuple[str, ...] = ("ip_address",)
"""The event columns expressions may read when ``fields`` is not given."""
FILTER_NAME_KEY = "traffic_filter_name"
"""Event metadata key set by a matching test-mode condition (read by the column)."""
NOT_ALLOWED = "filters: no allow condition matched"
"""The dropped-events reason of an event that no ``allow`` condition matched."""

_CONDITION_KEYS = ("name", "type", "expression", "test_mode")
Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, kw_only=True)
class FilterCondition:
    """One condition of the ``filters`` setting."""

    name: str
    """Goes to ``traffic_filter_name`` (test mode) and to the dropped-events reason."""
    type: Literal["exclude", "allow"]
    """``exclude`` drops matching events; ``allow`` keeps only events some allow matches."""
    expression: str
    """A boolean expression over the ``fields`` (see ``docs/filters.md``)."""
    test_mode: bool = False
    """Drop nothing; tag matching events' ``traffic_filter_name`` instead."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError(
                f"filters: a condition name must be a non-empty string, not {self.name!r}"
            )
        if self.type not in ("exclude", "allow"):
            raise ConfigurationError(
                f"filters: condition {self.name!r}: type must be 'exclude' or 'allow', "
                f"not {self.type!r}"
            )
        if not isinstance(self.test_mode, bool):
            raise ConfigurationError(
                f"filters: condition {self.name!r}: test_mode must be true or false, "
                f"not {self.test_mode!r}"
            )


@dataclass(frozen=True, kw_only=True)
class TrafficFilters:
    """The validated ``filters`` setting with its expressions compiled (once, here).

    Immutable; :meth:`apply` may run from several threads (it only reads, apart
    from remembering which conditions it has already logged a failure for)."""

    fields: tuple[str, ...] = DEFAULT_FIELDS
    """Event columns the expressions may read, each as text (``""`` when absent)."""
    conditions: tuple[FilterCondition, ...] = ()
    _excludes: tuple[tuple[str, Predicate], ...] = field(init=False, repr=False, compare=False)
    _allows: tuple[Predicate, ...] = field(init=False, repr=False, compare=False)
    _tags: tuple[tuple[str, Predicate], ...] = field(init=False, repr=False, compare=False)
    _logged: set[str] = field(init=False, repr=False, compare=False, default_factory=set)

    def __post_init__(self) -> None:
        fields = self.fields
        if not isinstance(fields, list | tuple) or not all(
            isinstance(f, str) and f for f in fields
        ):
            raise ConfigurationError(
                f"filters.fields must be a list of column names, not {fields!r}"
            )
        conditions = self.conditions
        if not isinstance(conditions, list | tuple) or not all(
            isinstance(c, FilterCondition) for c in conditions
        ):
            raise ConfigurationError("TrafficFilters.conditions must be FilterCondition objects")
        set_ = object.__setattr__
        set_(self, "fields", tuple(fields))
        set_(self, "conditions", tuple(conditions))
        excludes, allows, tags = [], [], []
        for condition in self.conditions:
            try:
                expression = compile_expression(condition.expression, self.fields)
            except ConfigurationError as exc:
                raise ConfigurationError(
                    f"filters: condition {condition.name!r}: invalid expression "
                    f"{condition.expression!r}: {exc}"
                ) from None
            predicate = self._predicate(condition.name, expression.evaluate)
            if condition.test_mode:
                tags.append((condition.name, predicate))
            elif condition.type == "exclude":
                excludes.append((f"filters: {condition.name}", predicate))
            else:
                allows.append(predicate)
        set_(self, "_excludes", tuple(excludes))
        set_(self, "_allows", tuple(allows))
        set_(self, "_tags", tuple(reversed(tags)))  # the first found is the last matching

    @classmethod
    def from_setting(cls, value: object) -> TrafficFilters | None:
        """The ``filters`` setting (a mapping, a TrafficFilters or None) validated and
        compiled; None when it has no conditions. ConfigurationError names what is wrong."""
        if value is None or isinstance(value, TrafficFilters):
            return value if value is not None and value.conditions else None
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                f'filters must be a mapping {{"fields": [...], "conditions": [...]}}, not {value!r}'
            )
        unknown = sorted(set(value) - {"fields", "conditions"})
        if unknown:
            raise ConfigurationError(f"filters: unknown key(s) {', '.join(map(str, unknown))}")
        fields = value.get("fields")
        conditions = value.get("conditions") or ()
        if isinstance(conditions, str | Mapping) or not isinstance(conditions, Sequence):
            raise ConfigurationError(f"filters.conditions must be a list, not {conditions!r}")
        filters = cls(
            fields=DEFAULT_FIELDS if fields is None else fields,
            conditions=tuple(_condition(i, c) for i, c in enumerate(conditions)),
        )
        return filters if filters.conditions else None

    def check_fields(self, columns: Mapping[str, ColumnSet]) -> None:
        """ConfigurationError unless every field is an event column of some protocol
        (session-scoped and session columns are computed after filtering)."""
        event = {c.name for s in columns.values() for c in s.event}
        later = {c.name for s in columns.values() for c in (*s.session_scoped, *s.session)}
        for name in self.fields:
            if name in later and name not in event:
                raise ConfigurationError(
                    f"filters.fields: {name!r} is a session column, computed after filtering; "
                    "filters read event columns only"
                )
            if name not in event:
                raise ConfigurationError(
                    f"filters.fields: {name!r} is not an event column "
                    f"(known: {', '.join(sorted(event))})"
                )

    def apply(self, sessions: Sequence[Session], dropped: Counter[str]) -> list[Session]:
        """Filter each session's events in place; return the sessions that keep any.

        Each dropped event is counted in ``dropped`` under its reason."""
        excludes, allows, tags = self._excludes, self._allows, self._tags
        result = []
        for session in sessions:
            kept = []
            for event in session.events:
                values = event.values
                reason = None
                for key, matches in excludes:
                    if matches(values):
                        reason = key
                        break
                if reason is None and allows and not any(allow(values) for allow in allows):
                    reason = NOT_ALLOWED
                if reason is not None:
                    dropped[reason] += 1
                    continue
                for name, matches in tags:
                    if matches(values):
                        event.metadata[FILTER_NAME_KEY] = name
                        break
                kept.append(event)
            if kept:
                session.events = kept
                result.append(session)
        return result

    def _predicate(self, name: str, evaluate: Evaluator) -> Predicate:
        """``evaluate`` as True/False: a failure or a non-boolean is no match, logged
        once per condition."""
        logged = self._logged

        def matches(values: Mapping[str, Any]) -> bool:
            try:
                result = evaluate(values)
            except EvaluationError as exc:
                result = exc
            if result is True or result is False:
                return result
            if name not in logged:
                logged.add(name)
                log.warning("filters: condition %r counted as no match: %s", name, result)
            return False

        return matches


def _condition(index: int, raw: object) -> FilterCondition:
    if isinstance(raw, FilterCondition):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"filters.conditions[{index}] must be a mapping, not {raw!r}")
    unknown = sorted(set(raw) - set(_CONDITION_KEYS))
    missing = [key for key in _CONDITION_KEYS[:3] if key not in raw]
    if unknown or missing:
        problem = f"unknown key(s) {', '.join(map(str, unknown))}" if unknown else ""
        problem += "; " if unknown and missing else ""
        problem += f"missing {', '.join(missing)}" if missing else ""
        raise ConfigurationError(f"filters.conditions[{index}] ({raw.get('name')!r}): {problem}")
    return FilterCondition(**raw)
