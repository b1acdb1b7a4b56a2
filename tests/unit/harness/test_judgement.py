"""Judgement check points: the keyword decides a violation's verdict, except for timing against a stated bound."""

from __future__ import annotations

import pytest

from harness.verdicts import Judgement, RequirementViolated, Verdict

KEYWORDS = {"R-MUST": "MUST", "R-MAY": "MAY", "R-SHOULD": "SHOULD"}


def judgement() -> Judgement:
    return Judgement(KEYWORDS, tuple(KEYWORDS))


@pytest.mark.parametrize("requirement, expected", [("R-MAY", Verdict.INFO), ("R-SHOULD", Verdict.WARN)])
def test_violation_follows_the_keyword(requirement, expected) -> None:
    j = judgement()
    j.check(requirement, False, "not done")
    assert j.verdict()[0] is expected


def test_must_violation_stops_the_test() -> None:
    with pytest.raises(RequirementViolated):
        judgement().check("R-MUST", False, "broken")


@pytest.mark.parametrize("requirement", ["R-MUST", "R-MAY"])
def test_timing_over_a_stated_bound_is_warn_whatever_the_keyword(requirement) -> None:
    j = judgement()
    assert j.check_timing(requirement, 1.0, 2.0, "within") and j.verdict()[0] is Verdict.PASS
    assert not j.check_timing(requirement, 3.0, 2.0, "detection")
    verdict, reason = j.verdict()
    assert verdict is Verdict.WARN and "3.000 s (bound 2.000 s)" in reason


def test_undeclared_requirement_is_refused() -> None:
    with pytest.raises(ValueError):
        judgement().check_timing("R-OTHER", 1.0, 2.0, "x")


def test_measurements_keep_value_unit_and_why_not() -> None:
    j = judgement()
    j.measure("recovery", 0.4, "s")
    j.measure("lost_packets", None, "packets", "no flow")
    assert j.measurements == {"recovery": {"value": 0.4, "unit": "s"},
                              "lost_packets": {"value": None, "unit": "packets", "note": "no flow"}}


# -- end to end (interop) ----------------------------------------------------------------------------------------
def test_end_to_end_unexplained_break_is_fail() -> None:
    j = Judgement({"R-SHOULD": "SHOULD"}, ("R-SHOULD",))
    with pytest.raises(RequirementViolated):
        j.end_to_end(False, "cn->mn: nothing arrived")
    assert j.verdict()[0] is Verdict.FAIL and "END-TO-END" in j.verdict()[1]


def test_end_to_end_break_explained_by_a_should_clause_is_warn() -> None:
    j = Judgement({"R-SHOULD": "SHOULD"}, ("R-SHOULD",))
    j.check("R-SHOULD", False, "no BU to the previous MAP")
    assert j.end_to_end(False, "cn->mn: nothing arrived", explained_by=["R-SHOULD"]) is False
    verdict, reason = j.verdict()
    assert verdict is Verdict.WARN and "caused by R-SHOULD" in reason


def test_end_to_end_explanation_must_be_a_violated_check() -> None:
    j = Judgement({"R-SHOULD": "SHOULD"}, ("R-SHOULD",))
    j.check("R-SHOULD", True, "held")
    with pytest.raises(RequirementViolated):  # a clause that held explains nothing
        j.end_to_end(False, "nothing arrived", explained_by=["R-SHOULD"])


def test_end_to_end_pass() -> None:
    j = Judgement({}, ())
    assert j.end_to_end(True, "resumed after 0.1 s")
    assert j.verdict() == (Verdict.PASS, "")
