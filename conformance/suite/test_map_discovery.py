"""MAP test purpose: a MAP relaying other MAPs' options (dynamic MAP discovery, base §7.1.1/§7.1.2; rfc4140 only,
PICS dynamic_map_discovery) that hears the same MAP on two interfaces.

Topology: the MAP under test (testbeds/virtual.yaml: MAP1) with two links besides its domain link that the tester is
on (core, and up2, the tester's alone), where the tester plays upstream routers, and its domain link (dom1), where
the tester listens to the MAP's own advertisements (which carry the options it relays).
"""

from __future__ import annotations

import time

import pytest

from harness.tester.packets import ICMPv6ND_RA, ICMPv6NDOptMAP, IPv6, link_local_from_mac, upstream_advertisement

pytestmark = [pytest.mark.role("map"), pytest.mark.pics("map_option_origination", "dynamic_map_discovery"),
              pytest.mark.edition("rfc4140")]

SMALLEST = "HMIP-4140-7.1.1-P2-MUST-3"
ROUTER_A, ROUTER_B = "fe80::a12:1", "fe80::a12:2"  # the routers the tester plays on the MAP's two upstream links
MAP_X, MAP_Y = "2001:db8:ff11::1", "2001:db8:ff12::1"  # heard over both links, at different distances
MAP_P, MAP_Q = "2001:db8:ff13::1", "2001:db8:ff14::1"  # controls: P heard on link A only, Q on link B only
PREF, LIFETIME = 7, 600


def _advertise(tester, link: str, source: str, options: list) -> None:
    """An RA from upstream router ``source`` (link-local, hop limit 255, router lifetime 0) with MAP ``options``
    ([(address, dist)], Pref 7, R 1, valid lifetime 600 s); no options withdraws what it advertised before."""
    tester.send(link, upstream_advertisement(tester.mac(link), source, [
        ICMPv6NDOptMAP(dist=dist, pref=PREF, R=1, validlifetime=LIFETIME, addr=address) for address, dist in options]))


def _map_options(pkt) -> dict:
    return {o.addr: o for o in pkt.iterpayloads() if isinstance(o, ICMPv6NDOptMAP)}


@pytest.fixture
def two_upstreams(testbed, dut, tester):
    """Two links of the MAP besides its domain link that the tester is on (where it can play upstream routers);
    what the tester advertised there is withdrawn after the test."""
    spec = testbed.spec
    home = spec.map_link(dut.node)
    links = [spec.links[i.link] for i in spec.nodes[dut.node].interfaces.values()
             if i.link != home.name and not spec.links[i.link].access and "tester" in spec.links[i.link].members]
    if len(links) < 2:
        pytest.skip("NOT APPLICABLE: the testbed gives the MAP fewer than two links besides its domain link that the "
                    "tester is on (the requirement is about one MAP heard on two interfaces)")
    yield links[0], links[1]
    _advertise(tester, links[0].name, ROUTER_A, [])
    _advertise(tester, links[1].name, ROUTER_B, [])


@pytest.mark.tp(id="HMIP-MAP-DISC-002",
                title="A MAP hearing the same MAP option on two interfaces relays the one with the smallest Dist")
@pytest.mark.requirements(SMALLEST)
def test_map_smallest_dist_across_interfaces(testbed, dut, tester, two_upstreams, judge) -> None:
    """
    Purpose:        A MAP that relays other MAPs' options (dynamic MAP discovery) and receives options for the same
                    MAP on two different interfaces chooses the one with the smallest Distance, and relays it (with
                    Dist + 1) in its own advertisements, next to its own option.
    Topology:       the tester as two upstream routers, one on each of two links of the MAP other than its domain
                    link (A, B; testbeds/virtual.yaml: core and up2), and as a listener on its domain link (dom1).
    Initialisation: DUT restarted; it claims PICS map_option_origination and dynamic_map_discovery (rfc4140), and is
                    configured to learn MAP options on both links.
    Procedure:      1. On link A, from fe80::a12:1, an RA with MAP options for MAPs the DUT is not configured with:
                       X at Dist 2, Y at Dist 5, and the control P at Dist 2.
                    2. Then on link B, from fe80::a12:2, an RA with X at Dist 5, Y at Dist 2 and the control Q at
                       Dist 2.  (Whichever rule other than "smallest" the MAP uses -- first heard, last heard, one
                       interface before the other -- gives Dist 6 for X or for Y.)
                    3. The tester collects the MAP's advertisements on its domain link until one relays X, Y, P
                       and Q, repeating the two RAs (A then B, as upstream routers advertise periodically) every
                       MaxRtrAdvInterval + MinDelayBetweenRAs + 0.5 s (at least 1 s), three times at most.
    Judgement:      The MAP must learn options on both links for the test point to be reached: no advertisement
                    relaying both controls P (link A only) and Q (link B only) is INCONCLUSIVE (the MAP does not
                    learn MAP options on both links: nothing is heard "from two different interfaces").
                    1. In the first advertisement relaying X, Y, P and Q -- built after the MAP had heard both
                       links, as it relays both controls -- X and Y both have Dist 3: the smaller received Dist (2)
                       plus one.
                    (Recorded: the Dist of every relayed option; whether the MAP's own option is in it; how many
                    times the upstream RAs were sent.)
    Reference:      base §7.1.1 "If a router receives more than one MAP option for the same MAP (i.e. the same IP
                    address in the MAP option), from two different interfaces, it MUST choose the option with the
                    smallest distance field."; §7.1.2 "If a router that is also a MAP receives advertisements from
                    other MAPs, it MUST add its own MAP option and propagate both options to the next router or to
                    the AR".
    """
    link_a, link_b = two_upstreams
    spec = testbed.spec
    home = spec.map_link(dut.node)
    mac = home.members[dut.node].mac
    source = link_local_from_mac(mac) if mac else None
    wanted = {MAP_X, MAP_Y, MAP_P, MAP_Q}

    def relaying_all(f) -> bool:
        return (ICMPv6ND_RA in f.pkt and (source is None or f.pkt[IPv6].src == source)
                and wanted <= set(_map_options(f.pkt)))

    t = spec.timers
    attempt = max(1.0, t.max_rtr_adv_interval + t.min_delay_between_ras + 0.5)
    window = 3 * attempt
    mark = tester.mark()
    deadline = time.monotonic() + window
    ra, sent = None, 0
    while ra is None and time.monotonic() < deadline:
        if sent == 0:
            judge.step(f"1. on {link_a.name} from {ROUTER_A}: MAP {MAP_X} Dist 2, MAP {MAP_Y} Dist 5, control {MAP_P} "
                       "Dist 2")
        _advertise(tester, link_a.name, ROUTER_A, [(MAP_X, 2), (MAP_Y, 5), (MAP_P, 2)])
        if sent == 0:
            judge.step(f"2. on {link_b.name} from {ROUTER_B}: MAP {MAP_X} Dist 5, MAP {MAP_Y} Dist 2, control "
                       f"{MAP_Q} Dist 2")
        _advertise(tester, link_b.name, ROUTER_B, [(MAP_X, 5), (MAP_Y, 2), (MAP_Q, 2)])
        sent += 1
        if sent == 1:
            judge.step(f"3. collect the MAP's advertisements on {home.name} (the upstream RAs repeated, A then B, "
                       f"every {attempt:.1f} s until one relays all four options)")
        ra = tester.wait_for(relaying_all, min(attempt, max(0.0, deadline - time.monotonic())), mark, [home.name])
    judge.record("upstream_ra_pairs_sent", sent)
    if ra is None:
        seen = [f for f in tester.frames(mark, [home.name]) if not f.outgoing and ICMPv6ND_RA in f.pkt
                and (source is None or f.pkt[IPv6].src == source)]
        relayed = set().union(*(set(_map_options(f.pkt)) for f in seen)) if seen else set()
        judge.record("relayed_in_window", sorted(relayed & wanted))
        judge.require(False, f"no advertisement on {home.name} relaying X, Y and both controls within {window:.1f} s "
                      f"({len(seen)} from the MAP; control P from {link_a.name}: "
                      f"{'relayed' if MAP_P in relayed else 'not relayed'}; control Q from {link_b.name}: "
                      f"{'relayed' if MAP_Q in relayed else 'not relayed'}): the MAP does not learn MAP options on "
                      "both links, so no option is heard from two interfaces")
    options = _map_options(ra.pkt)
    judge.record("relayed_dist", {a: o.dist for a, o in options.items()})
    judge.record("own_option_present", spec.map_address(dut.node) in options)
    for address, via in ((MAP_X, link_a.name), (MAP_Y, link_b.name)):
        judge.check(SMALLEST, options[address].dist == 3,
                    f"MAP {address}: heard with Dist 2 on {via} and Dist 5 on the other link, relayed with Dist "
                    f"{options[address].dist} (expected 3: the smallest plus one)", frame=ra,
                    tshark={"icmpv6.opt.map.distance": options[address].dist})
