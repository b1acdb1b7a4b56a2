"""The report's summary: requirement verdicts counted per role and keyword level, and the certification statement.

A role's certification statement is met only when *every applicable MUST-level requirement* (keyword MUST, MUST
NOT, SHALL, SHALL NOT, REQUIRED, or a keyword-less binding statement) has the verdict PASS.  Applicable: every
requirement of the role and edition except those NOT APPLICABLE (role, edition or an optional feature the DUT
does not claim) and those NOT TESTABLE over the wire (the catalogue gives the reason, and the report lists them).
An untested, unjudged or not-run MUST is not a pass: the statement says how many.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from harness.verdicts import level

LEVELS = ("MUST", "SHOULD", "MAY")
#: the columns of the summary, in the order shown
VERDICTS = ("PASS", "FAIL", "WARN", "INFO", "INCONCLUSIVE", "ERROR", "NOT APPLICABLE", "NOT RUN", "NOT JUDGED",
            "UNTESTED", "NOT TESTABLE")
NOT_COUNTED = frozenset({"NOT APPLICABLE", "NOT TESTABLE"})  # not part of the certification statement


def counts(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, int]]]:
    """role -> level -> verdict -> number of requirements."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for r in records:
        by_level = out.setdefault(r["role"], {lv: {} for lv in LEVELS})
        cell = by_level[level(r.get("keyword"))]
        cell[r["verdict"]] = cell.get(r["verdict"], 0) + 1
    return out


@dataclasses.dataclass(frozen=True)
class Certification:
    role: str
    met: bool
    applicable: int  # applicable MUST-level requirements
    passed: int
    short: dict[str, int]  # verdict -> number, of the applicable MUSTs that did not pass

    def statement(self) -> str:
        if self.applicable == 0:
            return f"{self.role.upper()}: NOT MET - no applicable MUST-level requirement was judged"
        if self.met:
            return f"{self.role.upper()}: MET - all {self.applicable} applicable MUST-level requirements PASS"
        missing = ", ".join(f"{n} {v}" for v, n in sorted(self.short.items(), key=lambda kv: VERDICTS.index(kv[0])
                                                           if kv[0] in VERDICTS else 99))
        return (f"{self.role.upper()}: NOT MET - {self.passed} of {self.applicable} applicable MUST-level requirements "
                f"PASS; the others: {missing}")


def certification(records: Iterable[Mapping[str, Any]]) -> list[Certification]:
    """One statement per role, in the order the roles appear."""
    per_role: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        if level(r.get("keyword")) == "MUST" and r["verdict"] not in NOT_COUNTED:
            per_role.setdefault(r["role"], []).append(r)
        else:
            per_role.setdefault(r["role"], [])
    out = []
    for role, musts in per_role.items():
        short: dict[str, int] = {}
        for r in musts:
            if r["verdict"] != "PASS":
                short[r["verdict"]] = short.get(r["verdict"], 0) + 1
        passed = len(musts) - sum(short.values())
        out.append(Certification(role, bool(musts) and not short, len(musts), passed, short))
    return out
