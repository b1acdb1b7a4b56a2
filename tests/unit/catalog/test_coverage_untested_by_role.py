"""Which testable requirements no test purpose of a role judges yet (what a run of that role reports UNTESTED).

``harness.coverage.run_coverage`` reports, per run (one DUT role, one edition), every requirement in scope for the
role as covered, untested or not testable.  This lists the untested ones per role and edition from the suite's
markers (no testbed needed) and pins them: since stop 19 every testable requirement of every role and edition is
judged, so ``REMAINING`` is empty and a requirement that becomes untested (a test purpose removed, an actor added,
a new catalog entry) fails here (``test_remaining_count`` prints what is left).
"""

from __future__ import annotations

import pytest

from harness import coverage
from test_catalog_tests_field import _purposes

#: (role, edition) -> the testable requirements of the role that no test purpose of the role declares yet
REMAINING: dict[tuple[str, str], set[str]] = {
    (role, edition): set() for role in ("map", "ar", "mn") for edition in ("rfc4140", "rfc5380")
}


def untested(catalog, purposes, role: str, edition: str) -> set[str]:
    declared = {rid for _tp, (roles, rids) in purposes.items() if role in roles for rid in rids}
    return {r.id for r in catalog.all()
            if coverage.in_scope(r, role, edition) and r.testable and r.id not in declared}


@pytest.fixture(scope="module")
def purposes():
    found = _purposes()
    assert found, "no test purpose collected from conformance/suite"
    return found


@pytest.mark.parametrize("role,edition", sorted(REMAINING))
def test_untested_requirements_only_shrink(catalog, purposes, role: str, edition: str) -> None:
    now = untested(catalog, purposes, role, edition)
    new = sorted(now - REMAINING[(role, edition)])
    assert not new, f"{role} {edition}: requirements newly untested (no {role} test purpose declares them): {new}"


def test_remaining_count(catalog, purposes, capsys) -> None:
    """Prints the untested requirements per role and edition (``pytest -s`` shows them)."""
    with capsys.disabled():
        for role, edition in sorted(REMAINING):
            now = sorted(untested(catalog, purposes, role, edition))
            print(f"\nuntested {role} {edition}: {len(now)} {now}", end="")
            assert set(now) <= REMAINING[(role, edition)]
