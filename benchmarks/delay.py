"""A userspace delay element: an AF_PACKET bridge between interface pairs with a fixed one-way delay.

    python -m benchmarks.delay --pair IF_A,IF_B,DELAY_MS [--pair ...] [--stats FILE]

The host kernel has no netem, so the handover benchmark places its delayed links with this forwarder (PLATFORM.md,
"Faults and delay").  Every frame received on one interface of a pair is sent unchanged out of the other exactly
``DELAY_MS`` after the kernel received it (``SO_TIMESTAMPNS``), in arrival order (a fixed delay keeps the order);
frames this process sent itself (``PACKET_OUTGOING``) are not forwarded again.  Bytes only: nothing is parsed.

How late each frame actually left (send time minus due time) is the element's own jitter; it is counted per pair and
written as JSON to ``--stats`` when the process ends (SIGTERM or SIGINT).  ``ready`` is printed on stdout once every
socket is bound.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from array import array
from collections import deque
from pathlib import Path
from typing import Any

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not export it
QUEUE_LIMIT = 200_000  # frames held per direction before tail drop (50 ms at 4 Mpps: never reached here)
BATCH = 64  # frames read from one socket per wake-up


class DelayLine:
    """One direction: frames released ``delay`` seconds after they arrived, first in first out."""

    def __init__(self, delay: float, limit: int = QUEUE_LIMIT) -> None:
        if delay < 0:
            raise ValueError("delay must be >= 0")
        self.delay, self.limit = delay, limit
        self.queue: deque[tuple[float, bytes]] = deque()
        self.dropped = 0

    def push(self, arrived: float, frame: bytes) -> bool:
        """Hold ``frame`` (arrived at ``arrived``); False when the queue is full (the frame is dropped)."""
        if len(self.queue) >= self.limit:
            self.dropped += 1
            return False
        self.queue.append((arrived + self.delay, frame))
        return True

    def next_due(self) -> float | None:
        return self.queue[0][0] if self.queue else None

    def pop_due(self, now: float) -> list[tuple[float, bytes]]:
        """The frames due at or before ``now`` with their due times, oldest first."""
        out = []
        q = self.queue
        while q and q[0][0] <= now:
            out.append(q.popleft())
        return out

    def __len__(self) -> int:
        return len(self.queue)


STALL = 0.005  # a frame this late (s) counts towards a stall
STALL_GAP = 0.1  # late frames closer than this (s) belong to the same stall


class Lateness:
    """Send time minus due time of every forwarded frame (seconds); frames later than :data:`STALL` are also kept
    with their (wall clock) send time, merged into stall intervals by :func:`stalls`."""

    def __init__(self) -> None:
        self.values = array("d")
        self.late_at: list[tuple[float, float]] = []  # (time.time(), lateness) of late frames (bounded)

    def add(self, late: float, at: float | None = None) -> None:
        self.values.append(late)
        if late > STALL and at is not None and len(self.late_at) < 100_000:
            self.late_at.append((at, late))

    def summary(self) -> dict[str, Any]:
        v = sorted(self.values)
        if not v:
            return {"frames": 0}

        def pct(q: float) -> float:
            return round(1e3 * v[min(len(v) - 1, int(q * len(v)))], 4)

        return {"frames": len(v), "mean_ms": round(1e3 * sum(v) / len(v), 4), "p50_ms": pct(0.5),
                "p99_ms": pct(0.99), "max_ms": round(1e3 * v[-1], 4), "min_ms": round(1e3 * v[0], 4),
                "over_1ms": len(v) - bisect.bisect_right(v, 1e-3), "over_5ms": len(v) - bisect.bisect_right(v, 5e-3)}


def stalls(late_at: list[tuple[float, float]]) -> list[list[float]]:
    """``[start, end, max lateness]`` (seconds) of runs of late frames, merged when closer than :data:`STALL_GAP`;
    a stall starts when its first frame was due (send time minus lateness)."""
    out: list[list[float]] = []
    for at, late in sorted(late_at):
        start = at - late
        if out and start <= out[-1][1] + STALL_GAP:
            out[-1][1] = max(out[-1][1], at)
            out[-1][2] = max(out[-1][2], late)
        else:
            out.append([start, at, late])
    return out


@dataclasses.dataclass
class Pair:
    a: str
    b: str
    delay_ms: float

    @classmethod
    def parse(cls, text: str) -> "Pair":
        """``IF_A,IF_B,DELAY_MS``."""
        try:
            a, b, ms = text.split(",")
            pair = cls(a.strip(), b.strip(), float(ms))
        except ValueError:
            raise ValueError(f"--pair {text!r}: expected IF_A,IF_B,DELAY_MS") from None
        if not pair.a or not pair.b or pair.a == pair.b or pair.delay_ms < 0:
            raise ValueError(f"--pair {text!r}: two different interfaces and a delay >= 0 ms")
        return pair


@dataclasses.dataclass
class Direction:
    """Frames read from ``rx`` are sent out of ``tx`` after the line's delay."""

    name: str
    rx: socket.socket
    tx: socket.socket
    line: DelayLine
    late: Lateness = dataclasses.field(default_factory=Lateness)
    read: Lateness = dataclasses.field(default_factory=Lateness)  # read time minus kernel receive time
    received: int = 0
    sent: int = 0
    send_errors: int = 0


def kernel_time(ancdata: list[tuple[int, int, bytes]]) -> float | None:
    """The ``SO_TIMESTAMPNS`` receive time in ``recvmsg`` ancillary data (seconds since the epoch)."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec * 1e-9
    return None


def packet_socket(ifname: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind((ifname, ETH_P_ALL))  # host byte order in bind (PLATFORM.md)
    s.setblocking(False)
    return s


class Stop(Exception):
    """SIGTERM or SIGINT: leave the loop and write the statistics."""


def _stop(signum: int, frame: object) -> None:
    raise Stop


def forward(directions: list[Direction], until: float | None = None) -> None:
    """The loop: read whatever arrived, send whatever is due; return at ``until`` (time.time()) or on :class:`Stop`."""
    by_fd: dict[int, list[Direction]] = {}
    for d in directions:
        by_fd.setdefault(d.rx.fileno(), []).append(d)
    rx = {d.rx.fileno(): d.rx for d in directions}
    while True:
        now = time.time()
        dues = [due for d in directions if (due := d.line.next_due()) is not None]
        if until is not None:
            dues.append(until)
        timeout = max(0.0, min(dues) - now) if dues else None
        ready, _, _ = select.select(list(rx), [], [], timeout)
        for fd in ready:
            sock = rx[fd]
            for _ in range(BATCH):
                try:
                    frame, anc, _flags, addr = sock.recvmsg(65535, 64)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                now = time.time()
                arrived = kernel_time(anc) or now
                for d in by_fd[fd]:
                    d.received += 1
                    d.read.add(now - arrived)
                    d.line.push(arrived, frame)
        now = time.time()
        for d in directions:
            for due, frame in d.line.pop_due(now):
                try:
                    d.tx.send(frame)
                    d.sent += 1
                except OSError:
                    d.send_errors += 1
                sent_at = time.time()
                d.late.add(sent_at - due, sent_at)
        if until is not None and time.time() >= until:
            return


def build(pairs: list[Pair]) -> list[Direction]:
    sockets: dict[str, socket.socket] = {}
    for p in pairs:
        for name in (p.a, p.b):
            if name not in sockets:
                sockets[name] = packet_socket(name)
    out = []
    for p in pairs:
        out.append(Direction(f"{p.a}->{p.b}", sockets[p.a], sockets[p.b], DelayLine(p.delay_ms / 1e3)))
        out.append(Direction(f"{p.b}->{p.a}", sockets[p.b], sockets[p.a], DelayLine(p.delay_ms / 1e3)))
    return out


def stats(directions: list[Direction], pairs: list[Pair]) -> dict[str, Any]:
    delays = {f"{p.a}->{p.b}": p.delay_ms for p in pairs} | {f"{p.b}->{p.a}": p.delay_ms for p in pairs}
    return {d.name: {"delay_ms": delays[d.name], "received": d.received, "sent": d.sent, "queued": len(d.line),
                     "dropped": d.line.dropped, "send_errors": d.send_errors, "lateness": d.late.summary(),
                     "read_delay": d.read.summary(), "stalls": stalls(d.late.late_at)}
            for d in directions}


def realtime(priority: int = 10) -> bool:
    """Run this process under SCHED_FIFO (a wire should not wait for the CPU behind the daemons it connects); False
    when not permitted."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return True
    except (AttributeError, OSError):
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.delay", description=__doc__.split("\n\n")[0])
    p.add_argument("--pair", action="append", required=True, help="IF_A,IF_B,DELAY_MS (repeatable)")
    p.add_argument("--stats", type=Path, help="write per-direction counters and lateness here at exit")
    p.add_argument("--realtime", action="store_true", help="SCHED_FIFO priority 10 (if permitted)")
    args = p.parse_args(argv)
    try:
        pairs = [Pair.parse(t) for t in args.pair]
    except ValueError as exc:
        p.error(str(exc))
    directions = build(pairs)
    rt = realtime() if args.realtime else False
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print("ready", flush=True)
    try:
        forward(directions)
    except Stop:
        pass
    finally:
        if args.stats:
            args.stats.write_text(json.dumps({"realtime": rt, "directions": stats(directions, pairs)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
