"""``hmipv6ct bench dataplane``: forwarding rate through the reference MAP, kernel and userspace data planes, each
as a ratio to a baseline measured in the same run.

    hmipv6ct bench dataplane [--seconds 2] [--repeat 3] [--bindings 256] [--payload 64] [--rate 0] [--json FILE]

Topology
--------
Three namespaces of this run (named and recorded through ``harness.testbed.runstate``, so ``hmipv6ct clean``
removes them after a crash): ``cn`` (the correspondent side, ``c0``) -- ``map`` (``mc0`` towards the CN, ``ma0``
the MAP's home link, 2001:db8:4d::1/64 = MAP address and RCoA prefix) -- ``ar`` (``a0``: the access router with
every mobile node behind it; the LCoA prefix 2001:db8:4c::/64 is routed there).  Permanent neighbour entries,
no DAD, no RAs.  The CN and AR namespaces send and receive whole frames on AF_PACKET; an nftables drop keeps
their own kernels out of it.

Rows, CN->MN ("down", to the bound LCoAs) and MN->CN ("up")
----------------------------------------------------------
* ``ceiling``: the generator alone, its frames dropped by nftables at the MAP's ingress.
* ``kernel``: plain kernel IPv6 forwarding in the map namespace, no tunnel (down: to LCoA i; up: RCoA i -> CN).
* ``raw``: the minimal raw-bytes userspace forwarder (one Python process in the map namespace, blocking AF_PACKET
  recv and send, struct): down = look the RCoA up, decrement the hop limit, encapsulate (RFC 2473), set MACs,
  send; up = check the tunnel source against the binding (RFC 6275 §10.4.5), decapsulate, decrement, set MACs,
  send.  Same socket receive buffer as the daemon's.  The kernel is kept out by the same nftables drops the
  daemon's table makes.
* ``userspace``: the real daemon (``python -m reference_impl.daemon.map_main``, ``data_plane: userspace``,
  listening on ``ma0`` and ``mc0`` as the harness configures a MAP), with ``--bindings`` RCoAs registered over
  the wire first (local BUs from the AR namespace, every BA decoded and checked, the binding cache read back).
  It sends what it forwards on its own packet socket behind the next hop's Ethernet header, read from the kernel's
  route and neighbour tables (``reference_impl/daemon/nexthop.py``; the bench's neighbours are permanent), as the
  raw forwarder does with its fixed header; ``dut_counters.link_sent`` in the JSON counts those sends.
* ``seg6``: the same daemon with ``data_plane: seg6``: down = the kernel's seg6 ``encap.red`` route per binding
  (the kernel-offloaded path); up = the daemon's reverse tunnel, userspace in this data plane too (the kernel
  would not check the tunnel source against the binding).  ``seg6home``: the down row again with the daemon
  listening on its home link only (no packet socket on the CN-side interface: what that costs the kernel path).

Goals: ``seg6 down / kernel down >= 0.9``; ``userspace / raw >= 0.8`` per direction (``seg6 up`` is userspace
too and is held to the same).

Method: forwarding rate at maximum offered load, every frame checked
-------------------------------------------------------------------
A generator process sends for ``--seconds`` as fast as it can (``--rate`` offers a fixed rate instead):
``sendmmsg`` (ctypes) of 64 prebuilt frames at a time on AF_PACKET, each carrying a trial id and a sequence
number, binding ``seq % bindings`` round-robin.  A receiver process at the far end reads a TPACKET_V3 ring
(kernel timestamps) and checks *every* frame: Ethernet addresses, outer header (source = MAP, next header 41,
destination = the LCoA bound to the RCoA it was sent to), the inner packet byte for byte (hop limit 64 or 63),
the payload.  Delivered rate (``pps``) = frames that passed / (last - first arrival).  Every frame sent is
accounted for: ``ok + misrouted + corrupt + wrong_form + lost = sent``, each arriving sequence number classified
once (duplicates, frames of an earlier trial and foreign frames counted apart); the ring's own drops are reported
(``rx_ring_drops``: then a loss would be the receiver's).  The receiver runs SCHED_IDLE: it takes no CPU from
the path under test, the ring holds what it has not read yet.

Two figures per row, and every ratio both ways:

* ``pps``: as delivered.  On this 2-vCPU machine, shared with whatever else runs, it moves with the load.
* ``pps/core``: delivered packets per CPU-second of the core doing the work.  On veth the kernel forwards in
  softirq on the *sending* core, so for the ceiling and kernel rows that is the generator's CPU time (tick
  accounted, softirq included); for the userspace rows, the DUT process's.  Other load takes CPU away but does
  not change this figure much: it is the steadier one (the per-repeat ratios show it).

The kernel rows share the generator's own cost (the ceiling row), which dilutes their ratio; the report also
shows ``seg6 / kernel`` with the ceiling's cost per packet taken out (the MAP's share alone).  In the userspace
rows the generator floods the DUT from the other core and the excess is dropped at the DUT's socket: ``loss`` at
maximum offered load is expected there.  ``--repeat`` runs everything that many times (daemons restarted,
bindings re-registered); figures are medians, ratios are of the medians, per-repeat ratios in the JSON.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import os
import secrets
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, lcoa, rcoa, stop_process, write_result
from reference_impl.wire import ip6, mac

PROG = "hmipv6ct bench dataplane"

# ------------------------------------------------------------------------------------------------- addressing
CN_ADDR, MAP_CN_ADDR, MAP_ADDR, AR_ADDR = "2001:db8:dc::2", "2001:db8:dc::1", "2001:db8:4d::1", "2001:db8:4d::2"
CN_PREFIX, MAP_PREFIX, LCOA_PREFIX = "2001:db8:dc::/64", "2001:db8:4d::/64", "2001:db8:4c::/64"
SINK_DOWN, SINK_UP = "2001:db8:dc::dead", "2001:db8:4d::dead"  # the ceiling's frames, dropped at the MAP
IF_CN, IF_MAP_CN, IF_MAP, IF_AR = "c0", "mc0", "ma0", "a0"
MAC = {IF_CN: "02:dd:00:00:0c:01", IF_MAP_CN: "02:dd:00:00:0c:02", IF_MAP: "02:dd:00:00:4d:01",
       IF_AR: "02:dd:00:00:4d:02"}
SYSCTLS = [f"net.ipv6.conf.{c}.{k}=0" for c in ("all", "default")
           for k in ("accept_dad", "accept_ra", "router_solicitations", "dad_transmits")]
BENCH_TABLE = "hm6dpbench"  # the benchmark's own nftables table in the map namespace (raw forwarder, ceiling)
LIFETIME_UNITS = 1000  # BU lifetime in 4 s units: nothing expires during a run

# ------------------------------------------------------------------------------------------------- packets
ETH_P_IPV6, SOL_PACKET, SO_RCVBUFFORCE = 0x86DD, 263, 33
PACKET_RX_RING, PACKET_VERSION, PACKET_STATISTICS, PACKET_IGNORE_OUTGOING, TPACKET_V3 = 5, 10, 6, 23, 2
TP_STATUS_USER = 1
NH_NONE, NH_IPV6 = 59, 41
MAGIC = b"hm6d"
_IP6 = struct.Struct("!IHBB16s16s")
_TPACKET3 = struct.Struct("=IIIIIIHH")  # tp_next_offset, tp_sec, tp_nsec, tp_snaplen, tp_len, tp_status, tp_mac, tp_net
_BLOCK = struct.Struct("=III")  # block_status, num_pkts, offset_to_first_pkt (at offset 8 of a block)
_SEQ = struct.Struct("!Q")
BATCH = 64  # frames per sendmmsg
RING_BLOCK = 1 << 20
RING_TOV_MS = 20  # a partly filled ring block is handed to the receiver after this long
DRAIN_IDLE = 0.4  # s without a new frame after the generator stopped: the trial is over


def eth(dst_if: str, src_if: str) -> bytes:
    return mac(MAC[dst_if]) + mac(MAC[src_if]) + b"\x86\xdd"


def ip6_header(src: bytes, dst: bytes, plen: int, nh: int, hop_limit: int = 64) -> bytes:
    return _IP6.pack(6 << 28, plen, nh, hop_limit, src, dst)


@dataclass(frozen=True)
class Flow:
    """What one trial sends and what must arrive.

    ``direction``: "down" (CN -> MN) or "up" (MN -> CN).  ``sent_form``: "plain" (no tunnel), "tunnel"
    (up only: RFC 2473 from the LCoA to the MAP) or "sink" (dropped at the MAP: the generator's ceiling).
    ``out_form``: what the receiver must see, "tunnel" (down through a MAP: to the bound LCoA) or "plain"."""

    direction: str
    sent_form: str
    out_form: str
    bindings: int
    payload: int
    trial: bytes

    @property
    def to_map(self) -> bool:  # the down-direction packet is addressed to the RCoA (a MAP path), not the LCoA
        return self.out_form == "tunnel"

    def inner(self, i: int, hop_limit: int = 64) -> bytes:
        """The end-to-end packet of binding ``i`` with sequence number 0 (patched at ``token`` later)."""
        body = MAGIC + self.trial + bytes(8) + bytes(max(0, self.payload - 16))
        if self.direction == "down":
            dst = ip6(SINK_DOWN) if self.sent_form == "sink" else rcoa(i) if self.to_map else lcoa(i)
            return ip6_header(ip6(CN_ADDR), dst, len(body), NH_NONE, hop_limit) + body
        dst = ip6(SINK_UP) if self.sent_form == "sink" else ip6(CN_ADDR)
        return ip6_header(rcoa(i), dst, len(body), NH_NONE, hop_limit) + body

    def sent_frame(self, i: int) -> bytes:
        inner = self.inner(i)
        if self.direction == "down":
            return eth(IF_MAP_CN, IF_CN) + inner
        if self.sent_form == "tunnel":
            return eth(IF_MAP, IF_AR) + ip6_header(lcoa(i), ip6(MAP_ADDR), len(inner), NH_IPV6) + inner
        return eth(IF_MAP, IF_AR) + inner

    @property
    def sent_token(self) -> int:
        """Offset of the sequence number in the sent frame."""
        return 14 + (80 if self.sent_form == "tunnel" else 40) + 8

    def expected(self, i: int, hop_limit: int) -> bytes:
        """The frame that must arrive for binding ``i`` (sequence number 0)."""
        inner = self.inner(i, hop_limit)
        if self.direction == "up":
            return eth(IF_CN, IF_MAP_CN) + inner
        if self.out_form == "tunnel":
            return eth(IF_AR, IF_MAP) + ip6_header(ip6(MAP_ADDR), lcoa(i), len(inner), NH_IPV6) + inner
        return eth(IF_AR, IF_MAP) + inner

    @property
    def token(self) -> int:
        """Offset of the sequence number in the frame that must arrive."""
        return 14 + (80 if self.out_form == "tunnel" else 40) + 8

    def spec(self) -> dict[str, Any]:
        return {"direction": self.direction, "sent_form": self.sent_form, "out_form": self.out_form,
                "bindings": self.bindings, "payload": self.payload, "trial": self.trial.hex()}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Flow":
        return cls(spec["direction"], spec["sent_form"], spec["out_form"], spec["bindings"], spec["payload"],
                   bytes.fromhex(spec["trial"]))


# ------------------------------------------------------------------------------------------------- generator

class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(_IoVec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint)]


class BatchSender:
    """``sendmmsg`` of up to ``batch`` equal-length frames written into one buffer (slot k = frame k)."""

    def __init__(self, sock: socket.socket, length: int, batch: int = BATCH) -> None:
        self.fd, self.length, self.batch = sock.fileno(), length, batch
        self.buf = ctypes.create_string_buffer(length * batch)
        self.view = memoryview(self.buf).cast("B")
        self.iov = (_IoVec * batch)()
        self.msgs = (_MMsgHdr * batch)()
        base = ctypes.addressof(self.buf)
        for k in range(batch):
            self.iov[k].base, self.iov[k].len = base + k * length, length
            self.msgs[k].hdr.iov = ctypes.pointer(self.iov[k])
            self.msgs[k].hdr.iovlen = 1
        self.libc = ctypes.CDLL(None, use_errno=True)

    def send(self, count: int) -> int:
        """Send slots 0..count-1; the number the kernel took (0 when its buffers were full)."""
        n = self.libc.sendmmsg(self.fd, self.msgs, count, 0)
        if n < 0:
            err = ctypes.get_errno()
            if err in (11, 105):  # EAGAIN, ENOBUFS: nothing taken this time
                return 0
            raise OSError(err, os.strerror(err))
        return n


def packet_socket(ifname: str, rcvbuf: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
    sock.bind((ifname, ETH_P_IPV6))  # host order here (see PLATFORM.md)
    return sock


def generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Send the flow's frames for ``seconds`` (or ``max_packets``), at ``rate`` per second or as fast as possible."""
    flow = Flow.from_spec(spec["flow"])
    templates = [flow.sent_frame(i) for i in range(flow.bindings)]
    sock = packet_socket(spec["iface"])
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    length, tok, n = len(templates[0]), flow.sent_token, flow.bindings
    sender = BatchSender(sock, length)
    view, pack = sender.view, _SEQ.pack_into
    rate, limit = float(spec.get("rate") or 0), int(spec.get("max_packets") or 1 << 62)
    clock = time.perf_counter
    cpu0 = time.process_time()
    seq, stalls = 0, 0
    start = clock()
    deadline = start + float(spec["seconds"])
    while seq < limit:
        now = clock()
        if now >= deadline:
            break
        count = min(BATCH, limit - seq)
        if rate:
            due = int((now - start) * rate) + 1 - seq  # frames owed by now
            if due <= 0:
                time.sleep(min(0.001, -due / rate + 1e-5))
                continue
            count = min(count, due)
        for k in range(count):
            at = k * length
            view[at:at + length] = templates[(seq + k) % n]
            pack(sender.buf, at + tok, seq + k)
        taken = sender.send(count)
        if taken < count:
            stalls += 1
            if taken == 0:
                time.sleep(0.0002)
        seq += taken
    elapsed = clock() - start
    cpu = time.process_time() - cpu0  # user + system, including the softirq work done on the way out
    return {"sent": seq, "elapsed": elapsed, "sent_per_s": seq / elapsed if elapsed else 0.0, "gen_cpu_s": cpu,
            "gen_cpu_pct": 100 * cpu / elapsed if elapsed else 0.0, "stalls": stalls}


# ------------------------------------------------------------------------------------------------- receiver

class Checker:
    """Classifies every frame that arrives against the flow; keeps the accounting."""

    def __init__(self, flow: Flow) -> None:
        self.flow, self.tok = flow, flow.token
        n = flow.bindings
        self.expected = [flow.expected(i, 63) for i in range(n)]
        self.length = len(self.expected[0])
        tunnel = flow.out_form == "tunnel"
        # byte ranges that must be identical; the hop limits are checked apart; the outer header's
        # version/traffic class/flow label (14:18) and hop limit (21) are the tunnel entry point's choice
        self.ranges = ((0, 14), (18, 21), (22, 61), (62, self.tok)) if tunnel else ((0, 21), (22, self.tok))
        self.hop_at = 61 if tunnel else 21
        self.other_tok = 14 + (40 if tunnel else 80) + 8  # the sequence number's offset in the other form
        self.seen = bytearray(1 << 20)
        self.reached = bytearray(n)
        self.counts = {"ok": 0, "misrouted": 0, "corrupt": 0, "wrong_form": 0, "duplicate": 0, "stale": 0,
                       "foreign": 0}
        self.hop_limits: dict[int, int] = {}
        self.first = self.last = None
        self.max_seq = -1

    def check(self, frame: bytes, ts: float) -> None:
        tok, counts = self.tok, self.counts
        wrong_form = False
        if frame[tok - 8:tok - 4] != MAGIC:
            tok = self.other_tok
            if frame[tok - 8:tok - 4] != MAGIC:
                counts["foreign"] += 1
                return
            wrong_form = True  # e.g. still tunnelled, or not tunnelled at all
        if frame[tok - 4:tok] != self.flow.trial:
            counts["stale"] += 1
            return
        seq = _SEQ.unpack_from(frame, tok)[0]
        if seq >= len(self.seen):
            self.seen.extend(bytes(max(seq + 1 - len(self.seen), len(self.seen))))
        if self.seen[seq]:
            counts["duplicate"] += 1
            return
        self.seen[seq] = 1
        if seq > self.max_seq:
            self.max_seq = seq
        if wrong_form:
            counts["wrong_form"] += 1
            return
        i = seq % self.flow.bindings
        want = self.expected[i]
        hop = frame[self.hop_at]
        good = len(frame) == self.length and hop in (63, 64) and frame[tok + 8:] == want[tok + 8:]
        if good:
            for a, b in self.ranges:
                if frame[a:b] != want[a:b]:
                    good = False
                    break
        if not good:
            counts["misrouted" if frame[38:54] != want[38:54] else "corrupt"] += 1
            return
        counts["ok"] += 1
        self.reached[i] = 1
        self.hop_limits[hop] = self.hop_limits.get(hop, 0) + 1
        if self.first is None:
            self.first = ts
        self.last = ts

    def result(self) -> dict[str, Any]:
        span = (self.last - self.first) if self.first is not None else 0.0
        ok = self.counts["ok"]
        # frames whose sequence number arrived at least once (each counted once: ok, misrouted, corrupt, wrong_form)
        return {**self.counts, "arrived": sum(self.seen), "max_seq": self.max_seq, "span": span,
                "recv_per_s": (ok - 1) / span if span > 0 and ok > 1 else 0.0,
                "bindings_reached": sum(self.reached), "hop_limits": {str(k): v for k, v in self.hop_limits.items()}}


def open_ring(ifname: str, ring_mb: int) -> tuple[socket.socket, mmap.mmap, int]:
    """A TPACKET_V3 receive ring of ``ring_mb`` MiB on ``ifname``; (socket, mapping, number of blocks)."""
    blocks = max(4, ring_mb * (1 << 20) // RING_BLOCK)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
    sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
    frame_size = 2048
    sock.setsockopt(SOL_PACKET, PACKET_RX_RING, struct.pack("=7I", RING_BLOCK, blocks, frame_size,
                                                              blocks * RING_BLOCK // frame_size, RING_TOV_MS, 0, 0))
    ring = mmap.mmap(sock.fileno(), blocks * RING_BLOCK, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    sock.bind((ifname, ETH_P_IPV6))
    return sock, ring, blocks


def receive(spec: dict[str, Any]) -> dict[str, Any]:
    """Check every frame on ``iface`` until told ``stop`` (stdin) and then idle for DRAIN_IDLE seconds."""
    flow = Flow.from_spec(spec["flow"])
    checker = Checker(flow)
    sock, ring, blocks = open_ring(spec["iface"], int(spec["ring_mb"]))
    try:  # take no CPU from the path under test
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        os.nice(19)
    print("ready", flush=True)
    stdin = sys.stdin.fileno()
    block, stopping, idle_since = 0, False, time.monotonic()
    check, unpack_hdr, unpack_block = checker.check, _TPACKET3.unpack_from, _BLOCK.unpack_from
    while True:
        base = block * RING_BLOCK
        status, num, first = unpack_block(ring, base + 8)
        if status & TP_STATUS_USER:
            at = base + first
            for _ in range(num):
                nxt, sec, nsec, snap, _len, _st, mac_at, _net = unpack_hdr(ring, at)
                check(ring[at + mac_at:at + mac_at + snap], sec + nsec * 1e-9)
                at += nxt
            struct.pack_into("=I", ring, base + 8, 0)  # hand the block back to the kernel
            block = (block + 1) % blocks
            idle_since = time.monotonic()
            continue
        if stopping and time.monotonic() - idle_since > DRAIN_IDLE:
            break
        ready, _, _ = select.select([stdin], [], [], 0.01)
        if ready and not stopping:
            os.read(stdin, 64)
            stopping, idle_since = True, time.monotonic()
    stats = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)
    packets, drops, _freeze = struct.unpack("=III", stats)
    sock.close()
    return {**checker.result(), "rx_ring_packets": packets, "rx_ring_drops": drops}


# ------------------------------------------------------------------------------------------------- raw forwarder

def raw_forward(spec: dict[str, Any]) -> None:
    """Baseline: the minimal userspace forwarder for one direction, until SIGTERM (then prints its count)."""
    n, direction = int(spec["bindings"]), spec["direction"]
    bound = {rcoa(i): lcoa(i) for i in range(n)}
    rx_if, tx_if = (IF_MAP_CN, IF_MAP) if direction == "down" else (IF_MAP, IF_MAP_CN)
    rx, tx = packet_socket(rx_if, int(spec.get("rcvbuf") or 0)), packet_socket(tx_if)
    out = eth(IF_AR, IF_MAP) if direction == "down" else eth(IF_CN, IF_MAP_CN)
    own = ip6(MAP_ADDR)
    header, send, get, recv = struct.Struct("!IHBB16s16s").pack, tx.send, bound.get, rx.recv

    class Stop(Exception):
        pass

    def stop(signum: int, frame: object) -> None:
        raise Stop

    signal.signal(signal.SIGTERM, stop)  # a blocking recv, no timeout: nothing but the forwarding per packet
    print("ready", flush=True)
    forwarded = 0
    try:
        if direction == "down":
            while True:
                f = recv(4096)
                dst = get(f[38:54])
                if dst is None or f[21] <= 1:
                    continue
                send(out + header(0x60000000, len(f) - 14, NH_IPV6, 64, own, dst) + f[14:21] + bytes((f[21] - 1,))
                     + f[22:])
                forwarded += 1
        else:
            while True:
                f = recv(4096)
                if f[20] != NH_IPV6 or f[38:54] != own or len(f) < 94 or get(f[62:78]) != f[22:38] or f[61] <= 1:
                    continue
                send(out + f[54:61] + bytes((f[61] - 1,)) + f[62:])
                forwarded += 1
    except Stop:
        pass
    print(json.dumps({"forwarded": forwarded}), flush=True)


# ------------------------------------------------------------------------------------------------- registration

def register(spec: dict[str, Any]) -> dict[str, Any]:
    """Local BUs (A, M) from LCoA i for RCoA i to the MAP, from the AR namespace; every BA decoded and checked."""
    from reference_impl.wire import (
        BU_A, BU_M, BindingAcknowledgement, BindingUpdate, DecodeError, Packet, decode_frame, encode_packet,
    )
    n, window = int(spec["bindings"]), 32
    sock = packet_socket(IF_AR, 1 << 22)
    sock.settimeout(0.05)
    head = eth(IF_MAP, IF_AR)
    pending = {rcoa(i): i for i in range(n)}
    statuses: dict[str, int] = {}
    accepted, sent, rounds = 0, 0, 0
    start = time.monotonic()
    while pending and rounds < 4:
        rounds += 1
        todo, inflight = list(pending), {}
        while todo or inflight:
            while todo and len(inflight) < window:
                r = todo.pop()
                i = pending[r]
                bu = Packet(lcoa(i), ip6(MAP_ADDR), BindingUpdate(rounds, BU_A | BU_M, LIFETIME_UNITS), home_address=r)
                sock.send(head + encode_packet(bu))
                inflight[r], sent = time.monotonic(), sent + 1
            try:
                frame = sock.recv(4096)
            except TimeoutError:
                frame = b""
            if len(frame) > 54 and frame[20] == 43:
                try:
                    packet = decode_frame(frame).packet
                except DecodeError:
                    packet = None
                if packet is not None and isinstance(packet.payload, BindingAcknowledgement) \
                        and packet.rh2_address in inflight:
                    r = packet.rh2_address
                    del inflight[r]
                    status = packet.payload.status
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
                    if status < 128 and packet.dst == lcoa(pending[r]):
                        accepted += 1
                        del pending[r]
            now = time.monotonic()
            for r in [r for r, t in inflight.items() if now - t > 2.0]:
                del inflight[r]  # retried next round
    return {"accepted": accepted, "bus_sent": sent, "statuses": statuses, "elapsed": time.monotonic() - start}


# ------------------------------------------------------------------------------------------------- topology

def _run(cmd: list[str], stdin: str | None = None) -> None:
    proc = subprocess.run(cmd, input=stdin, text=True, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def build(ns_cn: str, ns_map: str, ns_ar: str) -> None:
    """Three namespaces, two veth pairs, static neighbours and routes, drops for the test traffic at both ends."""
    _run(["ip", "-batch", "-"], f"netns add {ns_cn}\nnetns add {ns_map}\nnetns add {ns_ar}\n")
    for ns in (ns_cn, ns_map, ns_ar):
        _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *SYSCTLS])
    _run(["ip", "netns", "exec", ns_map, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"])
    _run(["ip", "-n", ns_map, "-batch", "-"], f"""link set lo up
link add {IF_MAP_CN} address {MAC[IF_MAP_CN]} type veth peer name {IF_CN} address {MAC[IF_CN]} netns {ns_cn}
link add {IF_MAP} address {MAC[IF_MAP]} type veth peer name {IF_AR} address {MAC[IF_AR]} netns {ns_ar}
link set {IF_MAP_CN} up
link set {IF_MAP} up
address add {MAP_CN_ADDR}/64 dev {IF_MAP_CN} nodad
address add {MAP_ADDR}/64 dev {IF_MAP} nodad
route add {LCOA_PREFIX} via {AR_ADDR} dev {IF_MAP}
neigh replace {AR_ADDR} lladdr {MAC[IF_AR]} dev {IF_MAP} nud permanent
neigh replace {CN_ADDR} lladdr {MAC[IF_CN]} dev {IF_MAP_CN} nud permanent
""")
    _run(["ip", "-n", ns_cn, "-batch", "-"], f"link set lo up\nlink set {IF_CN} up\n"
                                             f"address add {CN_ADDR}/64 dev {IF_CN} nodad\n")
    _run(["ip", "-n", ns_ar, "-batch", "-"], f"link set lo up\nlink set {IF_AR} up\n"
                                             f"address add {AR_ADDR}/64 dev {IF_AR} nodad\n")
    # the test frames (and BAs) are the AF_PACKET workers', never these kernels'
    for ns, rule in ((ns_cn, f"ip6 nexthdr {NH_NONE} drop"), (ns_ar, f"ip6 daddr {LCOA_PREFIX} drop")):
        _run(["ip", "netns", "exec", ns, "nft", "-f", "-"], "table ip6 hm6bench {\n  chain prerouting {\n"
             f"    type filter hook prerouting priority raw; policy accept;\n    {rule}\n  }}\n}}\n")


def bench_table(ns_map: str, bindings: int, present: bool) -> None:
    """In the map namespace, what the daemon's own table does for the raw forwarder (RCoAs and protocol 41 to
    the MAP: not the kernel's) and the ceiling's sinks; removed for the kernel rows and the daemon's."""
    subprocess.run(["ip", "netns", "exec", ns_map, "nft", "delete", "table", "ip6", BENCH_TABLE],
                   capture_output=True)
    if not present:
        return
    elements = ", ".join(socket.inet_ntop(socket.AF_INET6, rcoa(i)) for i in range(bindings))
    _run(["ip", "netns", "exec", ns_map, "nft", "-f", "-"], f"""table ip6 {BENCH_TABLE} {{
  set intercept {{
    type ipv6_addr
    elements = {{ {elements} }}
  }}
  chain prerouting {{
    type filter hook prerouting priority raw; policy accept;
    ip6 daddr {MAP_ADDR} meta l4proto {{ 41, 135, 50, 51 }} drop
    ip6 daddr @intercept drop
    ip6 daddr {{ {SINK_DOWN}, {SINK_UP} }} drop
  }}
}}
""")


# ------------------------------------------------------------------------------------------------- orchestration

def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` (schedstat) plus its waited-for children's (the daemon's ``ip``/``nft`` runs)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            own = int(f.read().split()[0]) / 1e9
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return own + (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def _progress(text: str) -> None:
    print(f"[bench dataplane] {text}", file=sys.stderr, flush=True)


@dataclass
class Bench:
    """One run: namespaces, the processes started in them, and their teardown."""

    args: argparse.Namespace
    state: Any = None
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        from harness.testbed import runstate
        self.runstate = runstate
        self.state = runstate.RunState.create("benchmarks/bench_dataplane")

    def ns(self, node: str) -> str:
        return self.state.netns_name(node)

    def build(self) -> None:
        names = [self.ns("cn"), self.ns("map"), self.ns("ar")]
        self.state.will_create_namespaces(names)
        build(*names)

    def spawn(self, node: str, argv: list[str], what: str, stdout: Any = subprocess.PIPE,
              stdin: Any = subprocess.DEVNULL) -> subprocess.Popen[str]:
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(node), sys.executable, *argv], cwd=ROOT, text=True,
                                stdin=stdin, stdout=stdout,
                                stderr=subprocess.PIPE if stdout is subprocess.PIPE else stdout,
                                start_new_session=True)
        self.procs.append(proc)
        self.state.started(proc.pid, what)
        return proc

    def worker(self, node: str, spec: dict[str, Any], what: str, stdin: Any = subprocess.DEVNULL
               ) -> subprocess.Popen[str]:
        return self.spawn(node, ["-m", "benchmarks.bench_dataplane", "--worker", json.dumps(spec)], what,
                          stdin=stdin)

    def stop(self, proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
        stop_process(proc, sig)
        if proc in self.procs:
            self.procs.remove(proc)

    def teardown(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)
        s = self.state
        self.runstate.destroy(s.prefix, s.namespaces, s.processes, s.workdir)

    @staticmethod
    def _ready(proc: subprocess.Popen[str], what: str) -> None:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        if line != "ready":
            err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
            raise RuntimeError(f"{what} did not start: {line} {err.strip()[-2000:]}")

    def _finish(self, proc: subprocess.Popen[str], what: str, timeout: float) -> dict[str, Any]:
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            self.stop(proc)
        if proc.returncode != 0:
            raise RuntimeError(f"{what} failed (rc {proc.returncode}): {err.strip()[-2000:]}")
        return json.loads(out.strip().splitlines()[-1])

    # -- one trial -------------------------------------------------------------------------------------
    def trial(self, direction: str, sent_form: str, out_form: str, dut: subprocess.Popen[str] | None = None,
              control_sock: str | None = None) -> dict[str, Any]:
        """Send one flow for ``--seconds`` and account for every frame at the receiver."""
        a = self.args
        flow = Flow(direction, sent_form, out_form, a.bindings, a.payload, secrets.token_bytes(4))
        tx_node, tx_if, rx_node, rx_if = (("cn", IF_CN, "ar", IF_AR) if direction == "down"
                                          else ("ar", IF_AR, "cn", IF_CN))
        receiver = None
        if sent_form != "sink":
            receiver = self.worker(rx_node, {"role": "receive", "iface": rx_if, "flow": flow.spec(),
                                             "ring_mb": a.ring_mb}, "receiver", stdin=subprocess.PIPE)
            self._ready(receiver, "receiver")
        before = self._dut_counters(control_sock)
        cpu_before = cpu_seconds(dut.pid) if dut else 0.0
        gen = self.worker(tx_node, {"role": "generate", "iface": tx_if, "flow": flow.spec(), "seconds": a.seconds,
                                    "rate": a.rate, "max_packets": a.max_packets}, "generator")
        result = self._finish(gen, "generator", a.seconds + 30)
        if receiver is not None:
            assert receiver.stdin is not None
            receiver.stdin.write("stop\n")
            receiver.stdin.flush()
            result.update(self._finish(receiver, "receiver", 60))
            result["lost"] = result["sent"] - result["arrived"]
            # every sequence number that arrived was sent, and each was classified exactly once
            result["accounted"] = (result["max_seq"] < result["sent"] and result["lost"] >= 0
                                   and result["arrived"] == sum(result[k] for k in ACCOUNT if k != "lost"))
        if dut is not None:
            result["dut_cpu_s"] = cpu_seconds(dut.pid) - cpu_before
        after = self._dut_counters(control_sock)
        if before is not None and after is not None:
            result["dut_counters"] = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        return result

    @staticmethod
    def _dut_counters(control_sock: str | None) -> dict[str, int] | None:
        if control_sock is None:
            return None
        from reference_impl.daemon import control
        show = control.request(control_sock, {"cmd": "show"}, timeout=10.0)
        return {**show.get("counters", {}), **show.get("dataplane_counters", {})}

    # -- DUTs ------------------------------------------------------------------------------------------
    def start_raw(self, direction: str) -> subprocess.Popen[str]:
        from reference_impl.daemon.linkio import RCVBUF  # the same receive buffer as the daemon's sockets
        proc = self.worker("map", {"role": "raw_forward", "direction": direction, "bindings": self.args.bindings,
                                   "rcvbuf": RCVBUF}, f"raw forwarder {direction}")
        self._ready(proc, "raw forwarder")
        return proc

    def start_daemon(self, plane: str, listen: tuple[str, ...] = (IF_MAP, IF_MAP_CN)
                     ) -> tuple[subprocess.Popen[str], str]:
        """The real MAP daemon with ``data_plane: plane``, listening on ``listen`` (by default on both of its
        interfaces, as the harness configures it)."""
        import yaml
        from reference_impl.daemon import control
        wd = self.state.workdir
        name = f"{plane}-{'-'.join(listen)}"
        sock, log = str(wd / f"map-{name}.sock"), str(wd / f"map-{name}.log")
        config = {"role": "map", "edition": "rfc4140", "control_socket": sock, "log_file": log,
                  "map": {"address": MAP_ADDR, "home_iface": IF_MAP, "listen": list(listen),
                          "prefix_length": 64, "onlink_prefixes": [LCOA_PREFIX], "max_bindings": 10**6,
                          "dad": "off", "data_plane": plane}}
        path = wd / f"map-{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd = ["-m", "reference_impl.daemon.map_main", "--config", str(path)]
        if self.args.profile:
            cmd = ["-m", "cProfile", "-o", f"{Path(self.args.profile).resolve()}.{name}.prof", *cmd]
        with open(wd / f"map-{name}.err", "w") as err:
            proc = self.spawn("map", cmd, f"hmipv6-map {name}", stdout=err)
        deadline = time.monotonic() + 15.0
        while True:
            try:
                if control.request(sock, {"cmd": "show"}, timeout=1.0).get("ok"):
                    return proc, sock
            except (OSError, ValueError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hmipv6-map did not start: {(wd / f'map-{name}.err').read_text()[-2000:]}")
            time.sleep(0.05)

    def register(self) -> dict[str, Any]:
        proc = self.worker("ar", {"role": "register", "bindings": self.args.bindings}, "registration")
        return self._finish(proc, "registration", 120)


# the measured rows: key -> (direction, sent form, out form, DUT)
ROWS: dict[str, tuple[str, str, str, str]] = {
    "ceiling_down": ("down", "sink", "plain", "none"),
    "kernel_down": ("down", "plain", "plain", "none"),
    "raw_down": ("down", "plain", "tunnel", "raw"),
    "userspace_down": ("down", "plain", "tunnel", "userspace"),
    "seg6_down": ("down", "plain", "tunnel", "seg6"),
    "seg6home_down": ("down", "plain", "tunnel", "seg6home"),
    "ceiling_up": ("up", "sink", "plain", "none"),
    "kernel_up": ("up", "plain", "plain", "none"),
    "raw_up": ("up", "tunnel", "plain", "raw"),
    "userspace_up": ("up", "tunnel", "plain", "userspace"),
    "seg6_up": ("up", "tunnel", "plain", "seg6"),
}
LABELS = {
    "ceiling_down": "generator ceiling, CN side (dropped at MAP)",
    "kernel_down": "plain kernel forwarding CN->MN",
    "raw_down": "minimal raw forwarder CN->MN (encap)",
    "userspace_down": "MAP userspace CN->MN",
    "seg6_down": "MAP seg6 encap.red (kernel) CN->MN",
    "seg6home_down": "  same, daemon on its home link only",
    "ceiling_up": "generator ceiling, AR side (dropped at MAP)",
    "kernel_up": "plain kernel forwarding MN->CN",
    "raw_up": "minimal raw forwarder MN->CN (decap)",
    "userspace_up": "MAP userspace MN->CN",
    "seg6_up": "MAP seg6 daemon MN->CN (userspace rev.)",
}
# forwarded by a userspace process (the seg6 daemon's reverse tunnel included); the rest by the kernel
USERSPACE_ROWS = frozenset({"raw_down", "raw_up", "userspace_down", "userspace_up", "seg6_up"})
# ratio rows: path -> (baseline, goal)
RATIOS: dict[str, tuple[str, float]] = {
    "seg6_down": ("kernel_down", 0.9),
    "seg6home_down": ("kernel_down", 0.9),
    "userspace_down": ("raw_down", 0.8),
    "userspace_up": ("raw_up", 0.8),
    "seg6_up": ("raw_up", 0.8),
}


def one_repeat(bench: Bench, rep: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every row once; and the daemons' registration results."""
    a = bench.args
    ns_map = bench.ns("map")
    rows: dict[str, Any] = {}
    setup: dict[str, Any] = {}

    def run(key: str, **kw: Any) -> None:
        direction, sent_form, out_form, _ = ROWS[key]
        _progress(f"repeat {rep + 1}/{a.repeat}: {key}")
        rows[key] = bench.trial(direction, sent_form, out_form, **kw)

    bench_table(ns_map, a.bindings, True)
    run("ceiling_down")
    run("ceiling_up")
    for direction in ("down", "up"):
        fwd = bench.start_raw(direction)
        run(f"raw_{direction}", dut=fwd)
        bench.stop(fwd)
    bench_table(ns_map, a.bindings, False)
    run("kernel_down")
    run("kernel_up")
    for plane in ("userspace", "seg6"):
        daemon, sock = bench.start_daemon(plane)
        _progress(f"repeat {rep + 1}/{a.repeat}: registering {a.bindings} bindings ({plane})")
        reg = bench.register()
        from reference_impl.daemon import control
        show = control.request(sock, {"cmd": "show"}, timeout=10.0)
        reg["daemon_bindings"] = len(show["state"]["bindings"])
        setup[plane] = reg
        if reg["accepted"] != a.bindings:
            raise RuntimeError(f"{plane}: only {reg['accepted']}/{a.bindings} bindings accepted: {reg}")
        for direction in ("down", "up"):
            run(f"{plane}_{direction}", dut=daemon, control_sock=sock)
        bench.stop(daemon, signal.SIGINT if a.profile else signal.SIGTERM)
    # the kernel path once more, the daemon listening on its home link only: no packet socket on the CN side
    daemon, sock = bench.start_daemon("seg6", listen=(IF_MAP,))
    reg = bench.register()
    if reg["accepted"] != a.bindings:
        raise RuntimeError(f"seg6 (home link only): only {reg['accepted']}/{a.bindings} bindings accepted: {reg}")
    run("seg6home_down", dut=daemon, control_sock=sock)
    bench.stop(daemon, signal.SIGINT if a.profile else signal.SIGTERM)
    return rows, setup


def measure_all(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args)
    repeats: list[dict[str, Any]] = []
    setups: list[dict[str, Any]] = []
    try:
        _progress(f"namespaces {bench.ns('cn')}, {bench.ns('map')}, {bench.ns('ar')}")
        bench.build()
        for rep in range(args.repeat):
            rows, setup = one_repeat(bench, rep)
            repeats.append(rows)
            setups.append(setup)
    finally:
        handlers = [signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)]  # finish teardown
        bench.teardown()
        for sig, handler in zip((signal.SIGINT, signal.SIGTERM), handlers):
            signal.signal(sig, handler)
    return {"prefix": bench.state.prefix, "repeats": repeats, "registration": setups}


# ------------------------------------------------------------------------------------------------- report

ACCOUNT = ("ok", "misrouted", "corrupt", "wrong_form", "lost")


def per_core(key: str, run: dict[str, Any]) -> float | None:
    """Packets per CPU-second of the core doing the work: the generator's for the ceiling and the kernel rows
    (on veth the whole path runs in softirq on the sending core), the DUT process's for the userspace rows."""
    done = run["sent"] if ROWS[key][1] == "sink" else run["ok"]
    cpu = run.get("dut_cpu_s") if key in USERSPACE_ROWS else run["gen_cpu_s"]
    return done / cpu if cpu and done else None


def _median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def summarise(args: argparse.Namespace, raw: dict[str, Any]) -> dict[str, Any]:
    """Medians per row, both kinds of ratio with their goals, accounting checks."""
    reps = raw["repeats"]
    rows: dict[str, Any] = {}
    for key in ROWS:
        runs = [r[key] for r in reps]
        rate_key = "sent_per_s" if ROWS[key][1] == "sink" else "recv_per_s"
        row: dict[str, Any] = {"label": LABELS[key], "direction": ROWS[key][0], "dut": ROWS[key][3],
                               "pps": statistics.median(r[rate_key] for r in runs),
                               "pps_each": [r[rate_key] for r in runs],
                               "per_core_each": [per_core(key, r) for r in runs],
                               "offered_pps": statistics.median(r["sent_per_s"] for r in runs),
                               "gen_cpu_pct": statistics.median(r["gen_cpu_pct"] for r in runs)}
        row["per_core"] = _median(row["per_core_each"])
        if ROWS[key][1] != "sink":
            for k in (*ACCOUNT, "sent", "duplicate", "stale", "foreign", "rx_ring_drops"):
                row[k] = sum(r[k] for r in runs)
            row["accounted"] = all(r["accounted"] for r in runs)
            row["bindings_reached"] = min(r["bindings_reached"] for r in runs)
            row["hop_limits"] = {h: sum(r["hop_limits"].get(h, 0) for r in runs) for h in ("63", "64")}
            row["loss_pct"] = 100 * row["lost"] / row["sent"] if row["sent"] else 0.0
        cpu = [r["dut_cpu_s"] / r["ok"] * 1e6 for r in runs if r.get("dut_cpu_s") is not None and r.get("ok")]
        if cpu:
            row["dut_cpu_us_per_pkt"] = statistics.median(cpu)
        if runs[0].get("dut_counters") is not None:
            totals: dict[str, int] = {}
            for r in runs:
                for k, v in r["dut_counters"].items():
                    totals[k] = totals.get(k, 0) + v
            row["dut_counters"] = totals
        rows[key] = row
    for key, row in rows.items():
        ceiling = rows[f"ceiling_{row['direction']}"]["pps"]
        row["ratio_to_ceiling"] = row["pps"] / ceiling if ceiling else 0.0
    ratios = {}
    for key, (base, goal) in RATIOS.items():
        path, ref = rows[key], rows[base]
        by_rate = path["pps"] / ref["pps"] if ref["pps"] else 0.0
        by_cpu = path["per_core"] / ref["per_core"] if path["per_core"] and ref["per_core"] else None
        ratios[key] = {"baseline": base, "goal": goal, "by_rate": by_rate, "by_cpu": by_cpu,
                       "by_rate_each": [p / b if b else None for p, b in zip(path["pps_each"], ref["pps_each"])],
                       "by_cpu_each": [p / b if p and b else None
                                       for p, b in zip(path["per_core_each"], ref["per_core_each"])],
                       "met_by_rate": by_rate >= goal, "met_by_cpu": by_cpu is not None and by_cpu >= goal}
    # the MAP's share alone: the ceiling's cost per packet (generation, CN egress, MAP ingress) taken out
    for key in ("seg6_down", "seg6home_down"):
        ceiling, plain, path = (rows[k]["per_core"] for k in ("ceiling_down", "kernel_down", key))
        if ceiling and plain and path:
            plain_cost, path_cost = 1 / plain - 1 / ceiling, 1 / path - 1 / ceiling
            if plain_cost > 0 and path_cost > 0:
                ratios[key]["beyond_ceiling_by_cpu"] = plain_cost / path_cost
                ratios[key]["extra_ns_per_pkt"] = 1e9 * (path_cost - plain_cost)
    return {"rows": rows, "ratios": ratios}


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report(args: argparse.Namespace, raw: dict[str, Any], summary: dict[str, Any]) -> None:
    import platform
    rows, ratios = summary["rows"], summary["ratios"]
    print(f"MAP data plane benchmark, run {raw['prefix']}: {os.cpu_count()} CPUs, loadavg "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}, Python {platform.python_version()}, "
          f"kernel {platform.release()}")
    print(f"--seconds {args.seconds:g} --repeat {args.repeat} --bindings {args.bindings} --payload {args.payload} "
          f"--rate {args.rate:g} ({'maximum offered load' if not args.rate else 'fixed offered rate'}); "
          f"medians over the repeats")
    print()
    print(f"{'path':<44}{'pps':>10}{'pps/core':>10}{'offered':>10}{'loss%':>7}{'gen CPU':>8}{'DUT us':>8}"
          f"  accounting (all repeats)")
    for key, row in rows.items():
        acct = "-"
        if "ok" in row:
            bad = {k: row[k] for k in ("misrouted", "corrupt", "wrong_form", "duplicate", "rx_ring_drops") if row[k]}
            acct = (f"ok {row['ok']} + lost {row['lost']} = sent {row['sent']}"
                    + ("" if row["accounted"] else " (MISMATCH)") + (f" {bad}" if bad else ""))
        print(f"{row['label']:<44}{row['pps']:>10,.0f}{_fmt(row['per_core'], ',.0f'):>10}{row['offered_pps']:>10,.0f}"
              f"{row.get('loss_pct', 0.0):>7.1f}{row['gen_cpu_pct']:>7.0f}%{_fmt(row.get('dut_cpu_us_per_pkt'), '.2f'):>8}"
              f"  {acct}")
    print()
    print(f"{'ratio (goal)':<40}{'by rate':>9}{'by CPU':>9}  per repeat (rate | CPU)")
    for key, r in ratios.items():
        name = f"{key} / {r['baseline']} (>= {r['goal']:g})"
        each = " ".join(_fmt(x, ".2f") for x in r["by_rate_each"]) + " | " + \
            " ".join(_fmt(x, ".2f") for x in r["by_cpu_each"])
        verdict = "met" if r["met_by_rate"] and r["met_by_cpu"] else "MISSED" \
            if not r["met_by_rate"] and not r["met_by_cpu"] else "met by " + ("rate" if r["met_by_rate"] else "CPU")
        print(f"{name:<40}{r['by_rate']:>9.3f}{_fmt(r['by_cpu'], '.3f'):>9}  {each}  {verdict}")
    for key in ("seg6_down", "seg6home_down"):
        extra = ratios[key]
        if "beyond_ceiling_by_cpu" in extra:
            print(f"  {key} / kernel_down by CPU without the generator's own cost (the ceiling's): "
                  f"{extra['beyond_ceiling_by_cpu']:.3f} ({extra['extra_ns_per_pkt']:.0f} ns more per packet)")
    print()
    print("pps: frames that arrived intact at the right address per second (receiver's kernel timestamps); ceiling "
          "rows: frames sent per second.  pps/core: the same per CPU-second of the core doing the work (kernel and "
          "ceiling rows: the sending core, where veth runs the whole path; userspace rows: the DUT process), "
          "which other load on the machine does not dilute.  DUT us: CPU time of the forwarding process per packet.")
    print("seg6 MN->CN goes through the daemon's userspace reverse tunnel (the seg6 data plane offloads MAP->LCoA "
          "only); it is compared with the raw forwarder")
    for plane in ("userspace", "seg6"):
        regs = [s[plane] for s in raw["registration"]]
        print(f"registration ({plane}): " + ", ".join(
            f"{r['accepted']}/{args.bindings} BAs in {r['elapsed']:.2f} s, {r['daemon_bindings']} in the cache"
            for r in regs))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description="Forwarding rate through the reference MAP (kernel and "
                                "userspace data planes, both directions), each as a ratio to a baseline measured "
                                "in the same run; every frame checked at the receiver.")
    p.add_argument("--seconds", type=float, default=2.0, help="length of each measured trial (default 2)")
    p.add_argument("--repeat", type=int, default=3, help="runs of every row; medians are reported (default 3)")
    p.add_argument("--bindings", type=int, default=256, help="bindings registered at the MAP (default 256)")
    p.add_argument("--payload", type=int, default=64, help="octets after the inner IPv6 header (>= 16, default 64)")
    p.add_argument("--rate", type=float, default=0.0, help="offered packets/s (default 0: as fast as possible)")
    p.add_argument("--max-packets", type=int, default=0, help="stop each trial after this many (default: no limit)")
    p.add_argument("--ring-mb", type=int, default=128, help="receiver ring size in MiB (default 128)")
    p.add_argument("--profile", metavar="PREFIX", help="run the daemons under cProfile (PREFIX.<plane>-<ifaces>.prof)")
    p.add_argument("--json", metavar="FILE", help="result file (default reports/bench/dataplane-<time>.json)")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: a worker's spec as JSON
    args = p.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        role = spec["role"]
        if role == "raw_forward":
            raw_forward(spec)
            return 0
        result = {"generate": generate, "receive": receive, "register": register}[role](spec)
        print(json.dumps(result), flush=True)
        return 0
    if os.geteuid() != 0:
        p.error("needs root (network namespaces, AF_PACKET)")
    if args.seconds <= 0 or args.repeat < 1 or args.bindings < 1 or args.payload < 16 or args.rate < 0:
        p.error("--seconds > 0, --repeat >= 1, --bindings >= 1, --payload >= 16, --rate >= 0")

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # SIGTERM tears down like Ctrl-C
    started = time.time()
    try:
        raw = measure_all(args)
    except KeyboardInterrupt:
        print("bench dataplane: interrupted; namespaces and processes removed", file=sys.stderr)
        return 130
    summary = summarise(args, raw)
    report(args, raw, summary)
    params = {k: v for k, v in vars(args).items() if k not in ("worker", "json")}
    path = write_result("dataplane", params, {**summary, "prefix": raw["prefix"], "repeats": raw["repeats"],
                                              "registration": raw["registration"]}, args.json, started=started)
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
