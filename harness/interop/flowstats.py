"""Per-phase statistics of a numbered flow: what was lost, reordered or duplicated after each event (a move, a
fault applied or removed), and how long the flow was interrupted.

A flow report is what :mod:`harness.programs.flow` writes (``send``'s ``started_at`` and ``rate`` give the send time
of every sequence number, lost ones included: ``started_at + seq / rate``; ``recv``/``ping`` give the arrivals).
Phases are cut by event times: phase *i* holds the datagrams *sent* from event *i* to event *i + 1*.

``interruption`` of a phase: the longest time without an arrival, from the last arrival before the event to the
first arrival of a datagram sent in the phase (``resumed_at``) -- the handover interruption as a user sees it.
In-flight datagrams sent before the event that arrive after it (a previous MAP forwarding them) shorten it, as
they should.  None when nothing sent in the phase arrived (the flow did not resume).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class Flow:
    """One direction of one flow: its name, send schedule and arrivals ``(seq, arrival time)``."""

    name: str
    started_at: float
    rate: float
    sent: int
    arrivals: tuple[tuple[int, float], ...]

    @classmethod
    def from_reports(cls, name: str, sender: dict, receiver: dict) -> "Flow":
        """From the sender's and the receiver's JSON reports (one report holds both for ``ping``)."""
        return cls(name, float(sender["started_at"]), float(sender["rate"]), int(sender["sent"]),
                   tuple((int(a[0]), float(a[1])) for a in receiver["arrivals"]))

    def send_time(self, seq: int) -> float:
        return self.started_at + seq / self.rate

    def first_seq_at(self, t: float) -> int:
        """The first sequence number sent at or after ``t``."""
        return max(0, int(-(-(t - self.started_at) * self.rate // 1)))


@dataclasses.dataclass(frozen=True)
class PhaseStats:
    name: str
    start: float
    end: float
    sent: int
    lost: int
    reordered: int
    duplicates: int
    resumed_at: float | None
    interruption: float | None

    @property
    def resumed(self) -> bool:
        return self.resumed_at is not None

    @property
    def resume_delay(self) -> float | None:
        return None if self.resumed_at is None else self.resumed_at - self.start

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["resume_delay"] = None if self.resume_delay is None else round(self.resume_delay, 4)
        for k in ("interruption",):
            d[k] = None if d[k] is None else round(d[k], 4)
        return d


def phase_stats(flow: Flow, events: Sequence[tuple[str, float]], end: float) -> list[PhaseStats]:
    """One :class:`PhaseStats` per event (sorted by time), the last phase ending at ``end``."""
    events = sorted(events, key=lambda e: e[1])
    by_arrival = sorted(flow.arrivals, key=lambda a: a[1])
    received = {seq for seq, _ in flow.arrivals}
    out = []
    for i, (name, start) in enumerate(events):
        stop = events[i + 1][1] if i + 1 < len(events) else end
        first, last = flow.first_seq_at(start), min(flow.first_seq_at(stop), flow.sent)
        sent = range(first, max(first, last))
        lost = sum(1 for s in sent if s not in received)
        # reordering and duplicates among the arrivals of the phase's time span, in arrival order
        highest, seen, reordered, duplicates = -1, set(), 0, 0
        for seq, t in by_arrival:
            if t >= stop:
                break
            if t >= start:
                if seq in seen:
                    duplicates += 1
                elif seq < highest:
                    reordered += 1
            seen.add(seq)
            highest = max(highest, seq)
        resumed_at = min((t for seq, t in flow.arrivals if first <= seq < last), default=None)
        interruption = None
        if resumed_at is not None:
            before = [t for _, t in by_arrival if t < start]
            times = ([before[-1]] if before else [start]) + [t for _, t in by_arrival if start <= t <= resumed_at]
            interruption = max((b - a for a, b in zip(times, times[1:])), default=0.0)
        out.append(PhaseStats(name, start, stop, len(sent), lost, reordered, duplicates, resumed_at, interruption))
    return out
