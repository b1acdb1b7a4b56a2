"""The two helper processes of the handover benchmark: the correspondents' flow source and the mobile node's observer.

    python -m benchmarks.handover_agents send --netns NS1,NS2 --src A1,A2 --dst HOME --port P --rate PPS --out FILE
    python -m benchmarks.handover_agents observe --iface eth0 --port P --out FILE     (run inside the MN's namespace)

``send``: one UDP socket per correspondent, created inside that correspondent's namespace (so its kernel route to
the home address -- the reference CN daemon's route optimisation through its TUN device -- applies) and bound to its
address; flow *i* sends datagram *k* at ``start + (k + i/N) / rate`` (``rate`` per flow; flows staggered, so the
N flows together form one evenly spaced stream of ``N x rate`` datagrams/s, send slot ``k*N + i``).  Payload: magic,
flow id, sequence number, send time.  At SIGTERM it writes ``{"flows": [{"flow", "src", "sent"}], "started", "rate",
"stalls", "lateness_max"}``: ``stalls`` lists ``(due, late)`` of every datagram sent more than ``STALL`` seconds after its
slot (the pacing error that widens the measurement's sampling interval), ``lateness`` the max over all datagrams.

``observe`` (inside the mobile node's namespace): a UDP socket on ``[::]:P`` records every datagram's flow, sequence
number and kernel receive time; an AF_PACKET socket on the mobile node's interface records, with kernel timestamps,
the signalling it sends (Router Solicitations, Mobility Headers: BU, HoTI, CoTI, ...) and receives (Router
Advertisements, BA, HoT, CoT, ...), unwrapping IPv6-in-IPv6 tunnels; an rtnetlink socket records carrier changes of
the interface.  At SIGTERM it writes everything as JSON.  All times are ``time.time()`` seconds (CLOCK_REALTIME, the
clock of ``SO_TIMESTAMPNS``), so the benchmark can lay them against its own move times.

Bytes and struct only (PLATFORM.md: no scapy in hot paths).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import select
import signal
import socket
import struct
import sys
import time
from pathlib import Path

from reference_impl.daemon.netlink import RTM_NEWLINK, messages

MAGIC = b"HOV1"
PAYLOAD = struct.Struct("!4sHIq")  # magic, flow id, sequence number, send time (ns)
PAYLOAD_SIZE = 64
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
RTMGRP_LINK = 1
IFF_LOWER_UP = 0x10000
STALL = 0.0002  # a send later than this behind its slot is recorded (due, late)
MAX_STALLS = 50_000

# Mobility Header types (RFC 6275 §6.1) and the ICMPv6 types kept
MH_NAMES = {0: "brr", 1: "hoti", 2: "coti", 3: "hot", 4: "cot", 5: "bu", 6: "ba", 7: "be"}
ICMP_NAMES = {133: "rs", 134: "ra", 135: "ns", 136: "na", 137: "redirect", 1: "unreachable", 4: "param_problem"}
_EXT = {0, 43, 60}  # hop-by-hop, routing, destination options: (len + 1) * 8 octets


def payload(flow: int, seq: int, now: float) -> bytes:
    return PAYLOAD.pack(MAGIC, flow, seq, int(now * 1e9)).ljust(PAYLOAD_SIZE, b"\0")


def parse_payload(data: bytes) -> tuple[int, int, float] | None:
    """(flow, seq, send time) of a flow datagram, None for anything else."""
    if len(data) < PAYLOAD.size or data[:4] != MAGIC:
        return None
    _, flow, seq, sent_ns = PAYLOAD.unpack_from(data)
    return flow, seq, sent_ns / 1e9


# --- classifying captured frames ------------------------------------------------------------------------------

def classify(frame: bytes) -> tuple[str, int | None, bytes, bytes, int] | None:
    """What a captured Ethernet frame carries, looking through IPv6-in-IPv6 tunnels:
    ``(kind, seq, src, dst, depth)`` -- kind ``mh:<name>`` (seq: the BU/BA sequence number, else None),
    ``icmp:<name>``, ``esp`` or ``ah+...``; src/dst the innermost IPv6 header's addresses (16 bytes); depth the number
    of enclosing tunnels.  None for data (UDP, TCP, echo) and for what is not IPv6."""
    if len(frame) < 54 or frame[12:14] != b"\x86\xdd":
        return None
    off, depth, end = 14, 0, len(frame)
    while depth < 4:
        if off + 40 > end or frame[off] >> 4 != 6:
            return None
        src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
        nh, at = frame[off + 6], off + 40
        while nh in _EXT or nh == 44 or nh == 51:
            if at + 2 > end:
                return None
            if nh == 44:
                nh, at = frame[at], at + 8
            elif nh == 51:
                nh, at = frame[at], at + (frame[at + 1] + 2) * 4
            else:
                nh, at = frame[at], at + (frame[at + 1] + 1) * 8
        if nh == 41:
            off, depth = at, depth + 1
            continue
        if nh == 135:
            if at + 4 > end:
                return None
            mh = frame[at + 2]
            seq = None
            if mh == 5 and at + 8 <= end:
                seq = int.from_bytes(frame[at + 6:at + 8], "big")
            elif mh == 6 and at + 10 <= end:
                seq = int.from_bytes(frame[at + 8:at + 10], "big")
            return f"mh:{MH_NAMES.get(mh, str(mh))}", seq, src, dst, depth
        if nh == 58:
            if at + 1 > end:
                return None
            t = frame[at]
            if t in ICMP_NAMES:
                return f"icmp:{ICMP_NAMES[t]}", None, src, dst, depth
            return None
        if nh == 50:
            return "esp", None, src, dst, depth
        return None
    return None


def _addr(b: bytes) -> str:
    return str(ipaddress.IPv6Address(b))


def kernel_time(ancdata: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec * 1e-9
    return time.time()


def carrier_of(message: bytes, ifindex: int) -> bool | None:
    """The carrier (IFF_LOWER_UP) of ``ifindex`` in an rtnetlink RTM_NEWLINK batch, None if not about it."""
    found = None
    for kind, body in messages(message):
        if kind == RTM_NEWLINK and len(body) >= 16:
            _family, _type, index, flags, _change = struct.unpack_from("=BxHiII", body)
            if index == ifindex:
                found = bool(flags & IFF_LOWER_UP)
    return found


# --- send ------------------------------------------------------------------------------------------------------

def run_send(netns_names: list[str], sources: list[str], dst: str, port: int, rate: float, out: Path,
             rt: bool = False) -> None:
    from benchmarks.delay import realtime
    from harness import netns

    rt = realtime() if rt else False

    socks = []
    for ns, src in zip(netns_names, sources):
        s = netns.socket_in(ns, socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.setblocking(False)
        socks.append(s)
    n = len(socks)
    sent = [0] * n
    errors = [0] * n
    started = time.time() + 0.05
    stalls: list[tuple[float, float]] = []
    worst = 0.0
    # SIGTERM/SIGINT only set a flag, checked before each send: an exception raised between a successful sendto()
    # and the count's increment would leave a datagram received but not counted as sent
    stop = [False]

    def _flag(signum: int, frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, _flag)
    signal.signal(signal.SIGINT, _flag)
    print("ready", flush=True)
    k = 0
    try:
        while not stop[0]:
            for i, s in enumerate(socks):
                if stop[0]:
                    break
                due = started + (k + i / n) / rate
                wait = due - time.time()
                if wait > 0:
                    time.sleep(wait)
                late = time.time() - due
                if late > STALL and len(stalls) < MAX_STALLS:
                    stalls.append((round(due, 6), round(late, 6)))
                worst = max(worst, late)
                try:
                    s.sendto(payload(i, k, time.time()), (dst, port))
                    sent[i] += 1
                except OSError:
                    errors[i] += 1  # not sent: not counted as sent (e.g. no route for a moment)
            k += 1
    finally:
        out.write_text(json.dumps({"started": started, "rate": rate, "realtime": rt, "stall_threshold": STALL,
                                   "stalls": stalls, "lateness_max": worst, "flows": [
            {"flow": i, "src": src, "sent": sent[i], "send_errors": errors[i]} for i, src in enumerate(sources)]}))


# --- observe ---------------------------------------------------------------------------------------------------

def run_observe(iface: str, port: int, out: Path) -> None:
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    udp.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    udp.bind(("::", port))
    udp.setblocking(False)
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    cap.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    cap.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    cap.bind((iface, ETH_P_ALL))
    cap.setblocking(False)
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    nl.bind((0, RTMGRP_LINK))
    nl.setblocking(False)
    ifindex = socket.if_nametoindex(iface)
    arrivals: list[tuple[int, int, float, float]] = []  # flow, seq, received, sent
    events: list[tuple[float, str, str, int | None, str, str, int]] = []  # t, dir, kind, seq, src, dst, depth
    carrier: list[tuple[float, bool]] = []
    counts = {"frames": 0, "data_frames": 0, "foreign_udp": 0}
    # SIGTERM/SIGINT set a flag and wake select() through the wakeup fd; the handler raises nothing (an exception
    # from a signal handler can escape the enclosing try in CPython 3.11-3.13, python/cpython#108214, and the
    # observation would be lost)
    stop = [False]

    def _flag(signum: int, frame: object) -> None:
        stop[0] = True

    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    signal.signal(signal.SIGTERM, _flag)
    signal.signal(signal.SIGINT, _flag)
    print("ready", flush=True)
    try:
        while not stop[0]:
            ready, _, _ = select.select([udp, cap, nl, wake_r], [], [], 0.5)
            if wake_r in ready:
                try:
                    wake_r.recv(64)
                except BlockingIOError:
                    pass
            if nl in ready:
                while True:
                    try:
                        msg = nl.recv(65535)
                    except BlockingIOError:
                        break
                    state = carrier_of(msg, ifindex)
                    if state is not None and (not carrier or carrier[-1][1] != state):
                        carrier.append((time.time(), state))
            if udp in ready:
                for _ in range(256):
                    try:
                        data, anc, _f, _a = udp.recvmsg(2048, 64)
                    except BlockingIOError:
                        break
                    parsed = parse_payload(data)
                    if parsed is None:
                        counts["foreign_udp"] += 1
                        continue
                    arrivals.append((parsed[0], parsed[1], kernel_time(anc), parsed[2]))
            if cap in ready:
                for _ in range(256):
                    try:
                        frame, anc, _f, addr = cap.recvmsg(65535, 64)
                    except BlockingIOError:
                        break
                    counts["frames"] += 1
                    what = classify(frame)
                    if what is None:
                        counts["data_frames"] += 1
                        continue
                    kind, seq, src, dst, depth = what
                    events.append((kernel_time(anc), "out" if addr[2] == PACKET_OUTGOING else "in", kind, seq,
                                   _addr(src), _addr(dst), depth))
    finally:
        out.write_text(json.dumps({"arrivals": arrivals, "events": events, "carrier": carrier, "counts": counts}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.handover_agents", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--netns", required=True, help="comma-separated namespaces, one per flow")
    s.add_argument("--src", required=True, help="comma-separated source addresses, one per flow")
    s.add_argument("--dst", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--rate", type=float, required=True, help="datagrams per second per flow")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--realtime", action="store_true", help="SCHED_FIFO (if permitted): steady pacing on a busy host")
    o = sub.add_parser("observe")
    o.add_argument("--iface", required=True)
    o.add_argument("--port", type=int, required=True)
    o.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.cmd == "send":
        names, sources = args.netns.split(","), args.src.split(",")
        if len(names) != len(sources) or args.rate <= 0:
            p.error("--netns and --src need the same number of entries; --rate > 0")
        run_send(names, sources, args.dst, args.port, args.rate, args.out, args.realtime)
    else:
        run_observe(args.iface, args.port, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
