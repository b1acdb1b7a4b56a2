"""Access router test purposes: the MAP option in Router Advertisements.

Topology: the AR under test (testbeds/virtual.yaml: AR1) advertises on its access link (acc1); the tester
listens there and solicits.  The MAP it advertises is the reference MAP of its domain.
"""

from __future__ import annotations

import pytest

from conformance.suite import nd_raw
from harness.tester.packets import (
    ICMPv6ND_RA, ICMPv6NDOptMAP, IPv6, router_solicitation,
)

pytestmark = pytest.mark.role("ar")

MAP_OPTION_TYPE = "HMIP-5380-5-P4-BIND-1"  # RFC 5380 §5 Type: "Its value is 23."


@pytest.fixture
def access_link(testbed, dut):
    return testbed.spec.access_link_of(dut.node)


def _map_options(frame) -> list:
    opts, layer = [], frame.pkt.getlayer(ICMPv6NDOptMAP)
    while layer is not None:
        opts.append(layer)
        layer = layer.payload.getlayer(ICMPv6NDOptMAP) if layer.payload is not None else None
    return opts


def _ras(testbed, tester, link: str, count: int):
    """``count`` RAs from the link: the first solicited (RS from the tester), the others unsolicited."""
    t = testbed.spec.timers
    mark = tester.mark()
    tester.send(link, router_solicitation(tester.mac(link)))
    window = t.max_ra_delay_time + t.min_delay_between_ras + count * t.max_rtr_adv_interval + 1.0
    seen = []
    deadline_mark = mark
    for _ in range(count):
        ra = tester.wait_for(lambda f: ICMPv6ND_RA in f.pkt and f.index >= deadline_mark, window, mark, [link])
        if ra is None:
            break
        seen.append(ra)
        deadline_mark = ra.index + 1
    return seen


@pytest.mark.tp(id="HMIP-AR-RA-001", title="Every Router Advertisement on the access link carries the MAP option")
@pytest.mark.requirements("HMIP-4140-7.1-P1-BIND-1", "HMIP-4140-3.1-P11-MUST-1", "HMIP-5380-7-P2-BIND-1")
def test_every_ra_carries_map_option(testbed, dut, tester, access_link, judge, edition) -> None:
    """
    Purpose:        The AR sends the MAP option in (all) its Router Advertisements on the access link.
    Initialisation: DUT restarted; its MAP configured (manually) with the domain's MAP.
    Procedure:      1. The tester solicits (RS from ::).  2. Collect the answer and the next two RAs.
    Judgement:      1. Every RA seen (up to three; at least one) carries a MAP option naming the domain's MAP.
    Reference:      base §7.1 "The access router is required to send the MAP option in its router
                    advertisements."; base §3.1 "...all ARs belonging to the MAP domain MUST advertise the MAP's
                    IP address."; RFC 5380 §7 (manual configuration of the MAP option in ARs).
    """
    map_addresses = {testbed.spec.map_address(m) for m in testbed.spec.nodes[dut.node].maps}
    judge.require(map_addresses, "the testbed configures no MAP for this AR")
    ras = _ras(testbed, tester, access_link.name, 3)
    judge.require(len(ras) >= 1, "the AR sent no Router Advertisement at all")
    judge.record("ras_seen", len(ras))  # how often the AR advertises is RFC 4861's business, not judged here
    missing = [ra for ra in ras if not map_addresses & {o.addr for o in _map_options(ra)}]
    detail = f"{len(missing)} of {len(ras)} RAs without a MAP option for {', '.join(sorted(map_addresses))}"
    judge.check("HMIP-4140-7.1-P1-BIND-1" if edition == "rfc4140" else "HMIP-5380-7-P2-BIND-1", not missing, detail,
                frame=ras[0], tshark={"icmpv6.opt.type": 23} if _map_options(ras[0]) else None)
    if edition == "rfc4140":
        judge.check("HMIP-4140-3.1-P11-MUST-1", not missing, detail)


@pytest.mark.tp(id="HMIP-AR-RA-002", title="MAP option format: length 3, Dist not zero, from link-local with hop limit 255")
@pytest.mark.requirements("HMIP-4140-5-P3-MUST-1", "HMIP-4140-5-P4-MUST-NOT-1", MAP_OPTION_TYPE)
def test_map_option_format(testbed, dut, tester, access_link, judge, edition) -> None:
    """
    Purpose:        The MAP options the AR sends are well-formed.
    Procedure:      1. Solicit and take the RA.
    Judgement:      0. (rfc5380) Every option of the RA laid out as a MAP option for a MAP the AR is configured
                       with (Length 3, that MAP's address in octets 8-23), read from the RA's bytes whatever its
                       Type, has Type 23.  No such option at all is INCONCLUSIVE.            RFC 5380 §5
                    1. Every MAP option has Length 3 (units of 8 octets).  2. Dist is never 0.
                    (Recorded, not judged here: hop limit 255 and a link-local source, RFC 4861 §6.1.2.)
    Reference:      base §5 "The length of the option and MUST be set to 3."; "A Distance value of Zero MUST NOT
                    be used."; RFC 5380 §5 Type "IPv6 Neighbour Discovery option. Its value is 23."  (The base
                    document's Type is "TBA": INC-4, not judged in the rfc4140 edition.)
    """
    ras = _ras(testbed, tester, access_link.name, 1)
    if edition == "rfc5380":
        map_addresses = {testbed.spec.map_address(m) for m in testbed.spec.nodes[dut.node].maps}
        judge.require(ras, "the AR sent no Router Advertisement to judge")
        laid_out = nd_raw.map_address_options(ras[0].pkt, map_addresses)
        judge.record("map_option_types", laid_out)
        judge.require(laid_out, f"the RA carries no option laid out as a MAP option (Length 3) for "
                      f"{', '.join(sorted(map_addresses)) or 'a configured MAP'}, under any Type")
        for otype, address in laid_out:
            judge.check(MAP_OPTION_TYPE, otype == 23, f"the option carrying MAP {address} has Type {otype}",
                        frame=ras[0], tshark={"icmpv6.opt.type": otype})
    judge.require(ras and _map_options(ras[0]), "no RA with a MAP option to judge")
    ra = ras[0]
    judge.record("hop_limit", ra.pkt[IPv6].hlim)
    judge.record("source", ra.pkt[IPv6].src)
    for opt in _map_options(ra):
        judge.check("HMIP-4140-5-P3-MUST-1", opt.len == 3, f"MAP option for {opt.addr} has length {opt.len}",
                    frame=ra, tshark={"icmpv6.opt.length": opt.len})
        judge.check("HMIP-4140-5-P4-MUST-NOT-1", opt.dist != 0, f"MAP option for {opt.addr} has Dist 0",
                    frame=ra, tshark={"icmpv6.opt.map.distance": opt.dist})
