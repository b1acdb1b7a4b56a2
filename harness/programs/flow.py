"""A UDP test flow with sequence numbers: ``send`` in one namespace, ``recv`` in another, the receiver's
report says what arrived, what was lost (gaps), duplicated or reordered, and when each datagram came.
``ping`` is the ICMPv6 flow: numbered echo requests from one node, the replies it gets back (the far end needs
no program of ours: every IPv6 node answers echo requests).

Run as ``python -m harness.programs.flow send|recv|ping ...`` on a node (the harness starts them by PID and stops
them with SIGTERM); the report is JSON.  UDP payload: ``!IQd`` = magic, sequence number, send time; the sender's
report gives its start time, so the send time of a lost datagram is known too (``started_at + seq / rate``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import sys
import time
from pathlib import Path

MAGIC = 0x484D3646  # "HM6F"
HEADER = struct.Struct("!IQd")


def payload(seq: int, size: int) -> bytes:
    return HEADER.pack(MAGIC, seq, time.time()).ljust(size, b"\0")


def parse(data: bytes) -> tuple[int, float] | None:
    if len(data) < HEADER.size:
        return None
    magic, seq, sent = HEADER.unpack_from(data)
    return (seq, sent) if magic == MAGIC else None


def summarise(arrivals: list[tuple[int, float]], sent: int | None = None) -> dict:
    """Loss, duplicates and reordering of a list of (sequence number, arrival time)."""
    seen: set[int] = set()
    duplicates = reordered = 0
    highest = -1
    for seq, _ in arrivals:
        if seq in seen:
            duplicates += 1
            continue
        seen.add(seq)
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
    expected = sent if sent is not None else highest + 1
    missing = sorted(set(range(expected)) - seen)
    return {"received": len(seen), "expected": expected, "lost": len(missing), "missing": missing,
            "duplicates": duplicates, "reordered": reordered}


class _Stop:
    """SIGTERM (or SIGINT) sets a flag the loops poll; the handler raises nothing.  An exception raised by a
    signal handler can escape an enclosing ``try`` in CPython 3.11-3.13 when it lands on a loop's backward jump
    (python/cpython#108214, #130279): a flow stopped that way died without its report (seen in the QEMU lab's
    guest, Debian's Python 3.11)."""

    requested = False

    @classmethod
    def handler(cls, signum, frame) -> None:  # noqa: ANN001
        cls.requested = True

    @classmethod
    def install(cls) -> None:
        cls.requested = False
        signal.signal(signal.SIGTERM, cls.handler)
        signal.signal(signal.SIGINT, cls.handler)


POLL = 0.05  # seconds a blocking receive waits before looking at the stop flag


def send(args: argparse.Namespace) -> int:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind((args.src, 0))
    interval, seq, start = 1.0 / args.rate, 0, time.monotonic()
    started_at = time.time()
    _Stop.install()
    errors = 0
    while not _Stop.requested and (args.count == 0 or seq < args.count):
        delay = start + seq * interval - time.monotonic()
        if delay > 0:
            time.sleep(min(delay, POLL))
            continue
        try:
            sock.sendto(payload(seq, args.size), (args.dst, args.port))
        except OSError:
            errors += 1  # no route for a moment: the datagram counts as sent (and lost)
        seq += 1
    if args.out:
        Path(args.out).write_text(json.dumps({"sent": seq, "send_errors": errors, "started_at": started_at,
                                              "rate": args.rate}))
    return 0


def recv(args: argparse.Namespace) -> int:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.bind((args.bind, args.port))
    arrivals: list[tuple[int, float, str]] = []
    sock.settimeout(POLL)
    _Stop.install()
    Path(args.out + ".ready").write_text("")
    while not _Stop.requested:
        try:
            data, peer = sock.recvfrom(65535)
        except (TimeoutError, socket.timeout):
            continue
        got = parse(data)
        if got is not None:
            arrivals.append((got[0], time.time(), peer[0]))
    report = summarise([(s, t) for s, t, _ in arrivals])
    report["arrivals"] = arrivals
    Path(args.out).write_text(json.dumps(report))
    return 0


ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY = 128, 129
LINGER = 1.0  # seconds ``ping --count`` waits for the last replies


def ping(args: argparse.Namespace) -> int:
    """Echo requests ``--src -> --dst`` at ``--rate`` with identifier ``--ident`` and sequence numbers 0, 1, ...
    (modulo 2**16 on the wire, unwrapped in the report); the report is the receiver's (``arrivals``: sequence
    number, reply time, source) plus the sender's (``sent``, ``started_at``, ``rate``)."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.bind((args.src, 0))
    sock.settimeout(0.01)
    ident = args.ident & 0xFFFF
    interval, seq, start, started_at = 1.0 / args.rate, 0, time.monotonic(), time.time()
    arrivals: list[tuple[int, float, str]] = []
    errors = 0
    _Stop.install()
    Path(args.out + ".ready").write_text("")
    while not _Stop.requested and (args.count == 0 or seq < args.count
                                   or time.monotonic() < start + seq * interval + LINGER):
        if (args.count == 0 or seq < args.count) and time.monotonic() >= start + seq * interval:
            # type, code, checksum (the kernel fills it in for ICMPv6 raw sockets), identifier, sequence
            body = struct.pack("!BBHHH", ICMPV6_ECHO_REQUEST, 0, 0, ident, seq & 0xFFFF) + HEADER.pack(
                MAGIC, seq, time.time())
            try:
                sock.sendto(body, (args.dst, 0))
            except OSError:
                errors += 1
            seq += 1
        try:
            data, peer = sock.recvfrom(2048)
        except (TimeoutError, socket.timeout):
            continue
        if len(data) >= 8 + HEADER.size and data[0] == ICMPV6_ECHO_REPLY and \
                struct.unpack_from("!H", data, 4)[0] == ident:
            got = parse(data[8:])
            if got is not None:
                arrivals.append((got[0], time.time(), peer[0]))
    report = summarise([(s, t) for s, t, _ in arrivals], seq)
    report.update(arrivals=arrivals, sent=seq, send_errors=errors, started_at=started_at, rate=args.rate)
    Path(args.out).write_text(json.dumps(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="harness.programs.flow", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--src", required=True)
    s.add_argument("--dst", required=True)
    s.add_argument("--port", type=int, default=9000)
    s.add_argument("--rate", type=float, default=100.0, help="datagrams per second")
    s.add_argument("--count", type=int, default=0, help="0 = until SIGTERM")
    s.add_argument("--size", type=int, default=64)
    s.add_argument("--out")
    r = sub.add_parser("recv")
    r.add_argument("--bind", required=True)
    r.add_argument("--port", type=int, default=9000)
    r.add_argument("--out", required=True)
    e = sub.add_parser("ping")
    e.add_argument("--src", required=True)
    e.add_argument("--dst", required=True)
    e.add_argument("--rate", type=float, default=20.0, help="echo requests per second")
    e.add_argument("--count", type=int, default=0, help="0 = until SIGTERM")
    e.add_argument("--ident", type=int, default=os.getpid())
    e.add_argument("--out", required=True)
    args = p.parse_args(argv)
    return {"send": send, "recv": recv, "ping": ping}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
