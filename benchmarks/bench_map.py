"""Throughput and latency of the reference MAP daemon (``hmipv6-map``), each as a ratio to a baseline.

    python3 -m benchmarks.bench_map [--seconds 3] [--bindings 1000] [--window 32] [--json FILE]

Method
------
Two network namespaces of this run, ``hm6-xxxxxx-map`` and ``hm6-xxxxxx-gen`` (named and recorded through
``harness.testbed.runstate``, so ``hmipv6ct clean`` removes them after a crash), joined by one veth pair
``m0``/``g0``.  The MAP side owns 2001:db8:4d::1/64 (the MAP address and RCoA prefix) and routes the LCoA
prefix 2001:db8:4c::/64 to the generator (2001:db8:4d::2, permanent neighbour entry).  The generator namespace
plays the access router with every mobile node behind it: it sends whole Ethernet frames on AF_PACKET and
receives the answers there; an nftables drop keeps its own kernel from answering them.

A load generator *process* in the gen namespace runs a closed loop: it keeps ``--window`` requests in flight,
matches each answer to its request, records the latency, and counts a request as lost after 1 s.  Each
measured phase stops sending after ``--seconds``; rates count the answers received by then.

1. Baseline: a minimal Python AF_PACKET reflector in the map namespace (receive a frame, swap the MAC and IPv6
   addresses with ``struct``, send it back), driven with the same generator and frame size as phase 4.
2. BU→BA, refreshes: the real daemon (``python -m reference_impl.daemon.map_main``, ``dad: off``).  ``--bindings``
   RCoAs are pre-registered first (one BU each, waiting for its BA; setup, timed but not seconds-bounded), then
   refresh BUs with increasing sequence numbers go round-robin over them.  BAs (type 2 routing header = RCoA)
   are matched on RCoA + sequence number.  BUs come from the reference codec once per RCoA; the sequence
   number and checksum are then patched in the bytes (RFC 1624), checked against the codec at start.
3. BU→BA, new bindings: fresh RCoAs (sequence 1), with ``dad: off``, then, after restarting the daemon, with
   ``dad: on``, ``dad_retrans_timer: 0.05`` and ``dad_transmits: 1`` (one NS, then a 50 ms wait per new
   binding; DAD_RETRANS below), for a smaller count (``--bindings`` / 5, at least 10).
4. Userspace forwarding: plain IPv6 packets (next header 59, 16 octets of payload with a token) from a
   correspondent address to the bound RCoAs, round-robin, sent to the MAP's MAC; the MAP tunnels them to
   the LCoAs (RFC 2473) and the generator matches token + outer destination (the right LCoA).
5. In-process references, no I/O: ``MapCore.handle`` on pre-decoded refresh BUs, and decode + handle + encode
   on frame bytes (same BUs), each timed in batches for about ``--seconds``.

Every rate and latency is also printed as a ratio to the baseline of the same run (rate / baseline packets
per second; latency / baseline latency at the same percentile).  So is "DUT us/ans": CPU time of the process
under test (reflector or daemon: /proc/PID/schedstat, plus its waited-for children such as ``nft`` from
/proc/PID/stat in 10 ms ticks) per answer; for the in-process rows it is 1 / rate.  "gen CPU" is the
generator's busy share of the phase.  The ratios are the result; absolute numbers depend on the machine and
on what else runs on it.

Caveats
-------
* Two vCPUs are shared by the generator, the daemon (or reflector) and everything else on the machine.  The
  Python generator saturates its CPU before the reflector does, so the baseline is a ceiling of *this
  harness*, not of Linux or of the reflector; forwarding can then come out near (even above) 1x.  Where gen
  CPU is near 100%, compare DUT us/ans instead of rates.
* The daemon runs as configured for a lab: it writes a JSON log line per event (two per BU) to a file, and
  installs one nftables element per new binding through an ``nft`` subprocess, which dominates new-binding
  cost.  Its log and configuration live in the run's work directory and are removed at the end.
* Latency includes the generator's own queueing: in a closed loop, p50 ≈ window / rate.
* Rates count answers received before the deadline; answers to requests still in flight then are awaited
  for up to 1 s and enter the latencies only ("late").  The DUT's CPU time is sampled around the whole
  generator process (start-up included), so it is per answer, not per second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from socket import AF_PACKET, SOCK_RAW, SOL_SOCKET, SO_RCVBUF, htons, socket
from typing import Any

import yaml

from harness.testbed import runstate
from reference_impl.actions import Send
from reference_impl.daemon import control
from reference_impl.map.config import MapConfig
from reference_impl.map.core import MapCore
from reference_impl.wire import (
    BU_A, BU_M, BindingAcknowledgement, BindingUpdate, Packet, decode_frame, encode_packet, fastpath, ip6,
    ip6_prefix, mac,
)

ROOT = Path(__file__).resolve().parents[1]
MAP_ADDR, GEN_ADDR, CN_ADDR, ECHO_DST = "2001:db8:4d::1", "2001:db8:4d::2", "2001:db8:cc::1", "2001:db8:4d::e"
LCOA_PREFIX = "2001:db8:4c::/64"
RCOA_BASE, LCOA_BASE = "2001:db8:4d::1:0:0", "2001:db8:4c::1:0:0"
MAP_MAC, GEN_MAC = "02:4d:00:00:00:01", "02:4c:00:00:00:02"
IF_MAP, IF_GEN = "m0", "g0"
DAD_RETRANS = 0.05  # seconds, dad_retrans_timer for the "dad: on" phase (dad_transmits 1)
LIFETIME_UNITS = 1000  # BU lifetime, 4 s units: nothing expires during a run
LOSS_TIMEOUT = 1.0  # seconds without an answer: lost
ETH_P_IPV6, SOL_PACKET, PACKET_IGNORE_OUTGOING = 0x86DD, 263, 23
NH_NONE, NH_IPV6, NH_ROUTING, MH_BA = 59, 41, 43, 6
SYSCTLS = [f"net.ipv6.conf.{c}.{k}=0" for c in ("all", "default")
           for k in ("accept_dad", "accept_ra", "router_solicitations")]

_ETH = struct.Struct("!6s6sH")
_IP6 = struct.Struct("!IHBB16s16s")
_SWAP = struct.Struct("!6s6s10s16s16s")  # dst MAC, src MAC, IPv6 up to the addresses, src, dst
_TOKEN = struct.Struct("!Q8x")


def _addr(base: str, i: int) -> bytes:
    return (int.from_bytes(ip6(base), "big") + i).to_bytes(16, "big")


def rcoa(i: int) -> bytes:
    return _addr(RCOA_BASE, i)


def lcoa(i: int) -> bytes:
    return _addr(LCOA_BASE, i)


# --------------------------------------------------------------------------------------------------- frames


def bu_frame(i: int, seq: int) -> bytes:
    """A local BU (A and M set) from LCoA i for RCoA i, as an Ethernet frame to the MAP, built with the codec."""
    bu = Packet(lcoa(i), ip6(MAP_ADDR), BindingUpdate(seq, BU_A | BU_M, LIFETIME_UNITS), home_address=rcoa(i))
    return _ETH.pack(mac(MAP_MAC), mac(GEN_MAC), ETH_P_IPV6) + encode_packet(bu)


_MH = 78  # Mobility Header offset in a BU frame: Ethernet 14 + IPv6 40 + Destination Options (HAO) 24


def patch_seq(template: bytes, seq: int) -> bytes:
    """``template`` (a BU frame with sequence number 0) with sequence ``seq``: checksum updated per RFC 1624."""
    total = (~int.from_bytes(template[_MH + 4 : _MH + 6], "big") & 0xFFFF) + seq
    total = (total & 0xFFFF) + (total >> 16)
    return template[: _MH + 4] + struct.pack("!HH", ~total & 0xFFFF, seq) + template[_MH + 8 :]


def check_patch() -> None:
    """The patched BUs decode (checksum verified) to what the codec builds."""
    assert fastpath.upper_layer(bu_frame(7, 0)[14:]) == (135, _MH - 14)
    for seq in (1, 2, 0x7FFF, 0xFFFF):
        assert decode_frame(patch_seq(bu_frame(7, 0), seq)) == decode_frame(bu_frame(7, seq)), seq


def data_frame(dst: bytes, token: int) -> bytes:
    """A plain IPv6 packet (next header 59) from the correspondent to ``dst``, 16 octets: token + zeros."""
    return (_ETH.pack(mac(MAP_MAC), mac(GEN_MAC), ETH_P_IPV6)
            + _IP6.pack(6 << 28, _TOKEN.size, NH_NONE, 64, ip6(CN_ADDR), dst) + _TOKEN.pack(token))


# ------------------------------------------------------------------------------------------- worker processes


def packet_socket(ifname: str) -> socket:
    sock = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IPV6))
    sock.bind((ifname, ETH_P_IPV6))  # host order here (see PLATFORM.md)
    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    sock.setsockopt(SOL_SOCKET, SO_RCVBUF, 1 << 22)
    return sock


def reflect() -> None:
    """Baseline: send every test frame back with MAC and IPv6 addresses swapped, until SIGTERM."""
    sock = packet_socket(IF_MAP)
    own = mac(MAP_MAC)
    print("ready", flush=True)
    while True:
        frame = sock.recv(2048)
        if len(frame) >= 54 and frame[20] == NH_NONE and frame[:6] == own:
            dst, src, middle, a, b = _SWAP.unpack_from(frame)
            sock.send(_SWAP.pack(src, dst, middle, b, a) + frame[54:])


def closed_loop(sock: socket, window: int, seconds: float, items: Iterator[tuple[bytes, bytes]],
                reply_key: Callable[[bytes], bytes | None]) -> dict[str, Any]:
    """Send (key, frame) items keeping ``window`` in flight; match answers by ``reply_key(frame)``."""
    clock = time.perf_counter
    cpu_start = time.process_time()
    inflight: dict[bytes, float] = {}
    latencies: list[float] = []
    sent = received = late = lost = unmatched = 0
    exhausted = False
    start = clock()
    deadline, next_scan = start + seconds, start + 0.1
    sock.settimeout(0.02)
    now = start
    while now < deadline:
        while not exhausted and len(inflight) < window:
            item = next(items, None)
            if item is None:
                exhausted = True
                break
            sock.send(item[1])
            inflight[item[0]] = clock()
            sent += 1
        if exhausted and not inflight:
            break
        now = clock()
        if now >= next_scan:
            expired = [k for k, t in inflight.items() if now - t > LOSS_TIMEOUT]
            for k in expired:
                del inflight[k]
            lost += len(expired)
            next_scan = now + 0.1
        try:
            frame = sock.recv(2048)
        except TimeoutError:
            continue
        key = reply_key(frame)
        if key is None:
            continue
        sent_at = inflight.pop(key, None)
        now = clock()
        if sent_at is None:
            unmatched += 1
        else:
            latencies.append(now - sent_at)
            received += 1
    elapsed = min(now, deadline) - start
    gen_cpu = time.process_time() - cpu_start
    drain_until = clock() + LOSS_TIMEOUT  # collect answers still on their way (latency only, not rate)
    while inflight and clock() < drain_until:
        try:
            key = reply_key(sock.recv(2048))
        except TimeoutError:
            continue
        if key is not None and (sent_at := inflight.pop(key, None)) is not None:
            latencies.append(clock() - sent_at)
            late += 1
    latencies.sort()

    def pct(q: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3 if latencies else None

    return {"sent": sent, "received": received, "late": late, "lost": lost + len(inflight), "unmatched": unmatched,
            "elapsed": elapsed, "sent_per_s": sent / elapsed if elapsed else 0.0,
            "recv_per_s": received / elapsed if elapsed else 0.0, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "gen_cpu_pct": 100 * gen_cpu / elapsed if elapsed else 0.0}


def generate(phase: str, window: int, seconds: float, bindings: int, first: int = 0, count: int = 0) -> dict[str, Any]:
    """One measured phase, run inside the gen namespace.  Returns the closed-loop figures."""
    sock = packet_socket(IF_GEN)
    statuses: dict[str, int] = {}
    checked: list[bool] = []

    def ba_key(frame: bytes) -> bytes | None:
        # Ethernet | IPv6 (nh 43) | RH2 (type 2, RCoA at 62) | MH (type 6 at 80, status 84, seq 86)
        if len(frame) < 90 or frame[20] != NH_ROUTING or frame[56] != 2 or frame[80] != MH_BA:
            return None
        if not checked:  # once: the reference decoder agrees with these offsets
            packet = decode_frame(frame).packet
            assert isinstance(packet.payload, BindingAcknowledgement) and packet.rh2_address == frame[62:78]
            checked.append(True)
        statuses[str(frame[84])] = statuses.get(str(frame[84]), 0) + 1
        return frame[62:78] + frame[86:88]

    def new_bus() -> Iterator[tuple[bytes, bytes]]:
        i = first
        while not count or i < first + count:
            yield rcoa(i) + b"\x00\x01", bu_frame(i, 1)
            i += 1

    def refresh_bus() -> Iterator[tuple[bytes, bytes]]:
        templates = [bu_frame(i, 0) for i in range(bindings)]
        keys = [rcoa(i) for i in range(bindings)]
        seq = 1
        while True:
            seq = (seq + 1) & 0xFFFF
            tail = seq.to_bytes(2, "big")
            for i, template in enumerate(templates):
                yield keys[i] + tail, patch_seq(template, seq)

    def packets(tunnelled: bool) -> Iterator[tuple[bytes, bytes]]:
        dsts = [rcoa(i) for i in range(bindings)] if tunnelled else [ip6(ECHO_DST)]
        lcoas = [lcoa(i) for i in range(bindings)] if tunnelled else [b""]
        token = 0
        while True:
            for dst, outer in zip(dsts, lcoas):
                token += 1
                yield token.to_bytes(8, "big") + outer, data_frame(dst, token)

    def echo_key(frame: bytes) -> bytes | None:
        return frame[54:62] if len(frame) >= 62 and frame[20] == NH_NONE else None

    def tunnel_key(frame: bytes) -> bytes | None:
        # Ethernet | outer IPv6 (nh 41, dst LCoA at 38) | inner IPv6 | token at 94
        return frame[94:102] + frame[38:54] if len(frame) >= 102 and frame[20] == NH_IPV6 else None

    if phase == "echo":
        return closed_loop(sock, window, seconds, packets(False), echo_key)
    if phase == "forward":
        return closed_loop(sock, window, seconds, packets(True), tunnel_key)
    check_patch()
    items = new_bus() if phase == "new" else refresh_bus()
    result = closed_loop(sock, window, seconds, items, ba_key)
    result["statuses"] = statuses
    return result


# ---------------------------------------------------------------------------------------------- in-process core


def core_rates(bindings: int, seconds: float) -> tuple[float, float]:
    """Refresh BUs per second through ``MapCore.handle`` alone and through decode + handle + encode."""
    n = max(1, bindings)
    templates = [bu_frame(i, 0) for i in range(n)]
    config = MapConfig(address=ip6(MAP_ADDR), home_iface=IF_MAP, link_address=mac(MAP_MAC), dad="off",
                       onlink_prefixes=(ip6_prefix(LCOA_PREFIX),), max_bindings=10**7)

    def measure(prepare: Callable[[list[bytes]], list[Any]], step: Callable[[MapCore, float, Any], None]) -> float:
        core = MapCore(config)
        for i in range(n):
            core.handle(0.0, IF_MAP, decode_frame(bu_frame(i, 1)).packet)
        done, spent, seq = 0, 0.0, 1
        wall_end = time.perf_counter() + seconds
        while done == 0 or time.perf_counter() < wall_end:
            seq = (seq + 1) & 0xFFFF
            batch = prepare([patch_seq(t, seq) for t in templates])  # untimed
            now = 1.0 + done * 1e-6  # virtual clock: nothing expires
            started = time.perf_counter()
            for item in batch:
                step(core, now, item)
            spent += time.perf_counter() - started
            done += len(batch)
        assert core.counters["ba_sent"].get("0", 0) >= done, core.counters  # every BU accepted
        return done / spent

    def handle_only(core: MapCore, now: float, packet: Packet) -> None:
        core.handle(now, IF_MAP, packet)

    def full(core: MapCore, now: float, frame: bytes) -> None:
        for action in core.handle(now, IF_MAP, decode_frame(frame).packet):
            if isinstance(action, Send):
                encode_packet(action.packet)

    decoded = measure(lambda frames: [decode_frame(f).packet for f in frames], handle_only)
    return decoded, measure(lambda frames: frames, full)


# ------------------------------------------------------------------------------------------------ orchestration


def _run(cmd: list[str], stdin: str | None = None) -> None:
    proc = subprocess.run(cmd, input=stdin, text=True, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def build(ns_map: str, ns_gen: str) -> None:
    _run(["ip", "-batch", "-"], f"netns add {ns_map}\nnetns add {ns_gen}\n")
    for ns in (ns_map, ns_gen):
        _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *SYSCTLS])
    _run(["ip", "-n", ns_map, "-batch", "-"], f"""link set lo up
link add {IF_MAP} address {MAP_MAC} type veth peer name {IF_GEN} address {GEN_MAC} netns {ns_gen}
link set {IF_MAP} up
address add {MAP_ADDR}/64 dev {IF_MAP} nodad
route add {LCOA_PREFIX} via {GEN_ADDR} dev {IF_MAP}
neigh replace {GEN_ADDR} lladdr {GEN_MAC} dev {IF_MAP} nud permanent
""")
    _run(["ip", "-n", ns_gen, "-batch", "-"], f"link set lo up\nlink set {IF_GEN} up\n"
                                              f"address add {GEN_ADDR}/64 dev {IF_GEN} nodad\n")
    # test packets and everything for the LCoAs are the generator's (AF_PACKET), never its kernel's
    for ns, extra in ((ns_map, ""), (ns_gen, f"    ip6 daddr {LCOA_PREFIX} drop\n")):
        _run(["ip", "netns", "exec", ns, "nft", "-f", "-"], "table ip6 hm6bench {\n  chain prerouting {\n"
             "    type filter hook prerouting priority raw; policy accept;\n"
             f"    ip6 nexthdr {NH_NONE} drop\n{extra}  }}\n}}\n")


@dataclass
class Bench:
    """One run: namespaces, the processes started in them, and their teardown."""

    args: argparse.Namespace
    state: runstate.RunState = field(default_factory=lambda: runstate.RunState.create("benchmarks/bench_map"))
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def ns_map(self) -> str:
        return self.state.netns_name("map")

    @property
    def ns_gen(self) -> str:
        return self.state.netns_name("gen")

    def spawn(self, ns: str, argv: list[str], what: str, stdout: Any = subprocess.PIPE) -> subprocess.Popen[str]:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, *argv], cwd=ROOT, text=True,
                                stdout=stdout, stderr=subprocess.PIPE if stdout is subprocess.PIPE else stdout,
                                start_new_session=True)
        self.procs.append(proc)
        self.state.started(proc.pid, what)
        return proc

    def stop(self, proc: subprocess.Popen[str]) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(3.0)
            except subprocess.TimeoutExpired:
                continue
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        if proc in self.procs:
            self.procs.remove(proc)

    def teardown(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)
        runstate.destroy(self.state.prefix, self.state.namespaces, self.state.processes, self.state.workdir)

    def gen(self, phase: str, seconds: float, dut: subprocess.Popen[str], **params: int) -> dict[str, Any]:
        """Run one generator phase against ``dut`` (reflector or daemon); adds the DUT's CPU time to the result."""
        a = self.args
        cpu_before = cpu_seconds(dut.pid)
        spec = dict(phase=phase, window=a.window, seconds=seconds, bindings=a.bindings, **params)
        proc = self.spawn(self.ns_gen, ["-m", "benchmarks.bench_map", "--worker", json.dumps(spec)], f"gen {phase}")
        try:
            out, err = proc.communicate(timeout=seconds + 2 * LOSS_TIMEOUT + 30)
        finally:
            self.stop(proc)
        if proc.returncode != 0:
            raise RuntimeError(f"generator phase {phase} failed (rc {proc.returncode}): {err.strip()}")
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        result["dut_cpu_s"] = cpu_seconds(dut.pid) - cpu_before
        return result

    def start_daemon(self, dad: str) -> tuple[subprocess.Popen[str], str]:
        wd = self.state.workdir
        sock, log = str(wd / f"map-dad-{dad}.sock"), str(wd / f"map-dad-{dad}.log")
        config = {"role": "map", "edition": "rfc4140", "control_socket": sock, "log_file": log,
                  "map": {"address": MAP_ADDR, "home_iface": IF_MAP, "prefix_length": 64,
                          "onlink_prefixes": [LCOA_PREFIX], "max_bindings": 10**7, "dad": dad,
                          "dad_retrans_timer": DAD_RETRANS, "dad_transmits": 1}}
        path = wd / f"map-dad-{dad}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        with open(wd / f"map-dad-{dad}.err", "w") as err:
            proc = self.spawn(self.ns_map, ["-m", "reference_impl.daemon.map_main", "--config", str(path)],
                              f"hmipv6-map dad={dad}", stdout=err)
        deadline = time.monotonic() + 15.0
        while True:
            try:
                if control.request(sock, {"cmd": "show"}, timeout=1.0).get("ok"):
                    return proc, sock
            except (OSError, ValueError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hmipv6-map did not start: {(wd / f'map-dad-{dad}.err').read_text()[-2000:]}")
            time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """CPU time of single-threaded ``pid`` (schedstat, ns) plus its waited-for children's (the daemon's ``nft``
    runs; /proc/PID/stat cutime + cstime, clock ticks), in seconds."""
    with open(f"/proc/{pid}/schedstat") as f:
        own = int(f.read().split()[0]) / 1e9
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return own + (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _progress(text: str) -> None:
    print(f"[bench_map] {text}", file=sys.stderr, flush=True)


def measure_all(args: argparse.Namespace) -> dict[str, Any]:
    n, seconds = args.bindings, args.seconds
    dad_on_count = max(10, n // 5)
    results: dict[str, Any] = {}
    _progress(f"in-process core, {n} bindings")
    results["core_handle"], results["core_bytes"] = core_rates(n, seconds)
    bench = Bench(args)
    try:
        _progress(f"namespaces {bench.ns_map}, {bench.ns_gen}")
        bench.state.will_create_namespaces([bench.ns_map, bench.ns_gen])
        build(bench.ns_map, bench.ns_gen)
        reflector = bench.spawn(bench.ns_map, ["-m", "benchmarks.bench_map", "--worker", "reflect"], "reflector")
        if reflector.stdout is None or reflector.stdout.readline().strip() != "ready":
            raise RuntimeError(f"reflector did not start: {reflector.stderr.read() if reflector.stderr else ''}")
        _progress("baseline")
        results["baseline"] = bench.gen("echo", seconds, reflector)
        bench.stop(reflector)

        daemon, sock = bench.start_daemon("off")
        _progress(f"pre-registering {n} bindings (dad off)")
        results["prereg"] = bench.gen("new", max(60.0, 20 * seconds), daemon, first=0, count=n)
        _progress("refresh BUs")
        results["refresh"] = bench.gen("refresh", seconds, daemon)
        _progress("new bindings, dad off")
        results["new_off"] = bench.gen("new", seconds, daemon, first=10**6)
        _progress("forwarding")
        results["forward"] = bench.gen("forward", seconds, daemon)
        results["daemon_off"] = control.request(sock, {"cmd": "show"}, timeout=10.0)
        bench.stop(daemon)

        daemon, sock = bench.start_daemon("on")
        _progress(f"new bindings, dad on ({dad_on_count})")
        results["new_on"] = bench.gen("new", seconds, daemon, first=2 * 10**6, count=dad_on_count)
        results["daemon_on"] = control.request(sock, {"cmd": "show"}, timeout=10.0)
        bench.stop(daemon)
    finally:
        handlers = [signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)]  # finish teardown
        bench.teardown()
        for sig, handler in zip((signal.SIGINT, signal.SIGTERM), handlers):
            signal.signal(sig, handler)
    results["prefix"] = bench.state.prefix
    results["dad_on_count"] = dad_on_count
    return results


# ------------------------------------------------------------------------------------------------------ report


def _ratio(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.3g}"


COLUMNS = (("sent_per_s", "sent/s", ",.0f"), ("recv_per_s", "answers/s", ",.0f"), ("p50_ms", "p50 ms", ".3f"),
           ("p99_ms", "p99 ms", ".3f"), ("cpu_us", "DUT us/ans", ".2f"))


def report(args: argparse.Namespace, r: dict[str, Any]) -> dict[str, Any]:
    """Rows with ratios to the baseline; prints the table and returns the JSON document."""
    n = args.bindings
    phases = [
        ("baseline", "baseline: AF_PACKET reflector"),
        ("refresh", f"refresh BU->BA, {n} bindings, dad off"),
        ("new_off", "new binding BU->BA, dad off"),
        ("new_on", f"new binding BU->BA, dad on, {r['dad_on_count']} max"),
        ("forward", f"forwarding to {n} RCoAs (tunnel)"),
    ]
    rows: list[dict[str, Any]] = []
    for key, label in phases:
        m = r[key]
        answers = m["received"] + m["late"]
        rows.append({"key": key, "label": label, **m,
                     "cpu_us": 1e6 * m["dut_cpu_s"] / answers if answers and m["dut_cpu_s"] else None})
    for key, label in (("core_handle", "core: MapCore.handle, decoded BUs"),
                       ("core_bytes", "core: decode + handle + encode")):
        rows.append({"key": key, "label": label, "recv_per_s": r[key], "cpu_us": 1e6 / r[key]})
    base = rows[0]
    for row in rows:
        for k, _, _ in COLUMNS:
            ref = base["recv_per_s"] if k == "sent_per_s" else base[k]
            if row.get(k) is not None and ref:
                row[f"{k}_ratio"] = row[k] / ref

    def cells(row: dict[str, Any]) -> str:
        out = ""
        for k, _, spec in COLUMNS:
            v = row.get(k)
            out += ("-".rjust(11) + "-".rjust(8)) if v is None else \
                format(v, spec).rjust(11) + _ratio(row[f"{k}_ratio"]).rjust(8)
        return out + (f"{row['gen_cpu_pct']:6.0f}%" if "gen_cpu_pct" in row else "      -")

    print(f"hmipv6-map benchmark, run {r['prefix']}: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
          f"Python {platform.python_version()}, kernel {platform.release()}")
    print(f"--seconds {args.seconds:g} --bindings {n} --window {args.window}; 'x' = ratio to the baseline "
          f"(rates to its answers/s, latency and CPU to its own)")
    print()
    print(f"{'measurement':<40}" + "".join(h.rjust(11) + "x".rjust(8) for _, h, _ in COLUMNS) + "gen CPU".rjust(8))
    for row in rows:
        print(f"{row['label']:<40}" + cells(row))
    print()
    print("sent/answers: packets (baseline, forwarding) or BU/BA; DUT us/ans: CPU time of the reflector or daemon "
          "(nft children included) per answer; gen CPU: generator busy time")
    print(f"DAD: rows marked 'dad off' ran the daemon with dad: off (no DAD, a deviation); the 'dad on' row with "
          f"dad: on, dad_retrans_timer {DAD_RETRANS:g} s, dad_transmits 1")
    if base["gen_cpu_pct"] > 90:
        print(f"note: the generator was busy {base['gen_cpu_pct']:.0f}% of the baseline: it is generator-bound, so an "
              f"answers/s ratio near 1 means 'as fast as this generator'; compare DUT us/ans")
    pre = r["prereg"]
    print(f"pre-registration (setup, dad off): {pre['received'] + pre['late']}/{n} bindings in {pre['elapsed']:.2f} s "
          f"= {pre['recv_per_s']:,.0f} BA/s")
    for row in rows:
        odd = {k: row[k] for k in ("lost", "unmatched") if row.get(k)}
        bad = {s: c for s, c in row.get("statuses", {}).items() if s != "0"}
        if odd or bad:
            print(f"  {row['key']}: {odd} {'BA statuses ' + str(bad) if bad else ''}".rstrip())
    daemons = {}
    for key in ("daemon_off", "daemon_on"):
        show = r[key]
        core = show["state"]["counters"]
        daemons[key] = {"bindings": len(show["state"]["bindings"]), "bu_received": core["bu_received"],
                        "ba_sent": core["ba_sent"], "dad_started": core["dad_started"], **show["counters"],
                        **show.get("dataplane_counters", {})}
        print(f"daemon ({key.replace('daemon_', 'dad ')}): {json.dumps(daemons[key])}")
    sent_bus = sum(r[k]["sent"] for k in ("prereg", "refresh", "new_off"))
    print(f"cross-check: generator sent {sent_bus} BUs with dad off, daemon counted "
          f"{daemons['daemon_off']['bu_received']}; forwarding sent {r['forward']['sent']}, daemon tunnelled "
          f"{daemons['daemon_off'].get('tunnelled')}")
    return {"meta": {"prefix": r["prefix"], "cpus": os.cpu_count(), "seconds": args.seconds, "bindings": n,
                     "window": args.window, "dad_retrans_timer": DAD_RETRANS, "dad_on_count": r["dad_on_count"],
                     "python": platform.python_version(), "kernel": platform.release()},
            "prereg": pre, "rows": rows, "daemons": daemons}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m benchmarks.bench_map", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0, help="length of each measured phase (default 3)")
    p.add_argument("--bindings", type=int, default=1000, help="RCoAs registered before refreshes (default 1000)")
    p.add_argument("--window", type=int, default=32, help="requests in flight (default 32)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: "reflect" or a generator phase as JSON
    args = p.parse_args(argv)
    if args.worker == "reflect":
        reflect()
        return 0
    if args.worker:
        print(json.dumps(generate(**json.loads(args.worker))), flush=True)
        return 0
    if os.geteuid() != 0:
        p.error("needs root (network namespaces, AF_PACKET)")
    if args.seconds <= 0 or args.bindings < 1 or args.window < 1:
        p.error("--seconds > 0, --bindings >= 1, --window >= 1")
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM tears down like Ctrl-C
    try:
        results = measure_all(args)
    except KeyboardInterrupt:
        print("bench_map: interrupted; namespaces and processes removed", file=sys.stderr)
        return 130
    doc = report(args, results)
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
