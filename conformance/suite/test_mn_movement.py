"""MN test purposes: movement within a MAP domain, between MAP domains, and a change of the advertised MAP.

Topology (all of them, conformance/suite/mn_support.py): the mobile node alone on acc0 with the tester, which
plays two access routers -- R1 (its port's MAC, prefix 2001:db8:1f0::/64) and R2 (another MAC and link-local
address, prefix 2001:db8:1f1::/64) --, the MAPs MAP-A (2001:db8:1a::1) and MAP-B (2001:db8:1b::1), the home
agent and the correspondents.  A move is a carrier flap of the MN's port (what a Wi-Fi roam looks like to it)
followed by R2's Router Advertisement.  The MN is restarted on acc0 before each test and stopped after it.
"""

from __future__ import annotations

import pytest

from conformance.suite import mn_support
from conformance.suite.mn_support import MAP_A, MAP_B, PREFIX_2, MapAd, in_prefix, prefix64, same

pytestmark = pytest.mark.role("mn")


@pytest.fixture
def bench(testbed, tester, _dut_session, edition):
    """The MN restarted on acc0 (see test_mn_registration.bench)."""
    yield from mn_support.bench(testbed, tester, _dut_session, edition)


@pytest.mark.tp(id="HMIP-MN-MOVE-001", title="Move within the MAP domain: only a local BU with the new LCoA, same RCoA")
@pytest.mark.requirements("HMIP-4140-6.1-P8-BIND-1", "HMIP-4140-6.1-P8-BIND-2", "HMIP-4140-3.1-P10-MUST-1")
def test_intra_domain_move(bench, judge) -> None:
    """
    Purpose:        After moving to another access router of the same MAP domain (same MAP option, new on-link
                    prefix) the MN registers its new LCoA with its MAP, keeps its RCoA, and sends nothing to its
                    HA.
    Topology:       MN -- acc0 -- tester (R1 then R2, MAP-A, HA).
    Initialisation: MN restarted on acc0; registered with MAP-A (via R1) and its HA.
    Procedure:      1. Register with MAP-A and the HA through R1.
                    2. Move: carrier flap; R2 advertises 2001:db8:1f1::/64 with the same MAP-A option.
                    3. Acknowledge the local BU (as MAP-A).  4. Poke the MN; watch one window.
    Judgement:      1. A local BU to MAP-A comes from an address on R2's prefix               base §3.1 MUST
                    2. Its Home Address option holds the same RCoA as before                   base §6.1
                    3. From the move to the end of the window no BU goes to the HA (inside or outside tunnels),
                       while the capture shows the MN alive                                     base §6.1
    Reference:      base §6.1 "When the mobile node moves within the same MAP domain, it should only register its
                    new LCoA with its MAP. In this case, the RCoA remains unchanged." (a statement without keyword,
                    judged as binding); §3.1 "The LCoA included in the binding update MUST be the mobile node's
                    address derived from the prefix advertised on its link."
    """
    judge.require(bench.home_agent is not None, "the MN has no home agent")
    judge.step("1. register with MAP-A and the HA through R1")
    reg = bench.register([MapAd(MAP_A)], judge=judge)
    judge.step("2. move: carrier flap, R2 advertises 2001:db8:1f1::/64 with MAP-A")
    since = bench.handover(bench.router2, [MapAd(MAP_A)])
    bu = bench.wait_local_bu(MAP_A, since)
    judge.require(bu is not None, "no local BU to MAP-A after the move")
    judge.check("HMIP-4140-3.1-P10-MUST-1", in_prefix(bu.ip.src, PREFIX_2),
                f"the local BU after the move comes from {bu.ip.src}, not from R2's prefix {PREFIX_2}",
                frame=bu.frame, tshark={"ipv6.src": bu.ip.src})
    judge.check("HMIP-4140-6.1-P8-BIND-2", same(bu.hao, reg.rcoa),
                f"the RCoA changed from {reg.rcoa} to {bu.hao} within the MAP domain", frame=bu.frame)
    judge.step("3. acknowledge it as MAP-A")
    bench.send(bench.ba(bu, router=bench.router2))
    judge.step("4. watch for a BU to the HA")
    home = bench.absent_bu(bench.home_bu, since=since)
    judge.check("HMIP-4140-6.1-P8-BIND-1", home is None,
                f"the MN sent a BU to its HA (care-of address {getattr(home, 'coa', '')}) after a move within "
                "the MAP domain", frame=getattr(home, "frame", None))


@pytest.mark.tp(id="HMIP-MN-MOVE-002", title="Move to another MAP domain: new MAP, then HA, and the previous MAP")
@pytest.mark.requirements("HMIP-4140-3.1-P7-MUST-1", "HMIP-4140-3.1-P10-MUST-1", "HMIP-4140-3.1-P10-MUST-NOT-1",
                          "HMIP-4140-6.1-P3-MUST-NOT-1", "HMIP-4140-6.1-P6-SHOULD-1", "HMIP-4140-9.1-P2-BIND-1")
def test_inter_domain_move(bench, judge) -> None:
    """
    Purpose:        After moving to an access router of another MAP domain (a new MAP option, a new prefix) the MN
                    registers a new RCoA with the new MAP from its new LCoA, then registers that RCoA with its HA,
                    and tells the previous MAP its new LCoA.
    Topology:       MN -- acc0 -- tester (R1 with MAP-A, then R2 with MAP-B, HA).
    Initialisation: MN restarted on acc0; registered with MAP-A (via R1) and its HA.
    Procedure:      1. Register with MAP-A and the HA through R1 (RCoA-A, LCoA1).
                    2. Move: carrier flap; R2 advertises 2001:db8:1f1::/64 with a MAP option for MAP-B only.
                    3. Acknowledge the local BU to MAP-B, then the home registration, and any BU to MAP-A.
    Judgement:      1. A local BU goes to MAP-B                                                  base §3.1 MUST
                    2. ... from an address on R2's prefix                                       base §3.1 MUST
                    3. ... that is not on MAP-A's prefix (RCoA-A is not presented as an LCoA, nor used as the
                       care-of address, to MAP-B: no hierarchy of MAPs)  base §3.1 MUST NOT, §6.1 MUST NOT, §9.1
                    4. A BU to the HA then registers an RCoA on MAP-B's prefix                  base §3.1 MUST
                    5. A local BU to MAP-A re-points RCoA-A to the new LCoA                     base §6.1 SHOULD
                    (Correspondents: the MN holds no route-optimised binding here, so none is expected.)
    Reference:      base §3.1 "If a change in the advertised MAP's address is received, the mobile node MUST act
                    on the change by sending Binding Updates to its HA and correspondent nodes."; "the mobile
                    node MUST NOT present an RCoA from a MAP's subnet as an LCoA in a binding update sent to
                    another MAP."; §6.1 "a mobile node SHOULD send a local BU to its previous MAP specifying its
                    new LCoA."; §9.1 (registering one MAP's RCoA with another) "it is therefore prohibited by this
                    specification."
    """
    judge.require(bench.home_agent is not None, "the MN has no home agent")
    judge.step("1. register with MAP-A and the HA through R1")
    reg = bench.register([MapAd(MAP_A)], judge=judge)
    judge.step("2. move: carrier flap, R2 advertises 2001:db8:1f1::/64 with MAP-B")
    since = bench.handover(bench.router2, [MapAd(MAP_B)])
    bu = bench.wait_local_bu(MAP_B, since)
    judge.check("HMIP-4140-3.1-P7-MUST-1", bu is not None, "no local BU to MAP-B after the move: the MN did not act "
                "on the new MAP")
    judge.check("HMIP-4140-3.1-P10-MUST-1", in_prefix(bu.ip.src, PREFIX_2),
                f"the local BU to MAP-B comes from {bu.ip.src}, not from R2's prefix {PREFIX_2}",
                frame=bu.frame, tshark={"ipv6.src": bu.ip.src})
    old = prefix64(MAP_A)
    judge.check("HMIP-4140-3.1-P10-MUST-NOT-1", not in_prefix(bu.ip.src, old),
                f"the BU to MAP-B presents {bu.ip.src}, on MAP-A's prefix, as its LCoA")
    judge.check("HMIP-4140-6.1-P3-MUST-NOT-1", not in_prefix(bu.coa, old),
                f"the BU to MAP-B uses {bu.coa}, on MAP-A's prefix, as its care-of address")
    judge.check("HMIP-4140-9.1-P2-BIND-1", not in_prefix(bu.coa, old),
                f"the BU to MAP-B binds {bu.coa}, MAP-A's RCoA, as its care-of address: a hierarchy of MAPs"
                if in_prefix(bu.coa, old) else f"the BU to MAP-B binds {bu.coa}, not an address of MAP-A's prefix")
    judge.step("3. acknowledge it as MAP-B; wait for the home registration")
    mark = bench.send(bench.ba(bu, router=bench.router2))
    hbu = bench.wait_home_bu(mark)
    judge.check("HMIP-4140-3.1-P7-MUST-1", hbu is not None and in_prefix(hbu.coa, prefix64(MAP_B)),
                "no BU to the HA after the MAP changed" if hbu is None else
                f"the BU to the HA registers {hbu.coa}, not an RCoA on MAP-B's prefix", frame=getattr(hbu, "frame", None))
    bench.send(bench.home_ba(hbu, router=bench.router2))
    previous = bench.wait_bu(lambda b: bench.local_to(MAP_A)(b) and same(b.hao, reg.rcoa), bench.react_timeout, since)
    judge.record("previous_map_bu", None if previous is None else f"{previous.ip.src} -> {previous.ip.dst}, "
                 f"RCoA {previous.hao}, lifetime {previous.lifetime} s")
    judge.check("HMIP-4140-6.1-P6-SHOULD-1", previous is not None and in_prefix(previous.coa, PREFIX_2),
                "no local BU to the previous MAP" if previous is None else
                f"the BU to the previous MAP names {previous.coa}, not the new LCoA", frame=getattr(previous, "frame", None))
    if previous is not None:
        bench.send(bench.ba(previous, router=bench.router2))


@pytest.mark.tp(id="HMIP-MN-MOVE-003", title="A change of the advertised MAP address: BU to the new MAP, then to the HA")
@pytest.mark.requirements("HMIP-4140-3.1-P7-MUST-1")
def test_map_address_change(bench, judge) -> None:
    """
    Purpose:        When its current access router starts advertising another MAP address (no movement), the MN
                    acts on it: it registers with the new MAP and registers the new RCoA with its HA.
    Topology:       MN -- acc0 -- tester (R1 with MAP-A, then R1 with MAP-B, HA).
    Initialisation: MN restarted on acc0; registered with MAP-A and its HA.
    Procedure:      1. Register with MAP-A and the HA.  2. R1 (same router, same prefix) advertises a MAP option
                    for MAP-B instead of MAP-A.  3. Acknowledge the local BU to MAP-B; wait for the BU to the HA.
    Judgement:      1. A local BU goes to MAP-B, and then 2. a BU to the HA registers an RCoA on MAP-B's prefix.
                    (Correspondents: the MN holds no route-optimised binding here, so none is expected.)
    Reference:      base §3.1 "If a change in the advertised MAP's address is received, the mobile node MUST act
                    on the change by sending Binding Updates to its HA and correspondent nodes."
    """
    judge.require(bench.home_agent is not None, "the MN has no home agent")
    judge.step("1. register with MAP-A and the HA")
    bench.register([MapAd(MAP_A)], judge=judge)
    judge.step("2. R1 advertises MAP-B instead of MAP-A")
    since = bench.advertise(maps=[MapAd(MAP_B)])
    bu = bench.wait_local_bu(MAP_B, since)
    judge.check("HMIP-4140-3.1-P7-MUST-1", bu is not None, "no local BU to MAP-B after the advertised MAP changed: "
                "the MN did not act on the change")
    judge.step("3. acknowledge it as MAP-B; wait for the BU to the HA")
    mark = bench.send(bench.ba(bu))
    hbu = bench.wait_home_bu(mark)
    judge.check("HMIP-4140-3.1-P7-MUST-1", hbu is not None and in_prefix(hbu.coa, prefix64(MAP_B)),
                "no BU to the HA after the advertised MAP changed" if hbu is None else
                f"the BU to the HA registers {hbu.coa}, not an RCoA on MAP-B's prefix", frame=getattr(hbu, "frame", None))
