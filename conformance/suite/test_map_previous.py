"""MAP test purposes: updating a previous MAP (base §8, PICS previous_map_forwarding).

Topology (testbeds/virtual.yaml): MN' first on the MAP's own access link (acc1 -- AR1 -- dom1 -- MAP1), then on the
access link of another MAP domain (acc3 -- AR3 -- dom2 -- MAP2 -- core -- MAP1); CN1 on the far side of RT.  The
tester plays the mobile node on both access links (the same RCoA, one LCoA per link).
"""

from __future__ import annotations

import pytest

from harness.tester.mobility import PlayedMobileNode, tunnelled_to
from harness.tester.packets import MIP6MH_BA, ICMPv6EchoRequest, IPv6, ipv6_layers

pytestmark = [pytest.mark.role("map"), pytest.mark.pics("previous_map_forwarding")]


@pytest.fixture
def moved(testbed, tester, dut, mn):
    """The tester as the same mobile node after a move into a neighbouring domain: an LCoA (::c0a) on the first
    access link whose router does not advertise the MAP under test (None if the testbed has none)."""
    spec = testbed.spec
    other = next(((link, ar) for link in spec.access_links()
                  if (ar := spec.advertising_router(link.name)) is not None and dut.node not in ar.maps), None)
    if other is None:
        yield None
        return
    link, ar = other
    played = PlayedMobileNode(tester, link.name, link.members[ar.name].mac, str(link.prefix.network_address + 0xC0A),
                              mn.rcoa, mn.map)
    yield played
    played.release()


@pytest.mark.tp(id="HMIP-MAP-PMAP-001",
                title="Previous-MAP forwarding: a BU from an LCoA in a neighbouring domain re-points the binding")
@pytest.mark.requirements("HMIP-4140-8-P1-MAY-1", "HMIP-4140-8-P1-RECOMMENDED-1", "MIP6-6275-9.5.4-P3-MUST-1",
                          "HMIP-4140-6.1-P2-BIND-4")
def test_previous_map_forwarding(testbed, dut, tester, mn, moved, cn, judge, ba_timeout) -> None:
    """
    Purpose:        A mobile node that moved into a neighbouring MAP domain sends its previous MAP a local BU with its
                    new LCoA (base §6.1, §8); a MAP that forwards to LCoAs outside its domain (PICS
                    previous_map_forwarding: the administrator has not restricted it, §8) re-points the binding, and
                    traffic for the RCoA follows the mobile node into the other domain.
    Topology:       MN' on the MAP's access link, then on a neighbouring domain's access link; CN1 beyond RT.
    Initialisation: DUT restarted; it claims PICS previous_map_forwarding for the testbed's other domains.
    Procedure:      1. MN' registers from LCoA1 (the MAP's access link): BU(seq 1, 40 s, A M), HAO = RCoA.
                    2. MN' moves: from LCoA2 on the neighbouring domain's access link it sends the MAP
                       BU(seq 2, 40 s, A M), HAO = RCoA.
                    3. Wait for the BA to LCoA2 on that link.
                    4. CN1 pings the RCoA.
    Judgement:      1. A BA to LCoA2 arrives (A was set)                          RFC 6275 §9.5.4
                    2. Its status is < 128: the MAP accepts forwarding to an LCoA in the neighbouring domain
                       (RECOMMENDED: a refusal is WARN, and ends the test)         base §8
                    3. The Echo Request arrives on the neighbouring access link tunnelled MAP -> LCoA2
                                                                                    base §6.1
                    (Recorded: BA status and lifetime; whether a copy still went to LCoA1.)
    Reference:      base §8 "An administrator MAY restrict the MAP from forwarding packets to LCoAs outside the MAP's
                    domain. However, it is RECOMMENDED that MAPs be allowed to forward packets to LCoAs associated
                    with some of the ARs in neighbouring MAP domains, provided that they are located within the same
                    administrative domain."; base §6.1 "all packets addressed to the mobile node's RCoA are
                    intercepted by the MAP and tunnelled to the mobile node's LCoA."
    """
    judge.require(moved is not None, "the testbed has no access link outside the MAP's domain to move to")
    _, cn_address = cn
    judge.step(f"1. register from LCoA1 {mn.lcoa}")
    ba = mn.register(1, 40, ba_timeout)
    judge.require(ba is not None and ba.pkt[MIP6MH_BA].status < 128, "the DUT did not accept the first registration")

    judge.step(f"2. BU seq 2 from LCoA2 {moved.lcoa} on {moved.link}")
    mark = moved.send_bu(2, 40)
    ba = tester.wait_for(lambda f: MIP6MH_BA in f.pkt and f.pkt[IPv6].dst == moved.lcoa, ba_timeout, mark,
                         [moved.link])
    judge.check("MIP6-6275-9.5.4-P3-MUST-1", ba is not None,
                f"BA on {moved.link} within {ba_timeout:.1f} s of a BU with A set from {moved.lcoa}: "
                + ("seen" if ba else "none"), frame=ba)
    status = ba.pkt[MIP6MH_BA].status
    judge.record("ba_status", status)
    judge.record("ba_lifetime_units", ba.pkt[MIP6MH_BA].mhtime)
    if not judge.check("HMIP-4140-8-P1-RECOMMENDED-1", status < 128,
                       f"BA status {status} for the LCoA {moved.lcoa} in a neighbouring domain",
                       frame=ba, tshark={"mip6.ba.status": status}):
        return

    judge.step("4. CN pings the RCoA")
    mark = tester.mark()
    testbed.driver(cn[0]).run(f"ping -6 -c 1 -W 1 {mn.rcoa}")

    def to_new_lcoa(f) -> bool:
        layers = ipv6_layers(f.pkt)
        return (tunnelled_to(f, moved.lcoa, mn.rcoa) and layers[0].src == mn.map and layers[1].src == cn_address
                and ICMPv6EchoRequest in layers[1])

    got = tester.wait_for(to_new_lcoa, 3, mark, [moved.link])
    stale = tester.wait_for(lambda f: tunnelled_to(f, mn.lcoa, mn.rcoa), 0, mark, [mn.link])
    judge.record("copy_to_previous_lcoa", stale is not None)
    judge.check("HMIP-4140-6.1-P2-BIND-4", got is not None,
                f"the RCoA's traffic tunnelled to the new LCoA {moved.lcoa}: " + ("seen" if got else "not seen")
                + (f" (a copy went to the previous LCoA {mn.lcoa})" if stale is not None else ""), frame=got,
                tshark={"ipv6.nxt": 41} if got is not None else None)
