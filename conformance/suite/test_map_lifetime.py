"""MAP test purposes: the life of a binding -- refresh before expiry, and expiry without refresh.

Topology: as in test_map_registration (MN' played by the tester on the MAP's first access link, testbeds/virtual.yaml:
MN' on acc1 -- AR1 -- dom1 -- MAP1 -- core -- RT -- cn -- CN1); the correspondent is the testbed's first CN
(``cn`` fixture, pings driven over its management connection).

Lifetimes travel in 4-second units (RFC 6275 §6.1.7), so the timer profile cannot shorten them: these tests use
the smallest one, a single unit (4 s), and wait for it on the wall clock.  A lifetime runs from the BA that
granted it (the MAP creates or refreshes the entry when it answers).  ``TOLERANCE`` allows for the MAP's timer
granularity and the processing between its decision and the BA on the wire.
"""

from __future__ import annotations

import time

import pytest

from harness.tester.mobility import tunnelled_to
from harness.tester.packets import (
    MIP6MH_BA, Ether, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6, ipv6_layers,
    solicited_node, solicited_node_mac,
)
from harness.verdicts import Inconclusive

pytestmark = pytest.mark.role("map")

UNIT = 4  # seconds per lifetime unit (RFC 6275 §6.1.7)
TOLERANCE = 1.0  # seconds past a granted lifetime before the binding is judged


def _ping(testbed, cn, address: str) -> None:
    node, _ = cn
    testbed.driver(node).run(f"ping -6 -c 1 -W 1 {address}")


def _echo_tunnelled_to(mn, cn_address: str):
    """An Echo Request CN -> RCoA arriving on the access link tunnelled MAP -> LCoA."""
    def match(frame) -> bool:
        layers = ipv6_layers(frame.pkt)
        return (tunnelled_to(frame, mn.lcoa, mn.rcoa) and layers[0].src == mn.map and layers[1].src == cn_address
                and ICMPv6EchoRequest in layers[1])
    return match


def _binding_shown(dut, rcoa: str):
    """The DUT's binding cache entry for ``rcoa`` as its profile shows it, or why it cannot be read."""
    try:
        return dut.binding_for(rcoa)
    except Inconclusive as exc:
        return f"not readable: {exc}"


@pytest.mark.tp(id="HMIP-MAP-LIFE-002", title="A refresh before expiry is acknowledged and keeps the binding past its first lifetime")
@pytest.mark.requirements("MIP6-6275-9.5.4-P3-MUST-1", "MIP6-6275-6.1.8-P28-BIND-1", "MIP6-6275-10.3.1-P15-MUST-NOT-1",
                          "MIP6-6275-6.1.8-P30-SHOULD-1", "MIP6-6275-10.3.1-P31-MUST-1")
def test_binding_refresh(testbed, dut, tester, mn, cn, judge, ba_timeout) -> None:
    """
    Purpose:        A second BU with a higher sequence number, sent before the binding expires, is acknowledged and
                    extends the binding: traffic for the RCoA is still tunnelled to the LCoA after the first lifetime
                    has run out.
    Topology:       MN' (tester) on the MAP's first access link; CN1 on the far side of the MAP.
    Initialisation: DUT restarted (empty binding cache).
    Procedure:      1. MN' registers: BU(seq 1, lifetime 4 s = one unit, A M) LCoA -> MAP, HAO = RCoA; BA1 accepted,
                       granting L1 units.  The first lifetime ends at BA1 + 4*L1 s.
                    2. Before that, MN' refreshes: BU(seq 2, lifetime 12 s, A M) from the same LCoA.
                    3. Wait for the BA to the LCoA (BA2).
                    4. When the first lifetime has ended (+ TOLERANCE), CN1 pings the RCoA.
    Judgement:      1. BA2 arrives (A was set)                                     RFC 6275 §9.5.4
                    2. BA2 carries sequence number 2 (unless its status is 135)    RFC 6275 §6.1.8, §10.3.1
                    3. BA2's lifetime <= the 3 units requested                     RFC 6275 §10.3.1
                    4. The Echo Request arrives on the access link tunnelled MAP -> LCoA, i.e. the entry is retained
                       for the lifetime BA2 granted (SHOULD: a miss is WARN)       RFC 6275 §6.1.8
                    BA2 rejecting the refresh (status >= 128), a BA2 later than the first lifetime, or a grant too
                    short to outlast the check leave the test INCONCLUSIVE.
                    (Recorded: both grants, the binding cache entry as the DUT profile shows it.)
    Reference:      RFC 6275 §9.5.4 "If the Acknowledge (A) bit is set in the Binding Update, a Binding
                    Acknowledgement MUST be sent."; §6.1.8 "The granted lifetime, in time units of 4 seconds, for
                    which this node SHOULD retain the entry for this mobile node in its Binding Cache."; §10.3.1 "The
                    Sequence Number field MUST be copied from the Sequence Number given in the Binding Update."; base
                    §6.2 (the MAP acts as a local home agent for the RCoA).
    """
    _, cn_address = cn
    judge.step("1. BU seq 1, lifetime 4 s (one unit)")
    ba1 = mn.register(1, UNIT, ba_timeout)
    judge.require(ba1 is not None and ba1.pkt[MIP6MH_BA].status < 128, "the DUT did not accept the registration")
    granted1 = ba1.pkt[MIP6MH_BA].mhtime
    judge.require(granted1 >= 1, f"the DUT granted lifetime {granted1}: no binding to refresh")
    first_end = ba1.time + UNIT * granted1
    judge.record("first_grant_units", granted1)

    judge.step("2. refresh: BU seq 2, lifetime 12 s, same LCoA")
    mark = mn.send_bu(2, 3 * UNIT)
    ba2 = tester.wait_for(lambda f: MIP6MH_BA in f.pkt and f.pkt[IPv6].dst == mn.lcoa, ba_timeout, mark, [mn.link])
    judge.check("MIP6-6275-9.5.4-P3-MUST-1", ba2 is not None,
                f"BA to the refreshing BU (A set) within {ba_timeout:.1f} s: {'seen' if ba2 else 'none'}", frame=ba2)
    msg = ba2.pkt[MIP6MH_BA]
    if msg.status != 135:  # a 135 carries the last accepted number instead (RFC 6275 §9.5.1)
        judge.check("MIP6-6275-6.1.8-P28-BIND-1", msg.seq == 2, f"BA sequence number {msg.seq}, the refresh had 2",
                    frame=ba2, tshark={"mip6.ba.seqnr": msg.seq})
        judge.check("MIP6-6275-10.3.1-P31-MUST-1", msg.seq == 2, f"BA sequence number {msg.seq}, the refresh had 2")
    judge.check("MIP6-6275-10.3.1-P15-MUST-NOT-1", msg.mhtime <= 3, f"granted {msg.mhtime} units, requested 3",
                frame=ba2, tshark={"mip6.ba.lifetime": msg.mhtime})
    judge.record("refresh_status", msg.status)
    judge.record("refresh_grant_units", msg.mhtime)
    judge.require(msg.status < 128, f"the DUT rejected the refresh with status {msg.status}")
    judge.require(ba2.time < first_end, "the refresh was acknowledged only after the first lifetime had ended")
    judge.require(ba2.time + UNIT * msg.mhtime > first_end + TOLERANCE + 3.0,
                  f"the refresh granted {msg.mhtime} units: too short to outlast the first lifetime and the check")

    judge.step("4. after the first lifetime: CN pings the RCoA")
    tester.let_time_pass(first_end + TOLERANCE)  # the first lifetime runs out: nothing to wait for on the wire
    mark = tester.mark()
    _ping(testbed, cn, mn.rcoa)
    got = tester.wait_for(_echo_tunnelled_to(mn, cn_address), 3, mark, [mn.link])
    judge.record("binding_shown", _binding_shown(dut, mn.rcoa))
    judge.check("MIP6-6275-6.1.8-P30-SHOULD-1", got is not None,
                f"after the first lifetime ended (the refresh granted {msg.mhtime} units), the RCoA's traffic was "
                + ("still tunnelled to the LCoA" if got else "no longer tunnelled to the LCoA"), frame=got)


@pytest.mark.tp(id="HMIP-MAP-LIFE-003", title="An expired binding is no longer served: no tunnel to the LCoA, no proxy ND")
@pytest.mark.requirements("MIP6-6275-6.1.7-P18-MUST-1", "MIP6-6275-6.1.7-P18-BIND-1", "MIP6-6275-10.3.1-P32-MUST-1")
def test_binding_expiry(testbed, dut, tester, mn, cn, judge, ba_timeout) -> None:
    """
    Purpose:        The binding lives as long as the lifetime the BA granted, counted in 4-second units: it still
                    serves the RCoA half-way through, and when the lifetime has elapsed without a refresh the MAP
                    considers the binding expired: it no longer tunnels the RCoA's traffic to the LCoA and no longer
                    answers Neighbor Solicitations for the RCoA on its link.
    Topology:       MN' (tester) on the MAP's first access link; CN1 on the far side of the MAP; the tester also as a
                    neighbour on the MAP's link (address ::9 of its prefix).
    Initialisation: DUT restarted (empty binding cache).
    Procedure:      1. MN' registers: BU(seq 1, lifetime 4 s = one unit, A M); BA accepted, granting L units.
                    2. CN1 pings the RCoA: the Echo Request arrives tunnelled MAP -> LCoA (precondition: the binding
                       works).
                    2b. At BA + 2*L s -- half the granted lifetime, and past L s, when a MAP that took the units for
                       seconds would have dropped it -- CN1 pings the RCoA again.
                    3. No refresh.  Wait until BA + 4*L s + TOLERANCE.
                    4. The tester, as a neighbour on the MAP's link, sends an NS for the RCoA, then one for the MAP's
                       own address.
                    5. CN1 pings the RCoA again.
    Judgement:      0. Step 2b: the Echo Request arrives tunnelled MAP -> LCoA: one time unit is 4 s, and the
                       binding lasts as long as the lifetime the BA announced (not shorter).  RFC 6275 §6.1.7, §10.3.1
                    1. No NA for the RCoA within one BA-timeout window, while the MAP's NA for its own address is
                       seen in the same window (proof the MAP answers and the capture is alive).
                    2. Within one BA-timeout window no Echo Request for the RCoA reaches the access link (bare or
                       tunnelled), while the CN's Echo Request is seen on the way to the MAP in the same window:
                       the binding lasts no longer than the lifetime the BA announced.    RFC 6275 §6.1.7, §10.3.1
                    (Recorded: the binding cache entry as the DUT profile shows it, if it can.)
    Reference:      RFC 6275 §6.1.7 "The number of time units remaining before the binding MUST be considered
                    expired."; "One time unit is 4 seconds."; §10.3.1 "The Lifetime field MUST be set to the remaining
                    lifetime for the binding as set by the home agent in its home registration Binding Cache entry";
                    base §6.2 (the MAP acts as a local home agent for the RCoA).
    """
    _, cn_address = cn
    judge.step("1. BU seq 1, lifetime 4 s (one unit)")
    ba = mn.register(1, UNIT, ba_timeout)
    judge.require(ba is not None and ba.pkt[MIP6MH_BA].status < 128, "the DUT did not accept the registration")
    granted = ba.pkt[MIP6MH_BA].mhtime
    judge.require(1 <= granted <= 4, f"the DUT granted {granted} units for a one-unit request")
    expiry = ba.time + UNIT * granted
    judge.record("granted_units", granted)

    judge.step("2. CN pings the RCoA while the binding lives")
    mark = tester.mark()
    _ping(testbed, cn, mn.rcoa)
    judge.require(tester.wait_for(_echo_tunnelled_to(mn, cn_address), 2, mark, [mn.link]) is not None,
                  "the RCoA's traffic was not tunnelled to the LCoA even while the binding lived (see HMIP-MAP-TUN-001)")
    judge.require(time.time() < expiry, "the live-binding check ran past the granted lifetime")

    half = ba.time + UNIT * granted / 2
    judge.step(f"2b. at half the granted lifetime ({UNIT * granted / 2:.0f} s after the BA) CN pings the RCoA again")
    tester.let_time_pass(half)  # half the granted lifetime: nothing to wait for on the wire
    mark = tester.mark()
    _ping(testbed, cn, mn.rcoa)
    alive = tester.wait_for(_echo_tunnelled_to(mn, cn_address), 2, mark, [mn.link])
    judge.require(alive is None or alive.time < expiry, "the half-life check ran past the granted lifetime")
    detail = (f"{granted} unit(s) granted: at {half - ba.time:.1f} s after the BA the RCoA's traffic was "
              + ("still tunnelled to the LCoA" if alive else "no longer tunnelled to the LCoA"))
    judge.check("MIP6-6275-6.1.7-P18-BIND-1", alive is not None, detail, frame=alive)
    judge.check("MIP6-6275-10.3.1-P32-MUST-1", alive is not None,
                detail + f" (the BA announced {UNIT * granted} s)", frame=alive)

    judge.step("3. no refresh: wait for the granted lifetime to end")
    tester.let_time_pass(expiry + TOLERANCE)  # the granted lifetime runs out: nothing to wait for on the wire
    judge.record("binding_shown", _binding_shown(dut, mn.rcoa))

    judge.step("4. NS for the RCoA on the MAP's link (and, as proof, for the MAP's own address)")
    spec = testbed.spec
    link = spec.map_link(dut.node)
    me = str(link.prefix.network_address + 9)
    tester.impersonate(link.name, me)
    try:
        mark = tester.mark()
        for target in (mn.rcoa, mn.map):
            tester.send(link.name, Ether(dst=solicited_node_mac(target), src=tester.mac(link.name))
                        / IPv6(src=me, dst=solicited_node(target), hlim=255) / ICMPv6ND_NS(tgt=target)
                        / ICMPv6NDOptSrcLLAddr(lladdr=tester.mac(link.name)))
        proxied = tester.absent(lambda f: f.link == link.name and ICMPv6ND_NA in f.pkt
                                and f.pkt[ICMPv6ND_NA].tgt == mn.rcoa,
                                window=ba_timeout, since=mark,
                                alive=lambda f: f.link == link.name and ICMPv6ND_NA in f.pkt
                                and f.pkt[ICMPv6ND_NA].tgt == mn.map and f.pkt[IPv6].dst == me)
    finally:
        tester.release(link.name, me)
    judge.check("MIP6-6275-6.1.7-P18-MUST-1", proxied is None,
                "NS for the RCoA after the granted lifetime ended: " + (
                    f"answered by an NA {proxied.time - expiry:.1f} s after the end" if proxied else "not answered"),
                frame=proxied)

    judge.step("5. CN pings the RCoA after the lifetime")
    mark = tester.mark()
    _ping(testbed, cn, mn.rcoa)
    leak = tester.absent(lambda f: f.link == mn.link and ICMPv6EchoRequest in f.pkt and f.pkt[IPv6].dst == mn.rcoa,
                         window=ba_timeout, since=mark,
                         alive=lambda f: f.link not in (mn.link, link.name) and ICMPv6EchoRequest in f.pkt
                         and f.pkt[IPv6].src == cn_address and f.pkt[IPv6].dst == mn.rcoa)
    detail = "the RCoA's traffic after the granted lifetime ended: " + (
        f"still reached the LCoA {leak.time - expiry:.1f} s after the end" if leak else "no longer reached the LCoA")
    judge.check("MIP6-6275-6.1.7-P18-MUST-1", leak is None, detail, frame=leak)
    judge.check("MIP6-6275-10.3.1-P32-MUST-1", leak is None, detail + f" (the BA announced {UNIT * granted} s)")
