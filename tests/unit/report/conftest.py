"""A hand-built run directory for report tests: every verdict kind, missing evidence, and an incomplete role.

``map`` finished (results.json with requirement records); ``ar`` was killed (a journal, no results.json);
``mn`` finished with nothing but NOT APPLICABLE and untested requirements.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

T0 = 1_790_000_000.0

#: (test purpose, verdict, requirement IDs, reason) of the map role
MAP_TESTS = [
    ("HMIP-MAP-T-PASS", "PASS", ["REQ-MUST-PASS"], ""),
    ("HMIP-MAP-T-FAIL", "FAIL", ["REQ-MUST-FAIL", "REQ-MUST-NOTJUDGED"], "the BA had status 129 <script>alert(1)</script>"),
    ("HMIP-MAP-T-WARN", "WARN", ["REQ-SHOULD-WARN"], "no BA 132 for a rejected BU"),
    ("HMIP-MAP-T-INFO", "INFO", ["REQ-MAY-INFO"], "the DUT does not send BRRs (observed)"),
    ("HMIP-MAP-T-INCONCLUSIVE", "INCONCLUSIVE", ["REQ-MUST-INCONCLUSIVE"], "the DUT never registered"),
    ("HMIP-MAP-T-ERROR", "ERROR", ["REQ-MUST-ERROR"], "SSH session to map1 dropped"),
    ("HMIP-MAP-T-NA", "NOT APPLICABLE", ["REQ-MUST-NA"], "the DUT does not claim the optional feature(s) x (PICS)"),
]
#: requirement ID -> (keyword, verdict in the matrix, status)
MAP_REQUIREMENTS = {
    "REQ-MUST-PASS": ("MUST", "PASS", "covered"),
    "REQ-MUST-FAIL": ("MUST NOT", "FAIL", "covered"),
    "REQ-MUST-NOTJUDGED": ("(binding)", "NOT JUDGED", "covered"),
    "REQ-SHOULD-WARN": ("SHOULD", "WARN", "covered"),
    "REQ-MAY-INFO": ("MAY", "INFO", "covered"),
    "REQ-MUST-INCONCLUSIVE": ("MUST", "INCONCLUSIVE", "covered"),
    "REQ-MUST-ERROR": ("MUST", "ERROR", "covered"),
    "REQ-MUST-NA": ("MUST", "NOT APPLICABLE", "covered"),
    "REQ-MUST-NOTRUN": ("MUST", "NOT RUN", "covered"),
    "REQ-MUST-UNTESTED": ("MUST", "UNTESTED", "untested"),
    "REQ-SHOULD-NOTTESTABLE": ("SHOULD", "NOT TESTABLE", "not-testable"),
}


def _entry(role: str, tp: str, verdict: str, reqs: list[str], reason: str, evidence: list[str], i: int) -> dict:
    outcome = {"NOT APPLICABLE": None, "ERROR": None, "INCONCLUSIVE": None}.get(verdict, verdict)
    checks = [] if outcome is None else [{"requirement": reqs[0], "keyword": "MUST", "ok": verdict == "PASS",
                                          "detail": f"check of {tp}", "outcome": outcome, "time": T0 + i}]
    return {"nodeid": f"conformance/suite/test_x.py::test_{i}", "test_purpose": tp, "title": f"title of {tp}",
            "role": role, "edition": "rfc4140", "requirements": reqs, "level": "MUST", "verdict": verdict,
            "reason": reason, "phase": "call", "duration": 1.0 + i, "evidence": evidence, "checks": checks,
            "records": {}, "measurements": {"recovery": {"value": 1.5, "unit": "s"}} if verdict == "PASS" else {},
            "faults": [], "description": {"purpose": f"purpose of {tp}", "procedure": "1. step one\n2. step two",
                                          "judgement": "1. the judgement", "reference": 'base §6.1 "quote"'}}


def _record(role: str, rid: str, keyword: str, verdict: str, status: str, tests: list[str]) -> dict:
    section = {"REQ-MUST-PASS": "6.1", "REQ-MUST-FAIL": "6.2", "REQ-SHOULD-WARN": "10"}.get(rid, "5")
    return {"id": rid, "document": "rfc4140", "section": section, "paragraph": 2, "keyword": keyword,
            "text": f"The text of {rid}.", "actor": [role.upper()], "status": status, "verdict": verdict,
            "reason": None if status == "covered" else "why not", "tests": tests,
            "judged_by": {t: verdict for t in tests}}


def build_sample_run(directory: Path) -> Path:
    """Write the sample run into ``directory`` (created); return it."""
    directory.mkdir(parents=True, exist_ok=True)
    head = {"suite": "hmipv6-conformance", "suite_version": "0.1.0", "git_commit": "abc123", "edition": "rfc4140",
            "testbed": "testbeds/virtual.yaml", "testbed_sha256": "00" * 32, "host": "labhost", "python": "3.11.7",
            "pics": {"onlink_prefix_list": True}, "started": T0, "finished": T0 + 60, "interrupted": False}
    # map: complete
    mdir = directory / "map"
    (mdir / "evidence" / "HMIP-MAP-T-PASS").mkdir(parents=True)
    (mdir / "evidence" / "HMIP-MAP-T-PASS" / "judgement.json").write_text("{}")
    entries = []
    for i, (tp, verdict, reqs, reason) in enumerate(MAP_TESTS):
        evidence = ["evidence/HMIP-MAP-T-PASS/judgement.json"] if verdict == "PASS" else \
            ["evidence/HMIP-MAP-T-FAIL/acc1.pcap"] if verdict == "FAIL" else []  # the FAIL's pcap is missing
        entries.append(_entry("map", tp, verdict, reqs, reason, evidence, i))
    tests_of = {rid: [tp for tp, _, reqs, _ in MAP_TESTS if rid in reqs] for rid in MAP_REQUIREMENTS}
    tests_of["REQ-MUST-NOTRUN"] = ["HMIP-MAP-T-NEVER"]
    records = [_record("map", rid, kw, verdict, status, tests_of[rid] if status == "covered" else [])
               for rid, (kw, verdict, status) in MAP_REQUIREMENTS.items()]
    map_doc = {**head, "dut_role": "map", "dut": {"node": "map1", "role": "map", "identity": "Vendor MAP 1.2.3"},
               "pytest_exit_status": 1, "counts": {}, "results": entries, "requirements": records}
    (mdir / "results.json").write_text(json.dumps(map_doc))
    (mdir / "results.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    # ar: killed before results.json -- a journal with one PASS (and a line cut short by the kill)
    adir = directory / "ar"
    adir.mkdir()
    ar_entry = _entry("ar", "HMIP-AR-RA-001", "PASS", ["HMIP-4140-3.1-P11-MUST-1"], "", [], 0)
    (adir / "results.jsonl").write_text(json.dumps(ar_entry) + "\n" + '{"nodeid": "cut sh')
    # written when its tests started: its provenance and the test purposes it meant to run
    (adir / "provenance.json").write_text(json.dumps({
        **head, "git_commit": "abc124", "dut_role": "ar", "dut": {"node": "ar1", "role": "ar"},
        "purposes": {"HMIP-AR-RA-001": ["HMIP-4140-3.1-P11-MUST-1"],
                     "HMIP-AR-DISC-002": ["HMIP-4140-7.1.1-P2-MUST-3"]}}))
    # mn: complete, nothing applicable
    ndir = directory / "mn"
    ndir.mkdir()
    mn_entry = _entry("mn", "HMIP-MN-T-NA", "NOT APPLICABLE", ["REQ-MN-NA"], "edition rfc5380", [], 0)
    mn_doc = {**head, "dut_role": "mn", "dut": {"node": "mn", "role": "mn"}, "results": [mn_entry],
              "requirements": [_record("mn", "REQ-MN-NA", "MUST", "NOT APPLICABLE", "covered", ["HMIP-MN-T-NA"]),
                               _record("mn", "REQ-MN-UNTESTED", "SHOULD", "UNTESTED", "untested", [])]}
    (ndir / "results.json").write_text(json.dumps(mn_doc))
    (ndir / "results.jsonl").write_text(json.dumps(mn_entry) + "\n")
    return directory


@pytest.fixture
def sample_run(tmp_path: Path) -> Path:
    return build_sample_run(tmp_path / "20261126T000000Z-beef")
