"""A numbered stream of UDP datagrams the tester sends on one link, and what of it arrived on another.

The payload is the one of :mod:`harness.programs.flow` (magic, sequence number, send time), so the loss accounting
is that module's :func:`~harness.programs.flow.summarise`.  Used by scenario test purposes as the "CN -> MN flow"
when the tester plays the correspondent: it sends from its own port, without a process on any node.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from scapy.packet import Raw

from harness.programs import flow
from harness.tester import packets

__all__ = ["Stream"]

PORT = 47001


class Stream:
    """Send ``Ether(dst=next_hop) / IPv6(src, dst) / UDP / payload(seq)`` on ``link`` at ``rate`` per second from a
    background thread until :meth:`stop`.  ``sent`` holds (sequence number, send time) pairs."""

    def __init__(self, tester, link: str, next_hop_mac: str, src: str, dst: str, rate: float = 50.0,
                 size: int = 64) -> None:
        self.tester, self.link, self.rate = tester, link, rate
        self._head = (packets.Ether(dst=next_hop_mac, src=tester.mac(link)) / packets.IPv6(src=src, dst=dst)
                      / packets.UDP(sport=PORT, dport=PORT))
        self.size = size
        self.sent: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream-{link}", daemon=True)

    def __enter__(self) -> "Stream":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        start, seq = time.monotonic(), 0
        while not self._stop.is_set():
            self.tester.send(self.link, self._head / Raw(flow.payload(seq, self.size)))
            self.sent.append((seq, time.time()))
            seq += 1
            self._stop.wait(max(0.0, start + seq / self.rate - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    @staticmethod
    def seq_of(frame) -> int | None:
        """The stream sequence number a captured frame carries (in any tunnel layer), else None."""
        if packets.UDP not in frame.pkt or frame.pkt[packets.UDP].dport != PORT:
            return None
        parsed = flow.parse(bytes(frame.pkt[packets.UDP].payload))
        return parsed[0] if parsed else None

    def arrivals(self, since: int, links: list[str], where: Callable[[object], bool] = lambda f: True
                 ) -> list[tuple[int, float]]:
        """(sequence number, capture time) of the stream's datagrams captured on ``links`` (not sent by the tester)
        that satisfy ``where``."""
        out = []
        for f in self.tester.frames(since, links):
            if f.outgoing:
                continue
            seq = self.seq_of(f)
            if seq is not None and where(f):
                out.append((seq, f.time))
        return out

    def summary(self, arrivals: list[tuple[int, float]], between: tuple[float, float] | None = None) -> dict:
        """Loss, duplicates and reordering of ``arrivals`` against what was sent (optionally only the datagrams
        sent between two times), plus the longest gap between consecutive arrivals (the interruption)."""
        sent = [s for s, t in self.sent if between is None or between[0] <= t <= between[1]]
        wanted = set(sent)
        got = [(s, t) for s, t in arrivals if s in wanted]
        base = min(sent) if sent else 0
        result = flow.summarise([(s - base, t) for s, t in got], len(sent))
        times = sorted(t for _, t in got)
        result["longest_gap"] = max((b - a for a, b in zip(times, times[1:])), default=None)
        return result
