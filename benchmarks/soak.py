"""Soak of the running reference MAP, access routers and mobile node with malformed and valid packets (issue 9).

    python -m benchmarks.soak --packets 1000000 [--rate PPS] [--seed N] [--pool N] [--extra-mns N]
                              [--rss-bound-mb MB] [--json FILE]

Method
------
1. The bundled virtual testbed (``testbeds/virtual.yaml``) comes up; the reference mobile node is started on AR1's
   access link and must register with MAP1, its home agent and its correspondents.  The tester plays
   ``--extra-mns`` more mobile nodes (half behind AR1, half behind AR2), each registering an RCoA with MAP1 by a
   BU sent through ``Tester.send`` (so the testbed's IPsec seam protects it when security is on).
2. Before: every binding must forward -- UDP sent from the correspondents' link to each RCoA must arrive at its
   LCoA's access link tunnelled by MAP1 (outer MAP1 -> LCoA, inner -> RCoA, token matched) -- and CN1 must reach
   the mobile node's home address (ping through route optimisation / MAP1's tunnel).  Each daemon's PID, RSS
   (``/proc/PID/status`` VmRSS) and counters (control socket ``show``) are recorded.
3. The soak: frames go out on AF_PACKET sockets in the tester's namespace, on MAP1's domain and core links, AR1's
   up link and both access links, addressed to MAP1, AR1, AR2 and the mobile node (their MACs or all-nodes).
   One in ``--valid-every`` is valid: refresh BUs of the tester's bindings (next sequence number, protected by the
   tester's seam), Router Advertisements with MAP1's own option from other routers, Router Solicitations, echo
   requests to the routers and to the bound RCoAs (tunnelled to the LCoAs).  The rest come from a pool of
   ``--pool`` distinct frames (:mod:`benchmarks.malformed`: structurally valid random messages of every kind,
   length lies, truncations, random bytes), cycled.  Frames whose legitimate effect would change protected state
   (a decodable BU for a checked RCoA, an RA a router would learn a MAP from, ND naming a checked address, ...)
   are not in the pool: unauthenticated signalling may redirect traffic by design, and that is not robustness.
   A sampler thread reads each daemon's RSS every 0.5 s and asks its control socket ``show`` every 2 s (the
   latency is recorded: a daemon that does not answer within ``--hang-s`` hangs).
4. After the daemons have drained their sockets: same PIDs alive, ``hmipv6-ctl show`` answers, no internal or
   encoding error counted, RSS growth within ``--rss-bound-mb``, every binding installed before still forwards
   (by traffic, through a new tester capture), and CN1 still reaches the mobile node.

Exit status 0 when every judgement passes, 1 otherwise (the reasons are printed and in the JSON), 2 when the
testbed could not be set up.  The figures depend on the machine; the JSON names it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import yaml

from benchmarks.common import machine
from benchmarks.malformed import ALL_NODES_MAC, ALL_ROUTERS_MAC, Generator, Target, World, build_pool
from harness import netns, paths
from reference_impl import wire as w
from reference_impl.daemon.control import request as control_request

DAEMONS = ("map1", "ar1", "ar2", "mn")  # the MAP, the ARs below it, the mobile node
BLAST_LINKS = ("dom1", "core", "up1", "acc1", "acc2")
CN_SOURCE = "2001:db8:20::5e"  # a correspondent the tester plays on the CN link (data to the RCoAs)


@dataclasses.dataclass
class SoakParams:
    packets: int = 1_000_000
    rate: float = 20_000.0  # packets per second (0: as fast as the sender can; the daemons then drop some)
    seed: int = 1
    pool: int = 50_000  # distinct malformed frames, cycled
    scapy_pool: int = 2_000  # of which built by scapy's fuzz() on the message layers
    extra_mns: int = 8  # mobile nodes the tester plays, each with a binding at MAP1
    valid_every: int = 10  # one valid packet in this many
    binding_lifetime: int = 3600  # seconds requested by the tester's mobile nodes
    rss_bound_mb: float = 32.0  # allowed RSS growth per daemon, before -> after
    hang_s: float = 10.0  # a control request slower than this is a hang
    sabotage: dict[str, Any] = dataclasses.field(default_factory=dict)  # test-only: {"kill": node, "deregister": i}


@dataclasses.dataclass
class Binding:
    link: str
    router_mac: str
    lcoa: str
    rcoa: str
    seq: int = 1


class SetupError(RuntimeError):
    """The testbed could not be brought to the state the soak starts from."""


# One protection seam per testbed: with IPsec on, its SAs' sequence counters must keep counting across the
# Testers of successive soaks (a fresh seam would start at 1, left of the MAP's anti-replay window).
_PROTECTION: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tester_for(tb, links: list[str]):
    from harness.tester import Tester

    tester = Tester(tb, links=links, protection=_PROTECTION.get(tb))
    _PROTECTION.setdefault(tb, tester.protection)
    return tester


# --- the daemons -------------------------------------------------------------------------------------------------

def control_socket(tb, node: str) -> str:
    config = yaml.safe_load(Path(tb.dut_variables(node)["config"]).read_text())
    return config["control_socket"]


def show(tb, node: str, timeout: float = 10.0) -> dict:
    """``hmipv6-ctl show`` run in the node's namespace (the command line a lab uses)."""
    out = subprocess.run(["ip", "netns", "exec", tb.netns_of(node), "sh", "-c", f"{tb.control_command(node)} show"],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{node}: hmipv6-ctl show exited {out.returncode}: {out.stderr.strip()[-300:]}")
    return json.loads(out.stdout)


def daemon_pid(tb, node: str) -> int | None:
    service_pid = getattr(tb, "service_pid", None)
    if service_pid is not None:
        return service_pid(node)
    proc = tb._daemons.get(node)  # older backends: the Popen the backend keeps
    return proc.pid if proc is not None and proc.poll() is None else None


def rss_kb(pid: int | None) -> int | None:
    """VmRSS of a live (not zombie) process, in kB; None when it is gone."""
    if pid is None:
        return None
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    if fields.get("State", "").strip().startswith("Z"):
        return None
    return int(fields["VmRSS"].split()[0]) if "VmRSS" in fields else None


def snapshot_daemons(tb, sockets: dict[str, str]) -> dict[str, dict]:
    out = {}
    for node in DAEMONS:
        pid = daemon_pid(tb, node)
        entry: dict[str, Any] = {"pid": pid, "rss_kb": rss_kb(pid)}
        try:
            reply = control_request(sockets[node], {"cmd": "show"}, timeout=10)
            entry["counters"] = reply.get("counters", {})
        except (OSError, ValueError) as exc:
            entry["counters"] = None
            entry["control_error"] = str(exc)
        out[node] = entry
    return out


def wait_mn_registered(tb, timeout: float = 30.0) -> dict:
    if not tb.service_running("mn"):
        tb.start_service("mn")
    deadline = time.monotonic() + timeout
    while True:
        state = show(tb, "mn")["state"]
        bound = {e["kind"] for e in state["binding_update_list"] if e["state"] == "bound" and e["expires_at"]}
        if state["lcoa"] and {"map", "ha"} <= bound:
            return state
        if time.monotonic() > deadline:
            raise SetupError(f"the mobile node did not register with its MAP and home agent within {timeout:.0f} s: "
                             f"{json.dumps(state)[:1500]}")
        time.sleep(0.1)  # polling the daemon's state until the deadline


# --- bindings and traffic checks (scapy on the tester side) ---------------------------------------------------

def _iface_on(tb, node: str, link: str):
    return tb.spec.links[link].members[node]


def install_bindings(tb, tester, params: SoakParams, tag: int) -> list[Binding]:
    from harness.tester.mobility import PlayedMobileNode
    from harness.tester.packets import MIP6MH_BA

    map1 = tb.spec.map_address("map1")
    rcoa_net = tb.spec.links["dom1"].prefix
    bindings = []
    for i in range(params.extra_mns):
        link, router = ("acc1", "ar1") if i % 2 == 0 else ("acc2", "ar2")
        net = tb.spec.links[link].prefix
        host = (0x5E << 32) | (tag << 16) | (i + 1)
        b = Binding(link, _iface_on(tb, router, link).mac, str(net.network_address + host),
                    str(rcoa_net.network_address + host))
        played = PlayedMobileNode(tester, link, b.router_mac, b.lcoa, b.rcoa, map1)
        ba = played.register(seq=1, lifetime_s=params.binding_lifetime, timeout=5)
        if ba is None or ba.pkt[MIP6MH_BA].status != 0:
            raise SetupError(f"MAP1 did not accept the tester's binding {b.rcoa} -> {b.lcoa}: "
                             f"{'no BA' if ba is None else f'status {ba.pkt[MIP6MH_BA].status}'}")
        bindings.append(b)
    return bindings


def check_forwarding(tb, tester, bindings: list[Binding], attempts: int = 3) -> dict[str, bool]:
    """Per RCoA: does UDP from the correspondents' side reach its LCoA tunnelled by MAP1 (token matched)?"""
    from harness.tester.packets import UDP, Ether, IPv6, ipv6_layers
    from scapy.packet import Raw

    map1 = tb.spec.map_address("map1")
    rt_mac = _iface_on(tb, "rt", "cn").mac
    tester.impersonate("cn", CN_SOURCE)
    for b in bindings:
        tester.impersonate(b.link, b.lcoa)
    ok: dict[str, bool] = {b.rcoa: False for b in bindings}
    for _ in range(attempts):
        pending = [b for b in bindings if not ok[b.rcoa]]
        if not pending:
            break
        mark = tester.mark()
        tokens = {}
        for b in pending:
            token = os.urandom(8).hex().encode()
            tokens[b.rcoa] = token
            tester.send("cn", Ether(dst=rt_mac, src=tester.mac("cn")) / IPv6(src=CN_SOURCE, dst=b.rcoa, hlim=64)
                        / UDP(sport=40000, dport=9) / Raw(b"soak " + token))
        for b in pending:
            token = tokens[b.rcoa]

            def tunnelled(f, b=b, token=token) -> bool:
                if token not in f.data:
                    return False
                layers = ipv6_layers(f.pkt)
                return (len(layers) == 2 and layers[0].src == map1 and layers[0].dst == b.lcoa
                        and layers[1].dst == b.rcoa)
            ok[b.rcoa] = tester.wait_for(tunnelled, 2.0, mark, [b.link]) is not None
    return ok


def check_mn(tb) -> dict[str, Any]:
    """CN1 -> the mobile node's home address (ping), and the mobile node's own view of its bindings."""
    home = show(tb, "mn")["state"]["home_address"]
    result = tb.driver("cn1").run(f"ping -6 -c 5 -i 0.2 -W 2 {home}", timeout=20)
    received = 0
    for line in result.stdout.splitlines():
        if "packets transmitted" in line:
            received = int(line.split(",")[1].split()[0])
    state = show(tb, "mn")["state"]
    bound = sorted({e["kind"] for e in state["binding_update_list"] if e["state"] == "bound" and e["expires_at"]})
    return {"ping_sent": 5, "ping_received": received, "bound": bound, "lcoa": state["lcoa"], "mode": state["mode"]}


# --- frames ---------------------------------------------------------------------------------------------------

def _ip(text: str) -> bytes:
    return w.ip6(str(text))


def world_of(tb, mn_state: dict, bindings: list[Binding], tag: int) -> World:
    spec = tb.spec
    protected: set[bytes] = set()
    for node in spec.nodes.values():
        for iface in node.interfaces.values():
            if iface.address is not None:
                protected.add(_ip(iface.address.ip))
            if iface.mac:
                protected.add(w.link_local_from_mac(w.mac(iface.mac)))
    mn_rcoa = next(e["home"] for e in mn_state["binding_update_list"] if e["kind"] == "map")
    protected |= {_ip(mn_state["lcoa"]), _ip(mn_rcoa), _ip(mn_state["home_address"]), _ip(CN_SOURCE),
                  _ip(spec.map_address("map1")), _ip(spec.map_address("map2"))}
    for b in bindings:
        protected |= {_ip(b.lcoa), _ip(b.rcoa)}
    map_net = spec.links["dom1"].prefix.network_address
    fuzz_rcoas = [_ip(map_net + ((0xF0 << 32) | (tag << 16) | i)) for i in range(64)]
    spis = []
    for pair in getattr(getattr(spec, "security", None), "pairs", ()):
        spis += [sa.spi for sa in (getattr(pair, "to_map", None), getattr(pair, "to_mn", None)) if sa is not None]
    return World(
        spis=spis, targets=[], map_address=_ip(spec.map_address("map1")), map_prefix=_ip(map_net),
        access_prefixes=[_ip(spec.links[link].prefix.network_address) for link in ("acc1", "acc2", "acc3")],
        mn_lcoa=_ip(mn_state["lcoa"]), bound_rcoas=[_ip(b.rcoa) for b in bindings] + [_ip(mn_rcoa)],
        fuzz_rcoas=fuzz_rcoas, protected=frozenset(protected))


def targets_of(tb, mn_state: dict) -> list[Target]:
    def t(node: str, link: str, role: str, address: str | None = None, **kw) -> Target:
        iface = _iface_on(tb, node, link)
        addr = address or (str(iface.address.ip) if iface.address is not None else None)
        return Target(f"{node}/{link}", link, w.mac(iface.mac), role, _ip(addr) if addr else None, **kw)

    spec = tb.spec
    return [
        t("map1", "dom1", "map", spec.map_address("map1"), map_facing=True),
        t("map1", "dom1", "map", spec.map_address("map1"), map_facing=True),
        t("map1", "core", "map", spec.map_address("map1"), map_facing=True),
        t("ar1", "dom1", "ar", map_facing=True), t("ar2", "dom1", "ar", map_facing=True),
        t("ar1", "up1", "ar", map_facing=True),
        t("ar1", "acc1", "ar", access=True), t("ar2", "acc2", "ar", access=True),
        t("mn", "acc1", "mn", mn_state["lcoa"], access=True), t("mn", "acc1", "mn", mn_state["lcoa"], access=True),
    ]


def valid_frames(tb, tester, bindings: list[Binding], count: int, rnd: random.Random, world: World, units: int
                 ) -> tuple[list[tuple[str, str, bytes]], list[tuple[str, str, bytes]]]:
    """(refresh BUs in order, other valid frames to cycle): ``(link, kind, frame)``.  BUs are encoded once each
    with the next sequence number and passed through the tester's protection seam."""
    spec = tb.spec
    map1 = _ip(spec.map_address("map1"))
    bus: list[tuple[str, str, bytes]] = []
    n_bu = max(1, count // 4)
    for k in range(n_bu):
        b = bindings[k % len(bindings)]
        b.seq += 1
        ipv6 = w.encode_packet(w.Packet(_ip(b.lcoa), map1, w.BindingUpdate(b.seq & 0xFFFF, w.BU_A | w.BU_M, units),
                                        home_address=_ip(b.rcoa)))
        protected = tester.protection.protect(ipv6)
        bus.append((b.link, "valid-bu", w.mac(b.router_mac) + w.mac(tester.mac(b.link)) + b"\x86\xdd" + protected))
    others: list[tuple[str, str, bytes]] = []
    map_option = w.MapOption(map1, 1, 10, True, 86400)
    fake_routers = [w.ip6(f"fe80::5e:{i}") for i in range(1, 5)]
    for link in ("dom1", "core", "up1"):
        for router in fake_routers:
            ra = w.Packet(router, w.ALL_NODES, w.RouterAdvertisement(64, 0, 0, 0, 0, (
                w.SourceLinkLayerAddress(w.mac(tester.mac(link))), map_option)), hop_limit=255)
            others.append((link, "valid-ra", ALL_NODES_MAC + w.mac(tester.mac(link)) + b"\x86\xdd" + w.encode_packet(ra)))
    for link, router in (("acc1", "ar1"), ("acc2", "ar2")):
        src = w.mac(tester.mac(link))
        for router_ll in fake_routers:  # another router's RA (router lifetime 0): hosts keep their own router
            ra = w.Packet(router_ll, w.ALL_NODES, w.RouterAdvertisement(64, 0, 0, 0, 0, (
                w.SourceLinkLayerAddress(src), w.MapOption(w.ip6("2001:db8:200::1"), 2, 12, True, 3600), map_option)),
                hop_limit=255)
            others.append((link, "valid-ra", ALL_NODES_MAC + src + b"\x86\xdd" + w.encode_packet(ra)))
        rs = w.Packet(w.UNSPECIFIED, w.ALL_ROUTERS, w.RouterSolicitation(), hop_limit=255)
        others.append((link, "valid-rs", ALL_ROUTERS_MAC + src + b"\x86\xdd" + w.encode_packet(rs)))
        iface = _iface_on(tb, router, link)
        echo = w.Packet(world.access_prefixes[0][:8] + bytes(7) + b"\x77", _ip(iface.address.ip), w.EchoRequest(0x5E, 1, b"soak"))
        others.append((link, "valid-echo", w.mac(iface.mac) + src + b"\x86\xdd" + w.encode_packet(echo)))
    core_mac = w.mac(_iface_on(tb, "map1", "core").mac)
    src = w.mac(tester.mac("core"))
    for rcoa in world.bound_rcoas:  # data from the correspondents' side, through MAP1's tunnel
        echo = w.Packet(_ip("2001:db8:20::5f"), rcoa, w.EchoRequest(0x5E, rnd.randrange(0x10000), b"soak data"))
        others.append(("core", "valid-data", core_mac + src + b"\x86\xdd" + w.encode_packet(echo)))
    return bus, others


def scapy_pool(world: World, targets: list[Target], count: int, rnd: random.Random, src_mac: bytes
               ) -> list[tuple[Target, str, bytes]]:
    """``count`` harmless frames whose message layers scapy's ``fuzz()`` randomised (an independent generator:
    every field scapy knows, lengths and checksums included)."""
    import logging

    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.layers import inet6 as s6
    from scapy.packet import fuzz

    mh = [lambda: s6.MIP6MH_BU(flags="AM", mhtime=25), s6.MIP6MH_BA, s6.MIP6MH_BE, s6.MIP6MH_BRR, s6.MIP6MH_HoT,
          s6.MIP6MH_CoT, s6.MIP6MH_Generic]
    mh_options = [s6.MIP6OptAltCoA, s6.MIP6OptNonceIndices, s6.MIP6OptBindingAuthData, s6.MIP6OptBRAdvice,
                  s6.MIP6OptUnknown]
    icmp = [s6.ICMPv6ND_RA, s6.ICMPv6ND_RS, s6.ICMPv6ND_NS, s6.ICMPv6ND_NA, s6.ICMPv6EchoRequest, s6.ICMPv6EchoReply]
    nd_options = [lambda: s6.ICMPv6NDOptMAP(addr=w.fmt(world.map_address)), s6.ICMPv6NDOptPrefixInfo,
                  s6.ICMPv6NDOptMTU, s6.ICMPv6NDOptAdvInterval, s6.ICMPv6NDOptSrcLLAddr]
    out: list[tuple[Target, str, bytes]] = []
    state = random.getstate()
    random.seed(rnd.random())  # scapy's random fields draw from the random module
    try:
        attempts = 0
        while len(out) < count and attempts < count * 20:
            attempts += 1
            target = rnd.choice(targets)
            dst = w.fmt(target.address) if target.address is not None and rnd.random() < 0.7 else "ff02::1"
            src = w.fmt(rnd.choice(world.access_prefixes)[:8] + rnd.randbytes(8))
            ip = s6.IPv6(src=src, dst=dst, hlim=255)
            if rnd.random() < 0.2:
                ip = fuzz(ip)
                ip.version = 6
            pkt = ip
            if rnd.random() < 0.3:
                pkt = pkt / fuzz(s6.IPv6ExtHdrDestOpt(options=[s6.HAO(hoa=w.fmt(rnd.choice(world.fuzz_rcoas)))]))
            if rnd.random() < 0.5:
                msg = fuzz(rnd.choice(mh)())
                if rnd.random() < 0.5:
                    msg.options = [fuzz(rnd.choice(mh_options)()) for _ in range(rnd.randint(1, 3))]
            else:
                msg = fuzz(rnd.choice(icmp)())
                for _ in range(rnd.randint(0, 3)):
                    msg = msg / fuzz(rnd.choice(nd_options)())
            try:
                data = bytes(pkt / msg)
            except Exception:  # noqa: BLE001 - a combination scapy cannot build
                continue
            if world.harmless(data, target):
                out.append((target, "scapy", target.mac + src_mac + b"\x86\xdd" + data))
    finally:
        random.setstate(state)
    return out


# --- the soak itself -----------------------------------------------------------------------------------------------

class Sampler(threading.Thread):
    """RSS of each daemon every ``every`` seconds; a control ``show`` every 2nd sample (latency recorded)."""

    def __init__(self, pids: dict[str, int | None], sockets: dict[str, str], hang_s: float, every: float = 0.5):
        super().__init__(name="soak-sampler", daemon=True)
        self.pids, self.sockets, self.hang_s, self.every = pids, sockets, hang_s, every
        self.stop = threading.Event()
        self.rss: dict[str, list[tuple[float, int | None]]] = {n: [] for n in pids}
        self.control: dict[str, list[float | None]] = {n: [] for n in pids}
        self.errors: dict[str, list[str]] = {n: [] for n in pids}

    def run(self) -> None:
        started = time.monotonic()
        n = 0
        while not self.stop.wait(self.every):
            n += 1
            for node, pid in self.pids.items():
                self.rss[node].append((round(time.monotonic() - started, 2), rss_kb(pid)))
                if n % 2 == 0:
                    t0 = time.monotonic()
                    try:
                        control_request(self.sockets[node], {"cmd": "show"}, timeout=self.hang_s)
                        self.control[node].append(round(time.monotonic() - t0, 3))
                    except (OSError, ValueError) as exc:
                        self.control[node].append(None)
                        self.errors[node].append(f"{type(exc).__name__}: {exc}")


def open_senders(tb) -> dict[str, socket.socket]:
    senders = {}
    for link in BLAST_LINKS:
        ns, ifname = tb.tester_port(link)
        sock = netns.socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: send only, receive nothing
        sock.bind((ifname, 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        senders[link] = sock
    return senders


def blast(senders: dict[str, socket.socket], pool: list[tuple[Target, str, bytes]],
          bus: list[tuple[str, str, bytes]], others: list[tuple[str, str, bytes]], params: SoakParams,
          midway: Callable[[], list[tuple[str, str, bytes]]] | None = None) -> tuple[Counter, int, float]:
    """Send ``params.packets`` frames; returns (sent by kind, send errors, seconds)."""
    plan = [(senders[t.link].send, "fuzz-" + kind, frame) for t, kind, frame in pool]
    valid = [(senders[link].send, kind, frame) for link, kind, frame in others]
    bu_iter = iter([(senders[link].send, kind, frame) for link, kind, frame in bus])
    sent: Counter = Counter()
    errors = 0
    start = time.monotonic()
    every = max(1, params.valid_every)
    j = v = 0
    half = params.packets // 2
    for i in range(params.packets):
        if i == half and midway is not None:
            for link, kind, frame in midway():
                senders[link].send(frame)
                sent[kind] += 1
        if i % every == 0:
            item = next(bu_iter, None) if v % 4 == 0 else None
            if item is None:
                item = valid[v % len(valid)]
            v += 1
        else:
            item = plan[j % len(plan)]
            j += 1
        send, kind, frame = item
        try:
            send(frame)
            sent[kind] += 1
        except OSError:
            errors += 1
        if params.rate and i % 256 == 255:
            ahead = (i + 1) / params.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)  # pacing the sender to --rate
    return sent, errors, time.monotonic() - start


def settle(sockets: dict[str, str], pids: dict[str, int | None], timeout: float = 20.0,
           background: int = 25) -> float:
    """Until every live daemon has drained its sockets: its frame counter grew by at most ``background`` frames
    (the testbed's own RAs, refreshes, probes) over 0.5 s.  Returns the wait."""
    start = time.monotonic()
    last: dict[str, int | None] = {}
    while time.monotonic() - start < timeout:
        counts: dict[str, int | None] = {}
        for node, path in sockets.items():
            if rss_kb(pids.get(node)) is None:
                continue
            try:
                counts[node] = control_request(path, {"cmd": "show"}, timeout=5).get("counters", {}).get("frames")
            except (OSError, ValueError):
                counts[node] = None
        if last and all(counts.get(n) is not None and last.get(n) is not None
                        and counts[n] - last[n] <= background for n in counts):
            break
        last = counts
        time.sleep(0.5)  # the measuring window of the drain check (bounded by the timeout)
    return time.monotonic() - start


def run_soak(tb, params: SoakParams, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole soak on an up testbed ``tb`` (the bundled virtual one); returns the result (see :func:`judge`)."""
    rnd = random.Random(params.seed)
    tag = rnd.randrange(1, 0xFFFF)
    result: dict[str, Any] = {"params": dataclasses.asdict(params), "machine": machine(), "testbed": tb.prefix}
    t0 = time.monotonic()
    mn_state = wait_mn_registered(tb)
    sockets = {node: control_socket(tb, node) for node in DAEMONS}
    tester = tester_for(tb, ["acc1", "acc2", "cn", "core", "dom1", "up1"])
    try:
        bindings = install_bindings(tb, tester, params, tag)
        progress(f"setup: mobile node registered (LCoA {mn_state['lcoa']}), {len(bindings)} tester bindings "
                 f"at MAP1 in {time.monotonic() - t0:.1f} s")
        fwd_before = check_forwarding(tb, tester, bindings)
        world = world_of(tb, mn_state, bindings, tag)
        n_valid = params.packets // max(1, params.valid_every) + 1
        bus, others = valid_frames(tb, tester, bindings, n_valid, rnd, world, params.binding_lifetime // 4)
        midway_frames = []
        if "deregister" in params.sabotage:  # test-only: a valid de-registration of one binding mid-soak
            b = bindings[int(params.sabotage["deregister"]) % len(bindings)]
            b.seq += 1  # newer than every refresh of the stream
            ipv6 = w.encode_packet(w.Packet(_ip(b.lcoa), world.map_address, w.BindingUpdate(
                b.seq, w.BU_A | w.BU_M, 0), home_address=_ip(b.rcoa)))
            midway_frames.append((b.link, "sabotage-deregister", w.mac(b.router_mac) + w.mac(tester.mac(b.link))
                                  + b"\x86\xdd" + tester.protection.protect(ipv6)))
        src_mac = w.mac(tester.mac("dom1"))
    finally:
        tester.close()
    mn_before = check_mn(tb)
    result["setup_s"] = round(time.monotonic() - t0, 2)

    t1 = time.monotonic()
    generator = Generator(world, rnd, src_mac)
    targets = targets_of(tb, mn_state)
    n_scapy = min(params.scapy_pool, params.pool // 2)
    pool = build_pool(generator, targets, max(1, min(params.pool, params.packets) - n_scapy))
    pool += scapy_pool(world, targets, n_scapy, rnd, src_mac)
    rnd.shuffle(pool)
    result["pool"] = {"frames": len(pool), "build_s": round(time.monotonic() - t1, 2),
                      "kinds": dict(Counter(kind for _, kind, _ in pool)),
                      "targets": dict(Counter(t.name for t, _, _ in pool))}
    progress(f"pool: {len(pool)} distinct malformed frames in {time.monotonic() - t1:.1f} s; valid: {len(bus)} "
             f"refresh BUs, {len(others)} other frames cycled")

    before = snapshot_daemons(tb, sockets)
    pids = {node: before[node]["pid"] for node in DAEMONS}
    senders = open_senders(tb)
    sampler = Sampler(pids, sockets, params.hang_s)
    sampler.start()

    def midway() -> list[tuple[str, str, bytes]]:
        if "kill" in params.sabotage:  # test-only: a daemon crashing mid-soak must be reported
            tb.kill_service(params.sabotage["kill"])
        return midway_frames

    try:
        sent, send_errors, duration = blast(senders, pool, bus, others, params,
                                            midway if params.sabotage else None)
    finally:
        for sock in senders.values():
            sock.close()
    progress(f"soak: {sum(sent.values())} frames in {duration:.1f} s ({sum(sent.values()) / duration:.0f} pps)")
    result["settle_s"] = round(settle(sockets, pids), 2)
    sampler.stop.set()
    sampler.join(timeout=params.hang_s + 5)
    after = snapshot_daemons(tb, sockets)

    daemons: dict[str, dict] = {}
    for node in DAEMONS:
        b, a = before[node], after[node]
        samples = [kb for _, kb in sampler.rss[node] if kb is not None]
        cb, ca = b.get("counters") or {}, a.get("counters") or {}
        try:
            shown = show(tb, node, timeout=params.hang_s + 5)
            ctl_ok, ctl_error = bool(shown.get("ok", True)), None
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            ctl_ok, ctl_error = False, str(exc)[-300:]
        latencies = sampler.control[node]
        daemons[node] = {
            "pid_before": b["pid"], "pid_after": daemon_pid(tb, node), "alive": rss_kb(b["pid"]) is not None,
            "rss_before_kb": b["rss_kb"], "rss_after_kb": rss_kb(b["pid"]),
            "rss_peak_kb": max(samples) if samples else None,
            "rss_mid_kb": samples[len(samples) // 2] if samples else None,  # half-way through the soak
            "frames": _delta(ca, cb, "frames"), "to_core": _delta(ca, cb, "to_core"),
            "decode_errors": _delta(ca, cb, "decode_errors"), "internal_errors": _delta(ca, cb, "internal_errors"),
            "encode_errors": _delta(ca, cb, "encode_errors"), "send_errors": _delta(ca, cb, "send_errors"),
            "ctl_show_ok": ctl_ok, "ctl_error": ctl_error,
            "control_probes": len(latencies), "control_failures": sum(1 for x in latencies if x is None),
            "control_max_s": max((x for x in latencies if x is not None), default=None),
            "control_errors": sampler.errors[node][:5],
        }
    result["daemons"] = daemons

    tester = tester_for(tb, ["acc1", "acc2", "cn"])
    try:
        fwd_after = check_forwarding(tb, tester, bindings)
    finally:
        tester.close()
    try:
        mn_after = check_mn(tb)
    except Exception as exc:  # noqa: BLE001 - a dead mobile node is a finding, not a crash of the soak
        mn_after = {"error": str(exc)[-300:], "ping_received": 0, "bound": []}
    result["bindings"] = [{"rcoa": b.rcoa, "lcoa": b.lcoa, "link": b.link, "before": fwd_before[b.rcoa],
                           "after": fwd_after[b.rcoa]} for b in bindings]
    result["mn"] = {"before": mn_before, "after": mn_after}
    total = sum(sent.values())
    result.update(sent=dict(sorted(sent.items())), sent_total=total, send_errors=send_errors,
                  duration_s=round(duration, 2), pps=round(total / duration) if duration else None,
                  wall_s=round(time.monotonic() - t0, 2))
    result["failures"] = judge(result)
    result["ok"] = not result["failures"]
    return result


def _delta(after: dict, before: dict, key: str) -> int | None:
    if key not in after or key not in before:
        return None
    return after[key] - before[key]


def judge(result: dict[str, Any]) -> list[str]:
    """Every reason the soak failed (empty: it passed).  Pure: reads only ``result``."""
    params = result["params"]
    failures = []
    for node, d in result["daemons"].items():
        if not d["alive"] or d["pid_after"] != d["pid_before"]:
            failures.append(f"{node}: daemon died or was restarted (pid {d['pid_before']} -> {d['pid_after']})")
            continue
        if not d["ctl_show_ok"]:
            failures.append(f"{node}: hmipv6-ctl show did not answer after the soak ({d['ctl_error']})")
        if d["control_failures"]:
            failures.append(f"{node}: {d['control_failures']} of {d['control_probes']} control requests during the "
                            f"soak got no answer within {params['hang_s']} s (hang): {d['control_errors'][:2]}")
        if d["internal_errors"]:
            failures.append(f"{node}: {d['internal_errors']} internal errors (exceptions caught by the event loop)")
        if d["encode_errors"]:
            failures.append(f"{node}: {d['encode_errors']} packets its core asked for could not be encoded")
        if not d["frames"]:
            failures.append(f"{node}: processed no frame during the soak (stuck?)")
        if d["rss_before_kb"] is not None and d["rss_after_kb"] is not None:
            grown = (d["rss_after_kb"] - d["rss_before_kb"]) / 1024
            if grown > params["rss_bound_mb"]:
                failures.append(f"{node}: RSS grew {grown:.1f} MiB (bound {params['rss_bound_mb']} MiB)")
    for b in result["bindings"]:
        if not b["before"]:
            failures.append(f"binding {b['rcoa']} -> {b['lcoa']} did not forward before the soak (setup)")
        elif not b["after"]:
            failures.append(f"binding {b['rcoa']} -> {b['lcoa']} no longer forwards after the soak")
    mn = result["mn"]
    if not mn["before"]["ping_received"]:
        failures.append("CN1 could not reach the mobile node before the soak (setup)")
    elif not mn["after"].get("ping_received"):
        failures.append(f"CN1 no longer reaches the mobile node after the soak: {mn['after']}")
    elif not {"map", "ha"} <= set(mn["after"].get("bound", [])):
        failures.append(f"the mobile node lost a binding: bound {mn['after'].get('bound')}")
    return failures


# --- reporting ----------------------------------------------------------------------------------------------------

def table(result: dict[str, Any]) -> str:
    lines = [f"soak of {result['testbed']}: {result['sent_total']} frames in {result['duration_s']} s "
             f"({result['pps']} pps), send errors {result['send_errors']}, setup {result['setup_s']} s, "
             f"settle {result['settle_s']} s, wall {result['wall_s']} s",
             "sent by kind: " + ", ".join(f"{k} {v}" for k, v in result["sent"].items()), "",
             f"{'daemon':6} {'pid':>7} {'alive':>5} {'RSS before':>11} {'RSS after':>10} {'peak':>8} {'grown':>8} "
             f"{'2nd half':>8} {'frames':>9} {'to core':>8} {'decode err':>10} {'internal':>8} {'ctl max s':>9}"]
    for node, d in result["daemons"].items():
        before, after = d["rss_before_kb"], d["rss_after_kb"]
        grown = f"{(after - before) / 1024:+.1f}M" if before is not None and after is not None else "-"
        mid = d.get("rss_mid_kb")
        late = f"{(after - mid) / 1024:+.1f}M" if mid is not None and after is not None else "-"
        mb = lambda kb: f"{kb / 1024:.1f}M" if kb is not None else "-"  # noqa: E731
        lines.append(f"{node:6} {d['pid_before'] or '-':>7} {'yes' if d['alive'] else 'NO':>5} {mb(before):>11} "
                     f"{mb(after):>10} {mb(d['rss_peak_kb']):>8} {grown:>8} {late:>8} "
                     f"{d['frames'] if d['frames'] is not None else '-':>9} "
                     f"{d['to_core'] if d['to_core'] is not None else '-':>8} "
                     f"{d['decode_errors'] if d['decode_errors'] is not None else '-':>10} "
                     f"{d['internal_errors'] if d['internal_errors'] is not None else '-':>8} "
                     f"{d['control_max_s'] if d['control_max_s'] is not None else '-':>9}")
    ok_after = sum(1 for b in result["bindings"] if b["after"])
    lines.append("")
    lines.append(f"bindings forwarding: before {sum(1 for b in result['bindings'] if b['before'])}, after {ok_after} "
                 f"of {len(result['bindings'])}; CN1 -> mobile node ping: before {result['mn']['before']['ping_received']}"
                 f"/5, after {result['mn']['after'].get('ping_received')}/5")
    crashes = sum(1 for d in result["daemons"].values() if not d["alive"] or d["pid_after"] != d["pid_before"])
    hangs = sum(1 for d in result["daemons"].values()
                if d["alive"] and (d["control_failures"] or not d["ctl_show_ok"]))
    lines.append(f"crashes {crashes}, hangs {hangs}; verdict: {'PASS' if result['ok'] else 'FAIL'}")
    for failure in result["failures"]:
        lines.append(f"  FAIL {failure}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from harness.testbed import load, open_backend

    defaults = SoakParams()
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--packets", type=int, default=defaults.packets)
    p.add_argument("--rate", type=float, default=defaults.rate, help="packets per second (0: unpaced)")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--pool", type=int, default=defaults.pool, help="distinct malformed frames (cycled)")
    p.add_argument("--scapy-pool", type=int, default=defaults.scapy_pool, help="of which built by scapy fuzz()")
    p.add_argument("--extra-mns", type=int, default=defaults.extra_mns)
    p.add_argument("--valid-every", type=int, default=defaults.valid_every)
    p.add_argument("--rss-bound-mb", type=float, default=defaults.rss_bound_mb)
    p.add_argument("--hang-s", type=float, default=defaults.hang_s)
    p.add_argument("--json", type=Path, help="write the result (parameters, machine, figures, verdict) here")
    args = p.parse_args(argv)
    params = SoakParams(packets=args.packets, rate=args.rate, seed=args.seed, pool=args.pool, scapy_pool=args.scapy_pool,
                        extra_mns=args.extra_mns, valid_every=args.valid_every, rss_bound_mb=args.rss_bound_mb,
                        hang_s=args.hang_s)
    if os.geteuid() != 0:
        print("benchmarks.soak: needs root (network namespaces, AF_PACKET)", file=sys.stderr)
        return 2
    try:
        with open_backend(load(paths.DEFAULT_TESTBED)) as tb:
            result = run_soak(tb, params, progress=lambda m: print(m, flush=True))
    except SetupError as exc:
        print(f"benchmarks.soak: setup failed: {exc}", file=sys.stderr)
        return 2
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
