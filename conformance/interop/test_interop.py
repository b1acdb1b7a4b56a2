"""Interop test purposes: the DUT (MAP, MN or AR) in the reference topology with reference peers, judged end to end
by CN <-> MN flows across moves and MAP failures (``hmipv6ct run --interop``).

Topology (testbeds/virtual.yaml): the mobile node (the DUT, or the reference hmipv6-mn), its HA, CN1; MAP A's
domain with ARs a and b (the DUT's domain for a MAP or AR DUT; AR a is the AR DUT), MAP B's domain with AR c.
Flows (:mod:`harness.interop.flows`): UDP CN1 -> home address and home address -> CN1, 50/s each with sequence
numbers, and ICMPv6 echo CN1 -> home address, 20/s.  Every phase (an event: attachment, move, fault applied or
removed) that must carry the flows is judged per flow: a datagram sent in the phase arrived.  One that did not is
diagnosed from the captures and the verdict names the clause of the first broken hop
(:mod:`harness.interop.path`), else it is an unexplained end-to-end FAIL.  Per flow and phase, results.json holds
the datagrams lost and reordered and the interruption (``measurements``), and the path hops examined (``records``).

Each test purpose's requirements are the clauses a diagnosis may name (plus those it checks outright); the
end-to-end outcome itself is the pseudo-requirement END-TO-END (:mod:`harness.verdicts`).
"""

from __future__ import annotations

import pytest

from conformance import pics
from conformance.interop.bench import Checks
from harness.interop import path as pathmod
from harness.tester.packets import MIP6MH_BU

pytestmark = pytest.mark.role("map", "mn", "ar")

CAUSES = pathmod.all_requirements()
DETECTION_EXAMPLE = 8.0  # seconds: an AR that declares no window (scaled runs declare theirs in the PICS)
PREVIOUS_MAP = ("HMIP-4140-6.1-P6-SHOULD-1", "HMIP-4140-8-P1-RECOMMENDED-1")


@pytest.mark.tp(id="HMIP-IOP-MOVE-001", title="Flows keep working across an intra-domain and an inter-domain move")
@pytest.mark.requirements(*CAUSES)
def test_flows_across_moves(bench, judge) -> None:
    """
    Purpose:        The DUT interworks with the reference peers: the CN <-> MN flows survive an intra-domain move
                    (only the MAP updated) and an inter-domain move (new MAP, HA and CN updated).
    Topology:       see the module docstring.
    Initialisation: DUT restarted; the mobile node attached to AR a and started; its home registration awaited.
    Procedure:      1. Flows started.  2. Move to AR b (same MAP).  3. Move to AR c (MAP B).  After each event the
                    flows run for a measurement window once they reach the mobile node's link (deadline: a move's
                    signalling time).
    Judgement:      In each phase every flow resumes (a datagram sent in the phase arrives); otherwise the first
                    broken hop of the path names the clause (e.g. a BA without the type 2 routing header: base §6.2
                    ¶2 MUST), or the outcome is an unexplained END-TO-END FAIL.  Measured per flow and phase: lost,
                    reordered, interruption.
    Reference:      base §6.1 ¶2 "all packets addressed to the mobile node's RCoA are intercepted by the MAP and
                    tunnelled to the mobile node's LCoA"; the clauses a diagnosis may name: harness/interop/path.py.
    """
    bench.start()
    bench.move(bench.ar_b, f"intra-domain move to {bench.ar_b}")
    bench.move(bench.ar_c, f"inter-domain move to {bench.ar_c}")
    bench.finish()
    bench.judge_flows()


@pytest.mark.tp(id="HMIP-IOP-ZLT-001",
                title="Flows survive a zero-lifetime MAP option (manual trigger) and its removal")
@pytest.mark.requirements(*CAUSES, "HMIP-4140-7.2-P3-MUST-1")
def test_flows_across_zero_lifetime(bench, inject, judge) -> None:
    """
    Purpose:        When AR a advertises MAP A with valid lifetime 0 (base §10 "manual intervention"), the mobile
                    node stops using MAP A -- with no other MAP it reverts to Mobile IPv6 (rfc4140 §7.2 ¶3) or stops
                    using HMIPv6 (RFC 5380 §7.1 ¶2) -- and the flows go on; after the option is restored they go on.
    Topology:       see the module docstring.
    Initialisation: as HMIP-IOP-MOVE-001.
    Procedure:      1. Flows started on AR a.  2. Fault zero_lifetime_map (AR a, MAP A).  3. Fault removed.
    Judgement:      1. No local BU (lifetime > 0) to MAP A while it is advertised with valid lifetime 0 (§7.2 ¶3
                    MUST NOT).  2. New bindings with another MAP advertised (§7.2 ¶3 MUST), or with none left a home
                    BU from the LCoA (rfc4140 §7.2 ¶3 MUST; RFC 5380 §7.1 ¶2 MUST NOT use HMIPv6), within a move's
                    signalling time.  3. The flows resume in every phase, else the clause of the first broken hop.
    Reference:      base §7.2 ¶3 "A MAP option containing a valid lifetime value of zero means that this MAP MUST NOT
                    be selected by the MN. ... If no other MAP is available the mobile node MUST revert to using the
                    Mobile IPv6 protocol"; base §10 "Access routers can be triggered to advertise a MAP option with a
                    lifetime of zero (indicating MAP failure) in different ways: - By manual intervention."
    """
    bench.start()
    applied = []
    bench.event(f"MAP {bench.map_a} advertised with valid lifetime 0 by {bench.ar_a}",
                lambda: applied.append(inject("zero_lifetime_map", ar=bench.ar_a, map_node=bench.map_a)))
    bench.await_reaction(bench.resume_deadline)
    bench.event("MAP option restored", lambda: applied[0].remove())
    bench.finish()
    checks = Checks(bench)
    checks.failed_map_unused(1)
    checks.left_failed_map(1)
    bench.judge_flows()


@pytest.mark.tp(id="HMIP-IOP-ECHO-001", title="Flows survive echo loss between AR and MAP (dynamic failure detection)")
@pytest.mark.requirements(*CAUSES, "HMIP-4140-7.2-P3-MUST-1")
def test_flows_across_echo_loss(bench, inject, judge) -> None:
    """
    Purpose:        ICMPv6 echo between AR a and MAP A is lost (the MAP itself keeps working).  An AR with echo-based
                    failure detection (RFC 5380 §10 ¶6 MAY) advertises MAP A with lifetime 0 and the mobile node
                    leaves it; one without keeps advertising it.  Either way the flows must go on, and after the
                    loss ends too.
    Topology:       see the module docstring.
    Initialisation: as HMIP-IOP-MOVE-001.
    Procedure:      1. Flows started on AR a.  2. Fault echo_loss (AR a <-> MAP A, 100 %).  3. Up to twice the
                    detection window (PICS echo_failure_detection ``window``, else 8 s) plus MaxRtrAdvInterval: an RA
                    with MAP A's valid lifetime 0 starts a phase.  4. Fault removed (and, if AR a declared the MAP
                    failed, its RA with MAP A valid again starts a phase).
    Judgement:      1. If AR a declared MAP A failed: no local BU to MAP A while so, and new bindings or Mobile IPv6
                    as in HMIP-IOP-ZLT-001 (base §7.2 ¶3).  2. The flows resume in every phase, else the clause of
                    the first broken hop.  Recorded: whether AR a declared MAP A failed.
    Reference:      base §6.1 ¶2 "all packets addressed to the mobile node's RCoA are intercepted by the MAP and
                    tunnelled to the mobile node's LCoA"; the clauses a diagnosis may name: harness/interop/path.py.
    """
    bench.start()
    applied = []
    bench.event(f"echo loss {bench.ar_a} <-> {bench.map_a}",
                lambda: applied.append(inject("echo_loss", ar=bench.ar_a, map_node=bench.map_a)))
    window = float(pics.parameter(bench.spec.pics, "echo_failure_detection", "window", DETECTION_EXAMPLE))
    timeout = 2 * window + bench.timers.max_rtr_adv_interval + 2.0
    declared = bench.when_advertised(f"{bench.ar_a} advertises {bench.map_a} with valid lifetime 0", bench.map_a,
                                     lifetime_zero=True, timeout=timeout)
    judge.record("ar_declared_map_failed", declared)
    if declared:
        bench.await_reaction(bench.resume_deadline)
    bench.event("echo loss removed", lambda: applied[0].remove())
    if declared:
        bench.when_advertised(f"{bench.ar_a} advertises {bench.map_a} again", bench.map_a, lifetime_zero=False,
                              timeout=timeout)
    bench.finish()
    if declared:
        checks = Checks(bench)
        checks.failed_map_unused(2)
        checks.left_failed_map(2)
    bench.judge_flows()


@pytest.mark.tp(id="HMIP-IOP-CRASH-001", title="Flows recover after the MAP crashes and restarts without its bindings")
@pytest.mark.requirements(*CAUSES, "MIP6-6275-9.5.1-P4-MUST-1")
def test_flows_across_map_crash(bench, inject, judge) -> None:
    """
    Purpose:        MAP A crashes and restarts with an empty binding cache (base §10 "its binding cache content will
                    be lost").  The flows stop until the mobile node's next local BU, which the MAP must accept
                    whatever its sequence number (RFC 6275 §9.5.1); then they go on.  Measured: the interruption
                    (bounded by the mobile node's refresh interval).
    Topology:       see the module docstring.
    Initialisation: as HMIP-IOP-MOVE-001.
    Procedure:      1. Flows started on AR a.  2. Fault map_crash (MAP A), removed at once (restart).
    Judgement:      The flows resume after the restart within the binding lifetime plus a move's signalling time,
                    else the clause of the first broken hop.
    Reference:      base §6.1 ¶2 "all packets addressed to the mobile node's RCoA are intercepted by the MAP and
                    tunnelled to the mobile node's LCoA"; the clauses a diagnosis may name: harness/interop/path.py.
    """
    bench.start()
    bench.event(f"MAP {bench.map_a} crashed and restarted",
                lambda: inject("map_crash", map_node=bench.map_a).remove(),
                deadline=bench.timers.binding_lifetime + bench.resume_deadline)
    bench.finish()
    bench.judge_flows()


@pytest.mark.tp(id="HMIP-IOP-PREF-001", title="Flows survive the MAP's preference dropping to 0, and a move meanwhile")
@pytest.mark.requirements(*CAUSES)
def test_flows_across_preference_zero(bench, inject, judge) -> None:
    """
    Purpose:        MAP A advertises preference 0 (overload, base §7.1.2): no new bindings, but existing ones may be
                    refreshed (§7.2 ¶2), so the mobile node keeps its RCoA, also when it moves within the domain.
    Topology:       see the module docstring.
    Initialisation: as HMIP-IOP-MOVE-001.
    Procedure:      1. Flows started on AR a.  2. Fault map_preference 0 (MAP A).  3. Move to AR b.  4. Removed.
    Judgement:      The flows resume in every phase, else the clause of the first broken hop.
    Reference:      base §6.1 ¶2 "all packets addressed to the mobile node's RCoA are intercepted by the MAP and
                    tunnelled to the mobile node's LCoA"; the clauses a diagnosis may name: harness/interop/path.py.
    """
    bench.start()
    applied = []
    bench.event(f"MAP {bench.map_a} preference 0",
                lambda: applied.append(inject("map_preference", map_node=bench.map_a, value=0)))
    bench.move(bench.ar_b, f"intra-domain move to {bench.ar_b}")
    bench.event("preference restored", lambda: applied[0].remove())
    bench.finish()
    bench.judge_flows()


@pytest.mark.tp(id="HMIP-IOP-LINK-001", title="Flows recover after the AR-MAP link flaps")
@pytest.mark.requirements(*CAUSES)
def test_flows_across_link_flap(bench, inject, judge) -> None:
    """
    Purpose:        AR a's link towards MAP A goes down (the flows cannot get through: measured, not judged) and
                    comes back; the flows must recover, whatever AR a advertised meanwhile.
    Topology:       see the module docstring.
    Initialisation: as HMIP-IOP-MOVE-001.
    Procedure:      1. Flows started on AR a.  2. Fault link_down (AR a, MAP A's domain link).  3. Removed.
    Judgement:      The flows resume after the link is back (deadline: twice a move's signalling time, for an AR
                    that declared the MAP failed meanwhile), else the clause of the first broken hop.
    Reference:      base §6.1 ¶2 "all packets addressed to the mobile node's RCoA are intercepted by the MAP and
                    tunnelled to the mobile node's LCoA"; the clauses a diagnosis may name: harness/interop/path.py.
    """
    bench.start()
    applied = []
    link = bench.spec.map_link(bench.map_a).name
    bench.event(f"{bench.ar_a}'s link {link} down",
                lambda: applied.append(inject("link_down", node=bench.ar_a, link=link)), expect=False)
    bench.event(f"{bench.ar_a}'s link {link} up", lambda: applied[0].remove(), deadline=2 * bench.resume_deadline)
    bench.finish()
    bench.judge_flows()


@pytest.mark.tp(id="HMIP-IOP-PART-001", title="Flows survive a MAP-HA partition and an intra-domain move meanwhile")
@pytest.mark.requirements(*CAUSES)
def test_flows_across_partition(bench, inject, judge, tester) -> None:
    """
    Purpose:        The core cannot carry traffic between MAP A's RCoA prefix and the home link.  With route
                    optimisation the CN reaches the RCoA directly, and an intra-domain move needs only the MAP
                    (base §6.1 ¶8), so the flows go on through the partition and the move.
    Topology:       see the module docstring; the partition is on the router between the home link and the core.
    Initialisation: as HMIP-IOP-MOVE-001; the mobile node must have sent the CN a BU (route optimisation), else
                    every path crosses the partition and the test is INCONCLUSIVE.
    Procedure:      1. Flows started on AR a.  2. Fault partition (MAP A's /64 <-> home prefix).  3. Move to AR b.
                    4. Removed.
    Judgement:      The flows resume in every phase, else the clause of the first broken hop.
    Reference:      base §6.1 ¶2 "all packets addressed to the mobile node's RCoA are intercepted by the MAP and
                    tunnelled to the mobile node's LCoA"; the clauses a diagnosis may name: harness/interop/path.py.
    """
    bench.start()
    ro = pathmod.PathView(tester, bench.first).first(  # start() gave route optimisation its chance
        None, lambda f: (ly := pathmod.owner(f, MIP6MH_BU)) is not None and ly.dst == bench.cn)
    judge.require(ro is not None, f"the mobile node sent {bench.cn} no BU (no route optimisation): every path of the "
                                  "flows crosses a MAP-HA partition")
    home = bench.spec.nodes[next(n.name for n in bench.spec.nodes.values() if n.role == "ha")]
    home_link = next(iter(home.interfaces.values())).link
    router = bench.router_between(home_link, bench.spec.map_link(bench.map_a).name)
    applied = []
    bench.event(f"partition {bench.map_prefix(bench.map_a)} <-> {bench.spec.links[home_link].prefix} at {router}",
                lambda: applied.append(inject("partition", router=router, a=bench.map_prefix(bench.map_a),
                                              b=str(bench.spec.links[home_link].prefix))))
    bench.move(bench.ar_b, f"intra-domain move to {bench.ar_b}")
    bench.event("partition removed", lambda: applied[0].remove())
    bench.finish()
    bench.judge_flows()


@pytest.mark.tp(id="HMIP-IOP-LOSS-001", title="An intra-domain move completes on a lossy access path")
@pytest.mark.requirements(*CAUSES)
def test_move_with_packet_loss(bench, inject, judge) -> None:
    """
    Purpose:        AR b drops 30 % of what it forwards to its access link (BAs included); the mobile node moving
                    there must still complete its local registration (retransmitting its BU, RFC 6275 §11.8) and the
                    flows go on, lossy.
    Topology:       see the module docstring.
    Initialisation: as HMIP-IOP-MOVE-001.
    Procedure:      1. Flows started on AR a.  2. Fault packet_loss 30 % (AR b, its access prefix).  3. Move to AR
                    b.  4. Removed.
    Judgement:      The flows resume in every phase, else the clause of the first broken hop (e.g. the only BU's BA
                    lost and no retransmission: RFC 6275 §11.8 SHOULD).  Measured: loss per phase.
    Reference:      base §6.1 ¶2 "all packets addressed to the mobile node's RCoA are intercepted by the MAP and
                    tunnelled to the mobile node's LCoA"; the clauses a diagnosis may name: harness/interop/path.py.
    """
    bench.start()
    applied = []
    prefix = str(bench.spec.access_link_of(bench.ar_b).prefix)
    bench.event(f"30 % loss at {bench.ar_b} towards {prefix}",
                lambda: applied.append(inject("packet_loss", router=bench.ar_b, prefix=prefix, percent=30)))
    bench.move(bench.ar_b, f"intra-domain move to {bench.ar_b}")
    bench.event("loss removed", lambda: applied[0].remove())
    bench.finish()
    bench.judge_flows()


@pytest.mark.tp(id="HMIP-IOP-DELAY-001",
                title="Inter-domain move with 100 ms delay in front of the old MAP: in-flight datagrams forwarded")
@pytest.mark.requirements(*CAUSES, *PREVIOUS_MAP)
def test_inter_domain_move_with_delay(bench, inject, judge) -> None:
    """
    Purpose:        With datagrams in flight to the old RCoA (100 ms extra delay on the CN's path to MAP A), an
                    inter-domain move loses less when the mobile node tells the previous MAP its new LCoA (base
                    §6.1 ¶6) and that MAP forwards there (§8).
    Topology:       see the module docstring; the delay line runs on the router on the CN's link.
    Initialisation: as HMIP-IOP-MOVE-001.
    Procedure:      1. Flows started on AR a.  2. Fault path_delay 0.1 s (CN link -> MAP A's /64).  3. Move to AR c.
                    4. Removed.
    Judgement:      1. A local BU from the new LCoA to MAP A (§6.1 ¶6 SHOULD), accepted (§8 RECOMMENDED), and the
                    in-flight datagrams tunnelled MAP A -> new LCoA (§6.1 ¶2).  2. The flows resume in every phase,
                    else the clause of the first broken hop.  Measured: previous_map_forwarded, loss per phase.
    Reference:      base §6.1 ¶6 "a mobile node SHOULD send a local BU to the previous MAP specifying its new LCoA";
                    §8 "it is RECOMMENDED that MAPs be allowed to forward packets to LCoAs associated with some of
                    the ARs in neighbouring MAP domains".
    """
    bench.start()
    cn_link = next(iter(bench.spec.nodes[bench.cn_node].interfaces.values())).link
    router = bench.router_between(cn_link, bench.spec.map_link(bench.map_a).name)
    applied = []
    bench.event(f"0.1 s delay at {router} towards {bench.map_prefix(bench.map_a)}",
                lambda: applied.append(inject("path_delay", router=router, iface=cn_link,
                                              prefix=bench.map_prefix(bench.map_a), delay=0.1)))
    bench.move(bench.ar_c, f"inter-domain move to {bench.ar_c}")
    bench.event("delay removed", lambda: applied[0].remove())
    bench.finish()
    Checks(bench).previous_map_forwarding(2, bench.map_a)
    bench.judge_flows()


@pytest.mark.tp(id="HMIP-IOP-APFAIL-001",
                title="Flows recover when the mobile node's Wi-Fi access point fails and it reassociates elsewhere")
@pytest.mark.requirements(*CAUSES)
def test_flows_across_access_point_failure(bench, inject, judge) -> None:
    """
    Purpose:        In a Wi-Fi testbed the access point serving the mobile node dies (hostapd killed).  The station
                    finds another access point of the same network by itself; the mobile node must detect the move
                    and register the new LCoA (with the MAP for an AP in the same domain; with the new MAP, HA and
                    CN otherwise), after which the flows go on.  Measured: the station's reconnection (from its
                    own log) and the flows' interruption.
    Topology:       see the module docstring; the access links have access points (testbeds/wifi-vm.yaml).
                    NOT APPLICABLE on a testbed without access points.
    Initialisation: as HMIP-IOP-MOVE-001 (the station associated with AR a's access point).
    Procedure:      1. Flows started on AR a.  2. Fault ap_crash (AR a's access point); wait until the station is
                    associated with another access point.  3. The access point is restored at the end.
    Judgement:      The flows resume on the new access link within a move's signalling time, else the clause of
                    the first broken hop.
    Reference:      base §6.1 ¶2 "all packets addressed to the mobile node's RCoA are intercepted by the MAP and
                    tunnelled to the mobile node's LCoA"; the clauses a diagnosis may name: harness/interop/path.py.
    """
    if not bench.spec.access_points():
        pytest.skip("NOT APPLICABLE: the testbed has no Wi-Fi access points (an access point failure needs one)")
    bench.start()
    fault = bench.access_point_failure(f"access point of {bench.ar_a} failed", inject)
    bench.finish()
    fault.remove()
    bench.judge_flows()
