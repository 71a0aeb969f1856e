"""Device columns from the User-Agent and Client Hints headers (reference §4.2).

Seven columns come from one detection per event: ``device_category``,
``device_mobile_brand_name``, ``device_mobile_model_name``,
``device_operating_system`` (and ``_version``), ``device_web_browser`` (and
``_version``), in the vocabulary of Matomo's DeviceDetector (``smartphone``,
``tablet``, ``desktop``, ...). A bot gets ``device_category = "bot"``, its name
as brand and its URL (when known) as model; its OS and browser are NULL.

:class:`DeviceCategory` runs the detection and keeps the :class:`DeviceInfo` in
``event.metadata["device"]``; the six other columns depend on it and read it.
Detection goes through :class:`DeviceCache`: real traffic has few distinct
agents, so almost every hit costs one dictionary look-up. The implementations
(``"matomo"``, ``"fast"``) live in :mod:`d8a.columns.device_detectors`.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import NamedTuple

from typing_extensions import override

from d8a.columns.base import Event, EventColumn, Interface

__all__ = [
    "DEVICE",
    "HINT_HEADERS",
    "MAX_USER_AGENT_CHARS",
    "UNKNOWN_DEVICE",
    "DeviceCache",
    "DeviceCategory",
    "DeviceDetector",
    "DeviceInfo",
    "DeviceValue",
]

log = logging.getLogger(__name__)

DEVICE = "device"
"""Event metadata key holding the event's :class:`DeviceInfo`."""

MAX_USER_AGENT_CHARS = 1024
"""Longer User-Agent strings (and client-hint values) are cut before detection:
it bounds the cost of a first sighting and the memory of a cache entry."""

HINT_HEADERS: tuple[str, ...] = (
    "Sec-Ch-Ua",
    "Sec-Ch-Ua-Mobile",
    "Sec-Ch-Ua-Platform",
    "Sec-Ch-Ua-Platform-Version",
    "Sec-Ch-Ua-Model",
    "Sec-Ch-Ua-Full-Version-List",
    "Sec-Ch-Ua-Full-Version",
    "Sec-Ch-Ua-Form-Factors",
    "X-Requested-With",
)
"""Headers besides User-Agent that detection reads, in the canonical spelling of
:func:`d8a.hits.canonical_header`; all of them are part of the cache key."""


class DeviceInfo(NamedTuple):
    """What one detection found; ``None`` where nothing was found."""

    category: str | None = None
    brand: str | None = None
    model: str | None = None
    os: str | None = None
    os_version: str | None = None
    browser: str | None = None
    browser_version: str | None = None


UNKNOWN_DEVICE = DeviceInfo()


class DeviceDetector(ABC):
    """One way to turn a User-Agent and its Client Hints into a :class:`DeviceInfo`.

    ``detect`` must be deterministic (the same input gives the same output:
    results are cached), free of I/O and thread-safe. It may be slow; the
    cache in front of it calls it once per distinct input. Loading rule
    tables belongs in ``__init__``, which runs at ``build()``.
    """

    name: str
    """The ``device_detection`` setting value that selects this implementation."""

    @abstractmethod
    def detect(self, user_agent: str, hints: Mapping[str, str]) -> DeviceInfo:
        """Detect the device of ``user_agent``; ``hints`` maps lower-case header
        names of :data:`HINT_HEADERS` to their values (present headers only)."""


class DeviceCache:
    """Remembers the detection of each (User-Agent, hints) key; bounded, thread-safe.

    A hit is one dict look-up without a lock; a miss runs the detector under a
    lock. When ``max_entries`` are held the oldest entry is dropped first. A
    detector that raises is logged, and the agent gets :data:`UNKNOWN_DEVICE`
    rather than breaking its events.
    """

    def __init__(self, detector: DeviceDetector, max_entries: int = 16_384) -> None:
        self.detector = detector
        self.max_entries = max_entries
        self.entries: dict[tuple[str | None, ...], DeviceInfo] = {}
        self.misses = 0
        self._lock = threading.Lock()

    def lookup(self, headers: Mapping[str, str]) -> DeviceInfo:
        """The device of a hit with these (canonically spelled) headers."""
        key = (headers.get("User-Agent"), *map(headers.get, HINT_HEADERS))
        found = self.entries.get(key)
        return found if found is not None else self.detect(key)

    def detect(self, key: tuple[str | None, ...]) -> DeviceInfo:
        """Detect and remember ``key`` = (User-Agent, *values of HINT_HEADERS)."""
        longest = MAX_USER_AGENT_CHARS
        if any(value is not None and len(value) > longest for value in key):
            key = tuple(value if value is None else value[:longest] for value in key)
        with self._lock:
            found = self.entries.get(key)
            if found is not None:
                return found
            self.misses += 1
            hints = {
                name.lower(): value
                for name, value in zip(HINT_HEADERS, key[1:], strict=True)
                if value is not None
            }
            try:
                found = self.detector.detect(key[0] or "", hints)
            except Exception:  # a library bug on one odd agent must not lose its rows
                log.warning("%s device detection failed for %r", self.detector.name, key[0])
                found = UNKNOWN_DEVICE
            entries = self.entries
            if len(entries) >= self.max_entries:
                del entries[next(iter(entries))]
            entries[key] = found
            return found


class DeviceCategory(EventColumn):
    """``device_category``; runs detection and keeps the result for the other device columns."""

    def __init__(self, interface: Interface, cache: DeviceCache) -> None:
        self.interface = interface
        self.cache = cache

    @override
    def write(self, event: Event) -> None:
        info = self.cache.lookup(event.hit.headers)
        event.metadata[DEVICE] = info
        event.values["device_category"] = info[0]

    @override
    def write_all(self, events: list[Event]) -> None:
        entries, detect, hint_headers = self.cache.entries, self.cache.detect, HINT_HEADERS
        for event in events:
            headers = event.hit.headers
            key = (headers.get("User-Agent"), *map(headers.get, hint_headers))
            info = entries.get(key)
            if info is None:
                info = detect(key)
            event.metadata[DEVICE] = info
            event.values["device_category"] = info[0]


class DeviceValue(EventColumn):
    """Field ``index`` of the event's :class:`DeviceInfo` (brand, model, OS, ...)."""

    def __init__(self, interface: Interface, index: int, category_id: str) -> None:
        self.interface = interface
        self.depends_on = (category_id,)
        self._index = index
        self._name = interface.name

    @override
    def write(self, event: Event) -> None:
        event.values[self._name] = event.metadata[DEVICE][self._index]

    @override
    def write_all(self, events: list[Event]) -> None:
        name, index = self._name, self._index
        for event in events:
            event.values[name] = event.metadata[DEVICE][index]
