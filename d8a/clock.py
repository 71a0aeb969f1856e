"""Clocks: the only module that reads wall time.

Event time in d8a is the receive time of a hit; the protosession timing wheel
advances with hit timestamps and pings, never by reading wall time itself.
A ``Clock`` is what the receiver stamps requests with when the host gives no
``received_at``, and what the worker's idle pings read.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from datetime import datetime, timedelta

from typing_extensions import override

__all__ = ["Clock", "ManualClock", "SystemClock", "monotonic"]


class Clock(ABC):
    """A source of the current time as Unix epoch seconds (float)."""

    @abstractmethod
    def now(self) -> float:
        """Return the current time in Unix seconds. Must be thread-safe."""


class SystemClock(Clock):
    """Wall time from the operating system."""

    @override
    def now(self) -> float:
        return time.time()


class ManualClock(Clock):
    """A clock that moves only when told to; for tests and replays."""

    def __init__(self, start: float | datetime = 0.0) -> None:
        self._lock = threading.Lock()
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)

    @override
    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float | timedelta) -> float:
        """Move the clock forward and return the new time."""
        delta = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
        if delta < 0:
            raise ValueError("a ManualClock only moves forward")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: float | datetime) -> None:
        """Jump to ``when`` (never backwards)."""
        value = when.timestamp() if isinstance(when, datetime) else float(when)
        with self._lock:
            if value < self._now:
                raise ValueError("a ManualClock only moves forward")
            self._now = value


def monotonic() -> float:
    """Seconds from an arbitrary start, for timeouts and rate figures only."""
    return time.monotonic()
