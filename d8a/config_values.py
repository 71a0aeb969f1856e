"""Readers of single setting values, used by :class:`d8a.config.Settings`.

Each takes a value as given (keyword argument, config file, environment) and
returns it normalised, or raises :class:`ConfigurationError` saying what is
accepted. Kept apart from :mod:`d8a.config` so that module stays the settings
themselves; it imports nothing of the package but :mod:`d8a.errors`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from d8a.errors import ConfigurationError

__all__ = [
    "DEFAULT_DEVICE_DETECTION",
    "DEVICE_DETECTIONS",
    "device_detection_setting",
    "geo_database_setting",
    "matomo_tracking_endpoints_setting",
    "seconds_setting",
]

DEVICE_DETECTIONS: tuple[str, ...] = ("fast", "matomo")
"""The ``device_detection`` implementations (see ``docs/enrichment.md``)."""
DEFAULT_DEVICE_DETECTION = "fast"
"""What ``device_detection=True`` selects."""


def device_detection_setting(value: object) -> str | None:
    """``device_detection`` as the implementation name, or None for off."""
    if value is True:
        return DEFAULT_DEVICE_DETECTION
    if value is None or value is False:
        return None
    if not isinstance(value, str) or value not in DEVICE_DETECTIONS:
        raise ConfigurationError(
            f"device_detection must be {' or '.join(map(repr, DEVICE_DETECTIONS))}, True "
            f"(for {DEFAULT_DEVICE_DETECTION!r}) or False/None (off), not {value!r}"
        )
    return value


def geo_database_setting(value: object) -> str | None:
    """``geo_database`` as the path of an existing file, or None."""
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike):
        raise ConfigurationError(f"geo_database must be a file path or None, not {value!r}")
    path = os.fspath(value)
    if not isinstance(path, str) or not os.path.isfile(path):
        raise ConfigurationError(f"geo_database {path!r} does not exist or is not a file")
    return path


def seconds_setting(name: str, value: object, *, allow_none: bool = False) -> float | None:
    """A positive duration (a number of seconds or a timedelta) as float seconds;
    None passes only with ``allow_none``."""
    if value is None and allow_none:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{name} must be seconds (a number) or a timedelta, not {value!r}")
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, not {value!r}")
    return float(value)


def matomo_tracking_endpoints_setting(paths: Any) -> tuple[str, ...]:
    """``matomo_tracking_endpoints`` as distinct absolute paths, blanks dropped."""
    if isinstance(paths, str):
        paths = paths.split(",")
    if not all(isinstance(p, str) for p in paths):
        raise ConfigurationError("matomo_tracking_endpoints must be a list of paths")
    seen: dict[str, None] = {}
    for raw in paths:
        path = raw.strip()
        if path:
            seen.setdefault(path if path.startswith("/") else "/" + path, None)
    return tuple(seen)
