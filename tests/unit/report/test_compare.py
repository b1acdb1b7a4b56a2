"""Comparing two runs: what is newly failing (the regression gate), fixed or changed, new or removed, slower, or
measured differently -- on synthetic run directories read back with ``load_run``."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.report import compare as cmp
from harness.report.model import load_run

R1, R2, R3 = "HMIP-4140-6.1-P2-BIND-4", "HMIP-4140-6.2-P3-MUST-1", "MIP6-6275-10.4.5-P4-MUST-1"
TP1, TP2 = "HMIP-MAP-TUN-001", "HMIP-MAP-TUN-002"
READY = "conformance/suite/test_testbed.py::test_testbed_ready"


def entry(tp: str | None, verdict: str = "PASS", *, role: str = "map", duration: float = 1.0,
          measurements: dict[str, Any] | None = None, reason: str = "", requirements: list[str] = ()) -> dict:
    return {"nodeid": READY if tp is None else f"conformance/suite/test_x.py::test_{tp}", "test_purpose": tp,
            "title": f"title of {tp}", "role": role, "edition": "rfc4140", "requirements": list(requirements),
            "level": "MUST" if tp else None, "verdict": verdict, "reason": reason, "phase": "call",
            "duration": duration, "checks": [], "measurements": measurements or {}}


def req(rid: str, verdict: str = "PASS", tests: tuple[str, ...] = (TP1,), role: str = "map") -> dict:
    return {"id": rid, "role": role, "document": "rfc4140", "section": "6.1", "paragraph": 2, "keyword": "MUST",
            "text": "The MAP MUST ...", "status": "covered", "verdict": verdict, "reason": None,
            "tests": list(tests), "judged_by": {tp: verdict for tp in tests}}


def head(role: str = "map", **over: Any) -> dict:
    return {"suite": "hmipv6-conformance", "dut_role": role, "edition": "rfc4140", "git_commit": "abc123",
            "testbed": "testbeds/virtual.yaml", "testbed_sha256": "cafe", "started": 1795712591.8,
            "finished": 1795712607.1, "interrupted": False, **over}


def write_run(path: Path, role: str = "map", results: list[dict] = (), requirements: list[dict] = (),
              **over: Any) -> Path:
    """A single role's run directory (results.json and its journal)."""
    path.mkdir(parents=True)
    results = [{**e, "role": role} for e in results]
    requirements = [{**r, "role": role} for r in requirements]
    (path / "results.json").write_text(json.dumps({**head(role, **over), "results": results,
                                                   "requirements": requirements}))
    (path / "results.jsonl").write_text("".join(json.dumps(e) + "\n" for e in results))
    return path


def baseline() -> tuple[list[dict], list[dict]]:
    results = [entry(None), entry(TP1, requirements=[R1]), entry(TP2, requirements=[R2, R3])]
    return results, [req(R1), req(R2, tests=(TP2,)), req(R3, tests=(TP2,))]


def run_pair(tmp_path: Path, old: tuple, new: tuple, **kw: Any) -> cmp.Comparison:
    return cmp.compare(load_run(write_run(tmp_path / "old", "map", *old)),
                       load_run(write_run(tmp_path / "new", "map", *new)), **kw)


def test_one_requirement_newly_failing_is_the_only_change_and_fails_the_gate(tmp_path: Path) -> None:
    results, reqs = baseline()
    new_reqs = [req(R1), req(R2, "FAIL", tests=(TP2,)), req(R3, tests=(TP2,))]
    c = run_pair(tmp_path, (results, reqs), (results, new_reqs))
    assert c.changes == c.regressions
    assert [(x.kind, x.role, x.subject, x.old, x.new) for x in c.regressions] == [
        ("newly failing", "map", R2, "PASS", "FAIL")]
    assert c.exit_status() == 1 and c.notes == []
    text = c.text()
    assert f"map {R2}  PASS -> FAIL" in text and "§6.1 ¶2 MUST" in text
    assert text.rstrip().splitlines()[-1] == "newly failing: 1"


def test_fixed_requirement_passes_the_gate_and_says_what_it_is_now(tmp_path: Path) -> None:
    results, reqs = baseline()
    c = run_pair(tmp_path, (results, [req(R1, "FAIL")] + reqs[1:]), (results, [req(R1, "WARN")] + reqs[1:]))
    assert [(x.kind, x.subject, x.old, x.new) for x in c.changes] == [("fixed", R1, "FAIL", "WARN")]
    assert c.exit_status() == 0 and "FAIL -> WARN" in c.text()


def test_identical_runs_have_no_changes(tmp_path: Path) -> None:
    c = run_pair(tmp_path, baseline(), baseline())
    assert c.changes == [] and c.exit_status() == 0
    assert c.text().rstrip().splitlines()[-1] == "no changes"


def test_other_verdict_changes_and_failing_to_failing_are_not_regressions(tmp_path: Path) -> None:
    results, _ = baseline()
    old = [req(R1, "FAIL"), req(R2, "PASS", tests=(TP2,)), req(R3, "UNTESTED", tests=())]
    new = [req(R1, "ERROR"), req(R2, "INCONCLUSIVE", tests=(TP2,)), req(R3, "PASS", tests=(TP2,))]
    c = run_pair(tmp_path, (results, old), (results, new))
    assert [(x.kind, x.subject) for x in c.changes] == [("changed", R1), ("changed", R2), ("changed", R3)]
    assert c.exit_status() == 0


def test_new_and_removed_requirements_and_a_new_failing_one(tmp_path: Path) -> None:
    results, reqs = baseline()
    old = reqs[:2]
    new = [reqs[0], req(R3, tests=(TP2,)), req("HMIP-4140-9.9-P1-MUST-1", "FAIL")]
    c = run_pair(tmp_path, (results, old), (results, new))
    assert [(x.kind, x.subject, x.old, x.new) for x in c.changes] == [
        ("newly failing", "HMIP-4140-9.9-P1-MUST-1", None, "FAIL"),
        ("new requirement", R3, None, "PASS"),
        ("removed requirement", R2, "PASS", None)]


def test_changes_are_ordered_by_kind_then_role_then_subject_numbers_by_value(tmp_path: Path) -> None:
    results, _ = baseline()
    ids = ["HMIP-4140-10-P1-MUST-1", "HMIP-4140-9.9-P1-MUST-1", "HMIP-4140-9.10-P1-MUST-1"]
    old = [req(R1, "FAIL"), req(R2, "PASS")]
    new = [req(R1, "PASS"), req(R2, "FAIL")] + [req(i, "INFO") for i in ids]
    c = run_pair(tmp_path, (results, old), (results, new))
    assert [(x.kind, x.subject) for x in c.changes] == [
        ("newly failing", R2), ("fixed", R1), ("new requirement", ids[1]), ("new requirement", ids[2]),
        ("new requirement", ids[0])]
    assert [line.split(" (")[0] for line in c.text().splitlines() if not line.startswith(" ")][2:] == [
        "newly failing", "fixed", "new requirement", "newly failing: 1, fixed: 1, new requirement: 3"]


def test_new_and_removed_tests_and_a_harness_test_newly_in_error(tmp_path: Path) -> None:
    results, reqs = baseline()
    new_results = [entry(None, "ERROR", reason="testbed not ready"), results[1],
                   entry("HMIP-MAP-TUN-009", requirements=[R1])]
    c = run_pair(tmp_path, (results, reqs), (new_results, reqs))
    assert [(x.kind, x.subject, x.old, x.new) for x in c.changes] == [
        ("newly failing", READY, "PASS", "ERROR"),
        ("new test", "HMIP-MAP-TUN-009", None, "PASS"),
        ("removed test", TP2, "PASS", None)]
    assert "testbed not ready" in c.regressions[0].detail and c.exit_status() == 1


@pytest.mark.parametrize(("old", "new", "reported"), [
    (0.1, 0.3, False),   # +200 % but only 0.2 s: under the floor
    (10.0, 14.0, False),  # 4 s but only +40 %: under the threshold
    (2.0, 3.5, True),     # +75 % and 1.5 s
    (3.0, 1.0, True),     # -67 % and 2 s: faster counts too
])
def test_timing_needs_both_threshold_and_floor(tmp_path: Path, old: float, new: float, reported: bool) -> None:
    results, reqs = baseline()
    c = run_pair(tmp_path, ([results[0], entry(TP1, duration=old)], reqs),
                 ([results[0], entry(TP1, duration=new)], reqs))
    assert [(x.kind, x.subject) for x in c.changes] == ([("timing", TP1)] if reported else [])
    if reported:
        assert c.changes[0].detail.startswith(f"duration {old:g} s -> {new:g} s (")


def test_timing_threshold_and_floor_are_parameters(tmp_path: Path) -> None:
    _, reqs = baseline()
    c = run_pair(tmp_path, ([entry(TP1, duration=0.1)], reqs), ([entry(TP1, duration=0.3)], reqs),
                 timing_floor=0.1)
    assert [x.detail for x in c.changes] == ["duration 0.1 s -> 0.3 s (+200 %)"]


def measured(**values: tuple[Any, str]) -> list[dict]:
    return [entry(TP1, measurements={k: {"value": v, "unit": u, "note": "flow never resumed"}
                                     for k, (v, u) in values.items()})]


def test_measurements_none_transitions_are_always_reported(tmp_path: Path) -> None:
    reqs = [req(R1)]
    c = run_pair(tmp_path, (measured(recovery=(0.35, "s"), reaction=(None, "s"), lost=(None, "packets")), reqs),
                 (measured(recovery=(None, "s"), reaction=(0.36, "s"), lost=(None, "packets")), reqs))
    assert [(x.kind, x.old, x.new) for x in c.changes] == [
        ("measurement", "not measured", "0.36 s"), ("measurement", "0.35 s", "not measured")]
    assert c.changes[1].detail == "recovery 0.35 s -> not measured (flow never resumed)"


@pytest.mark.parametrize(("unit", "old", "new", "reported"), [
    ("s", 0.02, 0.06, False),     # +200 % but 0.04 s
    ("s", 0.2, 0.4, True),
    ("s", 1.0, 1.3, False),       # +30 %
    ("packets", 0, 2, False),     # from 0 but only 2 packets
    ("packets", 0, 3, True),
    ("ratio", 0.1, 0.2, True),    # no absolute floor for other units
])
def test_numeric_measurements_threshold_and_unit_floors(tmp_path: Path, unit: str, old: float, new: float,
                                                        reported: bool) -> None:
    reqs = [req(R1)]
    c = run_pair(tmp_path, (measured(m=(old, unit)), reqs), (measured(m=(new, unit)), reqs))
    assert len(c.changes) == int(reported) and all(x.kind == "measurement" for x in c.changes)


def write_multi(path: Path, parts: dict[str, tuple[list[dict], list[dict]]]) -> Path:
    """A multi-role run: one sub-directory per role, a combined results.json on top."""
    for role, (results, reqs) in parts.items():
        write_run(path / role, role, results, reqs)
    roles = {r: head(r) for r in parts}
    (path / "results.json").write_text(json.dumps({"suite": "hmipv6-conformance", "roles": roles, "results": [
        {**e, "role": r} for r, (res, _) in parts.items() for e in res]}))
    return path


def test_multi_role_runs_are_compared_per_role(tmp_path: Path) -> None:
    results, reqs = baseline()
    ar = ([entry("HMIP-AR-001", role="ar", requirements=[R1])], [req(R1, tests=("HMIP-AR-001",), role="ar")])
    ar_failing = (ar[0], [req(R1, "FAIL", tests=("HMIP-AR-001",), role="ar")])
    old = load_run(write_multi(tmp_path / "old", {"map": (results, reqs), "ar": ar}))
    new = load_run(write_multi(tmp_path / "new", {"map": (results, reqs), "ar": ar_failing}))
    c = cmp.compare(old, new)
    assert set(old.roles) == {"map", "ar"}
    assert [(x.kind, x.role, x.subject) for x in c.changes] == [("newly failing", "ar", R1)]


def test_runs_without_a_role_in_common_make_every_requirement_new_or_removed(tmp_path: Path) -> None:
    c = cmp.compare(load_run(write_run(tmp_path / "old", "map", *baseline())),
                    load_run(write_run(tmp_path / "new", "ar", [entry(TP1)], [req(R1)])))
    assert any("no role in common" in n for n in c.notes)
    kinds = {(x.kind, x.role) for x in c.changes}
    assert kinds == {("new requirement", "ar"), ("removed requirement", "map"), ("new test", "ar"),
                     ("removed test", "map")}


def test_different_editions_testbeds_and_commits_are_noted(tmp_path: Path) -> None:
    c = cmp.compare(load_run(write_run(tmp_path / "old", "map", *baseline())),
                    load_run(write_run(tmp_path / "new", "map", *baseline(), edition="rfc5380",
                                       testbed_sha256="beef", git_commit="def456")))
    assert c.changes == [] and c.exit_status() == 0
    assert c.notes == ["map: edition differs: rfc4140 -> rfc5380", "map: testbed sha256 differs: cafe -> beef",
                       "suite commit differs (informational): abc123 -> def456"]


def test_an_incomplete_run_is_noted(tmp_path: Path) -> None:
    old = load_run(write_run(tmp_path / "old", "map", *baseline()))
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "results.jsonl").write_text(json.dumps(entry(TP1, requirements=[R1])) + "\n")
    c = cmp.compare(old, load_run(killed))
    assert any(n.startswith("new run incomplete: map: no results.json") for n in c.notes)
    assert "note: new run incomplete" in c.text()


class _Checker(HTMLParser):
    """Fails on tags closed out of order; collects the text and the tags seen."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.add(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"</{tag}> closes nothing open"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_well_formed_self_contained_and_escaped(tmp_path: Path) -> None:
    results, reqs = baseline()
    new_results = [results[0], entry(TP1, "FAIL", reason="<script>alert(1)</script> & more", requirements=[R1]),
                   results[2]]
    c = run_pair(tmp_path, (results, reqs), (new_results, [req(R1, "FAIL")] + reqs[1:]))
    doc = c.html()
    checker = _Checker()
    checker.feed(doc)
    checker.close()
    assert checker.stack == []
    assert "script" not in checker.tags and not {"link", "img"} & checker.tags
    assert "&lt;script&gt;" in doc and "<script>" not in doc
    text = "".join(checker.text)
    assert R1 in text and "<script>alert(1)</script> & more" in text  # the reason, shown as text
    assert doc.startswith("<!DOCTYPE html>") and "http" not in doc


def test_compare_command_names_the_regression_writes_html_and_exits_non_zero(tmp_path: Path, capsys) -> None:
    from harness import cli

    results, reqs = baseline()
    old = write_run(tmp_path / "old", "map", results, reqs)
    new = write_run(tmp_path / "new", "map", results, [req(R1), req(R2, "FAIL", tests=(TP2,)), req(R3, tests=(TP2,))])
    assert cli.main(["report", "--compare", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert f"map {R2}  PASS -> FAIL" in out and R1 not in out.split("newly failing", 1)[1]
    assert R2 in (new / "compare.html").read_text()
    # and the other way round the requirement is fixed: the gate passes
    assert cli.main(["report", "--compare", str(new), str(old), "--html", str(tmp_path / "c.html")]) == 0
    assert "fixed" in capsys.readouterr().out
