"""The reference MAP's ``data_plane: ip6tnl`` (kernel ip6tnl tunnel routes) on a kernel that has ip6_tunnel.

This host's kernel has no ip6_tunnel, so the guest (harness.qemu: Debian's stock kernel under TCG) runs
this file as a script (``--guest OUT``): three namespaces on two veth pairs,

    cn (cn0 2001:db8:20::10) -- map1 [MAP 2001:db8:20::1 / map0 2001:db8:100::1] map0 -- mn0 (LCoA 2001:db8:100::5)

the MAP daemon in ``map`` with ``data_plane: ip6tnl`` (after a stale ``hmip6tnl`` device and ``proto 99``
route were left there), a local BU from the LCoA for RCoA 2001:db8:100::77 (harness.qemu.mhframes), a
UDP datagram from the CN to the RCoA (the kernel must tunnel it MAP -> LCoA), a reverse-tunnelled
datagram LCoA -> MAP (inner RCoA -> CN; the daemon must forward it, the kernel's flow-based device must
not see it), one from an unbound source with the daemon's nftables table deleted (control: the daemon
rejects it, the kernel decapsulates and forwards it), a second binding (the daemon rebuilds its table), a
deregistration, and SIGTERM.  Everything goes to ``OUT/results.json`` and ``OUT/pcap/``; the tests below
judge it.  The host test checks the one-line error on a kernel without ip6tnl.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness import netns
from harness.qemu import mhframes

pytestmark = [pytest.mark.slow, pytest.mark.qemu]

PROJECT = Path(__file__).resolve().parents[2]
MAP, LCOA, RCOA, RCOA2 = "2001:db8:100::1", "2001:db8:100::5", "2001:db8:100::77", "2001:db8:100::78"
MAP_CN_SIDE, CN = "2001:db8:20::1", "2001:db8:20::10"
STALE_RCOA = "2001:db8:100::99"
SPOOFED = "2001:db8:100::66"  # bound to nothing: the daemon rejects a reverse tunnel from it
DEVICE = "hmip6tnl"
UDP_PORT = 9
GUEST_TIMEOUT = 180.0


# -- the guest side (python3 tests/slow/test_qemu_ip6tnl.py --guest OUT, as root in the QEMU guest) ----------

def udp_packet(src: str, dst: str, payload: bytes, hop_limit: int = 64, sport: int = 40000) -> bytes:
    s, d = mhframes.ip6(src), mhframes.ip6(dst)
    udp = struct.pack("!HHHH", sport, UDP_PORT, 8 + len(payload), 0) + payload
    csum = mhframes.checksum(s + d + struct.pack("!IxxxB", len(udp), 17) + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    return struct.pack("!IHBB", 6 << 28, len(udp), 17, hop_limit) + s + d + udp


def tunnelled(outer_src: str, outer_dst: str, inner: bytes) -> bytes:
    return struct.pack("!IHBB", 6 << 28, len(inner), 41, 64) + mhframes.ip6(outer_src) + mhframes.ip6(outer_dst) + inner


def describe(packet: bytes) -> dict:
    """Outer header, and the inner one if it is IPv6-in-IPv6 (next header 41 right after the outer header)."""
    out = {"src": mhframes.fmt(packet[8:24]), "dst": mhframes.fmt(packet[24:40]), "nh": packet[6],
           "hop_limit": packet[7], "length": len(packet)}
    if packet[6] == 41 and len(packet) >= 80:
        inner = packet[40:]
        out["inner"] = {"src": mhframes.fmt(inner[8:24]), "dst": mhframes.fmt(inner[24:40]), "nh": inner[6],
                        "hop_limit": inner[7], "payload": inner[48:].decode(errors="replace") if inner[6] == 17 else ""}
    elif packet[6] == 17:
        out["payload"] = packet[48:].decode(errors="replace")
    return out


class Guest:
    def __init__(self, out: Path) -> None:
        from harness.qemu.mip6_probe import Recorder, sh  # noqa: F401 - guest only
        self.out, self.sh, self.Recorder = out, sh, Recorder
        tag = f"hm6t{os.getpid()}"
        self.ns = {"map": f"{tag}-map", "mn": f"{tag}-mn", "cn": f"{tag}-cn"}
        self.work = Path(tempfile.mkdtemp(prefix="hm6t-"))
        self.config = self.work / "map.yaml"
        self.log_file = self.work / "map.log"
        self.r: dict = {"kernel": os.uname().release, "steps": {}, "timings_s": {}}
        self.t0 = time.monotonic()
        self.proc: subprocess.Popen | None = None
        (out / "pcap").mkdir(parents=True, exist_ok=True)

    def mark(self, name: str) -> None:
        self.r["timings_s"][name] = round(time.monotonic() - self.t0, 2)

    def ip(self, side: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.sh(*args, ns=self.ns[side], check=check)

    # -- topology ----------------------------------------------------------------------------
    def setup(self) -> None:
        for side, ns in self.ns.items():
            self.sh("ip", "netns", "add", ns)
            self.ip(side, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
                    "net.ipv6.conf.all.router_solicitations=0", "net.ipv6.conf.default.router_solicitations=0")
            self.ip(side, "ip", "link", "set", "lo", "up")
        self.ip("map", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        self.sh("ip", "link", "add", "map0", "netns", self.ns["map"], "type", "veth", "peer", "name", "mn0",
                "netns", self.ns["mn"])
        self.sh("ip", "link", "add", "map1", "netns", self.ns["map"], "type", "veth", "peer", "name", "cn0",
                "netns", self.ns["cn"])
        for side, ifname, addr in (("map", "map0", MAP), ("mn", "mn0", LCOA), ("map", "map1", MAP_CN_SIDE),
                                   ("cn", "cn0", CN)):
            self.ip(side, "ip", "-6", "addr", "add", f"{addr}/64", "dev", ifname, "nodad")
            self.ip(side, "ip", "link", "set", ifname, "up")
        self.ip("cn", "ip", "-6", "route", "add", "default", "via", MAP_CN_SIDE)
        self.rec = {"map0": self.Recorder(self.ns["map"], "map0"), "mn0": self.Recorder(self.ns["mn"], "mn0"),
                    "map1": self.Recorder(self.ns["map"], "map1"), "cn0": self.Recorder(self.ns["cn"], "cn0")}
        mac = {name: ":".join(f"{b:02x}" for b in r.mac) for name, r in self.rec.items()}
        for side, ifname, addr, peer in (("map", "map0", LCOA, "mn0"), ("mn", "mn0", MAP, "map0"),
                                         ("map", "map1", CN, "cn0"), ("cn", "cn0", MAP_CN_SIDE, "map1")):
            self.ip(side, "ip", "-6", "neigh", "replace", addr, "lladdr", mac[peer], "nud", "permanent", "dev", ifname)
        # the MN side does not decapsulate (no tunnel there): keep its kernel quiet about protocol 41
        subprocess.run(["ip", "netns", "exec", self.ns["mn"], "nft", "-f", "-"], check=True, text=True,
                       input="table ip6 mnquiet {\n chain pre {\n  type filter hook prerouting priority raw; "
                             "policy accept;\n  meta l4proto 41 drop\n }\n}\n")
        self.udp = netns.socket_in(self.ns["cn"], socket.AF_INET6, socket.SOCK_DGRAM)
        self.udp.bind(("::", UDP_PORT))
        self.udp.setblocking(False)
        # what a crashed earlier run would leave: the device and a proto 99 route through it
        self.ip("map", "ip", "link", "add", DEVICE, "type", "ip6tnl", "external")
        self.ip("map", "ip", "link", "set", DEVICE, "up")
        self.ip("map", "ip", "-6", "route", "add", f"{STALE_RCOA}/128", "encap", "ip6", "dst", LCOA, "dev", DEVICE,
                "proto", "99")
        self.r["stale_routes"] = self.ip("map", "ip", "-6", "route", "show", "proto", "99").stdout
        self.r["lsmod"] = [line.split()[0] for line in open("/proc/modules") if "tunnel" in line.split()[0]]
        time.sleep(1.0)
        self.take()
        self.mark("setup")

    def take(self) -> dict[str, list]:
        return {name: r.take() for name, r in self.rec.items()}

    def received_udp(self) -> list[dict]:
        got = []
        while True:
            try:
                data, addr = self.udp.recvfrom(2048)
            except BlockingIOError:
                return got
            got.append({"from": addr[0], "payload": data.decode(errors="replace")})

    def tnl_stats(self) -> dict:
        doc = json.loads(self.ip("map", "ip", "-s", "-j", "link", "show", DEVICE).stdout)[0]
        return {"rx_packets": doc["stats64"]["rx"]["packets"], "tx_packets": doc["stats64"]["tx"]["packets"]}

    def show(self) -> dict:
        proc = self.ip("map", sys.executable, "-m", "reference_impl.daemon.ctl", "--config", str(self.config), "show",
                       check=False)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return {"error": proc.stderr.strip() or proc.stdout.strip()}

    def save(self, name: str, frames: dict[str, list]) -> dict:
        from harness.qemu.mip6_probe import write_pcap
        for ifname, fs in frames.items():
            if fs:
                write_pcap(self.out / "pcap" / f"{name}-{ifname}.pcap", fs)
        return {ifname: [{"dir": d, **describe(f[14:])} for _, d, f in fs] for ifname, fs in frames.items()}

    # -- the daemon ----------------------------------------------------------------------------
    def start_daemon(self) -> None:
        sock = self.work / "map.sock"
        self.config.write_text(
            "role: map\nedition: rfc4140\n"
            f"control_socket: {sock}\nlog_file: {self.log_file}\n"
            "map:\n"
            f"  address: {MAP}\n  home_iface: map0\n  listen: [map0]\n"
            "  onlink_prefixes: ['2001:db8:100::/64']\n  dad: 'off'\n  data_plane: ip6tnl\n")
        self.stderr = open(self.work / "stderr", "w+")
        started = time.monotonic()
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns["map"], sys.executable, "-m",
                                      "reference_impl.daemon.map_main", "--config", str(self.config)],
                                     cwd=PROJECT, stdout=self.stderr, stderr=self.stderr, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        ready = False
        while time.monotonic() - started < 60 and self.proc.poll() is None:
            if self.log_file.exists() and '"event": "ready"' in self.log_file.read_text():
                ready = True
                break
            time.sleep(0.1)
        self.r["ready"], self.r["ready_after_s"] = ready, round(time.monotonic() - started, 2)
        if not ready:
            raise RuntimeError(f"daemon not ready (exit {self.proc.poll()}): {self.stderr_text()}")
        self.r["device"] = self.ip("map", "ip", "-d", "link", "show", DEVICE).stdout
        self.r["routes_at_start"] = self.ip("map", "ip", "-6", "route", "show", "proto", "99").stdout
        self.r["nft_at_start"] = self.ip("map", "nft", "list", "ruleset").stdout
        self.mark("daemon_ready")

    def stderr_text(self) -> str:
        self.stderr.flush()
        return (self.work / "stderr").read_text()[-3000:]

    def bu(self, name: str, hoa: str, seq: int, lifetime: int) -> dict:
        """A local BU (A and M; lifetime in 4 s units) from the LCoA, repeated until its BA arrives."""
        ba = None
        attempts = 0
        deadline = time.monotonic() + 15
        mn = self.rec["mn0"]
        while ba is None and time.monotonic() < deadline:
            attempts += 1
            mn.send(mhframes.ethernet(self.rec["map0"].mac, mn.mac,
                                      mhframes.bu_packet(LCOA, MAP, seq=seq, lifetime=lifetime, hoa=hoa)))
            wait_until = min(deadline, time.monotonic() + 3)
            while ba is None and time.monotonic() < wait_until:
                select.select([mn.sock], [], [], 0.2)
                mn.drain()
                for _, d, f in mn.frames:
                    s = mhframes.summarise(f[14:])
                    if d == "in" and s.get("kind") == "mh" and s.get("mh_type") == mhframes.MH_BA and s.get("seq") == seq:
                        ba = s
        time.sleep(0.3)  # the route is installed right after the BA is sent
        step = {"attempts": attempts, "ba": ba, "routes": self.ip("map", "ip", "-d", "-6", "route", "show",
                                                                    "proto", "99").stdout}
        self.r["steps"][name] = step
        self.take()
        self.mark(name)
        return step

    def wait_frames(self, ifname: str, want, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        r = self.rec[ifname]
        while time.monotonic() < deadline:
            select.select([r.sock], [], [], 0.1)
            r.drain()
            if any(want(f[14:]) for _, d, f in r.frames if d == "in"):
                return

    def forward(self) -> None:
        """CN -> RCoA: the kernel route must tunnel it MAP -> LCoA."""
        before = self.tnl_stats()
        self.udp.sendto(b"hm-ip6tnl-forward", (RCOA, UDP_PORT))
        self.wait_frames("mn0", lambda p: p[6] == 41 and p[64:80] == mhframes.ip6(RCOA))
        time.sleep(0.3)
        frames = self.save("forward", self.take())
        self.r["steps"]["forward"] = {"frames": frames, "tnl_before": before, "tnl_after": self.tnl_stats(),
                                      "show": self.show()}
        self.mark("forward")

    def reverse(self, name: str, payload: bytes, outer_src: str = LCOA) -> None:
        """``outer_src`` (the LCoA) -> MAP, inner RCoA -> CN, sent as a whole frame from the MN side."""
        before = self.tnl_stats()
        self.received_udp()
        mn = self.rec["mn0"]
        mn.send(mhframes.ethernet(self.rec["map0"].mac, mn.mac, tunnelled(outer_src, MAP, udp_packet(RCOA, CN, payload))))
        self.wait_frames("cn0", lambda p: p[6] == 17 and p[48:] == payload)
        time.sleep(0.5)  # a second copy (the kernel's) would come within this
        frames = self.save(name, self.take())
        self.r["steps"][name] = {"frames": frames, "tnl_before": before, "tnl_after": self.tnl_stats(),
                                 "udp_received": self.received_udp(), "show": self.show(),
                                 "nft_tables": self.ip("map", "nft", "list", "tables").stdout}
        self.mark(name)

    def stop_daemon(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.r["exit_status"] = self.proc.returncode
        self.r["stderr"] = self.stderr_text()
        self.stderr.close()
        self.r["after_exit"] = {
            "device": self.ip("map", "ip", "link", "show", DEVICE, check=False).returncode == 0,
            "routes": self.ip("map", "ip", "-6", "route", "show", "proto", "99").stdout,
            "nft": self.ip("map", "nft", "list", "tables").stdout,
        }
        self.proc = None

    def run(self) -> None:
        self.setup()
        self.start_daemon()
        self.bu("bu", RCOA, seq=7, lifetime=10)
        self.forward()
        self.reverse("reverse", b"hm-ip6tnl-reverse")
        self.ip("map", "nft", "delete", "table", "ip6", "hmipv6_map")
        self.reverse("reverse_without_table", b"hm-ip6tnl-no-table", outer_src=SPOOFED)
        self.bu("bu_second", RCOA2, seq=1, lifetime=10)  # a new binding: the daemon rebuilds its table
        self.reverse("reverse_table_rebuilt", b"hm-ip6tnl-rebuilt")
        self.bu("dereg", RCOA, seq=8, lifetime=0)
        self.stop_daemon()
        self.mark("stopped")

    def teardown(self) -> None:
        try:
            self.stop_daemon()
        finally:
            if self.log_file.exists():
                self.r["log"] = [json.loads(line) for line in self.log_file.read_text().splitlines()
                                 if line.startswith("{")]
            for r in getattr(self, "rec", {}).values():
                r.sock.close()
                r.tx.close()
            if hasattr(self, "udp"):
                self.udp.close()
            for ns in self.ns.values():
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["rm", "-rf", str(self.work)])


def guest_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="the data_plane ip6tnl scenario (run as root in the QEMU guest)")
    p.add_argument("--guest", required=True, type=Path, metavar="OUT")
    args = p.parse_args(argv)
    g = Guest(args.guest)
    status = 0
    try:
        g.run()
    except Exception as exc:  # noqa: BLE001 - reported in results.json
        g.r["error"] = f"{type(exc).__name__}: {exc}"
        status = 2
    finally:
        g.teardown()
        g.r["duration_s"] = round(time.monotonic() - g.t0, 2)
        (args.guest / "results.json").write_text(json.dumps(g.r, indent=1, sort_keys=True) + "\n")
    print(json.dumps({"error": g.r.get("error"), "timings_s": g.r["timings_s"]}))
    return status


# -- the tests (host) ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from harness.qemu import build_guest, qemu_available, run_batch
    reason = qemu_available()
    if reason:
        pytest.skip(reason)
    evidence = tmp_path_factory.mktemp("qemu-ip6tnl")
    image = build_guest()
    script = f'"$PYTHON" {Path(__file__).resolve()} --guest "$HMIPV6_RESULTS"'
    result = run_batch(script, timeout=GUEST_TIMEOUT, image=image, workdir=evidence / "guest")
    (result.results_dir / "serial.log").write_text(result.serial_log)
    print(f"\nguest kernel {image.abi}: boot+scenario {result.duration:.1f} s; evidence in {result.results_dir}")
    data = json.loads((result.results_dir / "results.json").read_text()) \
        if (result.results_dir / "results.json").exists() else {}
    assert result.rc == 0 and "error" not in data, \
        f"scenario failed in the guest (rc {result.rc}): {data.get('error')}\n{result.output[-3000:]}"
    return data


def tunnelled_at_lcoa(step: dict, inner_dst: str) -> list[dict]:
    return [f for f in step["frames"]["mn0"] if f["dir"] == "in" and f.get("inner", {}).get("dst") == inner_dst]


def test_daemon_starts_over_a_stale_device_and_route(run: dict) -> None:
    assert STALE_RCOA in run["stale_routes"]
    assert "ip6tnl external" in run["device"], run["device"]
    assert STALE_RCOA not in run["routes_at_start"], "the stale proto 99 route survived the start"
    assert "table ip6 hmipv6_map" in run["nft_at_start"]


def test_binding_installs_an_encap_ip6_route(run: dict) -> None:
    step = run["steps"]["bu"]
    assert step["ba"] is not None and step["ba"]["status"] == 0 and step["ba"]["dst"] == LCOA, step
    route = [line for line in step["routes"].splitlines() if line.split()[1] == RCOA]
    assert route and f"encap ip6 id 0 src {MAP} dst {LCOA} hoplimit 64" in route[0] and f"dev {DEVICE}" in route[0], \
        step["routes"]


def test_kernel_tunnels_packets_for_the_rcoa_as_plain_ipv6_in_ipv6(run: dict) -> None:
    step = run["steps"]["forward"]
    got = tunnelled_at_lcoa(step, RCOA)
    assert len(got) == 1, json.dumps(step["frames"], indent=1)
    outer, inner = got[0], got[0]["inner"]
    assert (outer["src"], outer["dst"], outer["nh"], outer["hop_limit"]) == (MAP, LCOA, 41, 64), outer
    assert (inner["src"], inner["nh"], inner["payload"]) == (CN, 17, "hm-ip6tnl-forward"), inner
    assert inner["hop_limit"] == 63, "the MAP forwards the inner packet: its hop limit goes down by one"
    assert step["tnl_after"]["tx_packets"] - step["tnl_before"]["tx_packets"] == 1, step
    shown = step["show"]
    assert shown["dataplane"] == "ip6tnl" and shown["dataplane_counters"]["tunnelled"] == 0, \
        "the userspace path did the work, not the kernel route"


def test_reverse_tunnel_reaches_the_daemon_not_the_kernel_device(run: dict) -> None:
    step = run["steps"]["reverse"]
    assert step["udp_received"] == [{"from": RCOA, "payload": "hm-ip6tnl-reverse"}], step["udp_received"]
    assert step["tnl_after"]["rx_packets"] == step["tnl_before"]["rx_packets"], \
        "the kernel's flow-based ip6tnl decapsulated a reverse tunnel the nft table should have dropped"
    forwarded = [f for f in step["frames"]["cn0"] if f["dir"] == "in" and f["nh"] == 17]
    assert [(f["src"], f["dst"], f["hop_limit"]) for f in forwarded] == [(RCOA, CN, 63)]
    counters = step["show"]["dataplane_counters"]
    assert counters["reverse_forwarded"] >= 1 and counters["reverse_rejected"] == 0, counters


def test_without_the_table_the_kernel_would_decapsulate_from_anyone(run: dict) -> None:
    """Control for the claim above: with the daemon's table deleted, the flow-based device takes
    IPv6-in-IPv6 to the MAP from any source and forwards the inner packet: the daemon rejects a reverse
    tunnel from an address bound to nothing, the kernel delivers it to the CN anyway."""
    step = run["steps"]["reverse_without_table"]
    assert "hmipv6_map" not in step["nft_tables"]
    assert step["tnl_after"]["rx_packets"] - step["tnl_before"]["rx_packets"] == 1, step
    assert step["udp_received"] == [{"from": RCOA, "payload": "hm-ip6tnl-no-table"}], step["udp_received"]
    before, after = run["steps"]["reverse"]["show"], step["show"]
    assert after["dataplane_counters"]["reverse_rejected"] - before["dataplane_counters"]["reverse_rejected"] == 1


def test_a_new_binding_rebuilds_a_removed_table(run: dict) -> None:
    assert run["steps"]["bu_second"]["ba"]["status"] == 0
    step = run["steps"]["reverse_table_rebuilt"]
    assert "hmipv6_map" in step["nft_tables"]
    assert step["tnl_after"]["rx_packets"] == step["tnl_before"]["rx_packets"], step
    assert step["udp_received"] == [{"from": RCOA, "payload": "hm-ip6tnl-rebuilt"}], step["udp_received"]
    assert any(e["event"] == "nft_error" and e.get("action") == "rebuilding the table" for e in run["log"])


def test_deregistration_removes_the_route_and_exit_removes_everything(run: dict) -> None:
    step = run["steps"]["dereg"]
    assert step["ba"]["status"] == 0
    assert RCOA not in step["routes"].split() and RCOA2 in step["routes"], step["routes"]
    assert run["exit_status"] == 0, run["stderr"]
    assert run["after_exit"] == {"device": False, "routes": "", "nft": ""}, run["after_exit"]
    assert not any(e["event"] == "kernel_route_error" for e in run["log"]), run["log"]


@pytest.mark.netns
def test_without_ip6tnl_the_daemon_exits_with_a_one_line_error(tmp_path: Path) -> None:
    """On this host (no ip6_tunnel): exit status 2, one line naming the missing kernel support, and
    nothing left behind (nft table, device, control socket)."""
    ns = f"hm6t{os.getpid()}-host"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        def sh(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True)
        if sh("ip", "link", "add", "probe6tnl", "type", "ip6tnl", "external").returncode == 0:
            pytest.skip("this kernel has ip6tnl: the clean failure is only observable without it")
        assert sh("ip", "link", "add", "map0", "type", "veth", "peer", "name", "mn0").returncode == 0
        sh("ip", "link", "set", "map0", "up")
        sh("ip", "-6", "addr", "add", f"{MAP}/64", "dev", "map0", "nodad")
        config = tmp_path / "map.yaml"
        config.write_text(
            "role: map\nedition: rfc4140\n"
            f"control_socket: {tmp_path / 'map.sock'}\nlog_file: {tmp_path / 'map.log'}\n"
            f"map:\n  address: {MAP}\n  home_iface: map0\n  listen: [map0]\n"
            "  onlink_prefixes: ['2001:db8:100::/64']\n  dad: 'off'\n  data_plane: ip6tnl\n")
        proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "reference_impl.daemon.map_main",
                               "--config", str(config)], cwd=PROJECT, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, (proc.returncode, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert lines[0].startswith("hmipv6-map: data_plane ip6tnl needs") and "ip6_tunnel" in lines[0], lines[0]
        assert "CONFIG_IPV6_TUNNEL" in lines[0]
        assert sh("nft", "list", "tables").stdout.strip() == ""
        assert sh("ip", "link", "show", DEVICE).returncode != 0
        assert not (tmp_path / "map.sock").exists()
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


if __name__ == "__main__":
    raise SystemExit(guest_main(sys.argv[1:]))
