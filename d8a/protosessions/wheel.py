"""The timing wheel that decides when a protosession has been idle long enough.

Slots are whole seconds of event time; a min-heap keeps the occupied slots so
that a jump of days (a replay of old traffic) costs nothing per empty second.
The wheel never reads a clock: :meth:`advance` is told the time, which the
caller takes from hit timestamps and pings.
"""

from __future__ import annotations

import heapq
import math

__all__ = ["TimingWheel"]


class TimingWheel:
    """Deadlines of keys in 1-second slots; :meth:`advance` returns the keys now due."""

    def __init__(self) -> None:
        self._deadline: dict[str, float] = {}
        self._slot_of: dict[str, int] = {}
        self._slots: dict[int, set[str]] = {}
        self._heap: list[int] = []
        self.now = -math.inf
        """The wheel's clock: the largest time it was advanced to."""

    def __len__(self) -> int:
        return len(self._deadline)

    def __contains__(self, key: str) -> bool:
        return key in self._deadline

    def schedule(self, key: str, deadline: float) -> None:
        """Set (or move) the deadline of ``key``."""
        self._deadline[key] = deadline
        slot = math.floor(deadline)
        old = self._slot_of.get(key)
        if old == slot:
            return
        if old is not None:
            self._slots[old].discard(key)
        self._slot_of[key] = slot
        members = self._slots.get(slot)
        if members is None:
            members = self._slots[slot] = set()
            heapq.heappush(self._heap, slot)
        members.add(key)

    def cancel(self, key: str) -> None:
        """Forget ``key``; unknown keys are ignored."""
        if self._deadline.pop(key, None) is None:
            return
        self._slots[self._slot_of.pop(key)].discard(key)

    def advance(self, now: float) -> list[str]:
        """Move the clock to ``max(self.now, now)``; return and forget keys whose
        deadline is at or before it, earliest slot first (sorted within a slot)."""
        if now > self.now:
            self.now = now
        now = self.now
        due: list[str] = []
        heap = self._heap
        while heap and heap[0] <= now:
            slot = heap[0]
            members = self._slots.get(slot)
            if members:
                ready = sorted(k for k in members if self._deadline[k] <= now)
                for key in ready:
                    members.discard(key)
                    del self._deadline[key]
                    del self._slot_of[key]
                due.extend(ready)
                if members:
                    break  # the rest of this slot is due later within the same second
            heapq.heappop(heap)
            self._slots.pop(slot, None)
        return due

    def keys(self) -> list[str]:
        """Every scheduled key, earliest deadline first (ties by key)."""
        return sorted(self._deadline, key=lambda k: (self._deadline[k], k))

    def deadline(self, key: str) -> float | None:
        """The deadline of ``key``, or None."""
        return self._deadline.get(key)
