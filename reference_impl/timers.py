"""A keyed timer queue for sans-I/O cores: one deadline per key, earliest first, lazy deletion.

Cores keep all their timers here so that ``next_deadline()`` is O(1) amortised even with 100,000 bindings.
Times are plain floats on the caller's clock (virtual or monotonic).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable

__all__ = ["TimerQueue"]


class TimerQueue:
    """``set(key, when)`` replaces any earlier deadline of ``key``; ``pop_due(now)`` yields keys in time order."""

    __slots__ = ("_heap", "_live", "_tokens")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Hashable]] = []
        self._live: dict[Hashable, tuple[float, int]] = {}
        self._tokens = itertools.count()

    def set(self, key: Hashable, when: float) -> None:
        token = next(self._tokens)
        self._live[key] = (when, token)
        heapq.heappush(self._heap, (when, token, key))
        if len(self._heap) > 2 * len(self._live) + 64:  # superseded entries pile up under refreshes: compact
            self._heap = [(w, t, k) for k, (w, t) in self._live.items()]
            heapq.heapify(self._heap)

    def cancel(self, key: Hashable) -> None:
        self._live.pop(key, None)

    def get(self, key: Hashable) -> float | None:
        entry = self._live.get(key)
        return None if entry is None else entry[0]

    def __contains__(self, key: Hashable) -> bool:
        return key in self._live

    def __len__(self) -> int:
        return len(self._live)

    def _clean(self) -> None:
        heap, live = self._heap, self._live
        while heap:
            when, token, key = heap[0]
            if live.get(key) == (when, token):
                return
            heapq.heappop(heap)

    def next(self) -> float | None:
        """The earliest live deadline, or None."""
        self._clean()
        return self._heap[0][0] if self._heap else None

    def pop_one(self, now: float) -> Hashable | None:
        """Remove and return the earliest key due at ``now`` (deadline <= now), or None."""
        self._clean()
        if not self._heap or self._heap[0][0] > now:
            return None
        _, _, key = heapq.heappop(self._heap)
        del self._live[key]
        return key
