"""Testbed readiness: the checks every later test purpose relies on.

These are not conformance requirements of the DUT; they establish that the testbed itself
is sound (management paths, addressing, forwarding, the tester's view of the wire), so that
a later FAIL is about the device and not about the bench.
"""

from __future__ import annotations

from harness import nodeops
from harness.tester.packets import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6


def _echo(kind, src: str, dst: str):
    def match(frame) -> bool:
        ip = frame.pkt[IPv6]
        return kind in frame.pkt and ip.src == src and ip.dst == dst
    return match


def test_testbed_ready(testbed, tester) -> None:
    """
    Purpose:        Every node answers on its management connection; the mobile node obtains an
                    address on its access link and reaches a correspondent node across the MAP
                    domain, and the tester sees that traffic on the access and core links.
    Topology:       testbed file (default: testbeds/virtual.yaml): MN on AR1's access link,
                    AR1 -> MAP1 -> RT -> CN1.
    Initialisation: attach(MN, AR1).
    Procedure:      1. check every node over its management connection (ip -j addr).
                    2. wait for an MN address from AR1's prefix.
                    3. MN pings CN1 three times (over the MN's console).
    Judgement:      1. every node reachable, its interfaces up and its static addresses present.
                    2. the MN has an address inside AR1's prefix.
                    3. 3/3 replies, AND the tester captured an Echo Request MN->CN1 on the access
                       link and on the core link, and the Echo Reply CN1->MN on the access link.
    Reference:      none (testbed health, not a test purpose: a failure here is an ERROR, the bench
                    and not the DUT is at fault).
    """
    spec = testbed.spec
    mn = spec.nodes_with_role("mn")[0].name
    ar1 = spec.advertising_router("acc1").name
    cn1 = spec.nodes["cn1"].interfaces["eth0"].address.ip
    testbed.attach(mn, ar1)

    health = testbed.check()
    bad = [h.describe() for h in health if not h.ok]
    assert not bad, "unhealthy nodes: " + "; ".join(bad)

    acc1 = spec.links["acc1"].prefix
    addr = nodeops.wait_for_address(testbed.driver(mn), acc1, timeout=10)
    assert addr is not None, f"{mn} got no address from {acc1} within 10 s"

    mark = tester.mark()
    sent, received = nodeops.ping(testbed.driver(mn), str(cn1), count=3)
    assert (sent, received) == (3, 3), f"{mn} -> cn1: {received}/{sent} echo replies"
    src, dst = str(addr.ip), str(cn1)
    for link, kind, a, b in (("acc1", ICMPv6EchoRequest, src, dst), ("core", ICMPv6EchoRequest, src, dst),
                             ("acc1", ICMPv6EchoReply, dst, src)):
        frame = tester.wait_for(_echo(kind, a, b), timeout=2, since=mark, links=[link])
        assert frame is not None, f"tester saw no {kind.__name__} {a} -> {b} on link {link}"
