"""Access router test purposes: dynamic MAP discovery (base §7.1.1; rfc4140 only, PICS dynamic_map_discovery).

Topology: the AR under test (testbeds/virtual.yaml: AR1) between its MAP-facing links (dom1, shared with MAP1, and
up1, the tester's alone) and its access link (acc1).  The tester plays upstream routers on the MAP-facing links,
advertising MAP options the AR is not configured with, and listens on the access link.
"""

from __future__ import annotations

import pytest

from harness.tester.packets import ICMPv6ND_RA, ICMPv6NDOptMAP, IPv6, router_solicitation, upstream_advertisement

pytestmark = [pytest.mark.role("ar"), pytest.mark.pics("dynamic_map_discovery")]

UPSTREAM = "fe80::a11:1"  # the link-local address of the router the tester plays on the MAP-facing link
RELAYED_DIST, RELAYED_PREF, RELAYED_LIFETIME = 2, 7, 600


def _map_options(pkt) -> list:
    return [o for o in pkt.iterpayloads() if isinstance(o, ICMPv6NDOptMAP)]


def _advertise(tester, link: str, source: str, options: list) -> None:
    """An RA from upstream router ``source`` (link-local, hop limit 255, router lifetime 0) with MAP ``options``
    ([(address, dist)], Pref 7, R 1, valid lifetime 600 s); no options withdraws what it advertised before."""
    tester.send(link, upstream_advertisement(tester.mac(link), source, [
        ICMPv6NDOptMAP(dist=dist, pref=RELAYED_PREF, R=1, validlifetime=RELAYED_LIFETIME, addr=address)
        for address, dist in options]))


@pytest.fixture
def upstream(testbed, dut):
    """(MAP-facing link, address of a MAP this AR is not configured with): the link the DUT shares with one of its
    MAPs, and the testbed's first other MAP (else a documentation address)."""
    spec = testbed.spec
    node = spec.nodes[dut.node]
    if not node.maps:
        pytest.skip("NOT APPLICABLE: the testbed configures no MAP for this access router")
    link = spec.map_link(node.maps[0])
    others = [m.name for m in spec.nodes_with_role("map") if m.name not in node.maps]
    address = "2001:db8:ffff::1"
    for name in others:
        try:
            address = spec.map_address(name)
            break
        except KeyError:
            continue
    return link, address


@pytest.mark.tp(id="HMIP-AR-DISC-001", title="Dynamic MAP discovery: a received MAP option is re-sent with Dist + 1")
@pytest.mark.requirements("HMIP-4140-7.1.1-P2-MUST-1", "HMIP-4140-5-P7-BIND-1")
def test_relayed_option_dist_incremented(testbed, dut, tester, upstream, judge) -> None:
    """
    Purpose:        A router using dynamic MAP discovery copies a MAP option it receives in a Router Advertisement
                    and re-sends it, with the Distance field incremented by one, in its own advertisements.
    Topology:       the tester as an upstream router on the AR's MAP-facing link and as a listener on its access link.
    Initialisation: DUT restarted; it claims PICS dynamic_map_discovery (and is configured for it).
    Procedure:      1. From link-local fe80::a11:1 (hop limit 255, router lifetime 0) the tester advertises on the
                       MAP-facing link a MAP option for a MAP the AR is not configured with (the testbed's other
                       MAP): Dist 2, Pref 7, R 1, valid lifetime 600 s.
                    2. The tester solicits on the access link (RS from ::) and collects the AR's advertisements
                       for MaxRtrAdvInterval + MinDelayBetweenRAs + MAX_RA_DELAY_TIME + 1 s.
    Judgement:      1. An advertisement on the access link carries a MAP option for that MAP.
                    2. Its Dist is 3 (the received 2 plus one).
                    3. Its Pref (7) and R (1) are those received (the option is copied).
                    4. Its valid lifetime is not above the 600 s received: the AR knows the lifetimes of the MAP's
                       subnet prefix only from the MAP's option, and may count it down (or advertise 0 if it finds
                       the MAP unreachable, base §10), not extend it.                                   base §5
                    (Recorded: the relayed option's valid lifetime, and how many advertisements were seen.)
    Reference:      base §7.1.1 "Upon reception of a router advertisement with the MAP option, the receiving router
                    MUST copy the option and re-send it after incrementing the Distance field by one."; base §5 Valid
                    Lifetime "The minimum value (in seconds) of both the preferred and valid lifetimes of the prefix
                    assigned to the MAP's subnet."
    """
    link, relayed = upstream
    access = testbed.spec.access_link_of(dut.node)
    t = testbed.spec.timers
    judge.step(f"1. advertise MAP {relayed} with Dist {RELAYED_DIST} on {link.name} from {UPSTREAM}")
    mark = tester.mark()
    _advertise(tester, link.name, UPSTREAM, [(relayed, RELAYED_DIST)])
    judge.step(f"2. solicit on {access.name} and collect the AR's advertisements")
    tester.send(access.name, router_solicitation(tester.mac(access.name)))
    window = t.max_rtr_adv_interval + t.min_delay_between_ras + t.max_ra_delay_time + 1.0
    ra = tester.wait_for(lambda f: ICMPv6ND_RA in f.pkt and any(o.addr == relayed for o in _map_options(f.pkt)),
                         window, mark, [access.name])
    judge.record("ras_seen", len([f for f in tester.frames(mark, [access.name])
                                  if not f.outgoing and ICMPv6ND_RA in f.pkt]))
    judge.check("HMIP-4140-7.1.1-P2-MUST-1", ra is not None,
                f"an advertisement on {access.name} re-sending the MAP option for {relayed} within {window:.1f} s: "
                + ("seen" if ra else "none"), frame=ra)
    opt = next(o for o in _map_options(ra.pkt) if o.addr == relayed)
    judge.record("relayed_valid_lifetime", opt.validlifetime)
    judge.check("HMIP-4140-7.1.1-P2-MUST-1", opt.dist == RELAYED_DIST + 1,
                f"received Dist {RELAYED_DIST}, re-sent Dist {opt.dist} (expected {RELAYED_DIST + 1})",
                frame=ra, tshark={"icmpv6.opt.map.distance": opt.dist})
    judge.check("HMIP-4140-7.1.1-P2-MUST-1", opt.pref == RELAYED_PREF and opt.R == 1,
                f"re-sent Pref {opt.pref} R {opt.R}, received Pref {RELAYED_PREF} R 1",
                frame=ra, tshark={"icmpv6.opt.map.preference": opt.pref})
    judge.check("HMIP-4140-5-P7-BIND-1", opt.validlifetime <= RELAYED_LIFETIME,
                f"re-sent valid lifetime {opt.validlifetime} s, received {RELAYED_LIFETIME} s", frame=ra,
                tshark={"icmpv6.opt.map.valid_lifetime": opt.validlifetime})


SECOND_UPSTREAM = "fe80::a11:2"  # the router the tester plays on the AR's second MAP-facing link
MAP_X, MAP_Y = "2001:db8:ff01::1", "2001:db8:ff02::1"  # two MAPs heard over both links, at different distances


@pytest.fixture
def two_upstreams(testbed, dut, tester):
    """The DUT's two MAP-facing links on which the tester can play a router (the first shared with its MAP).
    The options advertised there are withdrawn after the test."""
    spec = testbed.spec
    node = spec.nodes[dut.node]
    links = [spec.links[i.link] for i in node.interfaces.values()
             if not spec.links[i.link].access and "tester" in spec.links[i.link].members]
    if node.maps:
        first = spec.map_link(node.maps[0])
        links.sort(key=lambda link: link.name != first.name)
    if len(links) < 2:
        pytest.skip("NOT APPLICABLE: the testbed gives this access router fewer than two MAP-facing links the "
                    "tester is on (the requirement is about one MAP heard on two interfaces)")
    yield links[0], links[1]
    _advertise(tester, links[0].name, UPSTREAM, [])
    _advertise(tester, links[1].name, SECOND_UPSTREAM, [])


@pytest.mark.tp(id="HMIP-AR-DISC-002",
                title="Dynamic MAP discovery: the same MAP heard on two interfaces is relayed with the smallest Dist")
@pytest.mark.requirements("HMIP-4140-7.1.1-P2-MUST-3")
def test_smallest_dist_across_interfaces(testbed, dut, tester, two_upstreams, judge) -> None:
    """
    Purpose:        A router that receives MAP options for the same MAP on two different interfaces chooses the one
                    with the smallest Distance (and relays it with Dist + 1).
    Topology:       the tester as two upstream routers, one on each of the AR's MAP-facing links (A: the link it
                    shares with its MAP, B: a second one), and as a listener on its access link.
    Initialisation: DUT restarted; it claims PICS dynamic_map_discovery (and is configured for it on both links).
    Procedure:      1. On link A, from fe80::a11:1, an RA with MAP options for two MAPs the AR is not configured
                       with: X at Dist 2 and Y at Dist 5.
                    2. Then on link B, from fe80::a11:2, an RA with X at Dist 5 and Y at Dist 2.  (Whichever rule
                       other than "smallest" the AR uses -- first heard, last heard, one interface before the
                       other -- gives Dist 6 for X or for Y.)
                    3. The tester solicits on the access link and collects the AR's advertisements for
                       2 × MaxRtrAdvInterval + MinDelayBetweenRAs + MAX_RA_DELAY_TIME + 1 s.
    Judgement:      1. Advertisements on the access link carry MAP options for both X and Y.
                    2. In the second such advertisement (the first may have been built between steps 1 and 2),
                       X and Y both have Dist 3: the smaller received Dist (2) plus one.
    Reference:      base §7.1.1 "If a router receives more than one MAP option for the same MAP (i.e. the same IP
                    address in the MAP option), from two different interfaces, it MUST choose the option with the
                    smallest distance field."
    """
    link_a, link_b = two_upstreams
    access = testbed.spec.access_link_of(dut.node)
    t = testbed.spec.timers
    judge.step(f"1. on {link_a.name} from {UPSTREAM}: MAP {MAP_X} Dist 2, MAP {MAP_Y} Dist 5")
    mark = tester.mark()
    _advertise(tester, link_a.name, UPSTREAM, [(MAP_X, 2), (MAP_Y, 5)])
    judge.step(f"2. on {link_b.name} from {SECOND_UPSTREAM}: MAP {MAP_X} Dist 5, MAP {MAP_Y} Dist 2")
    _advertise(tester, link_b.name, SECOND_UPSTREAM, [(MAP_X, 5), (MAP_Y, 2)])
    judge.step(f"3. solicit on {access.name} and collect the AR's advertisements")
    tester.send(access.name, router_solicitation(tester.mac(access.name)))
    window = 2 * t.max_rtr_adv_interval + t.min_delay_between_ras + t.max_ra_delay_time + 1.0

    def both(f) -> bool:
        return ICMPv6ND_RA in f.pkt and {MAP_X, MAP_Y} <= {o.addr for o in _map_options(f.pkt)}

    first = tester.wait_for(both, window, mark, [access.name])
    ra = tester.wait_for(both, window, first.index + 1, [access.name]) if first is not None else None
    judge.record("ras_with_both", len([f for f in tester.frames(mark, [access.name]) if not f.outgoing and both(f)]))
    judge.check("HMIP-4140-7.1.1-P2-MUST-3", ra is not None,
                f"two advertisements on {access.name} relaying both {MAP_X} and {MAP_Y} within {window:.1f} s: "
                + ("seen" if ra else "fewer than two"), frame=ra)
    dists = {o.addr: o.dist for o in _map_options(ra.pkt)}
    judge.record("relayed_dist", {MAP_X: dists[MAP_X], MAP_Y: dists[MAP_Y]})
    for address, via in ((MAP_X, link_a.name), (MAP_Y, link_b.name)):
        judge.check("HMIP-4140-7.1.1-P2-MUST-3", dists[address] == 3,
                    f"MAP {address}: heard with Dist 2 on {via} and Dist 5 on the other link, relayed with Dist "
                    f"{dists[address]} (expected 3: the smallest plus one)", frame=ra)


ND_VALIDITY = "ND-4861-6.1.2-P1-MUST-1"
OFF_LINK_SOURCE = "2001:db8:ffff::a11"     # a global (not link-local) source for an RA
FORWARDED_SOURCE = "fe80::a11:3"            # link-local, but the RA arrives with hop limit 254
MAP_OFF_LINK, MAP_FORWARDED, MAP_CONTROL = "2001:db8:ff03::1", "2001:db8:ff04::1", "2001:db8:ff05::1"


def _rogue_advertisement(tester, link: str, source: str, hop_limit: int, options: list) -> None:
    ra = upstream_advertisement(tester.mac(link), source, [
        ICMPv6NDOptMAP(dist=dist, pref=RELAYED_PREF, R=1, validlifetime=RELAYED_LIFETIME, addr=address)
        for address, dist in options])
    ra[IPv6].hlim = hop_limit  # built (and checksummed) when sent
    tester.send(link, ra)


@pytest.fixture
def invalid_upstreams(tester, upstream):
    """The MAP-facing link; afterwards every source used withdraws what it advertised (a correct AR learnt
    nothing from the invalid two; a broken one would otherwise keep relaying them until they time out)."""
    link, _ = upstream
    yield link
    _rogue_advertisement(tester, link.name, OFF_LINK_SOURCE, 255, [])
    _rogue_advertisement(tester, link.name, FORWARDED_SOURCE, 254, [])
    _advertise(tester, link.name, UPSTREAM, [])


@pytest.mark.tp(id="HMIP-AR-DISC-003",
                title="Dynamic MAP discovery: MAP options in an RA that fails RFC 4861 validation are not relayed")
@pytest.mark.requirements(ND_VALIDITY)
def test_invalid_advertisement_not_relayed(testbed, dut, tester, invalid_upstreams, judge) -> None:
    """
    Purpose:        A router doing dynamic MAP discovery learns MAP options only from valid Router Advertisements:
                    one from a source that is not link-local, or with a hop limit other than 255, was sent from off
                    the link (or forwarded by a router) and is silently discarded, so its MAP options are not
                    re-sent on the access link.
    Topology:       the tester as routers on the AR's MAP-facing link and as a listener on its access link.
    Initialisation: DUT restarted; it claims PICS dynamic_map_discovery (and is configured for it).
    Procedure:      1. On the MAP-facing link, an RA from the global address 2001:db8:ffff::a11 (hop limit 255)
                       with a MAP option for MAP-O (2001:db8:ff03::1), Dist 2, Pref 7, R 1, valid lifetime 600 s.
                    2. An RA from fe80::a11:3 with hop limit 254, with a MAP option for MAP-F (2001:db8:ff04::1).
                    3. Positive control: a valid RA (fe80::a11:1, hop limit 255) with a MAP option for MAP-C
                       (2001:db8:ff05::1).
                    4. The tester solicits on the access link and collects the AR's advertisements until one
                       relays MAP-C (at most MaxRtrAdvInterval + MinDelayBetweenRAs + MAX_RA_DELAY_TIME + 1 s).
    Judgement:      1. No advertisement on the access link, up to and including the one relaying MAP-C (built
                       after all three RAs arrived), carries a MAP option for MAP-O.   RFC 4861 §6.1.2 P1, P2
                    2. None carries a MAP option for MAP-F.                              RFC 4861 §6.1.2 P1, P3
                    No advertisement relaying MAP-C is INCONCLUSIVE: the AR relays nothing, so not relaying the
                    invalid options proves nothing (HMIP-AR-DISC-001 judges relaying itself).
    Reference:      RFC 4861 §6.1.2 "A node MUST silently discard any received Router Advertisement messages that
                    do not satisfy all of the following validity checks: - IP Source Address is a link-local
                    address. [...] - The IP Hop Limit field has a value of 255, i.e., the packet could not
                    possibly have been forwarded by a router."  A rogue router on the link itself sends valid RAs
                    and is not caught by this (base §7: RAs between routers "SHOULD be authenticated (e.g. using
                    AH, ESP, or SEND)"; the suite has no SEND).
    """
    link = invalid_upstreams
    access = testbed.spec.access_link_of(dut.node)
    t = testbed.spec.timers
    mark = tester.mark()
    judge.step(f"1. on {link.name}: RA from {OFF_LINK_SOURCE} (not link-local) with MAP-O {MAP_OFF_LINK}")
    _rogue_advertisement(tester, link.name, OFF_LINK_SOURCE, 255, [(MAP_OFF_LINK, RELAYED_DIST)])
    judge.step(f"2. on {link.name}: RA from {FORWARDED_SOURCE} with hop limit 254 with MAP-F {MAP_FORWARDED}")
    _rogue_advertisement(tester, link.name, FORWARDED_SOURCE, 254, [(MAP_FORWARDED, RELAYED_DIST)])
    judge.step(f"3. on {link.name}: valid RA from {UPSTREAM} with MAP-C {MAP_CONTROL} (positive control)")
    _advertise(tester, link.name, UPSTREAM, [(MAP_CONTROL, RELAYED_DIST)])
    judge.step(f"4. solicit on {access.name} and collect the AR's advertisements until one relays MAP-C")
    tester.send(access.name, router_solicitation(tester.mac(access.name)))
    window = t.max_rtr_adv_interval + t.min_delay_between_ras + t.max_ra_delay_time + 1.0
    control = tester.wait_for(lambda f: ICMPv6ND_RA in f.pkt and MAP_CONTROL in {o.addr for o in _map_options(f.pkt)},
                              window, mark, [access.name])
    judge.require(control is not None, f"no advertisement on {access.name} relayed MAP-C ({MAP_CONTROL}, from a valid "
                  f"RA) within {window:.1f} s: the AR relays no learnt option, so the test point was not reached")
    ras = [f for f in tester.frames(mark, [access.name])
           if not f.outgoing and f.index <= control.index and ICMPv6ND_RA in f.pkt]
    judge.record("ras_judged", len(ras))
    for address, rule, what in ((MAP_OFF_LINK, "P2", f"from {OFF_LINK_SOURCE}, not link-local"),
                                (MAP_FORWARDED, "P3", "with hop limit 254")):
        offending = next((f for f in ras if address in {o.addr for o in _map_options(f.pkt)}), None)
        judge.check(ND_VALIDITY, offending is None,
                    f"the MAP option for {address}, received in an RA {what} (RFC 4861 §6.1.2 {rule}): "
                    + ("re-sent" if offending else "not re-sent") + f" in {len(ras)} advertisement(s) judged",
                    frame=offending or control)
