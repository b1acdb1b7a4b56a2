"""What a kernel does with Mobile IPv6 signalling, and whether the reference MAP daemon works on it.

Run as root on any Linux (the host, or inside the QEMU guest whose Debian kernel has
``CONFIG_IPV6_MIP6=y``)::

    python3 -m harness.qemu.mip6_probe --out DIR

Topology: two network namespaces joined by a veth pair, ``map0`` (2001:db8:100::1, "MAP") and
``mn0`` (2001:db8:100::5, "MN side", the LCoA); RCoA 2001:db8:100::77.  DAD is off.

Kernel cases (no daemon): the MN side sends a Binding Update with a Home Address option to the
MAP, the MAP side a Binding Acknowledgement with a type 2 routing header to the MN side, each
plain, with an nftables prerouting drop at raw priority on the receiver, with an xfrm state
(``proto hao`` / ``proto route2``, mode ro) on the receiver, and with that state plus an input
policy (what a kernel Mobile IPv6 stack installs); a BU without HAO is the control.  For
each: every frame on both veth ends (AF_PACKET, pcap), what a raw IPPROTO_MH socket on the
receiver got, the nft counter, and the non-zero deltas of ``/proc/net/snmp6`` and
``/proc/net/xfrm_stat`` in both namespaces.

Daemon case: ``python3 -m reference_impl.daemon.map_main`` in the MAP namespace, a local BU
(A and M, HAO = RCoA) from the LCoA, the BA it answers, ``reference_impl.daemon.ctl show``.

Everything goes to ``DIR/results.json`` and ``DIR/pcap/<case>-<iface>.pcap``.  The exit status is 0
when the probe ran (whatever the kernel did), 2 when it could not set up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import netns
from harness.qemu import mhframes

MAP, LCOA, RCOA = "2001:db8:100::1", "2001:db8:100::5", "2001:db8:100::77"
PREFIX = "2001:db8:100::/64"
MAP_IF, MN_IF = "map0", "mn0"
ETH_P_ALL, ETH_P_IPV6 = 0x0003, 0x86DD
PACKET_OUTGOING = 4
BU_FLAGS_AM = 0x8800
PROJECT = Path(__file__).resolve().parents[2]


def sh(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc


class Recorder:
    """Every IPv6 frame on one interface, both directions, kept with a timestamp.

    ETH_P_ALL, not ETH_P_IPV6: the kernel hands outgoing frames only to ETH_P_ALL packet sockets.
    """

    def __init__(self, ns: str, ifname: str) -> None:
        self.ifname = ifname
        self.sock = netns.socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((ifname, ETH_P_ALL))  # host order in bind (platform notes)
        self.sock.setblocking(False)
        self.mac: bytes = self.sock.getsockname()[4]
        self.frames: list[tuple[float, str, bytes]] = []
        # a separate socket sends: a packet socket does not see its own sends, the recorder then does
        self.tx = netns.socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.tx.bind((ifname, 0))

    def drain(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            if data[12:14] != b"\x86\xdd":
                continue
            self.frames.append((time.time(), "out" if addr[2] == PACKET_OUTGOING else "in", data))

    def take(self) -> list[tuple[float, str, bytes]]:
        self.drain()
        frames, self.frames = self.frames, []
        return frames

    def send(self, frame: bytes) -> None:
        self.tx.send(frame)


def write_pcap(path: Path, frames: list[tuple[float, str, bytes]]) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        for ts, _, data in frames:
            sec = int(ts)
            f.write(struct.pack("<IIII", sec, int((ts - sec) * 1e9), len(data), len(data)) + data)


def _read_proc(names: tuple[str, ...]) -> str:
    text = []
    for name in names:
        try:
            with open(name) as f:
                text.append(f.read())
        except OSError:
            pass  # /proc/net/xfrm_stat exists only with CONFIG_XFRM_STATISTICS
    return "".join(text)


def read_counters(ns: str) -> dict[str, int]:
    """/proc/net/snmp6 and /proc/net/xfrm_stat of namespace ``ns`` (thread-self: the thread's namespace)."""
    counters: dict[str, int] = {}
    text = netns.call_in(ns, lambda: _read_proc(("/proc/thread-self/net/snmp6", "/proc/thread-self/net/xfrm_stat")))
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counters[parts[0]] = int(parts[1])
    return counters


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in sorted(after) if after[k] != before.get(k, 0)}


class Probe:
    def __init__(self, out: Path, settle: float) -> None:
        self.out, self.settle = out, settle
        tag = f"hm6q{os.getpid()}"
        self.ns = {"map": f"{tag}-map", "mn": f"{tag}-mn"}
        self.results: dict = {"kernel": platform.release(), "cases": {}, "timings_s": {}}
        (out / "pcap").mkdir(parents=True, exist_ok=True)

    # -- topology ------------------------------------------------------------------------
    def setup(self) -> None:
        for ns in self.ns.values():
            sh("ip", "netns", "add", ns)
            # no DAD, no Router Solicitations: quiet links, clean counters
            sh("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
               "net.ipv6.conf.all.router_solicitations=0", "net.ipv6.conf.default.router_solicitations=0",
               ns=ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "add", MAP_IF, "netns", self.ns["map"], "type", "veth", "peer", "name", MN_IF,
           "netns", self.ns["mn"])
        for side, ifname, addr in (("map", MAP_IF, MAP), ("mn", MN_IF, LCOA)):
            sh("ip", "-6", "addr", "add", f"{addr}/64", "dev", ifname, "nodad", ns=self.ns[side])
            sh("ip", "link", "set", ifname, "up", ns=self.ns[side])
        self.rec = {"map": Recorder(self.ns["map"], MAP_IF), "mn": Recorder(self.ns["mn"], MN_IF)}
        # permanent neighbours: no resolution or unreachability probes inside the cases' captures and counters
        for side, ifname, peer, peer_if, peer_addr in (("map", MAP_IF, "mn", MN_IF, LCOA), ("mn", MN_IF, "map", MAP_IF, MAP)):
            mac = ":".join(f"{b:02x}" for b in self.rec[peer].mac)
            for addr in (peer_addr, _link_local(self.ns[peer], peer_if)):
                sh("ip", "-6", "neigh", "replace", addr, "lladdr", mac, "nud", "permanent", "dev", ifname, ns=self.ns[side])
        time.sleep(2 * self.settle)  # the links' own MLD reports (two per group, up to 1 s apart)
        for r in self.rec.values():
            r.take()

    def teardown(self) -> None:
        for r in getattr(self, "rec", {}).values():
            r.sock.close()
            r.tx.close()
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    # -- one kernel case -----------------------------------------------------------------
    def case(self, name: str, sender: str, packet: bytes, *, nft: bool = False, xfrm: list[list[str]] | None = None,
             home_address: str | None = None, raw_socket: bool = True) -> dict:
        receiver = "mn" if sender == "map" else "map"
        rns = self.ns[receiver]
        result: dict = {"sender": sender, "receiver": receiver, "sent": mhframes.summarise(packet)}
        setup_errors = []
        if nft:
            rule = f"ip6 daddr {MAP if receiver == 'map' else LCOA} meta l4proto 135 counter drop"
            script = ("table ip6 hm6probe {\n chain pre {\n  type filter hook prerouting priority raw; policy accept;\n"
                      f"  {rule}\n }}\n}}\n")
            proc = subprocess.run(["ip", "netns", "exec", rns, "nft", "-f", "-"], input=script, text=True,
                                  capture_output=True)
            result["nft_rule"] = rule
            if proc.returncode != 0:
                setup_errors.append(f"nft: {proc.stderr.strip()}")
        if home_address:
            proc = sh("ip", "-6", "addr", "add", f"{home_address}/128", "dev", "lo", "home", "nodad", ns=rns, check=False)
            result["home_address_added"] = home_address
            if proc.returncode != 0:
                setup_errors.append(f"ip addr add ... home: {proc.stderr.strip()}")
        for args in xfrm or []:
            proc = sh("ip", "xfrm", *args, ns=rns, check=False)
            result.setdefault("xfrm", []).append("ip xfrm " + " ".join(args))
            if proc.returncode != 0:
                setup_errors.append(f"ip xfrm {' '.join(args)}: {proc.stderr.strip()}")
        if setup_errors:
            result["setup_errors"] = setup_errors
        raw = netns.socket_in(rns, socket.AF_INET6, socket.SOCK_RAW, mhframes.NH_MH) if raw_socket else None
        if raw is not None:
            raw.setblocking(False)
        before = {side: read_counters(ns) for side, ns in self.ns.items()}
        for r in self.rec.values():
            r.take()
        peer_mac = self.rec[receiver].mac
        self.rec[sender].send(mhframes.ethernet(peer_mac, self.rec[sender].mac, packet))
        time.sleep(self.settle)
        frames = {side: r.take() for side, r in self.rec.items()}
        after = {side: read_counters(ns) for side, ns in self.ns.items()}
        delivered = []
        while raw is not None:
            try:
                data, addr = raw.recvfrom(65535)
            except BlockingIOError:
                break
            delivered.append({"from": addr[0], "length": len(data), "mh_type": data[2] if len(data) > 2 else None,
                              "hex": data.hex()})
        if raw is not None:
            raw.close()
        result["raw_socket"] = raw_socket
        result["raw_socket_delivered"] = delivered
        result["counters"] = {side: delta(before[side], after[side]) for side in self.ns}
        result["frames"] = {side: [{"dir": d, **mhframes.summarise(f[14:])} for _, d, f in fs]
                            for side, fs in frames.items()}
        icmp = [f for f in result["frames"][receiver] if f["dir"] == "out" and f.get("kind") == "icmpv6"
                and f.get("icmp_type", 255) < 128]
        result["icmp_errors"] = [{"type": f["icmp_type"], "name": f["icmp_name"], "code": f["icmp_code"],
                                  "pointer": f.get("icmp_param")} for f in icmp]
        if nft:
            listing = sh("nft", "-j", "list", "table", "ip6", "hm6probe", ns=rns, check=False).stdout
            result["nft_counter_packets"] = _nft_counter(listing)
            sh("nft", "delete", "table", "ip6", "hm6probe", ns=rns, check=False)
        if xfrm:
            result["xfrm_state_after"] = sh("ip", "-s", "xfrm", "state", ns=rns, check=False).stdout
            sh("ip", "xfrm", "state", "flush", ns=rns, check=False)
            sh("ip", "xfrm", "policy", "flush", ns=rns, check=False)
        if home_address:
            sh("ip", "-6", "addr", "del", f"{home_address}/128", "dev", "lo", ns=rns, check=False)
        for side, fs in frames.items():
            write_pcap(self.out / "pcap" / f"{name}-{MAP_IF if side == 'map' else MN_IF}.pcap", fs)
        result["verdict"] = _verdict(result)
        self.results["cases"][name] = result
        return result

    def kernel_cases(self) -> None:
        bu = mhframes.bu_packet(LCOA, MAP, seq=1, hoa=RCOA)
        ba = mhframes.ba_packet(MAP, LCOA, seq=1, home=RCOA)
        self.case("bu_plain", "mn", mhframes.bu_packet(LCOA, MAP, seq=1))
        self.case("bu_plain_noraw", "mn", mhframes.bu_packet(LCOA, MAP, seq=1), raw_socket=False)
        self.case("bu_hao", "mn", bu)
        self.case("bu_hao_nft", "mn", bu, nft=True)
        # what a kernel Mobile IPv6 stack (UMIP-style) installs: a route-optimisation (mode ro) state,
        # and an input policy, or the raw socket's xfrm6_policy_check rejects it (XfrmInNoPols)
        hao_state = ["state", "add", "src", RCOA, "dst", MAP, "proto", "hao", "mode", "ro", "coa", LCOA]
        self.case("bu_hao_xfrm_state", "mn", bu, xfrm=[hao_state])
        self.case("bu_hao_xfrm", "mn", bu, xfrm=[hao_state, [
            "policy", "add", "src", f"{RCOA}/128", "dst", f"{MAP}/128", "proto", "135", "dir", "in",
            "tmpl", "proto", "hao", "mode", "ro", "level", "use"]])
        self.case("ba_rh2", "map", ba)
        self.case("ba_rh2_nft", "map", ba, nft=True)
        rh2_state = ["state", "add", "src", MAP, "dst", RCOA, "proto", "route2", "mode", "ro", "coa", LCOA]
        self.case("ba_rh2_xfrm_state", "map", ba, home_address=RCOA, xfrm=[rh2_state])
        self.case("ba_rh2_xfrm", "map", ba, home_address=RCOA, xfrm=[rh2_state, [
            "policy", "add", "src", f"{MAP}/128", "dst", f"{RCOA}/128", "proto", "135", "dir", "in",
            "tmpl", "proto", "route2", "mode", "ro", "level", "use"]])

    # -- the reference MAP daemon --------------------------------------------------------
    def daemon_case(self, ready_timeout: float = 90.0) -> dict:
        work = Path(tempfile.mkdtemp(prefix="hm6q-daemon-"))
        config = work / "map.yaml"
        log_file, sock = work / "map.log", work / "map.sock"
        config.write_text(
            "role: map\nedition: rfc4140\n"
            f"control_socket: {sock}\nlog_file: {log_file}\n"
            "map:\n"
            f"  address: {MAP}\n  home_iface: {MAP_IF}\n  listen: [{MAP_IF}]\n"
            f"  onlink_prefixes: ['{PREFIX}']\n  dad: 'off'\n")
        result: dict = {"config": config.read_text()}
        self.results["daemon"] = result
        mapns = self.ns["map"]
        before = {side: read_counters(ns) for side, ns in self.ns.items()}
        for r in self.rec.values():
            r.take()
        stderr = open(work / "stderr", "w+")
        started = time.monotonic()
        proc = subprocess.Popen(["ip", "netns", "exec", mapns, sys.executable, "-m", "reference_impl.daemon.map_main",
                                 "--config", str(config)], cwd=PROJECT, stdout=stderr, stderr=stderr,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            ready = False
            while time.monotonic() - started < ready_timeout and proc.poll() is None:
                if log_file.exists() and '"event": "ready"' in log_file.read_text():
                    ready = True
                    break
                time.sleep(0.1)
            result["ready"] = ready
            result["ready_after_s"] = round(time.monotonic() - started, 2)
            if not ready:
                result["exit_status"] = proc.poll()
                return result
            result["nft_ruleset"] = sh("nft", "list", "ruleset", ns=mapns, check=False).stdout
            ba = None
            attempts = 0
            deadline = time.monotonic() + 15
            while ba is None and time.monotonic() < deadline:
                attempts += 1
                bu = mhframes.bu_packet(LCOA, MAP, seq=7, flags=BU_FLAGS_AM, lifetime=10, hoa=RCOA)
                self.rec["mn"].send(mhframes.ethernet(self.rec["map"].mac, self.rec["mn"].mac, bu))
                wait_until = min(deadline, time.monotonic() + 3)
                while ba is None and time.monotonic() < wait_until:
                    select.select([self.rec["mn"].sock], [], [], 0.2)
                    self.rec["mn"].drain()
                    for _, d, f in self.rec["mn"].frames:
                        s = mhframes.summarise(f[14:])
                        if d == "in" and s.get("kind") == "mh" and s.get("mh_type") == mhframes.MH_BA and s.get("seq") == 7:
                            ba = s
            result["bu_attempts"] = attempts
            result["ba_after_s"] = round(time.monotonic() - started, 2)
            result["ba"] = ba
            time.sleep(self.settle)
            show = sh(sys.executable, "-m", "reference_impl.daemon.ctl", "--config", str(config), "show", ns=mapns,
                      check=False)
            try:
                result["show"] = json.loads(show.stdout)
            except ValueError:
                result["show_error"] = show.stderr.strip() or show.stdout.strip()
            text = json.dumps(result.get("show", {}).get("state", {}))
            result["binding_listed"] = RCOA in text and LCOA in text
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            result["exit_status"] = proc.returncode
            frames = {side: r.take() for side, r in self.rec.items()}
            after = {side: read_counters(ns) for side, ns in self.ns.items()}
            result["counters"] = {side: delta(before[side], after[side]) for side in self.ns}
            result["frames"] = {side: [{"dir": d, **mhframes.summarise(f[14:])} for _, d, f in fs]
                                for side, fs in frames.items()}
            for side, fs in frames.items():
                write_pcap(self.out / "pcap" / f"daemon-{MAP_IF if side == 'map' else MN_IF}.pcap", fs)
            result["icmp_errors"] = {side: [f for f in result["frames"][side] if f["dir"] == "out"
                                            and f.get("kind") == "icmpv6" and f.get("icmp_type", 255) < 128]
                                     for side in self.ns}
            stderr.seek(0)
            result["stderr"] = stderr.read()[-4000:]
            stderr.close()
            result["log"] = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")] \
                if log_file.exists() else []
            shutil.copy2(config, self.out / "map.yaml")
            if log_file.exists():
                shutil.copy2(log_file, self.out / "map.log")
            shutil.rmtree(work, ignore_errors=True)
        return result


def _link_local(ns: str, ifname: str) -> str:
    deadline = time.monotonic() + 5
    while True:  # assigned once both ends of the veth are up
        doc = json.loads(sh("ip", "-j", "-6", "addr", "show", "dev", ifname, "scope", "link", ns=ns).stdout)
        found = [a["local"] for link in doc for a in link.get("addr_info", []) if "local" in a]
        if found or time.monotonic() > deadline:
            return found[0]
        time.sleep(0.05)


def _nft_counter(listing: str) -> int | None:
    try:
        doc = json.loads(listing)
    except ValueError:
        return None
    for item in doc.get("nftables", []):
        for expr in item.get("rule", {}).get("expr", []):
            if "counter" in expr:
                return expr["counter"]["packets"]
    return None


def _verdict(r: dict) -> str:
    """One word for what the receiver's kernel did with the packet."""
    if r["raw_socket_delivered"]:
        return "delivered"
    if r["icmp_errors"]:
        e = r["icmp_errors"][0]
        return f"icmp-{e['name']}-code{e['code']}-pointer{e['pointer']}"
    return "silent-drop"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m harness.qemu.mip6_probe", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--settle", type=float, default=1.0, help="seconds to wait for the kernel's reaction per case")
    p.add_argument("--no-daemon", action="store_true", help="kernel cases only")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("mip6_probe: needs root (network namespaces, AF_PACKET)", file=sys.stderr)
        return 2
    probe = Probe(args.out, args.settle)
    t0 = time.monotonic()
    status = 0
    try:
        probe.setup()
        probe.results["timings_s"]["setup"] = round(time.monotonic() - t0, 2)
        probe.kernel_cases()
        probe.results["timings_s"]["kernel_cases"] = round(time.monotonic() - t0, 2)
        if not args.no_daemon:
            probe.daemon_case()
            probe.results["timings_s"]["daemon_case"] = round(time.monotonic() - t0, 2)
    except Exception as exc:  # noqa: BLE001 - reported in results.json and as the exit status
        probe.results["error"] = f"{type(exc).__name__}: {exc}"
        status = 2
    finally:
        probe.teardown()
        probe.results["duration_s"] = round(time.monotonic() - t0, 2)
        (args.out / "results.json").write_text(json.dumps(probe.results, indent=1, sort_keys=True) + "\n")
    summary = {name: c["verdict"] for name, c in probe.results["cases"].items()}
    daemon = probe.results.get("daemon", {})
    print(json.dumps({"kernel": probe.results["kernel"], "cases": summary,
                      "daemon_ba_status": (daemon.get("ba") or {}).get("status"),
                      "binding_listed": daemon.get("binding_listed"), "error": probe.results.get("error")}))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
