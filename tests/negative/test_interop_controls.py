"""Negative controls of the interop mode: a broken DUT among reference peers gets the verdict the keyword of the
clause behind the broken hop implies, naming that clause -- not a bare END-TO-END failure, and never PASS.

Each row runs one interop test purpose (``conformance/interop``) with a variant of tests/negative/variants.py in the
DUT's place (the same replace-by-command mechanism as the conformance controls).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness import paths

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_negative_controls import run_caught  # noqa: E402
from variants import VARIANTS  # noqa: E402

pytestmark = pytest.mark.netns

#: variant -> (interop test function, expected verdict, the clause the verdict must name)
INTEROP = {
    # the example: the flow is lost because the MAP's BA lacks the type 2 routing header
    "ba-without-rh2": ("test_flows_across_moves", "FAIL", "HMIP-4140-6.2-P2-MUST-2"),
    "no-tunnel": ("test_flows_across_moves", "FAIL", "HMIP-4140-6.1-P2-BIND-4"),
    # path delay: the previous MAP acknowledges the new LCoA but goes on tunnelling to the old one
    "previous-map-not-repointed": ("test_inter_domain_move_with_delay", "FAIL", "HMIP-4140-6.1-P2-BIND-4"),
    # path delay: the mobile node never tells the previous MAP (SHOULD): in-flight datagrams are lost
    "mn-no-previous-map-bu": ("test_inter_domain_move_with_delay", "WARN", "HMIP-4140-6.1-P6-SHOULD-1"),
    # zero lifetime: the mobile node keeps its only MAP although it is advertised with valid lifetime 0
    "mn-keeps-only-failed-map": ("test_flows_across_zero_lifetime", "FAIL", "HMIP-4140-7.2-P3-MUST-NOT-1"),
}


@pytest.mark.parametrize("name", sorted(INTEROP))
def test_interop_variant_is_caught(tmp_path: Path, name: str) -> None:
    test, expected, requirement = INTEROP[name]
    run_caught(tmp_path, name, VARIANTS[name][0], paths.INTEROP_DIR, test, expected, requirement)
