"""Settings: one frozen dataclass, keyword names after the original's configuration keys.

``Settings.from_kwargs(**kwargs)`` is what :func:`d8a.replay` and the
pipeline builder accept. A setting that a later release will implement is
accepted only with a value that asks for nothing (off, empty, None); any other
value raises :class:`ConfigurationError` instead of being silently ignored.
The readers of single values (durations, the geo database path, device
detection, Matomo endpoints) are in :mod:`d8a.config_values`.
"""

from __future__ import annotations

import dataclasses
import os
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from d8a.columns.currency import CurrencyRates, currency_rates
from d8a.config_values import (
    DEFAULT_DEVICE_DETECTION,
    DEVICE_DETECTIONS,
    device_detection_setting,
    geo_database_setting,
    matomo_tracking_endpoints_setting,
    seconds_setting,
)
from d8a.errors import ConfigurationError
from d8a.sessions.filters import TrafficFilters

__all__ = [
    "DEFAULT_DEVICE_DETECTION",
    "DEFAULT_EXCLUDED_URL_PARAMS",
    "DEVICE_DETECTIONS",
    "Settings",
]

DEFAULT_EXCLUDED_URL_PARAMS: tuple[str, ...] = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "utm_id",
    "utm_source_platform",
    "utm_creative_format",
    "utm_marketing_tactic",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "srsltid",
    "fbclid",
    "msclkid",
)
"""The original's default list of page-URL parameters stripped from ``page_location``."""

_NOT_YET: dict[str, str] = {}
"""Settings accepted only with a value that asks for nothing, until implemented."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything that shapes how hits become rows. Immutable once built."""

    property_id: str = "default"
    """The property every hit is written under (the original is single-property)."""
    property_name: str = "Default property"
    """Written to the ``property_name`` column."""
    session_timeout: float = 1800.0
    """Seconds of inactivity (event time) that close a protosession."""
    split_by_user_id: bool = True
    """Start a new session when a hit's non-empty user id differs from the last one."""
    split_by_campaign: bool = True
    """Start a new session when ``utm_campaign`` changes."""
    split_by_time_since_first_event: float | None = 12 * 3600.0
    """Start a new session this many seconds after its first event; None for off."""
    split_by_max_events: int | None = 1000
    """Start a new session when the current one has this many events; None for off."""
    split_at_midnight: bool = False
    """Start a new session when the day changes in ``timezone`` (as Matomo does);
    beyond the original, off by default."""
    timezone: str = "UTC"
    """The property's IANA time zone, for ``split_at_midnight``."""
    excluded_url_params: tuple[str, ...] = DEFAULT_EXCLUDED_URL_PARAMS
    """Query parameters removed from ``page_location`` (UTM and click-id columns still see them)."""
    ip_masking_level: int = 0
    """0 keeps the IP; 1-4 zero its low bits (IPv4 /24, /16, /8, /0; IPv6 /48, /32, /16, /0)."""
    max_hit_bytes: int = 128 * 1024
    """Hits larger than this are rejected with 413."""
    join_by_session_stamp: bool = True
    """Hits of different client ids with the same session stamp (device fingerprint of
    the day, or ``fss``) join the protosession that claimed the stamp first."""
    join_by_user_id: bool = True
    """Hits of different client ids with the same user id join the first claimant's."""
    eviction_strategy: Literal["rewrite_in_place", "evict_whole_protosession"] = "rewrite_in_place"
    """How a joining hit moves: alone (the default), or with its client's whole open
    protosession."""
    compaction_threshold: int | None = 256 * 1024
    """Bytes of raw hits past which a protosession's hits are compacted into one
    compressed block in the state store; None for never."""
    trusted_proxies: tuple[str, ...] = ()
    """Proxies (CIDRs or addresses) whose client-IP headers are believed."""
    filters: TrafficFilters | Mapping[str, Any] | None = None
    """Traffic filters (``docs/filters.md``): ``{"fields": [...], "conditions": [{"name",
    "type": "exclude" | "allow", "test_mode", "expression"}, ...]}``. Read as a
    compiled :class:`~d8a.sessions.filters.TrafficFilters`, or None without conditions."""
    currency_rates: Mapping[str, float] | str | os.PathLike[str] | CurrencyRates | None = None
    """USD rates for the ``*_in_usd`` columns: a mapping of currency code to USD per
    unit, the path of a JSON file of one, or an object with ``rate(currency) ->
    float | None``. None converts only USD. Read as a :class:`CurrencyRates` or None."""
    geo_database: str | os.PathLike[str] | None = None
    """Path of a MaxMind-format City database (DB-IP City Lite, GeoLite2 City) for
    the geo columns; None leaves them NULL. Needs ``d8a[geo]``. Read as ``str``."""
    device_detection: bool | str | None = None
    """Device columns from User-Agent and Client Hints: ``"fast"`` or ``"matomo"``
    (see ``docs/enrichment.md``), True for ``"fast"``; False or None leave them
    NULL. Needs ``d8a[device]``. Read as the implementation name or None."""
    drop_bots: bool = False
    """Leave out events whose ``device_category`` is ``bot`` before sessions are
    split (counted in the closer's ``dropped_events``); needs device_detection."""
    ga4_params: Sequence[Mapping[str, str]] = ()
    """Custom GA4 parameter columns: ``[{"name", "column_name"?, "type"?}, ...]``, type
    ``string`` (default), ``int64`` or ``float64`` (``docs/columns.md``). Read as a
    tuple of :class:`~d8a.protocols.ga4_custom.CustomParam`."""
    matomo_tracking_endpoints: tuple[str, ...] = ()
    """Extra paths answering as ``/matomo.php`` (e.g. ``/piwik.php``); a missing
    leading ``/`` is added, blanks and duplicates are ignored."""
    matomo_custom_dimensions: Sequence[Mapping[str, Any]] = ()
    """Matomo custom dimension columns: ``[{"slot", "name", "column_name"?, "scope"?}]``;
    column ``custom_dimension_<name>`` by default, scope ``event`` (default, from
    ``dimension<slot>`` of the event) or ``session`` (merged over the session)
    (reference §4.9, ``docs/matomo.md``). Read as a tuple of
    :class:`~d8a.protocols.matomo_custom.MatomoCustomDimension`."""
    matomo_custom_variables: Sequence[Mapping[str, Any]] = ()
    """Matomo custom variable columns: ``[{"name", "column_name"?, "scope"?}]``; column
    ``custom_variable_<name>`` by default, scope ``event`` (default, from ``cvar``) or
    ``session`` (from ``_cvar``, merged over the session) (reference §4.9,
    ``docs/matomo.md``). Read as a tuple of
    :class:`~d8a.protocols.matomo_custom.MatomoCustomVariable`."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Reserved for settings of host-provided columns."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every setting name."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra")

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> Settings:
        """Validate keyword settings; unknown or not-yet-supported values raise."""
        known = set(cls.names())
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        for name, value in kwargs.items():
            if name in _NOT_YET:
                if value not in (None, False, (), [], {}, ""):
                    raise ConfigurationError(
                        f"setting {name}={value!r} is not supported yet ({_NOT_YET[name]} "
                        "is not implemented in this release); leave it unset"
                    )
                continue
            values[name] = value
        return cls(**values)

    def __post_init__(self) -> None:
        if not isinstance(self.split_at_midnight, bool):
            raise ConfigurationError("split_at_midnight must be True or False")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            raise ConfigurationError(
                f"timezone {self.timezone!r} is not an IANA time zone name such as "
                "'Europe/Warsaw' or 'UTC'"
            ) from None
        set_ = object.__setattr__
        set_(self, "session_timeout", seconds_setting("session_timeout", self.session_timeout))
        set_(
            self,
            "split_by_time_since_first_event",
            seconds_setting(
                "split_by_time_since_first_event",
                self.split_by_time_since_first_event,
                allow_none=True,
            ),
        )
        if self.split_by_max_events is not None and (
            isinstance(self.split_by_max_events, bool)
            or not isinstance(self.split_by_max_events, int)
            or self.split_by_max_events < 1
        ):
            raise ConfigurationError(
                "split_by_max_events must be a positive int or None, "
                f"not {self.split_by_max_events!r}"
            )
        for name in ("property_id", "property_name"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigurationError(f"{name} must be a non-empty string")
        for name in ("split_by_user_id", "split_by_campaign"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(f"{name} must be True or False")
        params = self.excluded_url_params
        if isinstance(params, str) or not all(isinstance(p, str) for p in params):
            raise ConfigurationError("excluded_url_params must be a list of parameter names")
        set_(self, "excluded_url_params", tuple(params))
        if self.eviction_strategy not in ("rewrite_in_place", "evict_whole_protosession"):
            raise ConfigurationError(
                "eviction_strategy must be 'rewrite_in_place' or 'evict_whole_protosession', "
                f"not {self.eviction_strategy!r}"
            )
        threshold = self.compaction_threshold
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1
        ):
            raise ConfigurationError(
                f"compaction_threshold must be a positive int or None, not {threshold!r}"
            )
        for name in ("join_by_session_stamp", "join_by_user_id"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(f"{name} must be True or False")
        if self.ip_masking_level == 4 and self.join_by_session_stamp:
            raise ConfigurationError(
                "ip_masking_level=4 removes the whole IP, which the session stamp needs: "
                "set join_by_session_stamp=False with it"
            )
        if self.ip_masking_level not in (0, 1, 2, 3, 4):
            raise ConfigurationError(
                f"ip_masking_level must be 0, 1, 2, 3 or 4, not {self.ip_masking_level!r}"
            )
        proxies = self.trusted_proxies
        if isinstance(proxies, str) or not all(isinstance(p, str) for p in proxies):
            raise ConfigurationError("trusted_proxies must be a list of CIDRs or addresses")
        set_(self, "trusted_proxies", tuple(proxies))
        if isinstance(self.max_hit_bytes, bool) or not isinstance(self.max_hit_bytes, int):
            raise ConfigurationError("max_hit_bytes must be an int")
        set_(self, "filters", TrafficFilters.from_setting(self.filters))
        set_(self, "currency_rates", currency_rates(self.currency_rates))
        from d8a.protocols.ga4_custom import ga4_params_setting  # d8a.protocols imports this

        set_(self, "ga4_params", ga4_params_setting(self.ga4_params))
        set_(self, "device_detection", device_detection_setting(self.device_detection))
        set_(self, "geo_database", geo_database_setting(self.geo_database))
        endpoints = matomo_tracking_endpoints_setting(self.matomo_tracking_endpoints)
        set_(self, "matomo_tracking_endpoints", endpoints)
        from d8a.protocols.matomo_custom_entries import matomo_custom_settings  # as above

        dimensions, variables = matomo_custom_settings(
            self.matomo_custom_dimensions, self.matomo_custom_variables
        )
        set_(self, "matomo_custom_dimensions", dimensions)
        set_(self, "matomo_custom_variables", variables)
        if not isinstance(self.drop_bots, bool):
            raise ConfigurationError("drop_bots must be True or False")
        if self.drop_bots and self.device_detection is None:
            raise ConfigurationError("drop_bots needs device_detection (bots are found by it)")
