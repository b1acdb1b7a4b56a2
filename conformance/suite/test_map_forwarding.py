"""MAP test purposes: the binding's effect on traffic (tunnels both ways), DAD and proxy Neighbor Discovery.

Topology: as in test_map_registration (MN' played by the tester on the MAP's first access link); the
correspondent is the first CN node of the testbed (the ``cn`` fixture; its pings are driven over its management
connection).
"""

from __future__ import annotations

import pytest

from conformance.suite.mh_format import RFC6275_STATUS
from harness.tester import packets
from harness.tester.mobility import tunnelled_to
from harness.tester.packets import (
    MIP6MH_BA, Ether, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6,
    ipv6_layers, solicited_node,
)

pytestmark = pytest.mark.role("map")


def registered(mn, judge, ba_timeout, seq: int = 1, lifetime: int = 40):
    ba = mn.register(seq, lifetime, ba_timeout)
    judge.require(ba is not None and ba.pkt[MIP6MH_BA].status < 128,
                  "the DUT did not accept the local BU (see HMIP-MAP-BU-001)")
    return ba


@pytest.mark.tp(id="HMIP-MAP-TUN-001", title="Packets for the RCoA are tunnelled to the LCoA")
@pytest.mark.requirements("HMIP-4140-6.1-P2-BIND-4", "HMIP-4140-6.2-P4-BIND-1")
def test_rcoa_traffic_tunnelled(testbed, dut, tester, mn, cn, judge, ba_timeout) -> None:
    """
    Purpose:        After registration, packets addressed to the RCoA are intercepted by the MAP and
                    tunnelled (IPv6-in-IPv6) to the LCoA.
    Procedure:      1. Register.  2. CN pings the RCoA once.  3. Capture on the access link.
    Judgement:      1. An IPv6-in-IPv6 packet arrives: outer MAP -> LCoA, inner CN -> RCoA (Echo Request).
    Reference:      base §6.1 "all packets addressed to the mobile node's RCoA are intercepted by the MAP and
                    tunnelled to the mobile node's LCoA."
    """
    registered(mn, judge, ba_timeout)
    node, cn_address = cn
    mark = tester.mark()
    judge.step(f"2. {node} pings the RCoA")
    testbed.driver(node).run(f"ping -6 -c 1 -W 1 {mn.rcoa}")
    got = tester.wait_for(lambda f: tunnelled_to(f, mn.lcoa, mn.rcoa), 3, mark, [mn.link])
    layers = ipv6_layers(got.pkt) if got else []
    judge.check("HMIP-4140-6.1-P2-BIND-4", got is not None and layers[0].src == mn.map and layers[1].src == cn_address
                and ICMPv6EchoRequest in layers[1],
                "no tunnelled packet MAP -> LCoA carrying CN -> RCoA" if got is None else
                f"tunnel {layers[0].src} -> {layers[0].dst}, inner {layers[1].src} -> {layers[1].dst}",
                frame=got, tshark={"ipv6.nxt": layers[0].nh} if got else None)
    judge.check("HMIP-4140-6.2-P4-BIND-1", got is not None, "the RCoA's packet was not intercepted and encapsulated")


@pytest.mark.tp(id="HMIP-MAP-TUN-002", title="Packets tunnelled from the LCoA are decapsulated and forwarded")
@pytest.mark.requirements("HMIP-4140-6.2-P3-MUST-1")
def test_reverse_tunnel_forwarded(testbed, dut, tester, mn, cn, judge, ba_timeout) -> None:
    """
    Purpose:        The MAP accepts packets tunnelled from the mobile node (LCoA -> MAP) and forwards the
                    inner packet (RCoA -> CN).
    Procedure:      1. Register.  2. MN' sends LCoA->MAP [RCoA->CN Echo Request id 0x4d4e].
    Judgement:      1. The inner Echo Request leaves the MAP toward the CN un-encapsulated, source RCoA.
    Reference:      base §6.2 "The MAP MUST be able to accept packets tunnelled from the mobile node, with
                    the mobile node being the tunnel entry point and the MAP being the tunnel exit point."
    """
    registered(mn, judge, ba_timeout)
    _, cn_address = cn
    mark = mn.reverse_tunnel(IPv6(src=mn.rcoa, dst=cn_address) / ICMPv6EchoRequest(id=0x4D4E, seq=1))
    out = tester.wait_for(lambda f: ICMPv6EchoRequest in f.pkt and len(ipv6_layers(f.pkt)) == 1
                          and f.pkt[IPv6].src == mn.rcoa and f.pkt[ICMPv6EchoRequest].id == 0x4D4E, 3, mark)
    judge.check("HMIP-4140-6.2-P3-MUST-1", out is not None,
                "the reverse-tunnelled Echo Request was not forwarded decapsulated")


@pytest.mark.tp(id="HMIP-MAP-TUN-003", title="A tunnelled packet whose outer source is not the bound LCoA is not forwarded")
@pytest.mark.requirements("MIP6-6275-10.4.5-P4-MUST-1")
def test_reverse_tunnel_source_checked(testbed, dut, tester, mn, cn, judge, ba_timeout) -> None:
    """
    Purpose:        The MAP verifies that the outer source of a reverse-tunnelled packet is the LCoA bound to
                    the inner source (as a home agent does for the home address).
    Procedure:      1. Register.  2. Send [RCoA->CN, id 0x4d4f] tunnelled from LCoA+1 (not bound).
                    3. As proof the capture works, send the same tunnelled from the bound LCoA (id 0x4d50).
    Judgement:      1. Within one BA-timeout window nothing with id 0x4d4f leaves the MAP (looking inside
                       tunnels too), while the properly tunnelled id 0x4d50 is seen in the same window.
    Reference:      RFC 6275 §10.4.5 "...the home agent MUST verify that the Source Address in the tunnel IP
                    header is the mobile node's primary care-of address."
    """
    registered(mn, judge, ba_timeout)
    _, cn_address = cn
    spoofed = str(__import__("ipaddress").IPv6Address(mn.lcoa) + 1)
    mark = mn.reverse_tunnel(IPv6(src=mn.rcoa, dst=cn_address) / ICMPv6EchoRequest(id=0x4D4F, seq=1), outer_src=spoofed)
    mn.reverse_tunnel(IPv6(src=mn.rcoa, dst=cn_address) / ICMPv6EchoRequest(id=0x4D50, seq=1))
    # a leak is the inner packet after the MAP: anywhere, bare or re-encapsulated, but no longer inside the
    # tunnel from the spoofed source (on its way to the MAP it legitimately crosses the domain link)
    leak = tester.absent(lambda f: ICMPv6EchoRequest in f.pkt and f.pkt[ICMPv6EchoRequest].id == 0x4D4F
                         and f.pkt[IPv6].dst == cn_address and ipv6_layers(f.frame.pkt)[0].src != spoofed,
                         window=ba_timeout, since=mark,
                         alive=lambda f: ICMPv6EchoRequest in f.pkt and f.pkt[ICMPv6EchoRequest].id == 0x4D50
                         and len(ipv6_layers(f.pkt)) == 1 and f.link != mn.link)
    judge.check("MIP6-6275-10.4.5-P4-MUST-1", leak is None,
                f"forwarded a packet tunnelled from {spoofed}, which is not the bound LCoA (seen on {getattr(leak, 'link', '')})")


@pytest.mark.tp(id="HMIP-MAP-DAD-001", title="DAD for the RCoA before the first BA")
@pytest.mark.requirements("MIP6-6275-10.3.1-P10-MUST-1", "HMIP-4140-6.1-P1-BIND-3")
def test_dad_before_first_ba(testbed, dut, tester, mn, judge, ba_timeout) -> None:
    """
    Purpose:        For a new binding the MAP performs Duplicate Address Detection for the RCoA on its link
                    before it acknowledges.
    Procedure:      1. BU (new binding).  2. Capture on the MAP's RCoA link.
    Judgement:      1. An NS from :: for the RCoA is sent to its solicited-node group, before the BA.
    Reference:      base §6.1 "The MAP (acting as a HA) will then perform DAD (when a new binding is being
                    created) for the mobile node's RCoA on its link"; RFC 6275 §10.3.1.
    """
    link = testbed.spec.map_link(dut.node).name
    mark = mn.send_bu(1, 40)
    ba = mn.wait_ba(1, mark, ba_timeout)
    judge.require(ba is not None, "no BA to compare the DAD's timing with")
    ns = tester.wait_for(lambda f: ICMPv6ND_NS in f.pkt and f.pkt[ICMPv6ND_NS].tgt == mn.rcoa
                         and f.pkt[IPv6].src == "::", 0, mark, [link])
    ok = ns is not None and ns.time <= ba.time and ns.pkt[IPv6].dst == solicited_node(mn.rcoa)
    detail = "no DAD NS from :: for the RCoA" if ns is None else \
        f"DAD NS to {ns.pkt[IPv6].dst} at {ns.time:.3f}, BA at {ba.time:.3f}"
    judge.check("MIP6-6275-10.3.1-P10-MUST-1", ok, detail, frame=ns,
                tshark={"icmpv6.nd.ns.target_address": ns.pkt[ICMPv6ND_NS].tgt} if ns is not None else None)
    judge.check("HMIP-4140-6.1-P1-BIND-3", ok, detail)


@pytest.mark.tp(id="HMIP-MAP-DAD-002", title="A defended RCoA is refused with 134")
@pytest.mark.requirements("MIP6-6275-10.3.1-P10-MUST-3", "MIP6-6275-6.1.8-P14-BIND-1", "HMIP-4140-6.2-P2-BIND-1")
def test_dad_failure(testbed, dut, tester, mn, judge, ba_timeout) -> None:
    """
    Purpose:        If DAD for the RCoA fails, the MAP rejects the BU with status 134.
    Initialisation: the tester defends the RCoA on the MAP's link (answers its NS).
    Procedure:      1. BU for the defended RCoA.
    Judgement:      1. BA with status 134 (an RFC 6275 §6.1.8 code: HMIPv6 adds none, base §6.2).
    Reference:      RFC 6275 §10.3.1 "If this Duplicate Address Detection fails ... the home agent MUST reject
                    the complete Binding Update and MUST return a Binding Acknowledgement ... Status field is
                    set to 134"; base §6.2 "No new error codes are introduced for HMIPv6."
    """
    link = testbed.spec.map_link(dut.node).name
    tester.impersonate(link, mn.rcoa)
    try:
        ba = mn.register(1, 40, ba_timeout)
    finally:
        tester.release(link, mn.rcoa)
    status = None if ba is None else ba.pkt[MIP6MH_BA].status
    judge.check("MIP6-6275-10.3.1-P10-MUST-3", status == 134, f"BA status {status} for a defended RCoA",
                frame=ba, tshark={"mip6.ba.status": status} if ba else None)
    judge.check("MIP6-6275-6.1.8-P14-BIND-1", status == 134, f"status {status}")
    judge.check("HMIP-4140-6.2-P2-BIND-1", status in RFC6275_STATUS,
                f"DAD failure answered with status {status} (RFC 6275 §6.1.8 defines 0, 1, 128-139)")


@pytest.mark.tp(id="HMIP-MAP-ND-001", title="Proxy ND for the RCoA: unsolicited NA at binding, solicited NA after")
@pytest.mark.requirements("MIP6-6275-10.4.1-P1-MUST-1", "MIP6-6275-10.4.1-P6-MUST-1", "MIP6-6275-10.4.1-P7-MUST-NOT-1",
                          "MIP6-6275-10.4.1-P8-MUST-1", "MIP6-6275-10.4.1-P12-MUST-1", "MIP6-6275-10.4.1-P2-MUST-2",
                          "MIP6-6275-10.4.1-P11-MUST-1")
def test_proxy_nd(testbed, dut, tester, mn, judge, ba_timeout) -> None:
    """
    Purpose:        The MAP acts as proxy for the RCoA on its link: it multicasts an unsolicited NA when the
                    binding is created and answers NS for the RCoA with its own link-layer address.
    Procedure:      1. Register.  2. The tester (a neighbour on the MAP link) sends NS for the RCoA.
    Judgement:      1. Unsolicited NA to ff02::1 for the RCoA with R=0, S=0, O=1.
                    2. It follows the MAP's Duplicate Address Detection for the RCoA (the DAD NS from ::, when the
                       MAP sent one, comes first).                                        RFC 6275 §10.4.1 ¶2
                    3. The NS for the RCoA is answered (the MAP acts as proxy)           RFC 6275 §10.4.1 ¶11
                    4. ... by a solicited NA with the MAP's link-layer address in the TLLA option, R=0.
    Reference:      RFC 6275 §10.4.1 (R bit MUST be zero; S MUST NOT be set; O MUST be set; MUST reply to NS);
                    ¶2 "when a node begins serving as the home agent it MUST have performed Duplicate Address
                    Detection (as specified in Section 10.3.1), and subsequently it MUST multicast onto the home link a
                    Neighbor Advertisement message [18] on behalf of the mobile node."; ¶11 "the home agent MUST act as
                    a proxy for this mobile node and reply to any received Neighbor Solicitations for it."
    """
    link = testbed.spec.map_link(dut.node).name
    mark = mn.send_bu(1, 40)
    ba = mn.wait_ba(1, mark, ba_timeout)
    judge.require(ba is not None and ba.pkt[MIP6MH_BA].status < 128, "the DUT did not accept the local BU")
    na = tester.wait_for(lambda f: ICMPv6ND_NA in f.pkt and f.pkt[ICMPv6ND_NA].tgt == mn.rcoa
                         and f.pkt[IPv6].dst == "ff02::1", 1, mark, [link])
    judge.check("MIP6-6275-10.4.1-P1-MUST-1", na is not None, "no unsolicited NA for the RCoA on the MAP link")
    dad = tester.wait_for(lambda f: ICMPv6ND_NS in f.pkt and f.pkt[ICMPv6ND_NS].tgt == mn.rcoa
                          and f.pkt[IPv6].src == "::", 0, mark, [link])
    judge.check("MIP6-6275-10.4.1-P2-MUST-2", na is not None and (dad is None or dad.time <= na.time),
                f"unsolicited NA at {na.time:.3f}" + (f", after the DAD NS at {dad.time:.3f}" if dad is not None and
                                                       dad.time <= na.time else f", before the DAD NS at {dad.time:.3f}"
                                                       if dad is not None else " (no DAD NS seen: see HMIP-MAP-DAD-001)"),
                frame=na, tshark={"icmpv6.nd.na.target_address": mn.rcoa})
    flags = na.pkt[ICMPv6ND_NA]
    judge.check("MIP6-6275-10.4.1-P6-MUST-1", flags.R == 0, f"R={flags.R}", frame=na,
                tshark={"icmpv6.nd.na.flag.r": flags.R})
    judge.check("MIP6-6275-10.4.1-P7-MUST-NOT-1", flags.S == 0, f"S={flags.S}", frame=na,
                tshark={"icmpv6.nd.na.flag.s": flags.S})
    judge.check("MIP6-6275-10.4.1-P8-MUST-1", flags.O == 1, f"O={flags.O}", frame=na,
                tshark={"icmpv6.nd.na.flag.o": flags.O})
    me = "2001:db8:100::9"  # the tester as a neighbour on the MAP link
    tester.impersonate(link, me)
    try:
        group = solicited_node(mn.rcoa)
        mark = tester.mark()
        tester.send(link, Ether(dst=packets.solicited_node_mac(mn.rcoa), src=tester.mac(link))
                    / IPv6(src=me, dst=group, hlim=255) / ICMPv6ND_NS(tgt=mn.rcoa)
                    / ICMPv6NDOptSrcLLAddr(lladdr=tester.mac(link)))
        reply = tester.wait_for(lambda f: ICMPv6ND_NA in f.pkt and f.pkt[ICMPv6ND_NA].tgt == mn.rcoa
                                and f.pkt[IPv6].dst == me, 2, mark, [link])
    finally:
        tester.release(link, me)
    judge.check("MIP6-6275-10.4.1-P11-MUST-1", reply is not None,
                f"the NS for the RCoA from {me}: " + ("answered" if reply is not None else "not answered within 2 s"),
                frame=reply)
    tlla = reply.pkt[ICMPv6NDOptDstLLAddr].lladdr if reply is not None and ICMPv6NDOptDstLLAddr in reply.pkt else None
    map_mac = testbed.spec.map_link(dut.node).members[dut.node].mac
    judge.check("MIP6-6275-10.4.1-P12-MUST-1", reply is not None and reply.pkt[ICMPv6ND_NA].R == 0
                and (map_mac is None or tlla == map_mac),
                "no NA answering the NS for the RCoA" if reply is None else f"NA R={reply.pkt[ICMPv6ND_NA].R} TLLA={tlla}",
                frame=reply)
