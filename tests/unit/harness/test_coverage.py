"""Requirement coverage: the §12 (security) requirements are reported as untested -- never as passed, failed,
not applicable or not testable -- until the security issue lands; verdicts per requirement come from the
check points that judged it."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from conformance.catalog import load_catalog
from harness import cli, coverage

NEVER_FOR_SECTION_12 = {"PASS", "FAIL", "WARN", "INFO", "NOT APPLICABLE", "NOT TESTABLE", "NOT JUDGED"}


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


def test_every_section_12_statement_is_untested_whatever_the_suite_holds(catalog) -> None:
    for req in section_12(catalog):
        for tests in ([], ["HMIP-MAP-SEC-999"]):
            assert coverage.status(req, tests, catalog) == (coverage.UNTESTED, "security issue pending"), req.id


def test_inherited_clauses_cited_only_by_section_12_are_held_back_too(catalog) -> None:
    assert coverage.pending_reason(catalog["MIP6-6275-5.1-P1-MUST-1"], catalog) == "security issue pending"
    # RFC 6275 §12 is "Protocol Constants", not security: not held back
    assert coverage.pending_reason(catalog["MIP6-6275-12-P1-BIND-1"], catalog) is None


@pytest.mark.parametrize("verdict", ["PASS", "NOT APPLICABLE", "FAIL"])
def test_a_section_12_requirement_never_takes_a_test_verdict(catalog, verdict: str) -> None:
    rid = "HMIP-4140-12.1-P6-MUST-1"  # BUs protected with AH or ESP (MN and MAP), testable
    entry = {"test_purpose": "HMIP-MAP-SEC-999", "requirements": [rid], "verdict": verdict,
             "checks": [{"requirement": rid, "outcome": "PASS" if verdict != "FAIL" else "FAIL"}]}
    for edition in ("rfc4140", "rfc5380"):
        records = coverage.run_coverage(catalog, "map", edition, {"HMIP-MAP-SEC-999": [rid]}, [entry])
        held = [r for r in records if r["id"] in {q.id for q in section_12(catalog)}]
        assert held, "the MAP run reports the §12 requirements whose actor is the MAP"
        for record in held:
            assert record["status"] == "untested" and record["verdict"] == "UNTESTED", record
            assert record["reason"] == "security issue pending" and record["judged_by"] == {}


def _requirements(*argv: str) -> str:
    """``hmipv6ct requirements ARGV`` (without main()'s process-wide signal and logging set-up)."""
    args = cli._parser().parse_args(["requirements", *argv])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.func(args, []) == 0
    return out.getvalue()


def test_hmipv6ct_requirements_reports_section_12_as_untested(catalog) -> None:
    rows = json.loads(_requirements("--format", "json"))
    ids = {r.id for r in section_12(catalog)}
    held = [r for r in rows if r["id"] in ids]
    assert {r["id"] for r in held} == ids
    bad = [r for r in held if r["status"] != "untested" or r["status_reason"] != "security issue pending" or r["tests"]]
    assert not bad, f"§12 requirements reported otherwise than untested: {bad}"

    lines = [line for line in _requirements().splitlines() if line.split(" ")[0] in ids]
    assert lines and all(line.endswith("untested: security issue pending") for line in lines)


def test_the_suite_judges_no_section_12_requirement(catalog) -> None:
    declared = cli._tests_by_requirement()
    assert declared, "the suite's test purposes were collected"
    assert not {r.id for r in section_12(catalog)} & set(declared)


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
