"""``hmipv6ct bench handover``: intra-domain handover of the reference mobile node, HMIPv6 against plain Mobile IPv6.

    hmipv6ct bench handover [--moves 20] [--cns 1,5,10] [--delay-ms 50] [--map-delay-ms 1] [--rate 1000]
                            [--rate-per-cn R] [--interval 1.0] [--json FILE] [--out DIR]

Topology (generated, written to ``DIR/testbed.yaml``; the netns backend builds it)::

    HA   CN1 .. CNn                       home 2001:db8:10::/64, cn 2001:db8:20::/64
     |    |                               core 2001:db8:30::/64: rt -- [DELAY one way] -- MAP1
     +--RT+                               dom1 2001:db8:100::/64: MAP1 -- [MAP DELAY one way] -- AR1, AR2
        | core  ~~ delay element ~~       acc1/acc2: AR1/AR2 access links; the MN moves between them
       MAP1
        | dom1  ~~ delay element ~~
     AR1   AR2
      acc1  acc2    <- MN

The delay element (:mod:`benchmarks.delay`, a userspace AF_PACKET forwarder: the host has no netem) is spliced into
MAP1's ports on the core and domain links inside the switch namespace: everything between the mobile node and its
home agent or correspondents crosses ``--delay-ms`` each way, and the MAP is ``--map-delay-ms`` away (0: undelayed).
The forwarder's own lateness and ping round trips across it (against an undelayed baseline) are reported.

For each N in ``--cns`` and each mode (``hmipv6``: the reference MN as is; ``mipv6``: the same daemon with
``hmipv6: false``, i.e. MAP options ignored, plain RFC 6275 with route optimisation) the MN daemon is (re)started with
CN1..CNn as its correspondents and must be registered (MAP, HA and a bound route-optimisation binding with every CN)
before anything is measured.  Each CN then sends a UDP flow to the home address (through its reference CN daemon,
so route optimisation applies); ``--rate`` is the aggregate rate of all N flows, split evenly (default 1000/s: N=1
sends 1000/s, N=10 100/s each), the flows staggered so that together they form one stream with a send slot every
1/rate (1 ms): the aggregate's interruption has the same ~1 ms resolution at every N, the per-flow figures N/rate,
and the load on the MN's and the CNs' userspace data planes stays the same (``--rate-per-cn`` instead fixes each
flow's rate); the mobile node's port is moved between AR1 and
AR2 (same MAP), one move every ``--interval`` seconds, until ``--moves`` moves have been completed by the MN (its
control socket shows the new LCoA registered by a new BU); a move the MN did not react to (e.g. a carrier flap it
missed) is reported and replaced, up to 1.5 x ``--moves`` moves in all.  An observer in the MN's namespace records the
datagrams (kernel timestamps), the signalling the MN sends and receives, and carrier changes; see
:mod:`benchmarks.handover_analysis` for the definitions of interruption, loss, detection and round trip.  The MN
daemon's own counters (BUs, HoTI, CoTI, RS) are compared with the captured counts.

Output: a table on stdout (every figure also as a ratio to MIPv6, the baseline measured in the same run), the JSON
result (``benchmarks.common.write_result``), and ``DIR/handover.html`` with the table and SVG plots.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from benchmarks.common import BENCH_DIR, ROOT, machine, stop_process, write_result
from benchmarks.handover_analysis import analyse

MODES = ("hmipv6", "mipv6")
PORT = 9000
HOME_PREFIX, CN_PREFIX, CORE_PREFIX, DOM_PREFIX = "2001:db8:10::", "2001:db8:20::", "2001:db8:30::", "2001:db8:100::"
MAP_ADDRESS = DOM_PREFIX + "1"
HA_ADDRESS = HOME_PREFIX + "2"
# Timers: the bundled virtual testbed's profile (RFC x 0.05; RA intervals 0.5-1.5 s, MIN_DELAY_BETWEEN_RAS 0.1 s as
# RFC 6275 §7.5 allows; RS delay 0-50 ms, RA answer delay 0-25 ms), except: binding lifetimes at the suite's
# unscaled 420 s, so that no refresh falls inside a measurement, and the BU/RR retransmission timers at their RFC
# values (1.5 s / 1 s / 32 s): scaled to 75 / 50 ms they fire before a 100 ms round trip to the HA or a CN completes
# (each CoTI retransmission draws a new cookie, so return routability would only complete once the back-off
# exceeds the round trip), which would inflate MIPv6's interruption and signalling by a testbed artefact.
TIMERS = {"profile": "scaled", "factor": 0.05,
          "overrides": {"min_rtr_adv_interval": 0.5, "max_rtr_adv_interval": 1.5, "min_delay_between_ras": 0.1,
                        "binding_lifetime": 420, "initial_bindack_timeout_first_reg": 1.5,
                        "initial_bindack_timeout": 1.0, "max_bindack_timeout": 32.0}}


@dataclasses.dataclass
class Params:
    moves: int = 20
    cns: tuple[int, ...] = (1, 5, 10)
    delay_ms: float = 50.0
    map_delay_ms: float = 1.0
    rate: float = 1000.0  # aggregate datagrams per second of all N flows, split evenly (each CN: rate / N)
    rate_per_cn: float | None = None  # instead: each CN sends this many (aggregate N x rate_per_cn)
    interval: float = 1.0  # seconds between moves
    warmup: float = 1.0  # seconds of flow before the first move
    modes: tuple[str, ...] = MODES
    seed: int = 1
    pings: int = 50
    keep_raw: Path | None = None  # copy the observer's and the flow source's raw files here


def flow_rate(params: Params, n: int) -> float:
    """Datagrams per second of each of the ``n`` CN flows."""
    return params.rate_per_cn if params.rate_per_cn else params.rate / n


class BenchError(RuntimeError):
    """The testbed could not be brought to the state a measurement starts from."""


def cn_address(i: int) -> str:
    """CN *i* (1-based): 2001:db8:20::10, ::11, ..."""
    return f"{CN_PREFIX}{0x10 + i - 1:x}"


def topology(n_cns: int) -> dict[str, Any]:
    """The benchmark's testbed: one MAP domain with two ARs, an HA and ``n_cns`` CNs beyond a router (no tester, no
    IPsec, local management only: nothing but the daemons under measurement)."""
    local = {"type": "local"}
    nodes: dict[str, Any] = {
        "rt": {"role": "router", "management": local, "routes": [f"2001:db8:100::/40 via {CORE_PREFIX}2"]},
        "ha": {"role": "ha", "management": local, "services": ["hmipv6-ha"], "routes": [f"default via {HOME_PREFIX}1"]},
        "map1": {"role": "map", "management": local, "services": ["hmipv6-map"],
                 "routes": [f"default via {CORE_PREFIX}1", f"2001:db8:110::/64 via {DOM_PREFIX}2",
                            f"2001:db8:120::/64 via {DOM_PREFIX}3"]},
        "ar1": {"role": "ar", "management": local, "services": ["hmipv6-ar"], "maps": ["map1"],
                "routes": [f"default via {DOM_PREFIX}1"]},
        "ar2": {"role": "ar", "management": local, "services": ["hmipv6-ar"], "maps": ["map1"],
                "routes": [f"default via {DOM_PREFIX}1"]},
        "mn": {"role": "mn", "management": local, "services": ["hmipv6-mn"], "autostart": False},
    }
    cn_members: dict[str, Any] = {"rt": {"iface": "eth1", "address": "::1"}}
    for i in range(1, n_cns + 1):
        nodes[f"cn{i}"] = {"role": "cn", "management": local, "services": ["hmipv6-cn"],
                           "routes": [f"default via {CN_PREFIX}1"]}
        cn_members[f"cn{i}"] = {"iface": "eth0", "address": f"::{0x10 + i - 1:x}"}
    links = {
        "home": {"prefix": HOME_PREFIX + "/64",
                 "members": {"rt": {"iface": "eth0", "address": "::1"}, "ha": {"iface": "eth0", "address": "::2"}}},
        "cn": {"prefix": CN_PREFIX + "/64", "members": cn_members},
        "core": {"prefix": CORE_PREFIX + "/64", "members": {"rt": {"iface": "eth2", "address": "::1"},
                                                           "map1": {"iface": "eth0", "address": "::2"}}},
        "dom1": {"prefix": DOM_PREFIX + "/64", "members": {"map1": {"iface": "eth1", "address": "::1"},
                                                          "ar1": {"iface": "eth0", "address": "::2"},
                                                          "ar2": {"iface": "eth0", "address": "::3"}}},
        "acc1": {"prefix": "2001:db8:110::/64", "access": True,
                 "members": {"ar1": {"iface": "eth1", "address": "::1", "advertise": True}, "mn": "eth0"}},
        "acc2": {"prefix": "2001:db8:120::/64", "access": True,
                 "members": {"ar2": {"iface": "eth1", "address": "::1", "advertise": True}}},
    }
    return {"name": "handover-bench", "backend": "netns", "timers": TIMERS, "nodes": nodes, "links": links,
            "description": f"hmipv6ct bench handover: one MAP domain (MAP1, AR1, AR2), HA and {n_cns} CNs behind "
                           "a delayed core link"}


# --- processes ---------------------------------------------------------------------------------------------------

class Procs:
    """Helper processes of a run, recorded in the testbed's run state (``hmipv6ct clean`` finds them) and ended by
    PID (their process group)."""

    def __init__(self, tb, workdir: Path) -> None:
        self.tb, self.workdir = tb, workdir
        self.live: list[subprocess.Popen[str]] = []

    def start(self, ns: str | None, argv: list[str], what: str, ready: bool = True) -> subprocess.Popen[str]:
        cmd = ([] if ns is None else ["ip", "netns", "exec", ns]) + [sys.executable, *argv]
        err = open(self.workdir / f"{what.replace(' ', '-')}.err", "w")
        proc = subprocess.Popen(cmd, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        err.close()
        self.live.append(proc)
        self.tb.state.started(proc.pid, what)
        if ready:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != "ready":
                self.stop(proc)
                text = (self.workdir / f"{what.replace(' ', '-')}.err").read_text()[-1500:]
                raise BenchError(f"{what} did not start: {text.strip() or line or 'no output'}")
        return proc

    def stop(self, proc: subprocess.Popen[str], timeout: float = 5.0) -> int | None:
        code = stop_process(proc, timeout=timeout)
        if proc in self.live:
            self.live.remove(proc)
        return code

    def stop_all(self) -> None:
        for proc in list(self.live):
            self.stop(proc)


# --- the delay element -------------------------------------------------------------------------------------------

def splice(tb, node: str, link: str, tag: str) -> tuple[str, str]:
    """Take ``node``'s port on ``link`` off the link's bridge and give the bridge a new veth pair instead; return
    (node's port, free end of the pair) -- the two interfaces the delay forwarder joins.  Uses the netns backend's
    port and bridge names (``_ports``, ``_bridges``): see the report about a public accessor."""
    iface = tb.spec.nodes[node].interface_on(link)
    try:
        port, bridge = tb._ports[(node, iface.name)], tb._bridges[link]
    except (AttributeError, KeyError) as exc:
        raise BenchError(f"cannot find the switch port of {node}/{link}: the netns backend changed ({exc})") from None
    a, b = f"{tag}a", f"{tag}b"
    batch = (f"link set {port} nomaster\nlink add {a} type veth peer name {b}\nlink set {a} master {bridge}\n"
             f"link set {a} up\nlink set {b} up promisc on\nlink set {port} promisc on\n")
    proc = subprocess.run(["ip", "-n", tb.switch_ns, "-batch", "-"], input=batch, text=True, capture_output=True)
    if proc.returncode != 0:
        raise BenchError(f"splicing the delay element into {node}/{link} failed: {proc.stderr.strip()}")
    return port, b


def ping(ns: str, dst: str, count: int, interval: float = 0.01) -> dict[str, Any]:
    """``ping -6`` from namespace ``ns``: sent, received, rtt min/avg/max/mdev in ms (None when nothing came back)."""
    out = subprocess.run(["ip", "netns", "exec", ns, "ping", "-6", "-n", "-q", "-c", str(count), "-i", f"{interval:g}",
                          "-W", "2", dst], capture_output=True, text=True, timeout=count * interval + 15)
    result: dict[str, Any] = {"dst": dst, "sent": count, "received": 0, "min": None, "avg": None, "max": None,
                              "mdev": None}
    for line in out.stdout.splitlines():
        if "packets transmitted" in line:
            result["received"] = int(line.split(",")[1].split()[0])
        if line.startswith(("rtt", "round-trip")):
            values = line.split("=")[1].split()[0].split("/")
            result.update(zip(("min", "avg", "max", "mdev"), (float(v) for v in values)))
    return result


def measure_delays(tb, params: Params) -> dict[str, Any]:
    """Round trips across the delay element (MAP1 to CN1: the core delay twice; MAP1 to AR1: the MAP delay twice)
    against an undelayed baseline (RT to HA)."""
    ns = tb.netns_of
    for src, dst in (("rt", HA_ADDRESS), ("map1", cn_address(1)), ("map1", DOM_PREFIX + "2")):
        ping(ns(src), dst, 3, 0.05)  # neighbour discovery first
    base = ping(ns("rt"), HA_ADDRESS, params.pings)
    core = ping(ns("map1"), cn_address(1), params.pings)
    dom = ping(ns("map1"), DOM_PREFIX + "2", params.pings)
    out = {"baseline_rt_ha": base, "core_map1_cn1": core, "dom_map1_ar1": dom}
    for key, configured in (("core_map1_cn1", params.delay_ms), ("dom_map1_ar1", params.map_delay_ms)):
        m = out[key]
        if m["avg"] is not None and base["avg"] is not None:
            m["configured_one_way_ms"] = configured
            m["added_one_way_ms"] = round((m["avg"] - base["avg"]) / 2, 4)
            m["ratio_to_configured"] = round(m["added_one_way_ms"] / configured, 4) if configured else None
            m["ratio_to_baseline_rtt"] = round(m["avg"] / base["avg"], 1) if base["avg"] else None
    return out


# --- the mobile node ---------------------------------------------------------------------------------------------

def control_socket(tb, node: str) -> str:
    return yaml.safe_load(Path(tb.dut_variables(node)["config"]).read_text())["control_socket"]


def show(tb, node: str = "mn") -> dict[str, Any]:
    from reference_impl.daemon.control import request
    return request(control_socket(tb, node), {"cmd": "show"}, timeout=5.0)


def registered(state: dict[str, Any], mode: str, cns: list[str]) -> bool:
    """The MN is in ``mode`` with a live binding at its HA (and MAP in HMIPv6 mode) and at every CN in ``cns``."""
    bound = {(e["kind"], e["peer"]) for e in state["binding_update_list"] if e["state"] == "bound" and e["expires_at"]}
    kinds = {k for k, _ in bound}
    need = {"ha"} | ({"map"} if mode == "hmipv6" else set())
    return state["mode"] == mode and need <= kinds and all(("cn", c) in bound for c in cns)


def start_mn(tb, mode: str, cns: list[str], timeout: float = 30.0) -> dict[str, Any]:
    if tb.service_running("mn"):
        tb.stop_service("mn")
    tb.spec.nodes["mn"].daemon_options = {"hmipv6": mode == "hmipv6", "correspondents": cns}
    tb.start_service("mn")
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while True:
        try:
            state = show(tb)["state"]
        except OSError:  # the control socket exists a moment before the daemon listens on it
            state = {}
        if state and registered(state, mode, cns):
            return state
        if time.monotonic() > deadline:
            raise BenchError(f"the mobile node ({mode}, {len(cns)} CNs) did not register within {timeout:.0f} s: "
                             f"mode {state.get('mode')}, bindings "
                             f"{[(e['kind'], e['peer'], e['state']) for e in state.get('binding_update_list', [])]}")
        time.sleep(0.05)  # polling the daemon's state until the deadline


def read_log(path: Path, start: float, end: float) -> list[tuple[float, str]]:
    """``(ts, event)`` of the daemon's JSON log lines in ``[start, end]``."""
    out = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if start <= entry.get("ts", 0) <= end:
            out.append((entry["ts"], entry.get("event", "")))
    return out


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time of ``pid`` (schedstat) plus that of its waited-for children (the daemons' ``ip``/``nft`` runs)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            own = int(f.read().split()[0]) / 1e9
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    return own + (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def daemon_cpu(tb, nodes: list[str]) -> dict[str, float | None]:
    return {node: cpu_seconds(tb.service_pid(node)) for node in nodes}


def binding_seq(state: dict[str, Any], mode: str) -> int | None:
    """The sequence number of the MN's MAP (HMIPv6) or HA (MIPv6) Binding Update List entry."""
    kind = "map" if mode == "hmipv6" else "ha"
    return next((e["seq"] for e in state["binding_update_list"] if e["kind"] == kind), None)


def settled(state: dict[str, Any], mode: str, prefix, seq_before: int | None = None) -> bool:
    """After a move: the MN's LCoA is on the new link's prefix and registered with the MAP (HMIPv6) or HA (MIPv6)
    by a BU sent since ``seq_before`` was read (a move back to a link the MN never noticed leaving needs none)."""
    import ipaddress

    lcoa = state.get("lcoa")
    if lcoa is None or ipaddress.IPv6Address(lcoa) not in prefix:
        return False
    kind = "map" if mode == "hmipv6" else "ha"
    return any(e["kind"] == kind and e["state"] == "bound" and e["bound_coa"] == lcoa
               and (seq_before is None or e["seq"] != seq_before) for e in state["binding_update_list"])


def mn_counters(reply: dict[str, Any]) -> dict[str, int]:
    c = reply["state"]["counters"]
    return {"bu_map": c["bu_sent"]["map"], "bu_ha": c["bu_sent"]["ha"], "bu_cn": c["bu_sent"]["cn"],
            "hoti": c["hoti_sent"], "coti": c["coti_sent"], "rs": c["rs_sent"]}


# --- one configuration -------------------------------------------------------------------------------------------

def run_config(tb, procs: Procs, mode: str, n: int, params: Params, rng: random.Random,
               progress: Callable[[str], None]) -> dict[str, Any]:
    from benchmarks.handover_analysis import count_sent

    cns = [cn_address(i) for i in range(1, n + 1)]
    state = start_mn(tb, mode, cns)
    home = state["home_address"]
    mn_ns = tb.netns_of("mn")
    echo = ping(mn_ns, MAP_ADDRESS, 20)
    wd = procs.workdir
    obs_file, send_file = wd / f"observe-{mode}-{n}.json", wd / f"send-{mode}-{n}.json"
    observer = procs.start(mn_ns, ["-m", "benchmarks.handover_agents", "observe", "--iface", "eth0",
                                   "--port", str(PORT), "--out", str(obs_file)], f"observer {mode} {n}")
    before, t_before = mn_counters(show(tb)), time.time()
    sender = procs.start(None, ["-m", "benchmarks.handover_agents", "send",
                                "--netns", ",".join(tb.netns_of(f"cn{i}") for i in range(1, n + 1)),
                                "--src", ",".join(cns), "--dst", home, "--port", str(PORT),
                                "--rate", repr(flow_rate(params, n)), "--out", str(send_file), "--realtime"],
                         f"sender {mode} {n}")
    cpu_nodes = ["mn", "map1"] + [f"cn{i}" for i in range(1, n + 1)]
    cpu_before, cpu_t0 = daemon_cpu(tb, cpu_nodes), time.monotonic()
    time.sleep(params.warmup)
    moves: list[dict[str, Any]] = []
    link = next(i.link for i in tb.spec.nodes["mn"].interfaces.values() if tb.spec.links[i.link].access)
    target = "ar2" if link == "acc1" else "ar1"
    settled_moves, cap = 0, params.moves + max(2, params.moves // 2)
    seq = binding_seq(show(tb)["state"], mode)
    next_at = time.monotonic()
    while True:
        time.sleep(max(0.0, next_at - time.monotonic()))
        if moves:  # did the previous move complete?  (else one more move, up to the cap)
            now = show(tb)["state"]
            moves[-1]["settled"] = settled(now, mode, tb.spec.links[moves[-1]["link"]].prefix, seq)
            settled_moves += moves[-1]["settled"]
            seq = binding_seq(now, mode)
        if settled_moves >= params.moves or len(moves) >= cap:
            break
        res = tb.attach("mn", target)
        moves.append({"index": len(moves), "to": target, "link": res.link, "down": res.link_down, "up": res.link_up})
        target = "ar1" if target == "ar2" else "ar2"
        next_at += params.interval + rng.uniform(0, 1 / flow_rate(params, n))  # the moves' phase against the flows
    procs.stop(sender)
    t_end = time.time()
    cpu_after, cpu_span = daemon_cpu(tb, cpu_nodes), time.monotonic() - cpu_t0
    load = {node: None if cpu_before[node] is None or cpu_after[node] is None
            else round(100 * (cpu_after[node] - cpu_before[node]) / cpu_span, 1) for node in cpu_nodes}
    cpu = {"mn_pct": load["mn"], "map1_pct": load["map1"],
           "cns_pct_total": round(sum(v for k, v in load.items() if k.startswith("cn") and v is not None), 1),
           "seconds": round(cpu_span, 2), "loadavg": os.getloadavg()[0]}
    time.sleep(0.3 + 2 * params.delay_ms / 1e3)  # the last datagrams in flight arrive
    after, t_after = mn_counters(show(tb)), time.time()
    procs.stop(observer)
    if params.keep_raw:
        for f in (obs_file, send_file):
            shutil.copy(f, params.keep_raw / f.name)
        (params.keep_raw / f"moves-{mode}-{n}.json").write_text(json.dumps({"moves": moves, "end": t_end}))
        shutil.copy(tb.state.workdir / "mn" / "hmipv6-mn.log", params.keep_raw / f"mn-{mode}-{n}.log")
        for node, daemon in (("map1", "map"), ("ar1", "ar"), ("ar2", "ar")):  # the other side of each BU/BA
            log_file = tb.state.workdir / node / f"hmipv6-{daemon}.log"
            if log_file.exists():
                shutil.copy(log_file, params.keep_raw / f"{node}-{mode}-{n}.log")
    log_events = read_log(tb.state.workdir / "mn" / "hmipv6-mn.log", t_before, t_after)
    observed = json.loads(obs_file.read_text())
    sent_doc = json.loads(send_file.read_text())
    sent = [f["sent"] for f in sent_doc["flows"]]
    roles = {MAP_ADDRESS: "map", HA_ADDRESS: "ha", **{c: "cn" for c in cns}}
    slot = 1 / (n * flow_rate(params, n))
    result = analyse(mode, moves, observed, sent, roles, MAP_ADDRESS,
                     echo_rtt=echo["avg"] / 1e3 if echo["avg"] is not None else None, end=t_end, mn_log=log_events,
                     slot=slot, stalls=sent_doc.get("stalls", ()), stall_threshold=sent_doc.get("stall_threshold", 0.0))
    captured = count_sent(observed["events"], roles, t_before, t_after)
    daemon = {k: after[k] - before[k] for k in after}
    result.update({
        "n_cns": n, "echo_mn_map": echo, "cpu": cpu, "send_errors": sum(f["send_errors"] for f in sent_doc["flows"]),
        "flow_rate": flow_rate(params, n), "aggregate_rate": n * flow_rate(params, n),
        "sender": {"realtime": sent_doc.get("realtime"), "lateness_max_ms": round(1e3 * sent_doc.get("lateness_max", 0), 3),
                   "stall_threshold_ms": 1e3 * sent_doc.get("stall_threshold", 0.0),
                   "stalls": len(sent_doc.get("stalls", ())),
                   "sends": sum(f["sent"] + f["send_errors"] for f in sent_doc["flows"])},
        "observer_counts": observed["counts"], "carrier_events": len(observed["carrier"]),
        "cross_check": {"daemon": daemon, "captured": {k: captured.get(k, 0) for k in daemon},
                        "equal": all(captured.get(k, 0) == v for k, v in daemon.items())},
    })
    s = result["summary"]
    ca = s["criterion_agg"]
    progress(f"{mode} N={n}: {s['measured']}/{s['moves']} moves measured, interruption median per flow "
             f"{_fmt(s['interruption_ms'].get('median'))} ms (resolution {_fmt(s['flow_interval_ms'])}), aggregate "
             f"{_fmt(s['agg_interruption_ms'].get('median'))} ms (slot {_fmt(s['slot_ms'], '.2f')}), 1.1x: "
             f"{ca['ok']} ok/{ca['unresolved']} unresolved/{ca['fail']} fail, lost/move {_fmt(s['lost_per_move'].get('mean'))}, "
             f"signalling/move {_fmt(s['mobility_sent_per_move'].get('mean'))}, counters "
             f"{'match' if result['cross_check']['equal'] else 'DIFFER'}")
    return result


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


# --- the whole run -------------------------------------------------------------------------------------------------

def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(params: Params, out_dir: Path, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Build the testbed, splice the delay element, measure every configuration, tear everything down."""
    from harness.testbed import load, open_backend

    out_dir.mkdir(parents=True, exist_ok=True)
    spec_path = out_dir / "testbed.yaml"
    spec_path.write_text("# generated by hmipv6ct bench handover\n" + yaml.safe_dump(topology(max(params.cns)),
                                                                                         sort_keys=False))
    rng = random.Random(params.seed)
    started = time.time()
    tb = open_backend(load(spec_path))
    procs: Procs | None = None
    try:
        tb.up()
        setup_s = time.time() - started
        progress(f"testbed {tb.state.prefix} up in {setup_s:.1f} s ({max(params.cns)} CNs)")
        procs = Procs(tb, tb.state.workdir)
        pairs = [splice(tb, "map1", "core", "hdc")]
        pair_args = ["--pair", f"{pairs[0][0]},{pairs[0][1]},{params.delay_ms:g}"]
        if params.map_delay_ms > 0:
            pairs.append(splice(tb, "map1", "dom1", "hdd"))
            pair_args += ["--pair", f"{pairs[1][0]},{pairs[1][1]},{params.map_delay_ms:g}"]
        delay_stats_file = tb.state.workdir / "delay-stats.json"
        forwarder = procs.start(tb.switch_ns, ["-m", "benchmarks.delay", *pair_args, "--stats", str(delay_stats_file),
                                                  "--realtime"],
                                "delay forwarder")
        delays = measure_delays(tb, params)
        progress("delay element: " + ", ".join(
            f"{k} rtt {_fmt(v['avg'], '.2f')} ms" for k, v in delays.items()))
        configs = []
        for n in params.cns:
            for mode in params.modes:
                configs.append(run_config(tb, procs, mode, n, params, rng, progress))
        procs.stop(forwarder)
        delays["forwarder"] = json.loads(delay_stats_file.read_text()) if delay_stats_file.exists() else None
        mark_stalls(configs, delays["forwarder"], params.interval)
        return {"prefix": tb.state.prefix, "setup_s": round(setup_s, 2), "wall_s": round(time.time() - started, 2),
                "delay": delays, "configs": configs, "started": started}
    finally:
        handlers = [signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)]  # finish teardown
        try:
            if procs is not None:
                procs.stop_all()
            tb.down()
        finally:
            for sig, handler in zip((signal.SIGINT, signal.SIGTERM), handlers):
                signal.signal(sig, handler)


def mark_stalls(configs: list[dict[str, Any]], forwarder: dict[str, Any] | None, interval: float) -> None:
    """Per move, the worst lateness of the delay element from 0.2 s before the carrier loss to the next move
    (``delay_stall_ms``, 0 without any frame later than 5 ms); per configuration, how many measured moves had one."""
    spans = [st for d in ((forwarder or {}).get("directions") or {}).values() for st in d.get("stalls", [])]
    for c in configs:
        for m in c["moves"]:
            lo, hi = m["break"] - 0.2, m["break"] + interval
            m["delay_stall_ms"] = round(1e3 * max((late for start, end, late in spans if start < hi and end > lo),
                                                  default=0.0), 3)
        c["summary"]["moves_with_delay_stall"] = sum(1 for m in c["moves"] if m["delay_stall_ms"] and m["resumed"]
                                                     and m["registered"])


def parse_cns(text: str) -> tuple[int, ...]:
    values = tuple(int(x) for x in text.split(",") if x.strip())
    if not values or min(values) < 1 or max(values) > 50:
        raise argparse.ArgumentTypeError("--cns: comma-separated counts between 1 and 50")
    return values


def main(argv: list[str] | None = None) -> int:
    from benchmarks import handover_report as report

    d = Params()
    p = argparse.ArgumentParser(prog="hmipv6ct bench handover", description=__doc__.split("\n\n")[0])
    p.add_argument("--moves", type=int, default=d.moves, help=f"moves per configuration (default {d.moves})")
    p.add_argument("--cns", type=parse_cns, default=d.cns, help="numbers of correspondents (default 1,5,10)")
    p.add_argument("--delay-ms", type=float, default=d.delay_ms, help="one-way delay to the HA and CNs (default 50)")
    p.add_argument("--map-delay-ms", type=float, default=d.map_delay_ms,
                   help="one-way delay between the MAP and its ARs (default 1; 0: undelayed)")
    p.add_argument("--rate", type=float, default=d.rate,
                   help="aggregate datagrams per second of all CN flows, split evenly across the N CNs (default 1000)")
    p.add_argument("--rate-per-cn", type=float, default=None,
                   help="instead of --rate: datagrams per second of each CN (aggregate N x this)")
    p.add_argument("--interval", type=float, default=d.interval, help="seconds between moves (default 1.0)")
    p.add_argument("--modes", default=",".join(d.modes), help="hmipv6,mipv6 (default both)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--keep-raw", action="store_true", help="keep the raw observations (observe-*.json, send-*.json) "
                                                           "in the output directory")
    p.add_argument("--json", type=Path, help="result file (default reports/bench/handover-<time>.json)")
    p.add_argument("--out", type=Path, help="directory for handover.html, plots and the testbed file "
                                            "(default reports/bench/handover-<time>/)")
    args = p.parse_args(argv)
    modes = tuple(m for m in args.modes.split(",") if m)
    if args.moves < 1 or args.rate <= 0 or (args.rate_per_cn is not None and args.rate_per_cn <= 0) or args.interval <= 0 or args.delay_ms < 0 or args.map_delay_ms < 0:
        p.error("--moves >= 1, --rate > 0, --interval > 0, delays >= 0")
    if not modes or set(modes) - set(MODES):
        p.error("--modes: hmipv6 and/or mipv6")
    if os.geteuid() != 0:
        print("hmipv6ct bench handover: needs root (network namespaces, AF_PACKET)", file=sys.stderr)
        return 2
    params = Params(moves=args.moves, cns=args.cns, delay_ms=args.delay_ms, map_delay_ms=args.map_delay_ms,
                    rate=args.rate, rate_per_cn=args.rate_per_cn, interval=args.interval, modes=modes, seed=args.seed)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out_dir = args.out or BENCH_DIR / f"handover-{stamp}"
    if args.keep_raw:
        params.keep_raw = out_dir
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM tears down like Ctrl-C
    progress = lambda m: print(f"[bench handover] {m}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        raw = run(params, out_dir, progress)
    except KeyboardInterrupt:
        print("hmipv6ct bench handover: interrupted; namespaces and processes removed", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"hmipv6ct bench handover: {exc}", file=sys.stderr)
        return 2
    figures = report.figures(params, raw)
    print(report.table(params, figures, machine()))
    html = report.write_html(out_dir, params, figures, machine())
    path = write_result("handover", dataclasses.asdict(params), figures, args.json, started=raw["started"])
    print(f"\nresult: {path}\nreport: {html}")
    return 0 if figures["complete"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
