"""MN test purposes: which MAP the mobile node registers with (base §7.2, §9.1; RFC 5380 §5, §7.1), and what it
does when no MAP, or no usable MAP, is advertised.

Topology (all of them, conformance/suite/mn_support.py): the mobile node alone on acc0 with the tester, which
plays the access router R1 (prefix 2001:db8:1f0::/64), two MAPs MAP-A (2001:db8:1a::1) and MAP-B
(2001:db8:1b::1), the home agent and the correspondents.  The MN is restarted on acc0 before each test and
stopped after it.

The selection topologies are built so that the §7.2 rule (highest preference) and the §9.1 default (largest
Dist) pick the same MAP (INC-2): a MN that picks the other one follows neither, which the keyword of §7.2 makes
a WARN (§9.1 only "proposes" its algorithm).
"""

from __future__ import annotations

import time

import pytest

from conformance.suite import mn_support
from conformance.suite.mn_support import (
    MAP_A, MAP_B, PREFIX_1, Bu, MapAd, PlayedMaps, canonical, in_prefix, prefix64, same,
)

pytestmark = pytest.mark.role("mn")

PREF_ZERO_GRANT = 8  # s: the longest lifetime MAP-A grants in HMIP-MN-SEL-005, so that the MN refreshes within the test


@pytest.fixture
def bench(testbed, tester, _dut_session, edition):
    """The MN restarted on acc0 (see test_mn_registration.bench)."""
    yield from mn_support.bench(testbed, tester, _dut_session, edition)


def _chosen(bench, ads: list[MapAd], since: int, judge) -> tuple[str, Bu]:
    """Acknowledge every local BU (as the MAP it is addressed to) until the home registration names the primary
    RCoA; the MAP whose prefix holds it is the one chosen (without a home agent: the first local BU's MAP)."""
    addresses = [a.address for a in ads]
    first = bench.wait_local_bu(addresses, since)
    judge.require(first is not None, f"no local BU to {' or '.join(addresses)}")
    if bench.home_agent is None:
        return first.ip.dst, first
    answered: set[tuple[str, str]] = set()
    deadline = time.monotonic() + bench.react_timeout
    hbu = None
    while hbu is None and time.monotonic() < deadline:
        for b in bench.bus(bench.local_to(addresses), since):  # a MN may register with several MAPs (§7.2 MAY)
            if (b.ip.dst, b.hao) not in answered:
                answered.add((b.ip.dst, b.hao))
                judge.step(f"local BU to {b.ip.dst} (RCoA {b.hao}): acknowledged")
                bench.send(bench.ba(b))
        hbu = bench.wait_home_bu(since, timeout=0.1)
    judge.require(hbu is not None, "no home registration: the primary MAP cannot be told")
    chosen = next((a for a in addresses if in_prefix(hbu.coa, prefix64(a))), None)
    judge.require(chosen is not None, f"the home registration names {hbu.coa}, on no advertised MAP's prefix")
    return chosen, hbu


@pytest.mark.tp(id="HMIP-MN-SEL-001", title="Default MAP selection: the furthest MAP, which also has the highest preference")
@pytest.mark.requirements("HMIP-4140-7.2-P2-SHOULD-1")
def test_default_map_selection(bench, judge) -> None:
    """
    Purpose:        Offered two MAPs, the MN registers (its primary binding, the one registered with the HA) with
                    the MAP that both the §9.1 default algorithm (largest Dist) and the §7.2 rule (highest Pref)
                    select.
    Topology:       MN -- acc0 -- tester (R1, MAP-A Dist 1 Pref 10, MAP-B Dist 2 Pref 15, HA).
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises both MAP options in one RA.  2. Acknowledge every local BU.  3. The home
                    registration's care-of address shows the primary MAP.
    Judgement:      1. The primary MAP is MAP-B (a choice of MAP-A, the nearest and less preferred, is a WARN).
                    (Recorded: the MAP chosen.)
    Reference:      base §7.2 "A mobile node SHOULD register with the MAP having the highest preference value.";
                    §9.1 "this specification proposes that the mobile node uses the following algorithm as a
                    default ... 2. Arrange MAPs in a descending order, starting with the furthest away MAP".
    """
    ads = [MapAd(MAP_A, dist=1, pref=10), MapAd(MAP_B, dist=2, pref=15)]
    judge.step("1. R1 advertises MAP-A (Dist 1, Pref 10) and MAP-B (Dist 2, Pref 15)")
    chosen, _ = _chosen(bench, ads, bench.advertise(maps=ads), judge)
    judge.record("chosen", chosen)
    judge.check("HMIP-4140-7.2-P2-SHOULD-1", same(chosen, MAP_B),
                f"registered with {chosen} (Dist 1, Pref 10) rather than {MAP_B} (Dist 2, Pref 15)")


@pytest.mark.tp(id="HMIP-MN-SEL-002", title="MAPs at equal distance: the higher preference wins")
@pytest.mark.requirements("HMIP-4140-7.2-P2-SHOULD-1", "HMIP-5380-5-P10-SHOULD-1", "HMIP-4140-5-P5-BIND-1")
def test_equal_distance_preference(bench, judge, edition) -> None:
    """
    Purpose:        Offered two MAPs at the same distance, the MN registers with the one with the higher
                    preference -- whichever of the two it is: 15 is the highest preference, not the lowest.
    Topology:       MN -- acc0 -- tester (R1, MAP-A and MAP-B at Dist 2, HA).
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises MAP-A (Dist 2, Pref 10) then MAP-B (Dist 2, Pref 15) in one RA; acknowledge
                       every local BU; the home registration's care-of address shows the primary MAP.
                    2. Restart the MN; R1 advertises MAP-A (Dist 2, Pref 15) then MAP-B (Dist 2, Pref 10) -- the same
                       order, the preferences swapped; as step 1.
    Judgement:      1. Step 1: the primary MAP is MAP-B.  2. Step 2: the primary MAP is MAP-A.      base §7.2 SHOULD
                       (rfc5380 also RFC 5380 §5 SHOULD.)
                    3. The MN does not take the Pref-10 MAP both times: one that does ranks 10 above 15, reading the
                       Pref scale backwards.  (One that takes the same MAP both times -- the first listed, the
                       lowest address -- ignores Pref: judged by 1 and 2 only.)                  base §5 (binding)
                    (Recorded: the MAP chosen in each step.)
    Reference:      base §7.2 "A mobile node SHOULD register with the MAP having the highest preference value.";
                    base §5 Pref "A decimal value of 15 indicates the highest availability." (RFC 5380 §5 "A
                    decimal value of 15 indicates the highest preference."); RFC 5380 §5 (Pref) "When comparing two potential MAPs, the mobile node
                    SHOULD inspect this field as a tie-breaker for MAPs that have equal Dist values."
    """
    trials = (([MapAd(MAP_A, dist=2, pref=10), MapAd(MAP_B, dist=2, pref=15)], MAP_B, MAP_A),
              ([MapAd(MAP_A, dist=2, pref=15), MapAd(MAP_B, dist=2, pref=10)], MAP_A, MAP_B))
    lower_chosen = []
    for n, (ads, best, other) in enumerate(trials, start=1):
        if n > 1:
            judge.step(f"{n}. restart the MN")
            bench.start()
        judge.step(f"{n}. R1 advertises " + " and ".join(f"{'MAP-A' if a.address == MAP_A else 'MAP-B'} (Dist {a.dist}, "
                                                         f"Pref {a.pref})" for a in ads))
        chosen, _ = _chosen(bench, ads, bench.advertise(maps=ads), judge)
        judge.record(f"chosen_{n}", chosen)
        detail = f"registered with {chosen} (Pref 10) rather than {best} (Pref 15) at equal Dist" \
            if not same(chosen, best) else f"registered with {best} (Pref 15) rather than {other} (Pref 10)"
        judge.check("HMIP-4140-7.2-P2-SHOULD-1", same(chosen, best), detail)
        if edition == "rfc5380":
            judge.check("HMIP-5380-5-P10-SHOULD-1", same(chosen, best), detail)
        lower_chosen.append(not same(chosen, best))
    judge.check("HMIP-4140-5-P5-BIND-1", not all(lower_chosen),
                "the MN took the Pref-10 MAP over the Pref-15 one both times, whichever MAP carried it: it ranks "
                "10 above 15" if all(lower_chosen) else
                "the MN did not rank Pref 10 above Pref 15 in both orders")


@pytest.mark.tp(id="HMIP-MN-SEL-003", title="A MAP with preference 0 is not used for a new binding")
@pytest.mark.requirements("HMIP-4140-7.2-P2-SHOULD-NOT-1", "HMIP-4140-7.1.2-P1-SHOULD-NOT-1")
def test_preference_zero_not_chosen(bench, judge, edition) -> None:
    """
    Purpose:        A MAP advertised with preference 0 is not chosen for a new local binding, even when it is the
                    furthest.
    Topology:       MN -- acc0 -- tester (R1, MAP-A Dist 2 Pref 0, MAP-B Dist 1 Pref 10, HA).
    Initialisation: MN restarted on acc0 (no binding: every binding is new).
    Procedure:      1. R1 advertises both options.  2. Acknowledge the local BU to MAP-B and the home registration.
                    3. Poke the MN and watch one more window.
    Judgement:      1. From the RA to the end of the window no local BU with a non-zero lifetime goes to MAP-A,
                       while the capture shows the MN alive.
    Reference:      base §7.2 "A MAP with a preference value of zero SHOULD NOT be used for new local BUs (i.e. the
                    mobile node can refresh existing bindings but cannot create new ones)."; §7.1.2 "A preference
                    value of zero means that the MAP SHOULD NOT be chosen by new mobile nodes." (INC-3)
    """
    ads = [MapAd(MAP_A, dist=2, pref=0), MapAd(MAP_B, dist=1, pref=10)]
    judge.step("1. R1 advertises MAP-A (Dist 2, Pref 0) and MAP-B (Dist 1, Pref 10)")
    since = bench.advertise(maps=ads)
    bu_b = bench.wait_local_bu(MAP_B, since)
    if bu_b is not None:
        judge.step("2. acknowledge the local BU to MAP-B")
        mark = bench.send(bench.ba(bu_b))
        hbu = bench.wait_home_bu(mark)
        if hbu is not None:
            bench.send(bench.home_ba(hbu))
    judge.step("3. watch for a local BU to MAP-A")
    to_a = bench.absent_bu(lambda b: bench.local_to(MAP_A)(b) and b.lifetime > 0, since=since)
    detail = f"a new local BU (seq {to_a.seq}, lifetime {to_a.lifetime} s) went to MAP-A, advertised with Pref 0" \
        if to_a is not None else ""
    judge.check("HMIP-4140-7.2-P2-SHOULD-NOT-1", to_a is None, detail, frame=getattr(to_a, "frame", None))
    if edition == "rfc4140":
        judge.check("HMIP-4140-7.1.2-P1-SHOULD-NOT-1", to_a is None, detail)


@pytest.mark.tp(id="HMIP-MN-SEL-005",
                title="The MAP in use drops to preference 0: its binding may be refreshed, no new one is made")
@pytest.mark.requirements("HMIP-4140-7.2-P2-SHOULD-NOT-1")
def test_preference_zero_on_map_in_use(bench, judge) -> None:
    """
    Purpose:        Once the MAP it is registered with advertises preference 0, the MN may go on refreshing -- and,
                    after a move within the MAP's domain, updating -- its existing binding with that MAP, but makes
                    no new binding with it: not for another RCoA, and not again once its binding there has ended.
    Topology:       MN -- acc0 -- tester (R1 and R2, MAP-A Dist 2, MAP-B Dist 1 Pref 10, HA).
    Initialisation: MN restarted on acc0.  The tester answers every BU as the MAP it is sent to, or as the HA, and
                    keeps each played MAP's binding cache from the lifetimes it grants (MAP-A grants at most 8 s, so
                    that a MN keeping its binding refreshes it within the test): a local BU with a non-zero lifetime
                    for an RCoA the MAP holds no binding for when it arrives is a new binding (RFC 6275 §10.3.1); one
                    for an RCoA the MAP holds a binding for -- from the same or a new LCoA -- refreshes or updates an
                    existing binding.
    Procedure:      1. R1 advertises MAP-A (Dist 2, Pref 15) and MAP-B (Dist 1, Pref 10): the MN registers with MAP-A
                       -- the choice of both rules (§7.2 highest Pref, §9.1 largest Dist) -- and its HA (another
                       choice, or no registration, is INCONCLUSIVE).
                    2. R1 advertises MAP-A with Pref 0, MAP-B unchanged; answer the MN's BUs until it refreshes its
                       binding with MAP-A, at most 8 s + the reaction time (one granted lifetime).
                    3. Move within the domain: carrier flap, R2 advertises 2001:db8:1f1::/64 with the same two options
                       (MAP-A at Pref 0); answer the BUs for the reaction time.
                    4. Move out: carrier flap, R1 advertises MAP-B only; MAP-A grants at most 4 s from now on; answer
                       the BUs until every binding MAP-A holds has run out (at most 8 s + the reaction time).
                    5. Move back: carrier flap, R2 advertises MAP-A (Dist 2, Pref 0) and MAP-B (Dist 1, Pref 10) --
                       MAP-A is again the furthest MAP, now with no binding for the MN; poke the MN; answer the BUs
                       for the reaction time and one retransmission window.
    Judgement:      1. From the Pref-0 advertisement (step 2) to the end no local BU with a non-zero lifetime reaches
                       MAP-A for an RCoA it holds no binding for, while the capture shows the MN alive after the
                       last move.                                                        base §7.2 SHOULD NOT
                    Recorded: whether (and from which LCoA, for which RCoA) the MN refreshed its binding with MAP-A
                    in step 2; the local and home BUs after each move; whether MAP-A's bindings had run out before
                    step 5.  Measured: refresh_interval (the registration acknowledged with 8 s to the next BU for
                    the same RCoA).
    Reference:      base §7.2 ¶2 "A MAP with a preference value of zero SHOULD NOT be used for new local BUs (i.e. the
                    mobile node can refresh existing bindings but cannot create new ones)." (RFC 5380 §7.1 ¶1 the
                    same; INC-3: refreshing -- and updating the LCoA of -- an existing binding conforms, and §9.1
                    skips a Pref-0 MAP only when choosing one for a new binding); RFC 5380 §9.1 "This will continue
                    until the preference value reduces to zero. Following this, mobile nodes will start selecting
                    another MAP." (base §9.1 the same).
    """
    a15, a0, b = MapAd(MAP_A, dist=2, pref=15), MapAd(MAP_A, dist=2, pref=0), MapAd(MAP_B, dist=1, pref=10)
    maps = PlayedMaps(bench, [MAP_A, MAP_B], grant={MAP_A: PREF_ZERO_GRANT})
    react = bench.react_timeout

    def registered() -> bool:
        return maps.registered(MAP_A)

    judge.step("1. R1 advertises MAP-A (Dist 2, Pref 15) and MAP-B (Dist 1, Pref 10); register with MAP-A")
    maps.serve(bench.advertise(maps=[a15, b]), 2 * react, until=registered)
    judge.require(registered(), "the MN did not register with MAP-A (and its HA), the MAP both rules choose")
    first = maps.bound(MAP_A)[0]
    rcoa = first.bu.hao
    judge.step(f"registered with MAP-A: RCoA {rcoa}, LCoA {first.bu.ip.src}, granted {first.granted} s")

    judge.step("2. R1 advertises MAP-A with Pref 0; answer BUs until MAP-A's binding is refreshed")
    zero_at = time.time()
    pref0 = bench.advertise(maps=[a0, b])

    def refreshes() -> list:
        return [x for x in maps.local(MAP_A, zero_at) if x.live and x.bu.lifetime > 0 and same(x.bu.hao, rcoa)]

    maps.serve(pref0, PREF_ZERO_GRANT + react, until=lambda: bool(refreshes()))
    refreshed = refreshes()
    judge.record("refreshed_after_pref_zero", [f"{x.bu.ip.src} -> RCoA {x.bu.hao}, lifetime {x.bu.lifetime} s"
                                               for x in refreshed])
    interval = round(refreshed[0].bu.time - first.bu.time, 3) if refreshed else None
    judge.measure("refresh_interval", interval, "s",
                  f"registration granted {first.granted} s to the next BU for RCoA {rcoa}" if refreshed else
                  f"no refresh of the binding with MAP-A within {PREF_ZERO_GRANT + react:.1f} s of Pref 0 "
                  "(allowed: it may let it run out)")

    judge.step("3. move within the domain: R2 advertises 2001:db8:1f1::/64 with MAP-A (Pref 0) and MAP-B")
    moved_at = time.time()
    maps.router = bench.router2
    maps.serve(bench.handover(bench.router2, [a0, b]), react)
    judge.record("after_move_within_domain", _bus_summary(maps, moved_at))

    judge.step("4. move out: R1 advertises MAP-B only; MAP-A grants at most 4 s; wait for its bindings to run out")
    out_at = time.time()
    maps.grant[canonical(MAP_A)] = 4
    maps.router = bench.router
    out = bench.handover(bench.router, [b])
    maps.serve(out, react)
    ended = maps.serve(out, PREF_ZERO_GRANT + react, until=lambda: (maps.ends(MAP_A) or 0.0) < time.time())
    judge.record("after_move_out", _bus_summary(maps, out_at))
    judge.record("map_a_bindings_ended_before_return", ended)

    judge.step("5. move back: R2 advertises MAP-A (Dist 2, Pref 0) and MAP-B (Dist 1, Pref 10); poke the MN")
    back_at = time.time()
    maps.router = bench.router2
    back = bench.handover(bench.router2, [a0, b])
    poked_at = time.time()
    bench.poke(bench.router2)
    maps.serve(back, react + bench.retransmission_window)
    judge.record("after_return", _bus_summary(maps, back_at))
    new = [x for x in maps.local(MAP_A, zero_at) if x.new]
    if not new:
        judge.require(any(bench.from_mn(f) and f.time >= poked_at for f in bench.tester.frames(back)),
                      "no frame from the MN after the return: nothing proves the capture alive")
    phase = {zero_at: "after Pref 0", moved_at: "after the move within the domain", out_at: "after the move out",
             back_at: "after the return"}
    if new:
        x = new[0]
        when = phase[max(t for t in phase if t <= x.bu.time)]
        detail = (f"a new local BU went to MAP-A, advertised with Pref 0, {when}: RCoA {x.bu.hao} (MAP-A held no "
                  f"binding for it), from {x.bu.ip.src}, lifetime {x.bu.lifetime} s")
    else:
        detail = "no new binding with MAP-A after its Pref fell to 0"
    judge.check("HMIP-4140-7.2-P2-SHOULD-NOT-1", not new, detail, frame=new[0].bu.frame if new else None)


def _bus_summary(maps: PlayedMaps, since: float) -> list[str]:
    """The local and home BUs answered since ``since``, one line each (for the record)."""
    lines = []
    for x in maps.answers:
        if x.bu.time < since:
            continue
        what = f"to {x.map} for RCoA {x.bu.hao}" if x.local else f"to the HA with care-of address {x.bu.coa}"
        state = ("new binding" if x.new else "existing binding") if x.local else "home registration"
        lines.append(f"{x.bu.ip.src} {what}, lifetime {x.bu.lifetime} s ({state})")
    return lines


@pytest.mark.tp(id="HMIP-MN-SEL-004", title="MAP option with valid lifetime 0: another MAP is chosen, new bindings made")
@pytest.mark.requirements("HMIP-4140-7.2-P3-MUST-1", "HMIP-4140-7.2-P3-MUST-NOT-1")
def test_valid_lifetime_zero_rebinds(bench, judge) -> None:
    """
    Purpose:        When the MAP in use is advertised with valid lifetime 0 (MAP failure) the MN stops using it,
                    registers with another advertised MAP and registers the new RCoA with its HA.
    Topology:       MN -- acc0 -- tester (R1, MAP-A Dist 2 Pref 15, MAP-B Dist 1 Pref 10, HA).
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises both; the MN registers with MAP-A (and its HA) -- MAP-A is the choice of
                       both rules; another choice makes the test INCONCLUSIVE.
                    2. R1 advertises MAP-A with valid lifetime 0 and MAP-B unchanged.
                    3. Acknowledge the local BU to MAP-B; wait for the home registration.
                    4. Poke the MN; watch one window.
    Judgement:      1. A local BU goes to MAP-B                                                   base §7.2 MUST
                    2. The HA is then given MAP-B's RCoA                                          base §7.2 MUST
                    3. From step 2 to the end of the window no BU with a non-zero lifetime goes to MAP-A
                                                                                             base §7.2 MUST NOT
                    Measured: fault_to_reaction (lifetime-0 RA to the BU to MAP-B), recovery (to the home
                    registration of MAP-B's RCoA).
    Reference:      base §7.2 "A MAP option containing a valid lifetime value of zero means that this MAP MUST NOT
                    be selected by the MN. A valid lifetime of zero indicates a MAP failure. When this option is
                    received, a mobile node MUST choose another MAP and create new bindings."
    """
    a, b = MapAd(MAP_A, dist=2, pref=15), MapAd(MAP_B, dist=1, pref=10)
    judge.step("1. register with MAP-A")
    reg = bench.register([a, b], judge=judge)
    judge.require(same(reg.map, MAP_A), f"the MN chose {reg.map}; the test needs it on MAP-A")
    judge.step("2. MAP-A advertised with valid lifetime 0")
    since = bench.advertise(maps=[MapAd(MAP_A, dist=2, pref=15, valid=0), b])
    bu_b = bench.wait_local_bu(MAP_B, since)
    judge.check("HMIP-4140-7.2-P3-MUST-1", bu_b is not None and in_prefix(bu_b.hao, prefix64(MAP_B)),
                "no local BU to MAP-B after MAP-A failed" if bu_b is None else
                f"the BU to MAP-B binds {bu_b.hao}, not an RCoA on MAP-B's prefix", frame=getattr(bu_b, "frame", None))
    judge.step("3. acknowledge it; wait for the home registration")
    mark = bench.send(bench.ba(bu_b))
    hbu = bench.wait_home_bu(mark)
    if bench.home_agent is not None:
        judge.check("HMIP-4140-7.2-P3-MUST-1", hbu is not None and same(hbu.coa, bu_b.hao),
                    "no home registration of MAP-B's RCoA" if hbu is None else
                    f"the home registration names {hbu.coa}, not MAP-B's RCoA {bu_b.hao}")
        bench.send(bench.home_ba(hbu))
    _measure_failover(bench, judge, since, bu_b, hbu, "home registration of MAP-B's RCoA")
    judge.step("4. watch for BUs to MAP-A")
    to_a = bench.absent_bu(lambda x: bench.local_to(MAP_A)(x) and x.lifetime > 0, since=since)
    judge.check("HMIP-4140-7.2-P3-MUST-NOT-1", to_a is None,
                f"a BU with lifetime {getattr(to_a, 'lifetime', '')} s went to MAP-A after its valid lifetime 0",
                frame=getattr(to_a, "frame", None))


def _measure_failover(bench, judge, since: int, reaction: Bu | None, recovered: Bu | None, what: str) -> None:
    """Measured outcomes of a MAP-failure scenario: from the tester's lifetime-0 RA (the fault) to the MN's first
    reaction and to its last re-registration."""
    fault = next((f.time for f in bench.tester.frames(since) if f.outgoing), None)
    for name, bu, note in (("fault_to_reaction", reaction, "to the first BU after the lifetime-0 RA"),
                           ("recovery", recovered, f"to the {what}")):
        value = round(bu.time - fault, 3) if bu is not None and fault is not None else None
        judge.measure(name, value, "s", note if value is not None else f"not seen ({note})")
    judge.measure("lost_packets", None, "packets", "no data flow: the tester plays every peer of the MN in this "
                                                   "test purpose")


def _home_bu_from_lcoa(bench, b: Bu) -> bool:
    return bench.home_bu(b) and not b.tunnelled and in_prefix(b.ip.src, PREFIX_1)


@pytest.mark.tp(id="HMIP-MN-MIP6-001", title="No MAP option: plain Mobile IPv6, the LCoA registered with the HA")
@pytest.mark.requirements("HMIP-4140-7.2-P6-MUST-1", "HMIP-5380-7.1-P2-MUST-NOT-2")
def test_no_map_option_mobile_ipv6(bench, judge, edition) -> None:
    """
    Purpose:        On a link whose Router Advertisements carry no MAP option the MN uses Mobile IPv6: it
                    registers its on-link care-of address with its HA directly and sends no local BU.
    Topology:       MN -- acc0 -- tester (R1 without a MAP option, HA).
    Initialisation: MN restarted on acc0.
    Procedure:      1. R1 advertises prefix 2001:db8:1f0::/64 without a MAP option.
                    2. Wait for the home registration; poke the MN and watch one window.
    Judgement:      (rfc4140) 1. A BU to the HA arrives untunnelled, from an address on 2001:db8:1f0::/64 that
                       it registers as care-of address, with the home address in its Home Address option.
                    2. No BU with the M flag set is sent (both editions; in rfc5380 this is the judgement).
    Reference:      base §7.2 "If no MAP options are found in the router advertisement, the mobile node MUST use
                    the Mobile IPv6 protocol as specified in [1]."; RFC 5380 §7.1 "If no other MAP is available,
                    the mobile node MUST NOT attempt to use HMIPv6."
    """
    judge.require(bench.home_agent is not None, "the MN has no home agent: Mobile IPv6 cannot be observed")
    judge.step("1. R1 advertises no MAP option")
    since = bench.advertise(maps=[])
    hbu = bench.wait_home_bu(since)
    judge.record("home_bu", None if hbu is None else f"{hbu.outer.src} -> {hbu.outer.dst}, coa {hbu.coa}")
    if edition == "rfc4140":
        ok = hbu is not None and _home_bu_from_lcoa(bench, hbu) and in_prefix(hbu.coa, PREFIX_1) \
            and same(hbu.hao, bench.home_address)
        judge.check("HMIP-4140-7.2-P6-MUST-1", ok, "no home registration within "
                    f"{bench.react_timeout:.1f} s" if hbu is None else
                    f"home registration {hbu.outer.src} -> {hbu.outer.dst} (tunnelled: {hbu.tunnelled}), care-of "
                    f"address {hbu.coa}, home address {hbu.hao}: not Mobile IPv6 from the LCoA",
                    frame=getattr(hbu, "frame", None))
    if hbu is not None:
        bench.send(bench.home_ba(hbu))
    judge.step("2. watch for local BUs (M set)")
    local = bench.absent_bu(lambda b: b.flag("M"), since=since)
    requirement = "HMIP-4140-7.2-P6-MUST-1" if edition == "rfc4140" else "HMIP-5380-7.1-P2-MUST-NOT-2"
    judge.check(requirement, local is None,
                f"a local BU (M set) went to {getattr(getattr(local, 'ip', None), 'dst', '')} with no MAP advertised",
                frame=getattr(local, "frame", None))


@pytest.mark.tp(id="HMIP-MN-MIP6-002", title="The only MAP fails (valid lifetime 0): back to Mobile IPv6, no more local BUs")
@pytest.mark.requirements("HMIP-4140-7.2-P3-MUST-2", "HMIP-4140-7.2-P3-MUST-NOT-1", "HMIP-5380-7.1-P2-MUST-NOT-2")
def test_only_map_fails(bench, judge, edition) -> None:
    """
    Purpose:        When the only advertised MAP is announced with valid lifetime 0, the MN stops using HMIPv6:
                    it registers its on-link care-of address with its HA (rfc4140: "revert to using the Mobile
                    IPv6 protocol") and sends no more local BUs.
    Topology:       MN -- acc0 -- tester (R1, MAP-A, HA).
    Initialisation: MN restarted on acc0.
    Procedure:      1. Register with MAP-A and the HA.  2. R1 advertises MAP-A with valid lifetime 0.
                    3. Wait for the home registration; poke the MN and watch one window.
    Judgement:      1. (rfc4140) A BU to the HA arrives untunnelled from the LCoA, registering it.  base §7.2 MUST
                    2. No BU with a non-zero lifetime goes to MAP-A                        base §7.2 MUST NOT
                    3. (rfc5380) No BU with the M flag and a non-zero lifetime is sent     RFC 5380 §7.1 MUST NOT
                    Measured: fault_to_reaction and recovery (lifetime-0 RA to the home registration from the LCoA).
    Reference:      base §7.2 "A MAP option containing a valid lifetime value of zero means that this MAP MUST NOT
                    be selected by the MN. ... If no other MAP is available the mobile node MUST revert to using
                    the Mobile IPv6 protocol as specified in [1]."; RFC 5380 §7.1 "If no other MAP is available,
                    the mobile node MUST NOT attempt to use HMIPv6."
    """
    judge.require(bench.home_agent is not None, "the MN has no home agent: Mobile IPv6 cannot be observed")
    judge.step("1. register with MAP-A")
    reg = bench.register([MapAd(MAP_A)], judge=judge)
    judge.step("2. MAP-A advertised with valid lifetime 0")
    since = bench.advertise(maps=[MapAd(MAP_A, valid=0)])
    hbu = bench.wait_home_bu(since)
    if edition == "rfc4140":
        ok = hbu is not None and _home_bu_from_lcoa(bench, hbu) and same(hbu.coa, reg.lcoa)
        judge.check("HMIP-4140-7.2-P3-MUST-2", ok, "no home registration after the MAP failed" if hbu is None else
                    f"home registration {hbu.outer.src} -> {hbu.outer.dst} (tunnelled: {hbu.tunnelled}), care-of "
                    f"address {hbu.coa}: not Mobile IPv6 from the LCoA {reg.lcoa}", frame=getattr(hbu, "frame", None))
    _measure_failover(bench, judge, since, hbu, hbu, "home registration from the LCoA")
    if hbu is not None:
        bench.send(bench.home_ba(hbu))
    judge.step("3. watch for local BUs")
    local = bench.absent_bu(lambda b: (b.flag("M") or bench.local_to(MAP_A)(b)) and b.lifetime > 0, since=since)
    to_a = local is not None and same(local.ip.dst, MAP_A) and not local.tunnelled
    judge.check("HMIP-4140-7.2-P3-MUST-NOT-1", not to_a,
                f"a BU with lifetime {getattr(local, 'lifetime', '')} s went to MAP-A after its valid lifetime 0",
                frame=getattr(local, "frame", None))
    if edition == "rfc5380":
        judge.check("HMIP-5380-7.1-P2-MUST-NOT-2", local is None,
                    f"a local BU (flags {getattr(local, 'flags', '')}) was sent with no MAP available")
