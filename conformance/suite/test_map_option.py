"""MAP test purposes: the MAP option a MAP originates (PICS map_option_origination).

Topology: the tester listens on the MAP's domain link (testbeds/virtual.yaml: dom1), where the MAP
advertises its option toward the access routers.
"""

from __future__ import annotations

import pytest

from harness.tester.packets import ICMPv6ND_RA, ICMPv6NDOptMAP, IPv6, link_local_from_mac

pytestmark = [pytest.mark.role("map"), pytest.mark.pics("map_option_origination")]


@pytest.mark.tp(id="HMIP-MAP-OPT-001", title="The MAP option the MAP originates: length 3, Dist 1..15, its address")
@pytest.mark.requirements("HMIP-4140-5-P3-MUST-1", "HMIP-4140-5-P4-MUST-NOT-1", "HMIP-4140-7.1.1-P1-MUST-NOT-1")
def test_originated_map_option(testbed, dut, tester, judge, edition) -> None:
    """
    Purpose:        The option a MAP puts in its own Router Advertisements is well-formed.
    Procedure:      1. Wait for a Router Advertisement from the MAP on its domain link (at most two
                       MaxRtrAdvInterval plus slack).
    Judgement:      1. It carries a MAP option naming the MAP's address.  2. Length 3.  3. Dist is not 0.
                    (Recorded: Pref, R, valid lifetime, hop limit, router lifetime.)
    Reference:      base §5 "The length of the option and MUST be set to 3."; "A Distance value of Zero MUST
                    NOT be used."; base §7.1.1 "The initial value of the 'Distance' field ... MUST NOT be set
                    to zero."
    """
    spec = testbed.spec
    link = spec.map_link(dut.node)
    address = spec.map_address(dut.node)
    mac = link.members[dut.node].mac
    source = link_local_from_mac(mac) if mac else None
    window = 2 * spec.timers.max_rtr_adv_interval + 1.0
    ra = tester.wait_for(lambda f: ICMPv6ND_RA in f.pkt and (source is None or f.pkt[IPv6].src == source)
                         and ICMPv6NDOptMAP in f.pkt, window, links=[link.name])
    judge.require(ra is not None, f"no Router Advertisement with a MAP option from the MAP within {window:.1f} s")
    options = [o for o in ra.pkt.iterpayloads() if isinstance(o, ICMPv6NDOptMAP) and o.addr == address]
    judge.require(options, f"the MAP's RA carries no MAP option for its own address {address}")
    opt = options[0]
    for name in ("pref", "R", "validlifetime"):
        judge.record(name, getattr(opt, name))
    judge.record("router_lifetime", ra.pkt[ICMPv6ND_RA].routerlifetime)
    judge.check("HMIP-4140-5-P3-MUST-1", opt.len == 3, f"length {opt.len}", frame=ra, tshark={"icmpv6.opt.length": opt.len})
    judge.check("HMIP-4140-5-P4-MUST-NOT-1", opt.dist != 0, f"Dist {opt.dist}", frame=ra,
                tshark={"icmpv6.opt.map.distance": opt.dist})
    if edition == "rfc4140":
        judge.check("HMIP-4140-7.1.1-P1-MUST-NOT-1", opt.dist != 0, f"initial Dist {opt.dist}")


@pytest.mark.tp(id="HMIP-MAP-OPT-002", title="A MAP's own option, on its own link, has Dist 1")
@pytest.mark.requirements("HMIP-4140-5-P4-MUST-1", "HMIP-5380-5-P8-BIND-1")
def test_own_option_dist_one(testbed, dut, tester, judge, edition) -> None:
    """
    Purpose:        A router that is also a MAP sends its own MAP option; on the MAP's own link a mobile node is on
                    the same link as the MAP, so the option's Dist there is 1.
    Topology:       the tester listens on the MAP's domain link (testbeds/virtual.yaml: dom1), where a mobile node
                    attached to that link would receive the MAP's Router Advertisements directly.
    Initialisation: DUT restarted; it claims PICS map_option_origination.
    Procedure:      1. Wait for a Router Advertisement from the MAP on its link carrying a MAP option for the MAP's
                       own address (at most two MaxRtrAdvInterval plus slack).
    Judgement:      1. That option's Dist is 1.
                    (Recorded: Dist of any other MAP options in the same advertisement.)
    Reference:      base §5 "The Distance MUST be set to 1 if the MAP is on the same link as the mobile node.";
                    RFC 5380 §5 Dist "...measure in the number of hops and starting from 1 if the MAP is on the same
                    link as the mobile node."
    """
    spec = testbed.spec
    link = spec.map_link(dut.node)
    address = spec.map_address(dut.node)
    mac = link.members[dut.node].mac
    source = link_local_from_mac(mac) if mac else None
    window = 2 * spec.timers.max_rtr_adv_interval + 1.0
    judge.step("1. wait for the MAP's Router Advertisement on its own link")
    ra = tester.wait_for(lambda f: ICMPv6ND_RA in f.pkt and (source is None or f.pkt[IPv6].src == source)
                         and any(isinstance(o, ICMPv6NDOptMAP) and o.addr == address for o in f.pkt.iterpayloads()),
                         window, links=[link.name])
    judge.require(ra is not None, f"no Router Advertisement with the MAP's own option ({address}) within {window:.1f} s")
    options = [o for o in ra.pkt.iterpayloads() if isinstance(o, ICMPv6NDOptMAP)]
    own = next(o for o in options if o.addr == address)
    judge.record("other_options", {o.addr: o.dist for o in options if o.addr != address})
    requirement = "HMIP-4140-5-P4-MUST-1" if edition == "rfc4140" else "HMIP-5380-5-P8-BIND-1"
    judge.check(requirement, own.dist == 1, f"the MAP's own option on its own link has Dist {own.dist}",
                frame=ra, tshark={"icmpv6.opt.map.distance": own.dist})
