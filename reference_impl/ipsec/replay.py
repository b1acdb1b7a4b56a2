"""Sequence numbers: the outbound counter (RFC 4303 §3.3.3) and the inbound anti-replay window (§3.4.3).

32-bit sequence numbers only (no Extended Sequence Numbers: manually keyed SAs, RFC 4303 §2.2.1).  The same
rules apply to AH (RFC 4302 §3.3.2, §3.4.3).
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import IpsecError
from .sa import check_replay_window_size

__all__ = ["ReplayWindow", "SequenceCounter"]

SEQ_MAX = 0xFFFFFFFF


class ReplayWindow:
    """Sliding receive window of ``size`` sequence numbers ending at the highest one accepted (RFC 4303 §3.4.3).

    Use: ``check`` before integrity verification (cheap rejection), ``accept`` only after the ICV verified
    ("the receive window is updated only if the ICV verification succeeds").  ``size`` 0 disables anti-replay:
    no inbound checks are performed on the sequence number.
    """

    __slots__ = ("size", "_top", "_bits", "_mask")

    def __init__(self, size: int = 64) -> None:
        check_replay_window_size(size)
        self.size = size
        self._top = 0  # highest sequence number accepted so far (0: none yet)
        self._bits = 0  # bit i set: sequence number top - i was received
        self._mask = (1 << size) - 1

    @property
    def top(self) -> int:
        """The right edge of the window: the highest sequence number accepted, 0 before the first."""
        return self._top

    def check(self, seq: int) -> str | None:
        """None if ``seq`` may be processed, else why not (the packet is to be discarded)."""
        if not self.size:
            return None
        if seq == 0:
            return "sequence number 0"
        if seq > self._top:
            return None
        behind = self._top - seq
        if behind >= self.size:
            return "left of the window"
        if self._bits >> behind & 1:
            return "duplicate (replay)"
        return None

    def accept(self, seq: int) -> None:
        """Record ``seq`` as received, sliding the window right if it is new; IpsecError if ``check`` refuses."""
        if not self.size:
            return
        if not 0 <= seq <= SEQ_MAX:
            raise IpsecError(f"sequence number {seq} outside 0..2**32-1 (RFC 4303 §2.2)")
        reason = self.check(seq)
        if reason is not None:
            raise IpsecError(f"{reason} (RFC 4303 §3.4.3)")
        if seq > self._top:
            self._bits = ((self._bits << (seq - self._top)) | 1) & self._mask
            self._top = seq
        else:
            self._bits |= 1 << (self._top - seq)


class SequenceCounter:
    """Outbound sequence numbers 1, 2, ... (RFC 4303 §3.3.3, RFC 4302 §3.3.2).

    The counter never cycles: after 2**32-1 :meth:`next` raises IpsecError and a new SA is needed.

    ``reserve`` (optional) keeps a restarted sender from reusing numbers under the same manually keyed SA: it is
    called with a high-water mark before any number at or above the previous mark is handed out (first at
    construction), so a sender that stores the mark and restarts from it (``start``) never sends a number again --
    a peer's anti-replay window (RFC 4303 §3.4.3) would silently drop them.  One call per ``block`` numbers.
    """

    __slots__ = ("_next", "_mark", "_reserve", "_block")

    def __init__(self, start: int = 1, reserve: Callable[[int], None] | None = None, block: int = 1024) -> None:
        if not 1 <= start <= SEQ_MAX + 1:
            raise ValueError(f"start {start}: must be 1..2**32")
        if block < 1:
            raise ValueError(f"block {block}: must be at least 1")
        self._next = start
        self._reserve, self._block = reserve, block
        self._mark = SEQ_MAX + 2  # no reservations: never reached
        if reserve is not None:
            self._mark = start
            self._extend()

    def _extend(self) -> None:
        self._mark = min(self._mark + self._block, SEQ_MAX + 1)
        assert self._reserve is not None
        self._reserve(self._mark)

    @property
    def last(self) -> int:
        """The sequence number most recently handed out (0 before the first)."""
        return self._next - 1

    def next(self) -> int:
        seq = self._next
        if seq > SEQ_MAX:
            raise IpsecError("sequence number would cycle past 2**32-1: establish a new SA (RFC 4303 §3.3.3)")
        if seq >= self._mark:
            self._extend()
        self._next = seq + 1
        return seq
