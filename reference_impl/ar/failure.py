"""MAP failure detection by ICMPv6 echo (base document §10; RFC 5380 §10): a small state machine per MAP.

::

    up ──(probe unanswered when the next one is due)──> aggressive ──(no reply for aggressive_duration)──> down
     ^                                                       │                                             │
     └──────────────────────────(any reply)──────────────────┴─────────────────────────────────────────────┘

``up``: one probe every ``interval``.  ``aggressive``: one every ``aggressive_interval``.  ``down``: the MAP is
advertised with valid lifetime 0 and probed every ``interval`` until it answers.  With the base document's
example values (10 s; 5 s for 15 s) a MAP is declared down 25 s after the first probe it leaves unanswered.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .config import FailureDetection

__all__ = ["MapProber", "ProbeState"]


@dataclass(slots=True)
class ProbeState:
    state: str = "up"  # "up" | "aggressive" | "down"
    awaiting: bool = False  # a probe is out and unanswered
    aggressive_until: float = 0.0
    recent: deque = field(default_factory=lambda: deque(maxlen=8))  # sequence numbers of recent probes
    last_reply: float | None = None
    probes_sent: int = 0


class MapProber:
    __slots__ = ("cfg", "states", "_seq")

    def __init__(self, cfg: FailureDetection) -> None:
        self.cfg = cfg
        self.states: dict[bytes, ProbeState] = {}
        self._seq = 0

    def on_timer(self, now: float, address: bytes) -> tuple[int, float, str | None]:
        """A probe for ``address`` is due: (sequence number to send, next due time, transition or None).

        Transitions: "lost" (up -> aggressive), "down" (aggressive -> down).
        """
        st = self.states[address]
        cfg = self.cfg
        change = None
        if st.state == "up" and st.awaiting:
            st.state, st.aggressive_until, change = "aggressive", now + cfg.aggressive_duration, "lost"
        elif st.state == "aggressive" and now >= st.aggressive_until:
            st.state, change = "down", "down"
        if st.state == "aggressive":
            next_due = min(now + cfg.aggressive_interval, st.aggressive_until)
        else:
            next_due = now + cfg.interval
        self._seq = (self._seq + 1) & 0xFFFF
        st.recent.append(self._seq)
        st.awaiting = True
        st.probes_sent += 1
        return self._seq, next_due, change

    def on_reply(self, now: float, address: bytes, identifier: int, seq: int) -> str | None:
        """An echo reply arrived: the previous state if it ends a failure ("aggressive" or "down"), else None."""
        st = self.states.get(address)
        if st is None or identifier != self.cfg.identifier or seq not in st.recent:
            return None
        st.awaiting = False
        st.last_reply = now
        if st.state == "up":
            return None
        previous, st.state = st.state, "up"
        return previous
