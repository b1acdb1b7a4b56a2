"""MN test purposes with route optimisation: what the MN does once correspondents hold a binding for its RCoA.

Topology (all of them, conformance/suite/mn_support.py): the mobile node alone on acc0 with the tester, which
plays the access router R1 (prefix 2001:db8:1f0::/64), the MAPs MAP-A (2001:db8:1a::1) and MAP-B
(2001:db8:1b::1), the home agent, and the MN's correspondents: it answers their Home and Care-of Test Init
messages (RFC 6275 §5.2) and acknowledges the correspondent registrations with a Binding Authorization Data
option computed from the keygen tokens it handed out (:class:`mn_support.PlayedCorrespondents`).

Route optimisation is the MN's choice (RFC 6275 §11.7.2 MAY): a MN that runs no return routability with the
correspondents it is configured with makes these test purposes INCONCLUSIVE.  The MN is restarted on acc0
before each test and stopped after it.
"""

from __future__ import annotations

import ipaddress

import pytest

from conformance.suite import mn_support
from conformance.suite.mn_support import MAP_A, MAP_B, MapAd, in_prefix, prefix64, same
from harness.tester.packets import HAO, ICMPv6EchoRequest, ipv6_layers

pytestmark = pytest.mark.role("mn")


@pytest.fixture
def bench(testbed, tester, _dut_session, edition):
    """The MN restarted on acc0 (see test_mn_registration.bench)."""
    yield from mn_support.bench(testbed, tester, _dut_session, edition)


def _route_optimised(bench, judge, since: int) -> dict:
    """Serve return routability until every correspondent of the MN is registered (INCONCLUSIVE otherwise)."""
    judge.require(bench.correspondents, "the MN has no correspondents to optimise routes with")
    judge.step(f"return routability with {', '.join(bench.correspondents)}: HoT, CoT, and BAs with an authenticator")
    done = bench.cns.serve(since, lambda: len(bench.cns.bound) >= len(bench.correspondents), bench.react_timeout)
    judge.require(done, "the MN did not register with its correspondents (no route optimisation): "
                  f"registered with {sorted(bench.cns.bound) or 'none'}")
    return dict(bench.cns.bound)


@pytest.mark.tp(id="HMIP-MN-RO-001", title="Route-optimised packets: the RCoA as source, the home address in a HAO")
@pytest.mark.requirements("HMIP-4140-6.1.1-P2-MUST-1", "HMIP-4140-6.1.1-P2-MUST-2", "HMIP-4140-6.1.1-P2-MUST-3",
                          "MIP6-6275-11.3.1-P19-MUST-1", "HMIP-4140-6.1-P2-BIND-2")
def test_route_optimised_packets(bench, judge) -> None:
    """
    Purpose:        When a correspondent holds a binding for the MN's RCoA, the packets the MN sends it directly
                    carry the RCoA as source and the home address in a Home Address option, inside the MAP tunnel.
    Topology:       MN -- acc0 -- tester (R1, MAP-A, HA, CNs).
    Initialisation: MN restarted on acc0.
    Procedure:      1. Register with MAP-A and the HA.  2. Complete return routability and the correspondent
                    registration with each correspondent.  3. The MN pings the first correspondent from its home
                    address (over its console).
    Judgement:      1. The Echo Request's IPv6 source is the RCoA, the care-of address the correspondent holds
                                                                          base §6.1.1 MUST, RFC 6275 §11.3.1 MUST
                    2. It carries a Home Address option                                      base §6.1.1 MUST
                    3. ... holding the home address                                           base §6.1.1 MUST
                    4. It leaves inside the MAP tunnel, LCoA -> MAP                                 base §6.1
                    (An Echo Request reverse-tunnelled through the HA instead is not communication "directly with
                    the correspondent node": INCONCLUSIVE.)
    Reference:      base §6.1.1 "If the mobile node communicates directly with the correspondent node (i.e. the CN
                    has a binding cache entry for the mobile node), the mobile node MUST use the same care-of
                    address used to create a binding cache entry in the correspondent node (RCoA) as a source
                    address. According to [1], the mobile node MUST also include a Home Address option in outgoing
                    packets. The Home address option MUST contain the mobile node's home address."
    """
    judge.require(bench.home_agent is not None, "the MN has no home agent")
    reg = bench.register([MapAd(MAP_A)], judge=judge)
    bound = _route_optimised(bench, judge, reg.local_bu.frame.index)
    peer = bench.correspondents[0]
    judge.require(str(ipaddress.IPv6Address(peer)) in bound, f"{peer} holds no binding")
    mark = bench.tester.mark()
    judge.step(f"3. ping {peer} from the home address")
    bench.run(f"ping -6 -n -c 1 -W 1 -I {bench.home_address} {peer}", timeout=20)
    echo = bench.tester.wait_for(lambda f: bench.from_mn(f) and ICMPv6EchoRequest in f.pkt
                                 and same(ipv6_layers(f.pkt)[-1].dst, peer), 2.0, mark, [bench.link])
    judge.require(echo is not None, f"no Echo Request to {peer} left the MN")
    layers = ipv6_layers(echo.pkt)
    judge.record("headers", [f"{l.src} -> {l.dst}" for l in layers])
    judge.require(not any(same(l.dst, bench.home_agent) for l in layers),
                  "the Echo Request went through the HA: the MN did not communicate directly with the correspondent")
    inner = layers[-1]
    coa = bound[str(ipaddress.IPv6Address(peer))].coa
    judge.check("HMIP-4140-6.1.1-P2-MUST-1", same(inner.src, coa) and same(coa, reg.rcoa),
                f"source {inner.src}; the correspondent holds {coa} (the RCoA is {reg.rcoa})", frame=echo)
    judge.check("MIP6-6275-11.3.1-P19-MUST-1", same(inner.src, coa), f"source {inner.src}, registered {coa}")
    hao = inner.getlayer(HAO)
    judge.check("HMIP-4140-6.1.1-P2-MUST-2", hao is not None, "no Home Address option")
    judge.check("HMIP-4140-6.1.1-P2-MUST-3", same(hao.hoa, bench.home_address),
                f"Home Address option {hao.hoa}, the home address is {bench.home_address}", frame=echo,
                tshark={"ipv6.opt.mipv6.home_address": str(ipaddress.IPv6Address(hao.hoa))})
    judge.check("HMIP-4140-6.1-P2-BIND-2", len(layers) == 2 and same(layers[0].src, reg.lcoa)
                and same(layers[0].dst, MAP_A),
                "headers " + " | ".join(f"{l.src} -> {l.dst}" for l in layers) + f" (expected {reg.lcoa} -> {MAP_A} "
                "outside)")


@pytest.mark.tp(id="HMIP-MN-RO-002", title="The correspondent binding's lifetime does not exceed the MAP binding's")
@pytest.mark.requirements("HMIP-4140-6.1-P5-MUST-NOT-1")
def test_correspondent_lifetime_bounded_by_map(bench, judge) -> None:
    """
    Purpose:        The lifetime the MN requests from a correspondent for the RCoA is not larger than the lifetime
                    the MAP granted in its BA.
    Topology:       MN -- acc0 -- tester (R1, MAP-A, HA, CNs).
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises MAP-A; the MAP acknowledges the local BU granting 12 s (less than asked).
                    2. The HA acknowledges the home registration as requested.  3. Complete return routability;
                    the correspondent registrations are acknowledged.
    Judgement:      1. Every correspondent registration requests <= 12 s.
    Reference:      base §6.1 "when binding the RCoA with the HA and correspondent nodes, the binding lifetime MUST
                    NOT be larger than the mobile node's binding lifetime with the MAP, which is received in the
                    Binding Acknowledgement."
    """
    judge.require(bench.home_agent is not None, "the MN has no home agent")
    reg = bench.register([MapAd(MAP_A)], ba_lifetime=12, judge=judge)
    judge.require(reg.local_bu.lifetime > 12, f"the MN asked the MAP for only {reg.local_bu.lifetime} s")
    _route_optimised(bench, judge, reg.local_bu.frame.index)
    bus = bench.cns.cn_bus(reg.local_bu.frame.index)
    judge.record("correspondent_lifetimes_s", [b.lifetime for b in bus])
    for b in bus:
        judge.check("HMIP-4140-6.1-P5-MUST-NOT-1", b.lifetime <= 12,
                    f"the correspondent {b.ip.dst} is asked for {b.lifetime} s, the MAP granted 12 s", frame=b.frame,
                    tshark={"mip6.bu.lifetime": b.msg.mhtime})


@pytest.mark.tp(id="HMIP-MN-RO-003", title="A change of the advertised MAP: the correspondents get BUs with the new RCoA")
@pytest.mark.requirements("HMIP-4140-3.1-P7-MUST-1")
def test_map_change_updates_correspondents(bench, judge) -> None:
    """
    Purpose:        When its access router starts advertising another MAP, the MN sends Binding Updates naming the
                    new RCoA not only to its HA but also to the correspondents that hold a binding for it.
    Topology:       MN -- acc0 -- tester (R1 with MAP-A then MAP-B, HA, CNs).
    Initialisation: MN restarted on acc0; registered with MAP-A, its HA and its correspondents.
    Procedure:      1. Register with MAP-A and the HA; complete return routability and the correspondent
                    registrations (RCoA-A).  2. R1 advertises MAP-B instead of MAP-A.  3. Acknowledge the local BU
                    to MAP-B and the home registration; answer return routability again.
    Judgement:      1. Every correspondent that held a binding receives a BU registering an RCoA on MAP-B's prefix.
                    (The HA part of the same requirement: HMIP-MN-MOVE-003.)
    Reference:      base §3.1 "If a change in the advertised MAP's address is received, the mobile node MUST act on
                    the change by sending Binding Updates to its HA and correspondent nodes."
    """
    judge.require(bench.home_agent is not None, "the MN has no home agent")
    reg = bench.register([MapAd(MAP_A)], judge=judge)
    bound = _route_optimised(bench, judge, reg.local_bu.frame.index)
    judge.step("2. R1 advertises MAP-B instead of MAP-A")
    since = bench.advertise(maps=[MapAd(MAP_B)])
    bench.complete([MapAd(MAP_B)], since, judge=judge)
    new = prefix64(MAP_B)

    def updated() -> set[str]:
        return {str(ipaddress.IPv6Address(b.ip.dst)) for b in bench.cns.cn_bus(since) if in_prefix(b.coa, new)}

    bench.cns.serve(since, lambda: set(bound) <= updated(), bench.react_timeout)
    for cn in sorted(bound):
        judge.check("HMIP-4140-3.1-P7-MUST-1", cn in updated(),
                    f"the correspondent {cn} got no BU naming an RCoA on MAP-B's prefix after the MAP changed")
