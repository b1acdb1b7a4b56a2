"""The reference home agent and correspondent node daemons (``hmipv6-ha``, ``hmipv6-cn``) in network namespaces,
driven by a tester-played mobile node.

Topology (namespaces ``hcx-<id>-*``, one bridge per link in a switch namespace, learning off so the tester's
port sees every frame of its link)::

    HA (::2) ---- home 2001:db8:10::/64 ---- RT (::1 | ::1) ---- visit 2001:db8:50::/64 ---- HOST (::20)
                        | tester                                   | tester (plays the MN's care-of address ::c0a)
                                                                   +---- CN1 (::10), CN2 (::11)

Everything is crafted and judged with scapy and hashlib/hmac (return routability computed here from RFC 6275
§5.2.5, independently of ``reference_impl.cn.rr``), and the daemons' own state read with ``hmipv6-ctl``; never
from the reference implementation's internals.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from harness.tester import Tester
from harness.tester.packets import (
    HAO, MIP6MH_BA, MIP6MH_BU, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, Ether, ipv6_layers, solicited_node,
    solicited_node_mac,
)
from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6ParamProblem, MIP6MH_BE, MIP6MH_CoT, MIP6MH_CoTI, MIP6MH_HoT, MIP6MH_HoTI
from scapy.packet import Raw

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[2]
HA = "2001:db8:10::2"
RT_HOME, RT_VISIT = "2001:db8:10::1", "2001:db8:50::1"
HOST = "2001:db8:50::20"
CN1, CN2 = "2001:db8:50::10", "2001:db8:50::11"
COA = "2001:db8:50::c0a"  # the mobile node's care-of address, played by the tester on the visited link
SPOOF = "2001:db8:50::bad"  # another node on the visited link, played by the tester
HOA = "2001:db8:10::abc"  # home address registered with the HA
HOA2 = "2001:db8:10::b0b"  # home address of the correspondent registration (played by the tester at home)
TESTER_HOME = "2001:db8:10::99"


# ---------------------------------------------------------------------------------------------------- topology


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip()}")
    return proc


class Bed:
    """The namespaces, links and daemons of this module; also the backend the harness Tester needs."""

    def __init__(self, workdir: Path) -> None:
        self.id = uuid.uuid4().hex[:6]
        self.workdir = workdir
        self.namespaces: list[str] = []
        self.daemons: dict[str, tuple[subprocess.Popen, Path]] = {}
        self.macs: dict[tuple[str, str], str] = {}
        self.spec = SimpleNamespace(name=f"hcx-{self.id}", tester=SimpleNamespace(
            interfaces={"home": SimpleNamespace(link="home"), "visit": SimpleNamespace(link="visit")}))

    def ns(self, node: str) -> str:
        return f"hcx-{self.id}-{node}"

    def run(self, node: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.ns(node), *args, check=check)

    def build(self) -> None:
        for node in ("sw", "ha", "rt", "host", "cn1", "cn2", "t"):
            sh("ip", "netns", "add", self.ns(node))
            self.namespaces.append(self.ns(node))
            sh("ip", "-n", self.ns(node), "link", "set", "lo", "up")
        for br in ("brhome", "brvisit"):
            sh("ip", "-n", self.ns("sw"), "link", "add", br, "type", "bridge")
            sh("ip", "-n", self.ns("sw"), "link", "set", br, "up")
        self._port("ha", "eth0", "brhome", f"{HA}/64")
        self._port("rt", "eth0", "brhome", f"{RT_HOME}/64")
        self._port("rt", "eth1", "brvisit", f"{RT_VISIT}/64")
        self._port("host", "eth0", "brvisit", f"{HOST}/64")
        self._port("cn1", "eth0", "brvisit", f"{CN1}/64")
        self._port("cn2", "eth0", "brvisit", f"{CN2}/64")
        self._port("t", "home", "brhome", None)
        self._port("t", "visit", "brvisit", None)
        self.run("rt", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        for node, gw in (("ha", RT_HOME), ("host", RT_VISIT), ("cn1", RT_VISIT), ("cn2", RT_VISIT)):
            sh("ip", "-n", self.ns(node), "-6", "route", "add", "default", "via", gw)

    def _port(self, node: str, ifname: str, bridge: str, address: str | None) -> None:
        peer = f"{node}{ifname}"[:15]
        sh("ip", "link", "add", ifname, "netns", self.ns(node), "type", "veth", "peer", "name", peer,
           "netns", self.ns("sw"))
        sh("ip", "-n", self.ns("sw"), "link", "set", peer, "master", bridge)
        sh("ip", "-n", self.ns("sw"), "link", "set", peer, "type", "bridge_slave", "learning", "off")
        sh("ip", "-n", self.ns("sw"), "link", "set", peer, "up")
        if address is None:  # a quiet tester port: no IPv6 of its own
            self.run(node, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1")
        else:
            sh("ip", "-n", self.ns(node), "addr", "add", address, "dev", ifname, "nodad")
        sh("ip", "-n", self.ns(node), "link", "set", ifname, "up")
        link = json.loads(sh("ip", "-n", self.ns(node), "-j", "link", "show", ifname).stdout)[0]
        self.macs[(node, ifname)] = link["address"]

    def mac(self, node: str, ifname: str = "eth0") -> str:
        return self.macs[(node, ifname)]

    def tester_port(self, link: str) -> tuple[str, str]:
        return self.ns("t"), link

    # -- daemons ---------------------------------------------------------------------------------------------------
    def config(self, node: str, role: str, section: dict, name: str | None = None) -> Path:
        name = name or role
        path = self.workdir / f"{node}-{name}.yaml"
        path.write_text(yaml.safe_dump({
            "role": role, "control_socket": str(self.workdir / f"{node}-{name}.sock"),
            "log_file": str(self.workdir / f"{node}-{name}.log"), role: section}, sort_keys=False))
        return path

    def start(self, node: str, module: str, config: Path) -> subprocess.Popen:
        sock = Path(yaml.safe_load(config.read_text())["control_socket"])
        with open(self.workdir / f"{node}-{module}.err", "a") as err:
            proc = subprocess.Popen(["ip", "netns", "exec", self.ns(node), sys.executable, "-m",
                                     f"reference_impl.daemon.{module}", "--config", str(config)],
                                    cwd=ROOT, stdout=err, stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.daemons[node] = (proc, config)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None and not sock.exists():
            time.sleep(0.02)
        if not sock.exists():
            self.stop(node)
            raise RuntimeError(f"{module} in {node} did not start: "
                               f"{(self.workdir / f'{node}-{module}.err').read_text()[-1500:]}")
        return proc

    def stop(self, node: str) -> int | None:
        """SIGTERM the daemon of ``node`` (by its PID) and wait; its exit status."""
        proc, _ = self.daemons.pop(node)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        return proc.returncode

    def ctl(self, node: str) -> dict:
        _, config = self.daemons[node]
        out = self.run(node, sys.executable, "-m", "reference_impl.daemon.ctl", "--config", str(config), "show")
        return json.loads(out.stdout)

    def teardown(self) -> None:
        for node in list(self.daemons):
            try:
                self.stop(node)
            except Exception:  # keep tearing down
                pass
        for name in self.namespaces:
            sh("ip", "netns", "del", name, check=False)


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    b = Bed(tmp_path_factory.mktemp("hcx"))
    try:
        b.build()
        b.start("ha", "ha_main", b.config("ha", "ha", {
            "address": HA, "home_iface": "eth0", "dad": "on", "dad_retrans_timer": 0.2,
            "max_binding_lifetime": 400}))
        for node, address in (("cn1", CN1), ("cn2", CN2)):
            b.start(node, "cn_main", b.config(node, "cn", {
                "address": address, "listen": ["eth0"], "binding_error_interval": 0.1}))
        yield b
    finally:
        b.teardown()


@pytest.fixture(scope="module")
def tester(bed):
    t = Tester(bed, links=["home", "visit"])
    t.impersonate("visit", COA)  # the mobile node's care-of address
    t.impersonate("visit", SPOOF)
    t.impersonate("home", TESTER_HOME)
    try:
        yield t
    finally:
        t.close()


# ---------------------------------------------------------------------------------- independent RFC arithmetic


def a16(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def checksum(src: str, dst: str, proto: int, data: bytes) -> int:
    """RFC 8200 §8.1 upper-layer checksum with pseudo-header (src, dst); the field in ``data`` must be zero."""
    blob = a16(src) + a16(dst) + struct.pack("!IxxxB", len(data), proto) + data
    if len(blob) % 2:
        blob += b"\0"
    total = sum(struct.unpack(f"!{len(blob) // 2}H", blob))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total & 0xFFFF) or 0xFFFF


def signed_bu(kbm: bytes, coa: str, cn: str, home: str, seq: int, lifetime_units: int, hni: int, cni: int) -> bytes:
    """A correspondent Binding Update (RFC 6275 §6.1.7, A set) with Nonce Indices and Binding Authorization Data,
    as bytes: 12 octets of header and BU fields, Nonce Indices at offset 12 (2n), BAD at 18 (8n+2), 32 in all."""
    def head(csum: int) -> bytes:  # Payload Proto 59, Header Len 3, MH type 5, A flag
        return struct.pack("!BBBBHHHH", 59, 3, 5, 0, csum, seq, 0x8000, lifetime_units)

    options = struct.pack("!BBHH", 4, 4, hni, cni) + struct.pack("!BB", 5, 12)
    mh_data = head(0) + options  # §6.2.7: the Mobility Header without the Authenticator, checksum zero
    auth = hmac.new(kbm, a16(coa) + a16(cn) + mh_data, hashlib.sha1).digest()[:12]
    body = head(0) + options + auth
    return head(checksum(home, cn, 135, body)) + options + auth


def keygen(token_home: bytes, token_coa: bytes) -> bytes:
    """RFC 6275 §5.2.5: Kbm = SHA1(home keygen token | care-of keygen token)."""
    return hashlib.sha1(token_home + token_coa).digest()


def mobility_header(frame: bytes) -> tuple[bytes, bytes, bytes | None, bytes]:
    """(IPv6 source, destination, type 2 routing header address or None, Mobility Header bytes) of a frame."""
    ip = frame[14:]
    nh, pos, rh2 = ip[6], 40, None
    while nh in (0, 43, 60):
        if nh == 43 and ip[pos + 2] == 2:
            rh2 = ip[pos + 8:pos + 24]
        nh, pos = ip[pos], pos + (ip[pos + 1] + 1) * 8
    assert nh == 135, "no Mobility Header"
    return ip[8:24], ip[24:40], rh2, ip[pos:pos + (ip[pos + 1] + 1) * 8]


# ------------------------------------------------------------------------------------------------------ helpers


def home_bu(bed, tester, seq: int, lifetime_s: int):
    """Home registration (RFC 6275 §6.1.7: A and H set) from the care-of address, home address in the HAO."""
    mark = tester.mark()
    tester.send("visit", Ether(dst=bed.mac("rt", "eth1"), src=tester.mac("visit")) / IPv6(src=COA, dst=HA)
                / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / MIP6MH_BU(seq=seq, flags="AH", mhtime=lifetime_s // 4))
    return tester.wait_for(lambda f: MIP6MH_BA in f.pkt and f.pkt[MIP6MH_BA].seq == seq, 3, mark, ["visit"])


def tunnelled_to_coa(inner_dst: str):
    def match(f) -> bool:
        layers = ipv6_layers(f.pkt)
        return len(layers) == 2 and layers[0].dst == COA and layers[0].nh == 41 and layers[1].dst == inner_dst
    return match


# ---------------------------------------------------------------------------------------------------- home agent


def test_ha_home_registration_tunnel_reverse_tunnel_proxy_nd(bed, tester) -> None:
    mark = tester.mark()
    ba = home_bu(bed, tester, seq=10, lifetime_s=200)
    assert ba is not None, "no Binding Acknowledgement from the HA"
    ip, msg = ba.pkt[IPv6], ba.pkt[MIP6MH_BA]
    assert (ip.src, ip.dst, msg.status) == (HA, COA, 0), f"BA {ip.src} -> {ip.dst} status {msg.status}"
    rh = ba.pkt[IPv6ExtHdrRouting]
    assert rh.type == 2 and list(rh.addresses) == [HOA], "the BA must carry a type 2 routing header with the HoA"
    assert 0 < msg.mhtime * 4 <= 200
    _src, _dst, _rh2, mh = mobility_header(ba.data)
    assert checksum(HA, HOA, 135, mh[:4] + b"\0\0" + mh[6:]) == struct.unpack("!H", mh[4:6])[0], \
        "BA checksum is not computed with the home address as pseudo-header destination (RFC 6275 §6.1.1)"

    # RFC 6275 §10.4.1: an unsolicited all-nodes NA for the home address when the binding is created
    una = tester.wait_for(lambda f: ICMPv6ND_NA in f.pkt and f.pkt[ICMPv6ND_NA].tgt == HOA
                          and f.pkt[IPv6].dst == "ff02::1", 2, mark, ["home"])
    assert una is not None, "no unsolicited NA for the home address on the home link"
    assert una.pkt[ICMPv6ND_NA].R == 0 and una.pkt[ICMPv6NDOptDstLLAddr].lladdr == bed.mac("ha")

    shown = bed.ctl("ha")
    bindings = shown["state"]["bindings"]
    assert [(b["home_address"], b["care_of_address"]) for b in bindings] == [(HOA, COA)], bindings
    assert shown["dataplane"] == "userspace"

    # proxy ND (§10.4.1): an NS for the home address is answered by the HA with its MAC, R = 0
    mark = tester.mark()
    tester.send("home", Ether(dst=solicited_node_mac(HOA), src=tester.mac("home"))
                / IPv6(src=TESTER_HOME, dst=solicited_node(HOA), hlim=255)
                / ICMPv6ND_NS(tgt=HOA) / ICMPv6NDOptSrcLLAddr(lladdr=tester.mac("home")))
    na = tester.wait_for(lambda f: ICMPv6ND_NA in f.pkt and f.pkt[ICMPv6ND_NA].tgt == HOA
                         and f.pkt[IPv6].dst == TESTER_HOME, 2, mark, ["home"])
    assert na is not None, "no proxy NA for the bound home address"
    assert (na.pkt[IPv6].src, na.pkt[ICMPv6ND_NA].R, na.pkt[ICMPv6ND_NA].S) == (HA, 0, 1)
    assert na.pkt[ICMPv6NDOptDstLLAddr].lladdr == bed.mac("ha") and na.pkt[Ether].src == bed.mac("ha")

    # packets to the home address from another node arrive at the care-of address in IPv6-in-IPv6 from the HA
    mark = tester.mark()
    bed.run("host", "ping", "-6", "-c", "1", "-W", "1", HOA, check=False)
    got = tester.wait_for(tunnelled_to_coa(HOA), 3, mark, ["visit"])
    assert got is not None, "HOST -> home address did not arrive tunnelled at the care-of address"
    outer, inner = ipv6_layers(got.pkt)
    assert (outer.src, inner.src) == (HA, HOST) and ICMPv6EchoRequest in inner
    assert inner.hlim == 62, "ping sends 64; RT and the HA (forwarding into the tunnel) each decrement it once"

    # a reverse-tunnelled packet from the bound care-of address is decapsulated and forwarded ...
    rt_mac = bed.mac("rt", "eth1")
    mark = tester.mark()
    tester.send("visit", Ether(dst=rt_mac, src=tester.mac("visit")) / IPv6(src=COA, dst=HA)
                / IPv6(src=HOA, dst=HOST) / ICMPv6EchoRequest(id=0x4841, seq=1))
    plain = tester.wait_for(lambda f: ICMPv6EchoRequest in f.pkt and len(ipv6_layers(f.pkt)) == 1
                            and f.pkt[IPv6].src == HOA and f.pkt[ICMPv6EchoRequest].id == 0x4841, 3, mark, ["visit"])
    assert plain is not None, "the reverse-tunnelled packet was not forwarded"
    assert plain.pkt[IPv6].dst == HOST
    reply = tester.wait_for(lambda f: ICMPv6EchoReply in f.pkt and tunnelled_to_coa(HOA)(f), 3, mark, ["visit"])
    assert reply is not None, "HOST's reply to the home address did not come back through the tunnel"

    # ... and from any other source it is not (RFC 6275 §10.4.5)
    before = bed.ctl("ha")["dataplane_counters"]
    mark = tester.mark()
    tester.send("visit", Ether(dst=rt_mac, src=tester.mac("visit")) / IPv6(src=SPOOF, dst=HA)
                / IPv6(src=HOA, dst=HOST) / ICMPv6EchoRequest(id=0x4841, seq=2))
    leaked = tester.wait_for(lambda f: ICMPv6EchoRequest in f.pkt and len(ipv6_layers(f.pkt)) == 1
                             and f.pkt[ICMPv6EchoRequest].id == 0x4841, 1.5, mark, ["visit", "home"])
    assert leaked is None, "the HA forwarded a reverse-tunnelled packet whose outer source is not the care-of address"
    after = bed.ctl("ha")["dataplane_counters"]
    assert after["reverse_rejected"] == before["reverse_rejected"] + 1, "the spoofed tunnel never reached the HA"

    # de-registration stops the tunnel
    ba = home_bu(bed, tester, seq=11, lifetime_s=0)
    assert ba is not None and ba.pkt[MIP6MH_BA].status == 0
    assert bed.ctl("ha")["state"]["bindings"] == []
    mark = tester.mark()
    bed.run("host", "ping", "-6", "-c", "1", "-W", "1", HOA, check=False)
    assert tester.wait_for(tunnelled_to_coa(HOA), 1.5, mark, ["visit"]) is None, "still tunnelled after de-registration"


def test_ha_rejects_a_home_address_off_the_home_prefix(bed, tester) -> None:
    """RFC 6275 §10.3.1: status 132 for a home address that is not on the home subnet prefix."""
    mark = tester.mark()
    tester.send("visit", Ether(dst=bed.mac("rt", "eth1"), src=tester.mac("visit")) / IPv6(src=COA, dst=HA)
                / IPv6ExtHdrDestOpt(options=[HAO(hoa="2001:db8:77::1")]) / MIP6MH_BU(seq=5, flags="AH", mhtime=10))
    ba = tester.wait_for(lambda f: MIP6MH_BA in f.pkt and f.pkt[MIP6MH_BA].seq == 5, 3, mark, ["visit"])
    assert ba is not None and ba.pkt[MIP6MH_BA].status == 132


# ------------------------------------------------------------------------------------------- correspondent node


def return_routability(bed, tester, cn: str, cn_node: str) -> tuple[MIP6MH_HoT, MIP6MH_CoT]:
    """HoTI from the home address and CoTI from the care-of address; the HoT (caught at home) and the CoT."""
    cn_mac = bed.mac(cn_node)
    mark = tester.mark()
    tester.send("visit", Ether(dst=cn_mac, src=tester.mac("visit")) / IPv6(src=HOA2, dst=cn)
                / MIP6MH_HoTI(cookie=b"homecook"))
    tester.send("visit", Ether(dst=cn_mac, src=tester.mac("visit")) / IPv6(src=COA, dst=cn)
                / MIP6MH_CoTI(cookie=b"coacook!"))
    hot = tester.wait_for(lambda f: MIP6MH_HoT in f.pkt and f.pkt[IPv6].src == cn, 3, mark, ["home"])
    cot = tester.wait_for(lambda f: MIP6MH_CoT in f.pkt and f.pkt[IPv6].src == cn, 3, mark, ["visit"])
    assert hot is not None, f"no Home Test from {cn} (sent to the home address, via the home link)"
    assert cot is not None, f"no Care-of Test from {cn}"
    assert hot.pkt[IPv6].dst == HOA2 and hot.pkt[MIP6MH_HoT].cookie == b"homecook"
    assert cot.pkt[IPv6].dst == COA and cot.pkt[MIP6MH_CoT].cookie == b"coacook!"
    assert IPv6ExtHdrRouting not in hot.pkt, "a Home Test must not carry a type 2 routing header (RFC 6275 §6.1)"
    return hot.pkt[MIP6MH_HoT], cot.pkt[MIP6MH_CoT]


def test_cn_return_routability_binding_and_route_optimised_data(bed, tester) -> None:
    tester.impersonate("home", HOA2)  # the HoT reaches the home link through RT
    try:
        hot, cot = return_routability(bed, tester, CN1, "cn1")
        kbm = keygen(bytes(hot.token), bytes(cot.token))
        cn_mac = bed.mac("cn1")

        def correspondent_bu(seq: int, key: bytes, timeout: float = 3.0):
            mark = tester.mark()
            tester.send("visit", Ether(dst=cn_mac, src=tester.mac("visit")) / IPv6(src=COA, dst=CN1, nh=60)
                        / IPv6ExtHdrDestOpt(nh=135, options=[HAO(hoa=HOA2)])
                        / Raw(signed_bu(key, COA, CN1, HOA2, seq, 25, hot.index, cot.index)))
            return tester.wait_for(lambda f: MIP6MH_BA in f.pkt and f.pkt[MIP6MH_BA].seq == seq, timeout, mark,
                                   ["visit"])

        # a wrong authenticator is silently discarded (RFC 6275 §9.5.1) ...
        assert correspondent_bu(20, b"\x01" * 20, timeout=1.0) is None, "a BU with a wrong authenticator was acknowledged"
        assert bed.ctl("cn1")["state"]["bindings"] == []
        # ... the right one accepted
        ba = correspondent_bu(21, kbm)
        assert ba is not None, "no BA for a correctly authorised BU"
        assert (ba.pkt[IPv6].src, ba.pkt[IPv6].dst, ba.pkt[MIP6MH_BA].status) == (CN1, COA, 0)
        assert list(ba.pkt[IPv6ExtHdrRouting].addresses) == [HOA2]
        # the BA's own Binding Authorization Data (§6.2.7), checked with the same Kbm
        _s, _d, _rh2, mh = mobility_header(ba.data)
        assert mh[-14:-12] == b"\x05\x0c", "the BA must end with Binding Authorization Data"
        mh_data = mh[:4] + b"\0\0" + mh[6:-12]
        assert mh[-12:] == hmac.new(kbm, a16(COA) + a16(CN1) + mh_data, hashlib.sha1).digest()[:12]

        shown = bed.ctl("cn1")
        assert [(b["home_address"], b["care_of_address"]) for b in shown["state"]["bindings"]] == [(HOA2, COA)]
        assert f"{HOA2}" in shown["routes"]

        # CN -> home address: route optimised, destination = care-of address, type 2 routing header = home address
        mark = tester.mark()
        bed.run("cn1", sys.executable, "-c", textwrap.dedent(f"""
            import socket
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            s.sendto(b"route-optimised out", ("{HOA2}", 7777))
        """))
        out = tester.wait_for(lambda f: UDP in f.pkt and f.pkt[UDP].dport == 7777, 3, mark, ["visit", "home"])
        assert out is not None, "the datagram to the home address never left the CN"
        assert out.link == "visit" and (out.pkt[IPv6].src, out.pkt[IPv6].dst) == (CN1, COA), \
            f"not route optimised: {out.link} {out.pkt[IPv6].src} -> {out.pkt[IPv6].dst}"
        rh = out.pkt[IPv6ExtHdrRouting]
        assert (rh.type, rh.segleft, list(rh.addresses)) == (2, 1, [HOA2])
        udp = bytes(out.pkt[UDP])
        assert udp[8:] == b"route-optimised out"
        assert checksum(CN1, HOA2, 17, udp[:6] + b"\0\0" + udp[8:]) == struct.unpack("!H", udp[6:8])[0], \
            "UDP checksum must be computed with the home address as destination (RFC 6275 §6.4)"

        # care-of address with a Home Address option -> CN: delivered to the socket with the home address as peer
        receiver = subprocess.Popen(
            ["ip", "netns", "exec", bed.ns("cn1"), sys.executable, "-c", textwrap.dedent(f"""
                import socket, sys
                s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                s.bind(("{CN1}", 7778))
                s.settimeout(4)
                print("ready", flush=True)
                data, peer = s.recvfrom(2048)
                print(peer[0], data.decode(), flush=True)
            """)], stdout=subprocess.PIPE, text=True)
        try:
            assert receiver.stdout.readline().strip() == "ready"
            payload = b"route-optimised in"
            udp = struct.pack("!HHHH", 5555, 7778, 8 + len(payload), 0) + payload
            csum = checksum(HOA2, CN1, 17, udp)
            mark = tester.mark()
            tester.send("visit", Ether(dst=cn_mac, src=tester.mac("visit")) / IPv6(src=COA, dst=CN1, nh=60)
                        / IPv6ExtHdrDestOpt(nh=17, options=[HAO(hoa=HOA2)])
                        / Raw(udp[:6] + struct.pack("!H", csum) + payload))
            line = receiver.communicate(timeout=6)[0].strip()
        finally:
            if receiver.poll() is None:
                receiver.kill()
                receiver.wait()
        assert line == f"{HOA2} route-optimised in", f"receiver got {line!r}"
        assert tester.wait_for(lambda f: ICMPv6ParamProblem in f.pkt, 0.5, mark, ["visit"]) is None, \
            "the CN kernel answered the Home Address option with Parameter Problem"

        # the same from a source that is not the bound care-of address: dropped, Binding Error status 1 (§9.3.1)
        mark = tester.mark()
        tester.send("visit", Ether(dst=cn_mac, src=tester.mac("visit")) / IPv6(src=SPOOF, dst=CN1, nh=60)
                    / IPv6ExtHdrDestOpt(nh=17, options=[HAO(hoa=HOA2)])
                    / Raw(udp[:6] + struct.pack("!H", csum) + payload))
        be = tester.wait_for(lambda f: MIP6MH_BE in f.pkt, 3, mark, ["visit"])
        assert be is not None, "no Binding Error for a Home Address option without a binding"
        assert (be.pkt[IPv6].src, be.pkt[IPv6].dst, be.pkt[MIP6MH_BE].status, be.pkt[MIP6MH_BE].ha) == \
            (CN1, SPOOF, 1, HOA2)
        counters = bed.ctl("cn1")["dataplane_counters"]
        assert counters["home_address_accepted"] == 1 and counters["home_address_rejected"] == 1, counters
        assert counters["route_optimised"] >= 1, counters

        # a Home Test while the binding exists still goes to the home address, plainly (§6.1: no routing header)
        return_routability(bed, tester, CN1, "cn1")
    finally:
        tester.release("home", HOA2)


def test_two_correspondent_nodes_at_once(bed, tester) -> None:
    """Each namespace runs its own hmipv6-cn with its own control socket, nftables table and TUN device."""
    first, second = bed.ctl("cn1"), bed.ctl("cn2")
    assert (first["state"]["address"], second["state"]["address"]) == (CN1, CN2)
    for node in ("cn1", "cn2"):
        assert "hmip6cn0" in bed.run(node, "ip", "link", "show").stdout
        assert "table ip6 hmipv6_cn" in bed.run(node, "nft", "list", "tables").stdout
    tester.impersonate("home", HOA2)
    try:
        return_routability(bed, tester, CN2, "cn2")
    finally:
        tester.release("home", HOA2)


# ------------------------------------------------------------------------------------------ configuration, exit


def run_daemon(bed, node: str, module: str, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", bed.ns(node), sys.executable, "-m", f"reference_impl.daemon.{module}",
                           "--config", str(config)], cwd=ROOT, capture_output=True, text=True, timeout=20,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("module, role, section, key", [
    ("ha_main", "ha", {"address": HA, "home_iface": "eth0", "dad_retrans_timer": "soon"}, "dad_retrans_timer"),
    ("ha_main", "ha", {"address": HA, "home_iface": "eth0", "proxy_nd_typo": True}, "proxy_nd_typo"),
    ("ha_main", "ha", {"home_iface": "eth0"}, "address"),
    ("ha_main", "ha", {"address": HA, "home_iface": "nosuch0"}, "nosuch0"),
    ("cn_main", "cn", {"address": CN1, "listen": ["eth0"], "tun_mut": 1400}, "tun_mut"),
    ("cn_main", "cn", {"address": CN1, "listen": ["eth0"], "node_key": "abcd"}, "node_key"),
    ("cn_main", "cn", {"address": CN1}, "listen"),
])
def test_bad_configuration_exits_2_naming_the_key(bed, module, role, section, key) -> None:
    node = "host"  # no daemon runs there: nothing it could disturb
    config = bed.config(node, role, section, name=f"bad-{key}")
    proc = run_daemon(bed, node, module, config)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and key in lines[0] and lines[0].startswith(f"hmipv6-{role}:"), proc.stderr
    assert "hmipv6" not in bed.run(node, "nft", "list", "tables").stdout, "a failed start left an nftables table"


def test_sigterm_removes_table_routes_and_tun(bed, tester) -> None:
    """A CN with a binding (route into its TUN) and an HA stop cleanly on SIGTERM and leave nothing behind."""
    section = {"address": HOST, "listen": ["eth0"], "tun_device": "hcxtun0", "node_key": "11" * 20}
    bed.start("host", "cn_main", bed.config("host", "cn", section))
    try:
        assert "hcxtun0" in bed.run("host", "ip", "link", "show").stdout
        tester.impersonate("home", HOA2)
        try:
            hot, cot = return_routability(bed, tester, HOST, "host")
        finally:
            tester.release("home", HOA2)
        mark = tester.mark()
        tester.send("visit", Ether(dst=bed.mac("host"), src=tester.mac("visit")) / IPv6(src=COA, dst=HOST, nh=60)
                    / IPv6ExtHdrDestOpt(nh=135, options=[HAO(hoa=HOA2)])
                    / Raw(signed_bu(keygen(bytes(hot.token), bytes(cot.token)), COA, HOST, HOA2, 1, 25, hot.index,
                                    cot.index)))
        assert tester.wait_for(lambda f: MIP6MH_BA in f.pkt and f.pkt[IPv6].src == HOST, 3, mark, ["visit"]) is not None
        assert HOA2 in bed.run("host", "ip", "-6", "route", "show", "proto", "99").stdout
    finally:
        status = bed.stop("host")
    assert status == 0
    assert "hmipv6_cn" not in bed.run("host", "nft", "list", "tables").stdout
    assert bed.run("host", "ip", "-6", "route", "show", "proto", "99").stdout.strip() == ""
    assert "hcxtun0" not in bed.run("host", "ip", "link", "show").stdout


def test_ha_sigterm_removes_its_table(bed) -> None:
    assert "table ip6 hmipv6_ha" in bed.run("ha", "nft", "list", "tables").stdout
    config = bed.daemons["ha"][1]
    assert bed.stop("ha") == 0
    assert "hmipv6_ha" not in bed.run("ha", "nft", "list", "tables").stdout
    bed.start("ha", "ha_main", config)  # for any test that runs after this one


def test_ha_kernel_seg6_data_plane(bed, tester) -> None:
    """The optional kernel path (one seg6 encap.red route per home registration) gives the same RFC 2473 tunnel."""
    userspace = bed.daemons["ha"][1]
    bed.stop("ha")
    bed.run("ha", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
    section = yaml.safe_load(userspace.read_text())["ha"] | {"data_plane": "seg6"}
    bed.start("ha", "ha_main", bed.config("ha", "ha", section, name="ha-seg6"))
    try:
        ba = home_bu(bed, tester, seq=30, lifetime_s=40)
        assert ba is not None and ba.pkt[MIP6MH_BA].status == 0
        assert HOA in bed.run("ha", "ip", "-6", "route", "show", "proto", "99").stdout
        mark = tester.mark()
        bed.run("host", "ping", "-6", "-c", "1", "-W", "1", HOA, check=False)
        got = tester.wait_for(tunnelled_to_coa(HOA), 3, mark, ["visit"])
        assert got is not None, "no tunnelled packet at the care-of address with the seg6 data plane"
        assert ipv6_layers(got.pkt)[0].src == HA
        shown = bed.ctl("ha")
        assert shown["dataplane"] == "seg6" and shown["dataplane_counters"]["tunnelled"] == 0, \
            "the userspace path did the work, not the kernel route"
    finally:
        assert bed.stop("ha") == 0
        bed.run("ha", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0")
    assert bed.run("ha", "ip", "-6", "route", "show", "proto", "99").stdout.strip() == "", "routes left at exit"
    bed.start("ha", "ha_main", userspace)
