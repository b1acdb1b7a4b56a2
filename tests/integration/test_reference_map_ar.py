"""The reference MAP and AR on the virtual testbed, driven by a tester-played mobile node.

A tester port on AR1's access link plays the MN: it owns an LCoA (answering Neighbor
Solicitations for it), registers an RCoA with MAP1 through AR1, and watches what comes back.
Everything is judged from the tester's captures (scapy) and the daemons' own state read over
SSH with hmipv6-ctl — never from the reference implementation's internals.
"""

from __future__ import annotations

import json

import pytest

from harness import paths
from harness.testbed import load, open_backend
from harness.tester import Tester
from harness.tester.packets import (
    HAO, MIP6MH_BA, MIP6MH_BU, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_RA, ICMPv6NDOptMAP, IPv6,
    IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, Ether, ipv6_layers, link_local_from_mac,
)

pytestmark = pytest.mark.netns

MAP = "2001:db8:100::1"
LCOA = "2001:db8:110::c0a"
RCOA = "2001:db8:100::c0a"
CN1 = "2001:db8:20::10"


@pytest.fixture(scope="module")
def tester(tb):
    t = Tester(tb)
    t.impersonate("acc1", LCOA)  # the tester-played MN owns its LCoA on AR1's link
    yield t
    t.close()


def ctl(tb, node: str, *args: str) -> dict:
    result = tb.driver(node).run(f"{tb.control_command(node)} {' '.join(args)}").check()
    return json.loads(result.stdout)


def send_bu(tb, tester, seq: int, lifetime_s: int):
    """Local BU (base §4.1: A and M set) LCoA -> MAP with the RCoA in the Home Address option."""
    ar1 = tb.spec.nodes["ar1"].interfaces["eth1"].mac
    mark = tester.mark()
    tester.send("acc1", Ether(dst=ar1, src=tester.mac("acc1")) / IPv6(src=LCOA, dst=MAP)
                / IPv6ExtHdrDestOpt(options=[HAO(hoa=RCOA)]) / MIP6MH_BU(seq=seq, flags="AM", mhtime=lifetime_s // 4))
    return tester.wait_for(lambda f: MIP6MH_BA in f.pkt and f.pkt[MIP6MH_BA].seq == seq, 3, mark, ["acc1"])


def test_ar_advertises_map_option(tb, tester) -> None:
    """Base §7.1.1/§5: AR1's RAs on the access link carry MAP1's option (hop limit 255, link-local source)."""
    ra = tester.wait_for(lambda f: ICMPv6ND_RA in f.pkt and ICMPv6NDOptMAP in f.pkt, timeout=4, links=["acc1"])
    assert ra is not None, "no RA with a MAP option on acc1"
    opt, ip = ra.pkt[ICMPv6NDOptMAP], ra.pkt[IPv6]
    assert (opt.addr, opt.dist, opt.R, ip.hlim) == (MAP, 1, 1, 255) and ip.src.startswith("fe80::")
    assert opt.validlifetime > 0


def test_registration_tunnels_both_ways_and_deregistration_stops_it(tb, tester) -> None:
    ba = send_bu(tb, tester, seq=1, lifetime_s=40)
    assert ba is not None, "no Binding Acknowledgement from MAP1"
    ip = ba.pkt[IPv6]
    assert ip.src == MAP and ip.dst == LCOA and ba.pkt[MIP6MH_BA].status == 0
    rh = ba.pkt[IPv6ExtHdrRouting]
    assert rh.type == 2 and list(rh.addresses) == [RCOA], "BA must carry a type 2 routing header with the RCoA"
    state = ctl(tb, "map1", "show")["state"]
    assert json.dumps(state).count(RCOA) >= 1 and LCOA in json.dumps(state), "binding not in MAP1's cache"

    # CN -> RCoA arrives at the LCoA tunnelled by the MAP (outer MAP -> LCoA, inner CN1 -> RCoA)
    mark = tester.mark()
    tb.driver("cn1").run(f"ping -6 -c 1 -W 1 {RCOA}")
    tunnelled = tester.wait_for(lambda f: len(ipv6_layers(f.pkt)) == 2 and ipv6_layers(f.pkt)[1].dst == RCOA,
                                3, mark, ["acc1"])
    assert tunnelled is not None, "CN1 -> RCoA traffic did not arrive tunnelled at the LCoA"
    outer, inner = ipv6_layers(tunnelled.pkt)
    assert (outer.src, outer.dst, inner.src) == (MAP, LCOA, CN1) and ICMPv6EchoRequest in inner
    on_dom1 = tester.wait_for(lambda f: IPv6 in f.pkt and f.pkt[IPv6].nh == 41 and f.pkt[IPv6].dst == LCOA,
                              1, mark, ["dom1"])
    assert on_dom1 is not None, "the tunnel did not cross the MAP domain link"

    # MN -> MAP reverse tunnel (outer LCoA -> MAP, inner RCoA -> CN1) reaches CN1 as plain RCoA -> CN1
    ar1 = tb.spec.nodes["ar1"].interfaces["eth1"].mac
    mark = tester.mark()
    tester.send("acc1", Ether(dst=ar1) / IPv6(src=LCOA, dst=MAP) / IPv6(src=RCOA, dst=CN1)
                / ICMPv6EchoRequest(id=0x4d4e, seq=1))
    plain = tester.wait_for(lambda f: ICMPv6EchoRequest in f.pkt and len(ipv6_layers(f.pkt)) == 1
                            and f.pkt[IPv6].src == RCOA, 3, mark, ["cn"])
    assert plain is not None, "reverse-tunnelled packet did not reach CN1's link decapsulated"
    reply = tester.wait_for(lambda f: ICMPv6EchoReply in f.pkt and len(ipv6_layers(f.pkt)) == 2
                            and ipv6_layers(f.pkt)[0].dst == LCOA, 3, mark, ["acc1"])
    assert reply is not None, "CN1's reply did not come back through the MAP tunnel"

    # a reverse-tunnelled packet whose outer source is not the bound LCoA is not forwarded
    mark = tester.mark()
    tester.send("acc1", Ether(dst=ar1) / IPv6(src="2001:db8:110::bad", dst=MAP) / IPv6(src=RCOA, dst=CN1)
                / ICMPv6EchoRequest(id=0x4d4e, seq=2))
    assert tester.wait_for(lambda f: ICMPv6EchoRequest in f.pkt and f.pkt[ICMPv6EchoRequest].seq == 2,
                           1, mark, ["cn", "core"]) is None, "MAP forwarded a spoofed reverse-tunnelled packet"

    # deregistration (lifetime 0) stops forwarding
    ba = send_bu(tb, tester, seq=2, lifetime_s=0)
    assert ba is not None and ba.pkt[MIP6MH_BA].status == 0
    mark = tester.mark()
    tb.driver("cn1").run(f"ping -6 -c 1 -W 1 {RCOA}")
    assert tester.wait_for(lambda f: len(ipv6_layers(f.pkt)) == 2, 1.5, mark, ["acc1", "dom1"]) is None, \
        "MAP still tunnels after deregistration"


def test_echo_loss_at_the_ar_advertises_lifetime_zero_then_recovers(tb, tester) -> None:
    """Base §10: no echo replies from the MAP -> AR1 advertises it with valid lifetime 0; replies -> back."""
    t = tb.spec.timers
    window = t.map_probe_interval * 2 + t.map_probe_aggressive_period + t.max_rtr_adv_interval
    map1 = tb.driver("map1")
    map1.run("nft add table ip6 fault; nft add chain ip6 fault in '{ type filter hook input priority 0; }'; "
             "nft add rule ip6 fault in icmpv6 type echo-request ip6 saddr 2001:db8:100::2 drop").check()
    try:
        mark = tester.mark()
        dead = tester.wait_for(lambda f: ICMPv6NDOptMAP in f.pkt and f.pkt[ICMPv6NDOptMAP].validlifetime == 0,
                               window, mark, ["acc1"])
        assert dead is not None, f"AR1 kept advertising MAP1 as valid {window:.2f} s after its echoes were lost"
    finally:
        map1.run("nft delete table ip6 fault")
    mark = tester.mark()
    alive = tester.wait_for(lambda f: ICMPv6NDOptMAP in f.pkt and f.pkt[ICMPv6NDOptMAP].validlifetime > 0,
                            window, mark, ["acc1"])
    assert alive is not None, "AR1 did not advertise MAP1 again after echoes came back"


def test_rfc5380_edition_reaches_the_daemons() -> None:
    """RFC 5380 §5 redefines R (the MAP allocates the RCoA over IKEv2, not offered here): R is clear."""
    with open_backend(load(paths.DEFAULT_TESTBED), edition="rfc5380") as backend:
        t = Tester(backend, links=["acc1"])
        try:
            ra = t.wait_for(lambda f: ICMPv6NDOptMAP in f.pkt, timeout=4, links=["acc1"])
            assert ra is not None and ra.pkt[ICMPv6NDOptMAP].R == 0
            assert ctl(backend, "ar1", "show")["state"]["edition"] == "rfc5380"
        finally:
            t.close()


def test_kernel_seg6_data_plane_tunnels_to_the_lcoa() -> None:
    """The optional kernel path (seg6 encap.red) gives the same RFC 2473 tunnel as the userspace path."""
    spec = load(paths.DEFAULT_TESTBED)
    spec.nodes["map1"].daemon_options["data_plane"] = "seg6"
    with open_backend(spec) as backend:
        t = Tester(backend, links=["acc1", "dom1"])
        t.impersonate("acc1", LCOA)
        try:
            assert send_bu(backend, t, seq=1, lifetime_s=40).pkt[MIP6MH_BA].status == 0
            mark = t.mark()
            backend.driver("cn1").run(f"ping -6 -c 1 -W 1 {RCOA}")
            got = t.wait_for(lambda f: len(ipv6_layers(f.pkt)) == 2 and ipv6_layers(f.pkt)[1].dst == RCOA,
                             3, mark, ["acc1"])
            assert got is not None, "no tunnelled packet at the LCoA with the seg6 data plane"
            outer = ipv6_layers(got.pkt)[0]
            assert (outer.src, outer.dst, outer.nh) == (MAP, LCOA, 41), "not plain IPv6-in-IPv6 (an SRH?)"
            shown = ctl(backend, "map1", "show")
            assert shown["dataplane"] == "seg6" and shown["dataplane_counters"]["tunnelled"] == 0, \
                "the userspace path did the work, not the kernel route"
            routes = backend.driver("map1").run("ip -6 route show proto 99").stdout
            assert RCOA in routes and "seg6" in routes
        finally:
            t.close()


def test_map_survives_a_flushed_ruleset(tb, tester) -> None:
    """A firewall script flushing nftables must not kill the MAP: it rebuilds its table and goes on."""
    ar1 = tb.spec.nodes["ar1"].interfaces["eth1"].mac
    lcoa, rcoa = "2001:db8:110::d0d", "2001:db8:100::d0d"
    tester.impersonate("acc1", lcoa)
    try:
        tb.driver("map1").run("nft flush ruleset").check()
        mark = tester.mark()
        tester.send("acc1", Ether(dst=ar1, src=tester.mac("acc1")) / IPv6(src=lcoa, dst=MAP)
                    / IPv6ExtHdrDestOpt(options=[HAO(hoa=rcoa)]) / MIP6MH_BU(seq=1, flags="AM", mhtime=10))
        ba = tester.wait_for(lambda f: MIP6MH_BA in f.pkt and f.pkt[IPv6].dst == lcoa, 3, mark, ["acc1"])
        assert ba is not None and ba.pkt[MIP6MH_BA].status == 0, "no BA after the ruleset was flushed"
        mark = tester.mark()
        tb.driver("cn1").run(f"ping -6 -c 1 -W 1 {rcoa}")
        assert tester.wait_for(lambda f: len(ipv6_layers(f.pkt)) == 2 and ipv6_layers(f.pkt)[1].dst == rcoa,
                               3, mark, ["acc1"]) is not None, "the new binding is not tunnelled"
        assert "table ip6 hmipv6_map" in tb.driver("map1").run("nft list tables").stdout
    finally:
        tester.release("acc1", lcoa)


def test_map_originates_its_option_and_follows_preference(tb, tester) -> None:
    """Base §7.1.2: the MAP sends its own option (Dist 1, Pref, R, lifetime) on its domain link; a run-time
    preference change (0: not for new bindings) shows in the next advertisements."""
    map_ll = link_local_from_mac(tb.spec.nodes["map1"].interfaces["eth1"].mac)
    mark = tester.mark()
    ra = tester.wait_for(lambda f: ICMPv6ND_RA in f.pkt and f.pkt[IPv6].src == map_ll, 4, mark, ["dom1"])
    assert ra is not None, "MAP1 sent no RA on its domain link"
    opt = ra.pkt[ICMPv6NDOptMAP]
    assert (opt.addr, opt.dist, opt.pref, opt.R, ra.pkt[ICMPv6ND_RA].routerlifetime) == (MAP, 1, 10, 1, 0)
    assert opt.validlifetime > 0
    ctl(tb, "map1", "set-preference", "0")
    try:
        mark = tester.mark()
        ra = tester.wait_for(lambda f: ICMPv6ND_RA in f.pkt and f.pkt[IPv6].src == map_ll, 4, mark, ["dom1"])
        assert ra is not None and ra.pkt[ICMPv6NDOptMAP].pref == 0
    finally:
        ctl(tb, "map1", "set-preference", "10")
