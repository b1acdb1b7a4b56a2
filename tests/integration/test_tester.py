"""Tester primitives on the real virtual testbed: capture, injection, tunnels, impersonation, quiet ports."""

from __future__ import annotations

import subprocess

import pytest

from harness import nodeops
from harness.tester import pcap
from harness.tester.protection import AUTO, Opened
from harness.tester.packets import (
    ICMPv6EchoRequest, ICMPv6ND_NS, IPv6, IPv6ExtHdrDestOpt, MIP6MH_BU, Ether, innermost, ipv6_layers,
)

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def mn_addr(tb):
    addr = nodeops.wait_for_address(tb.driver("mn"), tb.spec.links["acc1"].prefix, timeout=10)
    assert addr is not None
    return str(addr.ip)


def test_tunnelled_packet_is_forwarded_and_unwrapped(tb, tester, mn_addr) -> None:
    """A MAP-like IPv6-in-IPv6 packet injected on dom1 crosses AR1 and is read inside on acc1."""
    ar1_dom1_mac = tb.spec.nodes["ar1"].interfaces["eth0"].mac
    frame = (Ether(dst=ar1_dom1_mac, src="02:aa:00:00:00:01")
             / IPv6(src="2001:db8:100::1", dst=mn_addr, hlim=64)
             / IPv6(src="2001:db8:20::10", dst="2001:db8:100::77") / ICMPv6EchoRequest(id=0x4242, seq=7))
    mark = tester.mark()
    tester.send("dom1", frame)
    got = tester.wait_for(lambda f: IPv6 in f.pkt and f.pkt[IPv6].dst == mn_addr and len(ipv6_layers(f.pkt)) == 2,
                          timeout=2, since=mark, links=["acc1"])
    assert got is not None, "AR1 did not forward the tunnelled packet onto acc1"
    outer, inner = ipv6_layers(got.pkt)
    assert outer.hlim == 63 and inner.dst == "2001:db8:100::77" and innermost(got.pkt)[ICMPv6EchoRequest].seq == 7


def test_impersonated_address_answers_neighbor_solicitation(tb, tester, mn_addr) -> None:
    ghost = "2001:db8:110::99"
    mac = tester.impersonate("acc1", ghost)
    try:
        mark = tester.mark()
        tb.driver("mn").run(f"ping -6 -c 1 -W 1 {ghost}")  # the tester answers NS, not echo
        echo = tester.wait_for(lambda f: ICMPv6EchoRequest in f.pkt and f.pkt[IPv6].dst == ghost
                               and f.pkt[Ether].dst == mac, timeout=2, since=mark, links=["acc1"])
        assert echo is not None, "the MN did not resolve the impersonated address to the tester's MAC"
    finally:
        tester.release("acc1")


def test_tester_ports_stay_quiet(tb, tester, mn_addr) -> None:
    """No NA for unclaimed addresses, no ICMP errors, no RS/MLD from the tester's own ports."""
    ghost = "2001:db8:110::98"
    mark = tester.mark()
    tb.driver("mn").run(f"ping -6 -c 1 -W 1 {ghost}")
    ns = tester.wait_for(lambda f: ICMPv6ND_NS in f.pkt and f.pkt[ICMPv6ND_NS].tgt == ghost, 2, mark, ["acc1"])
    assert ns is not None, "the MN did not even solicit (test would prove nothing)"
    own = {tester.mac(link) for link in tester.ports}
    spoken = [f for f in tester.frames(since=mark) if f.pkt.src in own]
    assert spoken == [], f"tester ports sent {len(spoken)} frames of their own: {spoken[0].pkt.summary()}"


def test_mobility_header_goes_through_the_protection_seam(tb, tester) -> None:
    calls = []

    class Recording:
        name = "recording"

        def protect(self, ipv6: bytes, sa=AUTO) -> bytes:
            calls.append("protect")
            return ipv6

        def unprotect(self, ipv6: bytes) -> Opened:
            calls.append("unprotect")
            return Opened(ipv6)

    old, tester.protection = tester.protection, Recording()
    try:
        bu = (Ether(dst="33:33:00:00:00:01") / IPv6(src="2001:db8:110::5", dst="2001:db8:100::1")
              / IPv6ExtHdrDestOpt() / MIP6MH_BU(seq=9, flags="AM", mhtime=4))
        mark = tester.mark()
        tester.send("acc1", bu)
        assert calls == ["protect"]
        seen = tester.capture.wait_for(lambda f: MIP6MH_BU in f.pkt, 2, mark, ["acc1"], outgoing=True)
        assert seen is not None and seen.pkt[MIP6MH_BU].seq == 9 and calls[-1] == "unprotect"
    finally:
        tester.protection = old


def test_evidence_pcap_is_read_by_tshark(tb, tester, mn_addr, tmp_path) -> None:
    mark = tester.mark()
    tb.driver("mn").run("ping -6 -c 2 -i 0.2 2001:db8:20::10")
    files = tester.save_pcaps(tmp_path, since=mark)
    acc1 = tmp_path / "acc1.pcap"
    assert acc1 in files
    frames = list(pcap.read(acc1))
    assert sum(1 for _, data in frames if ICMPv6EchoRequest in Ether(data)) >= 2
    out = subprocess.run(["tshark", "-r", str(acc1), "-Y", "icmpv6.type == 128", "-T", "fields", "-e", "ipv6.src"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split().count(mn_addr) >= 2
