"""MAP test purpose: HMIPv6 through the DUT MAP is transparent to a plain Mobile IPv6 home agent and correspondent.

Topology: the testbed's own mobile node runs the bundled reference MN (a peer, started for this test) on the DUT
MAP's first access link; the testbed's HA and CN nodes run plain RFC 6275 reference daemons (they know nothing of
HMIPv6).  Everything is judged on the wire: the MN's home address and RCoA are read from the home agent's Binding
Acknowledgement as it crosses the access link.
"""

from __future__ import annotations

import pytest

from harness.tester.packets import (
    MIP6MH_BA, ICMPv6EchoReply, ICMPv6EchoRequest, IPv6ExtHdrRouting, ipv6_layers,
)

pytestmark = pytest.mark.role("map")


def _ba_from(address: str):
    """A status-0 BA from ``address`` (at any tunnel depth)."""
    def match(f) -> bool:
        return any(layer.src == address and MIP6MH_BA in layer and layer[MIP6MH_BA].status == 0
                   for layer in ipv6_layers(f.pkt))
    return match


def _node_address(testbed, role: str) -> tuple[str, str] | None:
    node = next((n for n in testbed.spec.nodes.values() if n.role == role and f"hmipv6-{role}" in n.services), None)
    if node is None:
        return None
    return node.name, str(next(i.address.ip for i in node.interfaces.values() if i.address))


@pytest.fixture
def reference_mn(testbed, tester, map_domain):
    """The testbed's mobile node running the reference MN on the DUT MAP's first access link (stopped after)."""
    mn = next((n for n in testbed.spec.nodes.values() if n.role == "mn" and "hmipv6-mn" in n.services), None)
    if mn is None or not hasattr(testbed, "start_service"):
        pytest.skip("NOT APPLICABLE: the testbed has no mobile node running the reference MN")
    if _node_address(testbed, "ha") is None or _node_address(testbed, "cn") is None:
        pytest.skip("NOT APPLICABLE: the testbed has no reference home agent and correspondent node")
    _, link, ar = map_domain
    testbed.attach(mn.name, ar.name)
    since = tester.mark()
    testbed.start_service(mn.name)
    yield mn.name, link.name, since
    testbed.stop_service(mn.name)


@pytest.mark.tp(id="HMIP-MAP-E2E-001", title="A plain Mobile IPv6 HA and CN work unchanged through the MAP")
@pytest.mark.requirements("HMIP-4140-6.3-P1-BIND-1", "HMIP-4140-6.4-P1-BIND-1")
def test_home_agent_and_correspondent_unchanged(testbed, dut, tester, reference_mn, judge) -> None:
    """
    Purpose:        With the DUT as the MAP, a Mobile IPv6 home agent binds the home address to the RCoA and
                    forwards to it, and a correspondent node runs route optimisation with the RCoA, neither
                    knowing anything of HMIPv6.
    Topology:       reference MN on the DUT MAP's first access link; reference HA on the home link, reference CN
                    beyond the router; the tester captures every link.
    Initialisation: the reference MN is started; it registers with the DUT MAP, then the HA (CoA = RCoA), then
                    runs return routability and a BU with the CN.
    Procedure:      1. Wait for the HA's and the CN's BAs (status 0) on the access link.
                    2. A node without a binding (the router) pings the home address.
                    3. The CN pings the home address.
    Judgement:      0. Step 1: the HA's and the CN's BAs, addressed to the RCoA, reach the access link (tunnelled
                       by the MAP).  If the HA or CN never answers at all, the verdict is INCONCLUSIVE.
                    1. Step 2: the HA tunnels the Echo Request to the RCoA (HA -> RCoA seen on the way to the MAP)
                       and the ping is answered.
                    2. Step 3: the CN sends to the RCoA with a type 2 routing header holding the home address (route
                       optimisation with the RCoA as care-of address) and the ping is answered.
    Reference:      base §6.3 "Packets addressed to a mobile node's Home Address will be forwarded by the HA to its
                    RCoA as described in [1]."; base §6.4 "HMIPv6 is completely transparent to correspondent
                    nodes."
    """
    mn_node, link, since = reference_mn
    _, ha = _node_address(testbed, "ha")
    cn_node, cn = _node_address(testbed, "cn")
    judge.step("1. the reference MN registers with the MAP, the HA and the CN")
    ha_ba = tester.wait_for(_ba_from(ha), 20, since)
    judge.require(ha_ba is not None, "the home agent never acknowledged a registration (the MN's BU did not reach it)")
    inner = next(layer for layer in ipv6_layers(ha_ba.pkt) if layer.src == ha)
    rcoa = inner.dst
    home = inner[IPv6ExtHdrRouting].addresses[0] if IPv6ExtHdrRouting in inner else None
    judge.require(home is not None, "the HA's BA carries no type 2 routing header naming the home address")
    delivered = tester.wait_for(lambda f: _ba_from(ha)(f) and len(ipv6_layers(f.pkt)) >= 2, 3, since, [link])
    judge.check("HMIP-4140-6.3-P1-BIND-1", delivered is not None,
                f"the HA's BA to the RCoA {rcoa} never reached the MN's link through the MAP", frame=ha_ba)
    cn_ba = tester.wait_for(_ba_from(cn), 20, since)
    judge.require(cn_ba is not None, "the correspondent never acknowledged a route-optimised binding")
    delivered = tester.wait_for(lambda f: _ba_from(cn)(f) and len(ipv6_layers(f.pkt)) >= 2, 3, since, [link])
    judge.check("HMIP-4140-6.4-P1-BIND-1", delivered is not None,
                "the CN's BA to the RCoA never reached the MN's link through the MAP", frame=cn_ba)

    judge.step("2. a node without a binding pings the home address")
    router = next(n.name for n in testbed.spec.nodes.values() if n.role == "router")
    mark = tester.mark()
    out = testbed.driver(router).run(f"ping -6 -n -c 3 -i 0.2 -W 2 {home}", timeout=20)
    via_ha = tester.wait_for(lambda f: len(ls := ipv6_layers(f.pkt)) >= 2 and ls[0].src == ha and ls[0].dst == rcoa
                             and ICMPv6EchoRequest in f.pkt, 3, mark)
    answered = tester.wait_for(lambda f: ICMPv6EchoReply in f.pkt and ipv6_layers(f.pkt)[-1].src == home, 3, mark)
    judge.check("HMIP-4140-6.3-P1-BIND-1", via_ha is not None and answered is not None and " 0% packet loss" in out.stdout,
                "the HA did not tunnel the home address's packets to the RCoA" if via_ha is None else
                f"the ping through the HA was not answered: {out.stdout.strip().splitlines()[-2:]}", frame=via_ha)

    judge.step("3. the correspondent pings the home address")
    mark = tester.mark()
    out = testbed.driver(cn_node).run(f"ping -6 -n -c 3 -i 0.2 -W 2 {home}", timeout=20)
    ro = tester.wait_for(lambda f: len(ls := ipv6_layers(f.pkt)) >= 1 and ls[0].src == cn and ls[0].dst == rcoa
                         and IPv6ExtHdrRouting in f.pkt and f.pkt[IPv6ExtHdrRouting].type == 2
                         and home in f.pkt[IPv6ExtHdrRouting].addresses and ICMPv6EchoRequest in f.pkt, 3, mark)
    judge.check("HMIP-4140-6.4-P1-BIND-1", ro is not None and " 0% packet loss" in out.stdout,
                "the CN did not send route-optimised to the RCoA" if ro is None else
                f"the route-optimised ping was not answered: {out.stdout.strip().splitlines()[-2:]}", frame=ro)
