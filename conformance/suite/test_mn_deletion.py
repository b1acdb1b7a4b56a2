"""MN test purpose: how the mobile node deletes a binding (RFC 6275 §6.1.7: Lifetime 0), driven by returning home.

Topology (conformance/suite/mn_support.py): the mobile node alone on acc0 with the tester, which plays the access
router R1 (prefix 2001:db8:1f0::/64), MAP-A (2001:db8:1a::1) and the home agent, and then the router of the MN's home
link (its home address's /64, from the testbed: 2001:db8:10::/64 on testbeds/virtual.yaml).  The MN is restarted
on acc0 before the test and stopped after it.

Returning home is the one moment RFC 6275 makes a mobile node delete a binding (§11.5.5: it MUST de-register with
its home agent); a MN may also release local bindings it no longer needs.  A MN that deletes nothing -- e.g. one
without home link detection, which keeps registering care-of addresses from its home link -- does not reach the
test point: INCONCLUSIVE, with what it sent recorded.
"""

from __future__ import annotations

import ipaddress
import time

import pytest

from conformance.suite import mn_support
from conformance.suite.mn_support import MAP_A, MapAd, PlayedRouter, in_prefix, same

pytestmark = pytest.mark.role("mn")

DELETION = "MIP6-6275-6.1.7-P27-MUST-1"
HOME_ROUTER_MAC = "02:00:5e:10:00:01"  # the router the tester plays on the MN's home link


@pytest.fixture
def bench(testbed, tester, _dut_session, edition):
    """The MN restarted on acc0 (see test_mn_registration.bench)."""
    yield from mn_support.bench(testbed, tester, _dut_session, edition)


@pytest.mark.tp(id="HMIP-MN-DEL-001", title="Returning home: a binding is deleted with Lifetime 0")
@pytest.mark.requirements(DELETION)
def test_binding_deleted_with_lifetime_zero(bench, judge) -> None:
    """
    Purpose:        When the mobile node deletes a binding -- here on returning to its home link, where RFC 6275
                    §11.5.5 has it de-register with its home agent -- the Binding Update that deletes it carries
                    Lifetime 0 (and not, e.g., a non-zero lifetime with the home address as care-of address, which
                    a home agent also takes as a deletion, RFC 6275 §9.5.1).
    Topology:       MN -- acc0 -- tester (R1 with MAP-A, HA; then the home link's router H).
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises MAP-A (Dist 1, Pref 10); the MN registers with MAP-A and its HA (the tester
                       answers both; a registration not completed is INCONCLUSIVE).
                    2. Return home: carrier flap; H advertises the /64 of the MN's home address (no MAP option).
                    3. For the reaction time and one retransmission window the tester answers every BU the MN
                       sends -- as the HA, with the lifetime asked for (0 for a deletion); the MN is poked at the
                       start of the window (its Echo Reply proves the capture alive).
    Judgement:      A BU that deletes a binding is one with Lifetime 0 or one registering the home address as
                    care-of address (RFC 6275 §9.5.1 "the specified care-of address matches the home address").
                    1. Every such BU sent after step 2 has Lifetime 0.                          RFC 6275 §6.1.7
                    No such BU -- the MN deleted no binding -- is INCONCLUSIVE.
                    (Recorded: every BU sent after step 2: destination, care-of address, lifetime.)
    Reference:      RFC 6275 §6.1.7 "The deletion of a binding MUST be indicated by setting the Lifetime field to
                    0."; §11.5.5 "the mobile node MUST send a Binding Update to its home agent to instruct its home
                    agent to no longer intercept or tunnel packets for it"; §9.5.1 "If the Lifetime specified in the
                    Binding Update is zero or the specified care-of address matches the home address for the
                    binding, then this is a request to delete the cached binding for the home address."
    """
    judge.require(bench.home_agent is not None, "the MN has no home agent: there is no home binding to delete")
    home = bench.home_address
    home_prefix = str(ipaddress.IPv6Network(f"{home}/64", strict=False))
    home_router = PlayedRouter(HOME_ROUTER_MAC, home_prefix)

    judge.step("1. R1 advertises MAP-A; register with MAP-A and the HA")
    reg = bench.register([MapAd(MAP_A)], judge=judge)
    judge.record("registered", f"RCoA {reg.rcoa} via LCoA {reg.lcoa} with {reg.map}")

    judge.step(f"2. return home: carrier flap, H advertises {home_prefix} without a MAP option")
    since = bench.handover(home_router, [])

    judge.step("3. answer the MN's BUs for the reaction time and one retransmission window")
    opened = time.time()
    bench.poke(home_router)
    deadline = time.monotonic() + bench.react_timeout + bench.retransmission_window
    answered: set[tuple[str, int]] = set()
    while time.monotonic() < deadline:
        for b in bench.bus(lambda b: True, since):
            if (b.ip.dst, b.seq) in answered:
                continue
            answered.add((b.ip.dst, b.seq))
            if bench.home_bu(b):
                bench.send(bench.home_ba(b, router=home_router))
            elif bench.local_to(MAP_A)(b):
                bench.send(bench.ba(b, router=home_router))
        bench.tester.wait_for(lambda f: bench.from_mn(f), 0.2, None, [bench.link])
    sent = bench.bus(lambda b: True, since)
    judge.record("bus_after_return", [f"to {b.ip.dst}: care-of address {b.coa}, lifetime {b.lifetime} s, flags "
                                      f"{b.flags}" for b in sent])
    deletions = [b for b in sent if b.lifetime == 0 or same(b.coa, home)]
    if not deletions:
        alive = any(bench.from_mn(f) and f.time >= opened for f in bench.tester.frames(since, [bench.link]))
        at_home = sorted({b.coa for b in sent if bench.home_bu(b) and in_prefix(b.coa, home_prefix)})
        judge.require(False, "the MN deleted no binding after returning home (no BU with Lifetime 0 or with its home "
                      f"address as care-of address; {len(sent)} BU(s) sent" +
                      (f"; it registered {', '.join(at_home)}, on its home link, as care-of address with its HA: "
                       "it did not detect that it is at home (RFC 6275 §11.5.2)" if at_home else "") +
                      ("" if alive else "; and no frame from it after the return proves the capture alive") + ")")
    for b in deletions:
        judge.check(DELETION, b.lifetime == 0,
                    f"BU to {b.ip.dst} (seq {b.seq}) deleting the binding of {b.hao or home}: care-of address "
                    f"{b.coa}, Lifetime {b.lifetime} s" + ("" if b.lifetime == 0 else " (expected 0)"),
                    frame=b.frame, tshark={"mip6.bu.lifetime": b.msg.mhtime})
