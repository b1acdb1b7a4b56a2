"""A UDP test flow with sequence numbers: ``send`` in one namespace, ``recv`` in another, the receiver's
report says what arrived, what was lost (gaps), duplicated or reordered, and when each datagram came.

Run as ``python -m harness.tester.flow send|recv ...`` inside a node's namespace (the harness starts both by
PID and stops them with SIGTERM); the report is JSON.  Payload: ``!IQd`` = magic, sequence number, send time.
"""

from __future__ import annotations

import argparse
import json
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


def _stop(signum, frame):  # noqa: ANN001
    raise KeyboardInterrupt


def send(args: argparse.Namespace) -> int:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind((args.src, 0))
    interval, seq, start = 1.0 / args.rate, 0, time.monotonic()
    signal.signal(signal.SIGTERM, _stop)
    errors = 0
    try:
        while args.count == 0 or seq < args.count:
            try:
                sock.sendto(payload(seq, args.size), (args.dst, args.port))
            except OSError:
                errors += 1  # no route for a moment: the datagram counts as sent (and lost)
            seq += 1
            delay = start + seq * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    except KeyboardInterrupt:
        pass
    if args.out:
        Path(args.out).write_text(json.dumps({"sent": seq, "send_errors": errors}))
    return 0


def recv(args: argparse.Namespace) -> int:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.bind((args.bind, args.port))
    arrivals: list[tuple[int, float, str]] = []
    signal.signal(signal.SIGTERM, _stop)
    Path(args.out + ".ready").write_text("")
    try:
        while True:
            data, peer = sock.recvfrom(65535)
            got = parse(data)
            if got is not None:
                arrivals.append((got[0], time.time(), peer[0]))
    except KeyboardInterrupt:
        pass
    report = summarise([(s, t) for s, t, _ in arrivals])
    report["arrivals"] = arrivals
    Path(args.out).write_text(json.dumps(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="harness.tester.flow", description=__doc__.splitlines()[0])
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
    args = p.parse_args(argv)
    return send(args) if args.cmd == "send" else recv(args)


if __name__ == "__main__":
    sys.exit(main())
