"""Requirement coverage: statuses and verdicts per requirement come from the check points that judged it; the §12
(security) requirements are judged like every other."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from conformance.catalog import load_catalog
from harness import cli, coverage



@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def section_12(catalog) -> list:
    """Every catalogued statement of base §12 / RFC 5380 §12 (not RFC 6275 §12, its protocol constants)."""
    return [r for r in catalog.requirements
            if any(s == "12" or s.startswith("12.") for e, s in r.section.items() if e in ("rfc4140", "rfc5380"))]


def test_the_catalogue_has_section_12_statements_in_both_editions(catalog) -> None:
    reqs = section_12(catalog)
    assert {e for r in reqs for e in r.editions} == {"rfc4140", "rfc5380"} and len(reqs) >= 15


def test_every_testable_section_12_statement_is_judged_by_the_suite(catalog) -> None:
    """The security purposes (test_map_security, test_mn_security, ...) declare every testable §12 statement of the
    MN and the MAP; the untestable ones (IKE) say why."""
    declared = cli._tests_by_requirement()
    for req in section_12(catalog):
        state, reason = coverage.status(req, declared.get(req.id, []), catalog)
        if req.testable:
            assert state == coverage.COVERED, f"{req.id} is testable but no test purpose judges it"
        else:
            assert state == coverage.NOT_TESTABLE and reason, req.id


@pytest.mark.parametrize("verdict", ["PASS", "NOT APPLICABLE", "FAIL"])
def test_a_section_12_requirement_takes_its_check_points_verdict(catalog, verdict: str) -> None:
    rid = "HMIP-4140-12.1-P6-MUST-1"  # BUs protected with AH or ESP (MN and MAP), testable
    entry = {"test_purpose": "HMIP-MAP-SEC-999", "requirements": [rid], "verdict": verdict,
             "checks": [{"requirement": rid, "outcome": "PASS" if verdict != "FAIL" else "FAIL"}]}
    records = coverage.run_coverage(catalog, "map", "rfc4140", {"HMIP-MAP-SEC-999": [rid]}, [entry])
    record = next(r for r in records if r["id"] == rid)
    assert record["status"] == "covered" and record["verdict"] == verdict, record


def _requirements(*argv: str) -> str:
    """``hmipv6ct requirements ARGV`` (without main()'s process-wide signal and logging set-up)."""
    args = cli._parser().parse_args(["requirements", *argv])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.func(args, []) == 0
    return out.getvalue()


def test_hmipv6ct_requirements_lists_the_security_purposes(catalog) -> None:
    rows = {r["id"]: r for r in json.loads(_requirements("--format", "json"))}
    assert "HMIP-MAP-SEC-001" in rows["HMIP-4140-12.1-P6-MUST-1"]["tests"]
    assert rows["HMIP-5380-12.1-P3-MUST-1"]["status"] == "not-testable"  # IKEv2


def test_verdict_per_requirement_comes_from_its_check_points(catalog) -> None:
    a, b = "HMIP-4140-6.2-P2-MUST-1", "HMIP-4140-6.2-P2-MUST-2"
    entries = [
        # failed on b and stopped: a was never judged by this test
        {"test_purpose": "T-1", "verdict": "FAIL", "requirements": [a, b],
         "checks": [{"requirement": b, "outcome": "FAIL"}]},
        {"test_purpose": "T-2", "verdict": "PASS", "requirements": [a], "checks": [{"requirement": a, "outcome": "PASS"}]},
        {"test_purpose": "T-3", "verdict": "NOT APPLICABLE", "requirements": [a], "checks": []},
    ]
    purposes = {"T-1": [a, b], "T-2": [a], "T-3": [a], "T-4": [a]}  # T-4 collected, never finished
    records = {r["id"]: r for r in coverage.run_coverage(catalog, "map", "rfc4140", purposes, entries)}
    assert records[b]["verdict"] == "FAIL" and records[b]["status"] == "covered"
    assert records[a]["judged_by"] == {"T-1": "NOT JUDGED", "T-2": "PASS", "T-3": "NOT APPLICABLE", "T-4": "NOT RUN"}
    assert records[a]["verdict"] == "NOT RUN"
    untested = records["HMIP-4140-6.2-P2-BIND-1"]
    assert untested["status"] == "untested" and untested["verdict"] == "UNTESTED"
    assert all("MAP" in r["actor"] for r in records.values() if r["id"] not in (a, b))
    assert not any(r["id"].startswith("HMIP-5380-") for r in records.values()), "rfc4140 run: no RFC 5380-only entry"
