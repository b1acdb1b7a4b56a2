"""Sans-I/O fleet: many emulated mobile nodes registering with one MAP, in one object.

Each mobile node is only what a MAP sees of one (base §6.1, §4.1): an LCoA, an RCoA on the MAP's prefix, and a
Binding Update List entry for the MAP with its sequence number and retransmission state.  It registers (local BU,
A and M set, RCoA in the Home Address option), refreshes before expiry, moves (new LCoA, same RCoA: a BU that
re-points the binding, base §6.1 "intra-domain"), may deregister (lifetime 0), and retransmits unanswered BUs
(RFC 6275 §11.8: InitialBindackTimeoutFirstReg for a first registration, INITIAL_BINDACK_TIMEOUT otherwise,
doubled up to MAX_BINDACK_TIMEOUT, a new sequence number each time).  BAs are handled as the reference mobile
node handles them (RFC 6275 §11.7.3, base §6.1):

* ignored unless from the MAP, with a type 2 routing header holding a fleet RCoA, addressed to that mobile node's
  current LCoA, answering a BU still outstanding (by sequence number), and protected when IPsec is on;
* status 135: continue after the sequence number the BA carries, once per exchange;
* status < 128: accepted -- lifetime = min(granted, requested), counted from when the acknowledged BU was sent,
  refresh at ``refresh_ratio`` of it (or the Binding Refresh Advice if sooner);
* status >= 128: rejected -- the mobile node stops (a real one would try another MAP) and the status is counted.

Inputs: :meth:`Fleet.add`, :meth:`Fleet.register`, :meth:`Fleet.move`, :meth:`Fleet.deregister`,
:meth:`Fleet.handle` (IPv6 packets received), :meth:`Fleet.tick` (time), all with ``now``; outputs: IPv6 packets to
send (bytes) and :meth:`Fleet.next_deadline`.  It never reads a clock or touches a socket.  The figures a load
test reports -- BU->BA latencies per kind of exchange, statuses, bindings held -- are collected on the way.
"""

from __future__ import annotations

import random
import struct
from collections import Counter
from typing import Any

from ..timers import TimerQueue
from .config import FleetConfig
from .messages import BaView, LocalBuBuilder, check_builder, parse_ba
from .protection import FleetProtection, Unprotected

__all__ = ["EXCHANGES", "Fleet"]

IDLE, SENDING, FAILED = 0, 1, 2
REGISTER, REFRESH, MOVE, DEREGISTER = 0, 1, 2, 3
EXCHANGES = ("register", "refresh", "move", "deregister")
_WORDS8 = struct.Struct("!8H")


class Fleet:
    """Mobile nodes 0..n-1 toward ``config.map_address``; ``protection`` protects their signalling (base §12.1)."""

    def __init__(self, config: FleetConfig, protection: FleetProtection | None = None) -> None:
        check_builder(config.map_address)
        self.config = config
        self.protection = protection if protection is not None else Unprotected()
        self.builder = LocalBuBuilder(config.map_address, self.protection, config.hop_limit)
        self._rng = random.Random(config.seed)
        self._timers = TimerQueue()  # key i: retransmission or refresh of node i; key ~i: its binding's expiry
        # per mobile node, as parallel lists (indices are the nodes)
        self.lcoa: list[bytes] = []
        self.rcoa: list[bytes] = []
        self._rcoa_sum: list[int] = []
        self.seq: list[int] = []
        self.state = bytearray()
        self.exchange = bytearray()
        self._timeout: list[float] = []
        self._sent: list[dict[int, float]] = []  # outstanding BUs of the current exchange: seq -> sent at
        self._started: list[float] = []  # first BU of the current exchange
        self._requested: list[int] = []  # lifetime units requested in the current exchange
        self._retried_135 = bytearray()
        self.expires: list[float] = []  # binding held until (0.0: none)
        self.registered_at: list[float | None] = []  # first accepted registration
        self._index: dict[bytes, int] = {}  # RCoA -> node
        self.bound = 0  # nodes holding a binding now (their view)
        # figures
        self.latencies: dict[str, list[float]] = {name: [] for name in EXCHANGES}  # BU sent -> its BA
        self.answered_at: dict[str, list[float]] = {name: [] for name in EXCHANGES}  # when, parallel to latencies
        self.completions: dict[str, list[float]] = {name: [] for name in EXCHANGES}  # first BU -> accepting BA
        self.statuses: Counter[int] = Counter()  # every BA handled, by status
        self.rejected: Counter[int] = Counter()  # exchanges ended by a status >= 128
        self.ignored: Counter[str] = Counter()  # packets not taken as an answer, by reason
        self.counters: Counter[str] = Counter()  # bu_sent, retransmissions, accepted_<kind>, expired, gave_up

    # ------------------------------------------------------------------------------------------------ nodes

    def add(self, rcoa: bytes, lcoa: bytes) -> int:
        """A new mobile node (not yet registered); returns its index."""
        if len(rcoa) != 16 or len(lcoa) != 16:
            raise ValueError("addresses are 16 bytes")
        if rcoa in self._index:
            raise ValueError("RCoA already used by another mobile node of this fleet")
        i = len(self.lcoa)
        self._index[rcoa] = i
        self.lcoa.append(lcoa)
        self.rcoa.append(rcoa)
        self._rcoa_sum.append(sum(_WORDS8.unpack(rcoa)))
        self.seq.append(self._rng.randrange(0x10000))
        self.state.append(IDLE)
        self.exchange.append(REGISTER)
        self._timeout.append(0.0)
        self._sent.append({})
        self._started.append(0.0)
        self._requested.append(0)
        self._retried_135.append(0)
        self.expires.append(0.0)
        self.registered_at.append(None)
        return i

    def __len__(self) -> int:
        return len(self.lcoa)

    def index_of(self, rcoa: bytes) -> int | None:
        return self._index.get(rcoa)

    def is_bound(self, i: int, now: float) -> bool:
        return self.expires[i] > now

    def pending(self) -> int:
        """Mobile nodes waiting for a BA."""
        return self.state.count(SENDING)

    # ------------------------------------------------------------------------------------------------ inputs

    def register(self, now: float, i: int) -> list[bytes]:
        """Start the first registration of node ``i`` (or register again after a rejection or expiry)."""
        return self._start(now, i, REGISTER if not self.is_bound(i, now) else REFRESH, self.config.lifetime_units)

    def move(self, now: float, i: int, lcoa: bytes) -> list[bytes]:
        """Node ``i`` got a new LCoA (same MAP, same RCoA): a BU re-pointing its binding (base §6.1)."""
        if len(lcoa) != 16:
            raise ValueError("addresses are 16 bytes")
        self.lcoa[i] = lcoa
        kind = MOVE if self.is_bound(i, now) else REGISTER
        return self._start(now, i, kind, self.config.lifetime_units)

    def deregister(self, now: float, i: int) -> list[bytes]:
        """Node ``i`` leaves: a BU with lifetime 0 (RFC 6275 §11.7.1)."""
        return self._start(now, i, DEREGISTER, 0)

    def handle(self, now: float, packet: bytes) -> list[bytes]:
        """A received IPv6 packet; returns packets to send (a retransmission after status 135)."""
        ba = parse_ba(packet, self.protection)
        if isinstance(ba, str):
            self.ignored[ba] += 1
            return []
        return self._on_ba(now, ba)

    def tick(self, now: float) -> list[bytes]:
        """Run every timer due at ``now``: retransmissions, refreshes, expiries."""
        out: list[bytes] = []
        timers = self._timers
        while (key := timers.pop_one(now)) is not None:
            if key < 0:
                i = ~key
                if self.expires[i] and self.expires[i] <= now:
                    self.expires[i] = 0.0
                    self.bound -= 1
                    self.counters["expired"] += 1
                continue
            i = key
            if self.state[i] == SENDING:
                limit = self.config.max_transmissions
                if limit and len(self._sent[i]) >= limit:
                    self.state[i] = FAILED
                    self.counters["gave_up"] += 1
                    continue
                self._timeout[i] = min(self._timeout[i] * 2, self.config.max_bindack_timeout)
                self.counters["retransmissions"] += 1
                out.append(self._transmit(now, i))
            elif self.state[i] == IDLE and self.is_bound(i, now):
                out += self._start(now, i, REFRESH, self.config.lifetime_units)
        return out

    def next_deadline(self) -> float | None:
        return self._timers.next()

    # ------------------------------------------------------------------------------------------------ sending

    def _start(self, now: float, i: int, kind: int, units: int) -> list[bytes]:
        cfg = self.config
        first = kind == REGISTER
        self.state[i] = SENDING
        self.exchange[i] = kind
        self._timeout[i] = cfg.initial_bindack_timeout_first_reg if first else cfg.initial_bindack_timeout
        self._sent[i] = {}
        self._started[i] = now
        self._requested[i] = units
        self._retried_135[i] = 0
        return [self._transmit(now, i)]

    def _transmit(self, now: float, i: int) -> bytes:
        seq = (self.seq[i] + 1) & 0xFFFF
        self.seq[i] = seq
        self._sent[i][seq] = now
        self._timers.set(i, now + self._timeout[i])
        self.counters["bu_sent"] += 1
        return self.builder.build(self.lcoa[i], self.rcoa[i], seq, self._requested[i], self._rcoa_sum[i])

    # ------------------------------------------------------------------------------------------------ BAs

    def _on_ba(self, now: float, ba: BaView) -> list[bytes]:
        if ba.src != self.config.map_address:
            self.ignored["not from the MAP"] += 1
            return []
        if ba.rcoa is None:
            self.ignored["no type 2 routing header (base §6.1: silently ignored)"] += 1
            return []
        i = self._index.get(ba.rcoa)
        if i is None:
            self.ignored["RCoA of no fleet mobile node"] += 1
            return []
        if ba.dst != self.lcoa[i]:
            self.ignored["not addressed to the current LCoA"] += 1
            return []
        if self.state[i] != SENDING:
            self.ignored["no outstanding BU (duplicate or late BA)"] += 1
            return []
        if ba.status == 135:  # RFC 6275 §11.7.3: continue after the last accepted sequence number, once
            self.statuses[135] += 1
            self.seq[i] = ba.seq
            if self._retried_135[i]:
                return []
            self._retried_135[i] = 1
            return [self._transmit(now, i)]
        sent_at = self._sent[i].get(ba.seq)
        if sent_at is None:
            self.ignored["sequence number of no outstanding BU"] += 1
            return []
        self.statuses[ba.status] += 1
        kind = EXCHANGES[self.exchange[i]]
        self.latencies[kind].append(now - sent_at)
        self.answered_at[kind].append(now)
        self._timers.cancel(i)
        if ba.status >= 128:
            self.state[i] = FAILED
            self.rejected[ba.status] += 1
            return []
        self.completions[kind].append(now - self._started[i])
        self.counters[f"accepted_{kind}"] += 1
        self.state[i] = IDLE
        granted = min(ba.units, self._requested[i]) * 4
        was_bound = self.expires[i] > now
        if granted == 0:  # deregistered
            self.expires[i] = 0.0
            self._timers.cancel(~i)
            if was_bound:
                self.bound -= 1
            return []
        self.expires[i] = sent_at + granted
        if not was_bound:
            self.bound += 1
        if self.registered_at[i] is None:
            self.registered_at[i] = now
        self._timers.set(~i, self.expires[i])
        delay = granted * self.config.refresh_ratio
        if ba.refresh_advice is not None:
            delay = min(delay, ba.refresh_advice * 4)
        self._timers.set(i, sent_at + delay)
        return []

    # ------------------------------------------------------------------------------------------------ state

    def summary(self, now: float) -> dict[str, Any]:
        """JSON-serialisable counters (no per-node data)."""
        states = Counter(self.state)
        return {
            "mobile_nodes": len(self), "bound": self.bound, "waiting": states[SENDING], "failed": states[FAILED],
            "registered": sum(1 for t in self.registered_at if t is not None),
            "counters": dict(self.counters), "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "rejected": {str(k): v for k, v in sorted(self.rejected.items())}, "ignored": dict(self.ignored),
        }
