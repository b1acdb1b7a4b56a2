"""MN test purpose: the base document's §9.1 default MAP selection algorithm, for a mobile node that declares it uses
it (PICS map_selection_default_algorithm; assumed when the testbed file does not say, as §9.1 proposes it "as a
default").

Topology (conformance/suite/mn_support.py): the mobile node alone on acc0 with the tester, which plays the access
router R1 (prefix 2001:db8:1f0::/64), MAP-A (2001:db8:1a::1), MAP-B (2001:db8:1b::1) and the home agent.  The MN is
restarted on acc0 before the test and stopped after it.

Unlike the topologies of test_mn_selection.py (built so that §7.2's highest Pref and §9.1's largest Dist pick the
same MAP, INC-2), this one is divergent: the furthest MAP is the less preferred one, so only a MN that follows
§9.1 -- as it declares -- picks it.
"""

from __future__ import annotations

import pytest

from conformance.suite import mn_support
from conformance.suite.mn_support import MAP_A, MAP_B, MapAd, same
from conformance.suite.test_mn_selection import _chosen

pytestmark = [pytest.mark.role("mn"), pytest.mark.pics("map_selection_default_algorithm")]

DEFAULT_ALGORITHM = "HMIP-4140-9.1-P4-BIND-1"


@pytest.fixture
def bench(testbed, tester, _dut_session, edition):
    """The MN restarted on acc0 (see test_mn_registration.bench)."""
    yield from mn_support.bench(testbed, tester, _dut_session, edition)


@pytest.mark.tp(id="HMIP-MN-SEL-006",
                title="§9.1 default algorithm (declared): the furthest MAP is chosen over a more preferred nearer one")
@pytest.mark.requirements(DEFAULT_ALGORITHM)
def test_default_algorithm_furthest_map(bench, judge) -> None:
    """
    Purpose:        A mobile node that declares (PICS map_selection_default_algorithm) that it selects its MAP with
                    the §9.1 default algorithm registers -- its primary binding, the one given to the HA -- with
                    the MAP advertised with the largest Dist, although a nearer MAP has a higher preference (both
                    preferences and valid lifetimes non-zero: §9.1 steps 4-5 skip neither).
    Topology:       MN -- acc0 -- tester (R1, MAP-B Dist 1 Pref 15 listed first, MAP-A Dist 3 Pref 5, HA).
    Initialisation: MN restarted on acc0; the DUT claims PICS map_selection_default_algorithm (or does not declare
                    it: the default is true).
    Procedure:      1. R1 advertises MAP-B (Dist 1, Pref 15) then MAP-A (Dist 3, Pref 5) in one RA.
                    2. Acknowledge every local BU (as the MAP it is addressed to).
                    3. The home registration's care-of address (an RCoA on one MAP's prefix) shows the primary MAP.
    Judgement:      1. The primary MAP is MAP-A, the furthest (§9.1 steps 2-3; for rfc5380 Dist also comes first,
                       Pref only breaking ties, RFC 5380 §5).  MAP-B -- the highest Pref, base §7.2's rule, or the
                       first listed -- is a FAIL of the declared default algorithm.
                    No local BU or no home registration is INCONCLUSIVE (no choice to judge).
                    (Recorded: the MAP chosen; the MAP base §7.2's highest-Pref rule would choose -- INC-2: the
                    §7.2 SHOULD is not judged in this divergent topology, HMIP-MN-SEL-001/002 judge it.)
    Reference:      base §9.1 "However, this specification proposes that the mobile node uses the following
                    algorithm as a default, where other optimised algorithms are not available. ... 2. Arrange MAPs
                    in a descending order, starting with the furthest away MAP (i.e. MAP option having largest Dist
                    field) 3. Select first MAP in list 4. If either the Preference value or the valid lifetime fields
                    are set to zero, select the following MAP in the list."  (RFC 5380 §9.1 the same.)
    """
    ads = [MapAd(MAP_B, dist=1, pref=15), MapAd(MAP_A, dist=3, pref=5)]
    judge.step("1. R1 advertises MAP-B (Dist 1, Pref 15) and MAP-A (Dist 3, Pref 5)")
    chosen, hbu = _chosen(bench, ads, bench.advertise(maps=ads), judge)
    judge.record("chosen", chosen)
    judge.record("highest_pref_map", MAP_B)
    judge.check(DEFAULT_ALGORITHM, same(chosen, MAP_A),
                f"the primary MAP is {chosen}: " + ("MAP-A, the furthest (Dist 3), as §9.1 orders" if same(chosen, MAP_A)
                                                    else f"not MAP-A ({MAP_A}, Dist 3, Pref 5), the MAP the declared "
                                                         "§9.1 default algorithm selects (largest Dist first)"),
                frame=getattr(hbu, "frame", None))
