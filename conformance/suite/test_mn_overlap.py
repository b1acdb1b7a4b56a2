"""MN test purposes: overlapping MAP domains -- the mobile node "eager" to perform new bindings and "lazy" in
releasing existing ones (base §9, RFC 5380 §9).

Topology (conformance/suite/mn_support.py): the mobile node alone on acc0 with the tester, which plays the access
router R1 (prefix 2001:db8:1f0::/64), the MAPs MAP-A (2001:db8:1a::1) and MAP-B (2001:db8:1b::1), the home agent
and the correspondents.  The overlap is R1 starting to advertise a second MAP without the MN moving: R1's link is
then in both MAP domains.  The MN is restarted on acc0 before each test and stopped after it.

The two §9 statements have a lower-case "should" and are catalogued as binding statements, as the catalogue does
for the protocol behaviour base §6.1 ¶8 states in lower case (HMIP-4140-6.1-P8-BIND-1): a violation is a FAIL.
They are judged where no reading of the documents excuses the behaviour: the new MAP is the one every selection
rule designates, and only a de-registration counts as releasing a binding.
"""

from __future__ import annotations

import time

import pytest

from conformance.suite import mn_support
from conformance.suite.mn_support import MAP_A, MAP_B, MapAd, PlayedMaps, in_prefix, prefix64, same

pytestmark = pytest.mark.role("mn")

EAGER = "HMIP-4140-9-P4-BIND-1"
LAZY = "HMIP-4140-9-P4-BIND-2"
OWN_RCOA = "HMIP-4140-6.1-P3-MUST-NOT-1"
NO_HIERARCHY = "HMIP-4140-9.1-P2-BIND-1"  # one MAP's RCoA registered with another MAP: prohibited
EACH_RCOA = "HMIP-4140-6.1-P3-MUST-1"  # rfc4140: with more than one RCoA, the binding update procedure for each
GRANT = 8  # s: the longest lifetime MAP-A grants, so that the MN's refresh of its old binding falls in the test


@pytest.fixture
def bench(testbed, tester, _dut_session, edition):
    """The MN restarted on acc0 (see test_mn_registration.bench)."""
    yield from mn_support.bench(testbed, tester, _dut_session, edition)


@pytest.mark.tp(id="HMIP-MN-OVL-001",
                title="Overlapping MAP domains: a new, better MAP registered at once (eager), the old binding kept (lazy)")
@pytest.mark.requirements(EAGER, LAZY, OWN_RCOA, NO_HIERARCHY, EACH_RCOA)
def test_eager_and_lazy(bench, judge, edition) -> None:
    """
    Purpose:        Registered with a MAP, the MN whose access router starts advertising another MAP -- one that
                    every selection rule ranks first -- registers with the new MAP at once (eager), with an RCoA of
                    the new MAP's own, and does not release its binding with the old MAP while that MAP is still
                    advertised and the binding lasts (lazy).
    Topology:       MN -- acc0 -- tester (R1 with MAP-A, then R1 with MAP-A and MAP-B: overlapping domains; HA).
    Initialisation: MN restarted on acc0.  The tester answers every BU as the MAP it is sent to or as the HA, and
                    keeps each MAP's binding cache from the lifetimes it grants (MAP-A grants at most 8 s).
    Procedure:      1. R1 advertises MAP-A (Dist 1, Pref 10); the MN registers with MAP-A and its HA (else
                       INCONCLUSIVE).
                    2. R1 (same router, same prefix: no movement) advertises MAP-A (Dist 1, Pref 10) and MAP-B (Dist 2,
                       Pref 15, valid lifetime non-zero); answer the BUs until a local BU reaches MAP-B, at most the
                       reaction time.
                    3. Keep answering, and poke the MN, until MAP-A's binding -- as MAP-A granted it when step 2
                       began -- has run out, plus one second: the whole remaining life of the old binding.
    Judgement:      1. A local BU with a non-zero lifetime reaches MAP-B.                           base §9 (binding)
                    2. Its care-of address is not on MAP-A's prefix (the LCoA, not MAP-A's RCoA, is bound).
                                                                               base §6.1 ¶3 MUST NOT, §9.1 ¶2
                    3. From step 2 to the end of step 3 no BU with lifetime 0 (a de-registration) reaches MAP-A for a
                       binding it holds, while MAP-A is advertised with a non-zero valid lifetime and the capture
                       shows the MN alive.                                                   base §9 (binding)
                    4. (rfc4140) Every RCoA the MN registers with its HA from step 1 to the end -- MAP-A's, and
                       MAP-B's if the MN makes it primary -- was registered with the MAP whose prefix it is, by a local
                       BU that MAP acknowledged before: the binding update procedure is performed for each RCoA.
                                                                                             base §6.1 ¶3 MUST
                    Recorded: whether the HA was then given MAP-B's RCoA (MAP-B primary) or not (MAP-B an
                    additional MAP), whether the old binding was refreshed in step 3 (kept alive) or left to run
                    out -- both conform.  Measured: eager_reaction (the RA to the BU to MAP-B), refresh_interval of
                    the old binding (its registration to its next BU), if refreshed.
    Reference:      base §9 ¶4 (RFC 5380 §9 ¶5) "The above means that the mobile node should register with any "new"
                    MAP advertised by the AR (Eager). The method by which the mobile node determines whether the MAP
                    is a "new" MAP is described in section 9.1. The mobile node should not release existing bindings
                    until it no longer receives the MAP option (or receives it with a lifetime of zero) or the
                    lifetime of its existing binding expires (Lazy)."; base §6.1 ¶3 "the mobile node MUST NOT use
                    one RCoA (e.g. RCoA1) derived from a MAP's prefix (e.g. MAP1) as a care-of address in its
                    binding update to another MAP (e.g. MAP2)."; "This specification allows a mobile node to use
                    more than one RCoA if it received more than one MAP option. In this case, the mobile node MUST
                    perform the binding update procedure for each RCoA."; §9.1 ¶2 (registering one MAP's RCoA with
                    another MAP) "it is therefore prohibited by this specification."
                    How the clauses meet.  "New" is what §9.1 determines, and §9.1 only proposes its algorithm as a
                    default: MAP-B is therefore made the MAP every rule designates -- the furthest (§9.1 steps 1-5,
                    RFC 5380 §5 with Pref as tie-breaker only) and the most preferred (§7.2 "SHOULD register with
                    the MAP having the highest preference value") -- so an MN that does not register with it follows
                    none of them.  Registering with MAP-B while keeping MAP-A's binding means two RCoAs at once:
                    §6.1 ¶3 allows it ("more than one RCoA if it received more than one MAP option"; rfc4140: the
                    BU procedure for each) and §7.2 ¶8 makes registering with several MAPs a MAY; what §6.1 ¶3 and
                    §9.1 ¶2 forbid is binding one MAP's RCoA at another (judgement 2).  Whether MAP-B then becomes
                    the primary MAP (its RCoA registered with the HA) is left to the MN and recorded.  Lazy:
                    letting the old binding run out is what the sentence allows, so only a de-registration
                    releases it; refreshing it is allowed (and remains so should MAP-A's Pref fall to 0, §7.2).
    """
    old, new = MapAd(MAP_A, dist=1, pref=10), MapAd(MAP_B, dist=2, pref=15)
    maps = PlayedMaps(bench, [MAP_A, MAP_B], grant={MAP_A: GRANT})
    react = bench.react_timeout

    def registered() -> bool:
        return maps.registered(MAP_A)

    judge.step("1. R1 advertises MAP-A (Dist 1, Pref 10); register with MAP-A")
    maps.serve(bench.advertise(maps=[old]), 2 * react, until=registered)
    judge.require(registered(), "the MN did not register with MAP-A (and its HA)")
    first = maps.bound(MAP_A)[0]
    rcoa_a = first.bu.hao
    judge.step(f"registered with MAP-A: RCoA {rcoa_a}, LCoA {first.bu.ip.src}, granted {first.granted} s")

    judge.step("2. R1 advertises MAP-A (Dist 1, Pref 10) and MAP-B (Dist 2, Pref 15)")
    overlap_at = time.time()
    overlap = bench.advertise(maps=[old, new])

    def to_b() -> list:
        return [x for x in maps.local(MAP_B, overlap_at) if x.bu.lifetime > 0]

    maps.serve(overlap, react, until=lambda: bool(to_b()))
    eager = to_b()
    bu_b = eager[0].bu if eager else None
    judge.measure("eager_reaction", round(bu_b.time - overlap_at, 3) if bu_b is not None else None, "s",
                  "the RA adding MAP-B to the first local BU to it" if bu_b is not None else
                  f"no local BU to MAP-B within {react:.1f} s")
    judge.check(EAGER, bu_b is not None,
                f"local BU to MAP-B (RCoA {bu_b.hao}, from {bu_b.ip.src}) after {bu_b.time - overlap_at:.3f} s"
                if bu_b is not None else
                f"no local BU to MAP-B, the new MAP every rule ranks first, within {react:.1f} s of its "
                "advertisement", frame=bu_b.frame if bu_b is not None else None)
    nested = in_prefix(bu_b.coa, prefix64(MAP_A))
    detail = (f"the BU to MAP-B binds {bu_b.coa}, on MAP-A's prefix, as its care-of address" if nested else
              f"the BU to MAP-B binds {bu_b.coa} (RCoA {bu_b.hao})")
    judge.check(OWN_RCOA, not nested, detail, frame=bu_b.frame)
    judge.check(NO_HIERARCHY, not nested, detail + (": a hierarchy of MAPs" if nested else ""))

    judge.step("3. keep answering until MAP-A's binding has run out; poke the MN")
    hold_end = (maps.ends(MAP_A) or time.time()) + 1.0
    poked_at = time.time()
    bench.poke()
    maps.serve(overlap, max(0.0, hold_end - time.time()))
    released = [x for x in maps.local(MAP_A, overlap_at) if x.bu.lifetime == 0 and x.live]
    kept = [x for x in maps.local(MAP_A, overlap_at) if x.bu.lifetime > 0 and x.live and same(x.bu.hao, rcoa_a)]
    homes = maps.home(overlap_at)
    judge.record("primary_after_overlap", "MAP-B (the HA was given its RCoA)" if any(
        in_prefix(h.bu.coa, prefix64(MAP_B)) for h in homes) else "MAP-A (the HA was not given MAP-B's RCoA)")
    judge.record("old_binding", "refreshed (kept alive)" if kept else "left to run out" if not released else
                  "de-registered")
    judge.measure("refresh_interval", round(kept[0].bu.time - first.bu.time, 3) if kept else None, "s",
                  f"MAP-A's binding granted {first.granted} s to its next BU" if kept else
                  "the old binding was not refreshed (allowed: it may run out)")
    if not released:
        judge.require(any(bench.from_mn(f) and f.time >= poked_at for f in bench.tester.frames(overlap)),
                      "no frame from the MN while the old binding lasted: nothing proves the capture alive")
    if edition == "rfc4140":
        _judge_each_rcoa_registered(maps, judge)
    x = released[0] if released else None
    judge.check(LAZY, not released,
                f"the MN de-registered its binding with MAP-A (RCoA {x.bu.hao}, lifetime 0) "
                f"{x.bu.time - overlap_at:.3f} s after MAP-B appeared, while MAP-A was still advertised and the "
                "binding lasted" if x is not None else
                f"no de-registration of the binding with MAP-A while it was advertised and lasted "
                f"({hold_end - overlap_at:.1f} s)", frame=x.bu.frame if x is not None else None)


def _judge_each_rcoa_registered(maps: PlayedMaps, judge) -> None:
    """Base §6.1 ¶3 (rfc4140): every RCoA the MN registered with its HA was first registered -- a local BU, answered
    with a binding -- with the MAP whose prefix holds it."""
    homes = [h for h in maps.home() if any(in_prefix(h.bu.coa, prefix64(m)) for m in (MAP_A, MAP_B))]  # RCoAs
    unregistered = []
    for h in homes:
        owner = next(m for m in (MAP_A, MAP_B) if in_prefix(h.bu.coa, prefix64(m)))
        if not any(same(a.bu.hao, h.bu.coa) and a.bu.time < h.bu.time for a in maps.bound(owner)):
            unregistered.append(h)
    rcoas = sorted({str(h.bu.coa) for h in homes})
    judge.check(EACH_RCOA, not unregistered,
                f"the HA was given {unregistered[0].bu.coa} without a binding for it at its MAP" if unregistered else
                f"each RCoA registered with the HA ({', '.join(rcoas)}) was first bound at its MAP",
                frame=unregistered[0].bu.frame if unregistered else None)
