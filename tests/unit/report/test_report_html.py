"""The HTML report and junit.xml built from a hand-built run: every requirement shows exactly its verdict, every
test purpose its verdict and reason, missing evidence is marked, an incomplete run says so."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import MAP_REQUIREMENTS, MAP_TESTS

from harness import cli, report
from harness.report import html, summary


class Page(HTMLParser):
    """Collects the matrix rows, the test purpose sections and the evidence links of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[tuple[str, str], dict] = {}
        self.purposes: dict[tuple[str, str], dict] = {}
        self.links: list[str] = []
        self.missing: list[str] = []
        self.scripts = 0
        self._row = self._purpose = None
        self._in_verdict = self._in_missing = False
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-requirement" in a:
            self._row = self.rows[(a["data-role"], a["data-requirement"])] = {"attrs": a, "verdict": ""}
        elif tag == "section" and "data-test-purpose" in a:
            self._purpose = self.purposes[(a["data-role"], a["data-test-purpose"])] = {"attrs": a, "text": []}
        elif tag == "td" and a.get("class") == "verdict" and self._row is not None:
            self._in_verdict = True
        elif tag == "a" and a.get("class") == "evidence":
            self.links.append(a["href"])
        elif tag == "span" and a.get("class") == "missing":
            self._in_missing = True
        elif tag == "script":
            self.scripts += 1
        elif tag in ("link", "img", "iframe") or (tag == "script" and "src" in a):
            raise AssertionError(f"external resource: <{tag} {a}>")

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_verdict = False
        elif tag == "tr":
            self._row = None
        elif tag == "section":
            self._purpose = None
        elif tag == "span":
            self._in_missing = False

    def handle_data(self, data):
        if self._in_verdict and self._row is not None and not self._row["verdict"]:
            self._row["verdict"] = data.strip()
        if self._purpose is not None:
            self._purpose["text"].append(data)
        if self._in_missing:
            self.missing.append(data)


@pytest.fixture
def page(sample_run: Path) -> Page:
    path = report.build(sample_run)
    p = Page()
    p.feed(path.read_text())
    return p


def test_every_requirement_shows_exactly_its_verdict(page: Page) -> None:
    for rid, (keyword, verdict, _) in MAP_REQUIREMENTS.items():
        row = page.rows[("map", rid)]
        assert row["verdict"] == verdict, rid
        assert row["attrs"]["data-verdict"] == verdict and row["attrs"]["data-keyword"] == keyword
    assert page.rows[("mn", "REQ-MN-NA")]["verdict"] == "NOT APPLICABLE"
    assert page.rows[("mn", "REQ-MN-UNTESTED")]["verdict"] == "UNTESTED"
    # the killed role's requirements were rebuilt from the catalogue: its one result counts, the rest is untested
    # and what the test purposes it never reached judge is NOT RUN (from provenance.json), never untested
    assert page.rows[("ar", "HMIP-4140-3.1-P11-MUST-1")]["verdict"] == "PASS"
    assert page.rows[("ar", "HMIP-4140-7.1.1-P2-MUST-3")]["verdict"] == "NOT RUN"
    ar_rows = {k: r for k, r in page.rows.items() if k[0] == "ar"}
    assert len(ar_rows) > 2 and {r["verdict"] for k, r in ar_rows.items() if k[1] not in (
        "HMIP-4140-3.1-P11-MUST-1", "HMIP-4140-7.1.1-P2-MUST-3")} <= {"UNTESTED", "NOT TESTABLE"}


def test_every_test_purpose_shows_its_verdict_and_reason(page: Page) -> None:
    for tp, verdict, _, reason in MAP_TESTS:
        section = page.purposes[("map", tp)]
        text = "".join(section["text"])
        assert section["attrs"]["data-verdict"] == verdict
        assert verdict in text and f"purpose of {tp}" in text
        if verdict != "PASS":
            assert reason in text  # unescaped by the parser: it was escaped in the file
    assert ("ar", "HMIP-AR-RA-001") in page.purposes and ("mn", "HMIP-MN-T-NA") in page.purposes


def test_reasons_are_escaped_and_nothing_is_loaded_from_outside(sample_run: Path, page: Page) -> None:
    text = (sample_run / report.HTML).read_text()
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)" in text
    assert page.scripts == 1  # the report's own inline script


def test_missing_evidence_is_marked_and_present_evidence_linked(sample_run: Path, page: Page) -> None:
    assert page.missing == ["acc1.pcap (missing)"]
    assert page.links == ["map/evidence/HMIP-MAP-T-PASS/judgement.json"]
    assert all((sample_run / link).is_file() for link in page.links)


def test_an_incomplete_run_says_so(sample_run: Path, page: Page) -> None:
    text = (sample_run / report.HTML).read_text()
    assert "This run is incomplete" in text and "ar: no results.json" in text
    assert "abc124" in text  # the killed role's provenance, written when its tests started


def test_certification_counts_every_applicable_must(sample_run: Path) -> None:
    run = report.load_run(sample_run)
    cert = {c.role: c for c in summary.certification(run.requirements)}
    # applicable MUST-level: all but NOT APPLICABLE (REQ-MUST-NA); SHOULD/MAY and NOT TESTABLE are not counted
    assert cert["map"].applicable == 7 and cert["map"].passed == 1 and not cert["map"].met
    assert cert["map"].short == {"FAIL": 1, "NOT JUDGED": 1, "INCONCLUSIVE": 1, "ERROR": 1, "NOT RUN": 1,
                                 "UNTESTED": 1}
    assert cert["mn"].applicable == 0 and not cert["mn"].met
    met = summary.certification([{"role": "map", "keyword": "MUST", "verdict": "PASS"},
                                 {"role": "map", "keyword": "SHOULD", "verdict": "WARN"},
                                 {"role": "map", "keyword": "MUST", "verdict": "NOT APPLICABLE"}])[0]
    assert met.met and met.statement().startswith("MAP: MET - all 1 applicable")


def test_summary_counts_per_role_and_level(sample_run: Path) -> None:
    counts = summary.counts(report.load_run(sample_run).requirements)
    assert counts["map"]["MUST"] == {"PASS": 1, "FAIL": 1, "NOT JUDGED": 1, "INCONCLUSIVE": 1, "ERROR": 1,
                                     "NOT APPLICABLE": 1, "NOT RUN": 1, "UNTESTED": 1}
    assert counts["map"]["SHOULD"] == {"WARN": 1, "NOT TESTABLE": 1} and counts["map"]["MAY"] == {"INFO": 1}


def test_provenance_and_filters(sample_run: Path, page: Page) -> None:
    text = (sample_run / report.HTML).read_text()
    for value in ("abc123", "Vendor MAP 1.2.3", "onlink_prefix_list: true", "labhost", "testbeds/virtual.yaml"):
        assert value in text
    for name in ("role", "verdict", "keyword", "section"):
        assert f'data-filter="{name}"' in text


def test_junit_maps_verdicts_and_carries_clauses(sample_run: Path) -> None:
    report.build(sample_run)
    root = ET.parse(sample_run / report.JUNIT).getroot()
    cases = {c.get("name").split()[0]: c for c in root.iter("testcase")}
    assert cases["HMIP-MAP-T-FAIL"].find("failure") is not None
    assert cases["HMIP-MAP-T-ERROR"].find("error") is not None
    for tp in ("HMIP-MAP-T-NA", "HMIP-MAP-T-INCONCLUSIVE"):
        skipped = cases[tp].find("skipped")
        assert skipped is not None and skipped.get("message").startswith(("NOT APPLICABLE", "INCONCLUSIVE"))
    assert cases["HMIP-MAP-T-WARN"].find("system-out").text.startswith("WARN")
    props = [(p.get("name"), p.get("value")) for p in cases["HMIP-MAP-T-PASS"].iter("property")]
    assert ("verdict", "PASS") in props and ("requirement", "REQ-MUST-PASS (rfc4140 §6.1 ¶2 MUST)") in props
    assert ("link", "https://www.rfc-editor.org/rfc/rfc4140#section-6.1") in props


def test_report_command(sample_run: Path, capsys) -> None:
    assert cli.main(["report", str(sample_run), "--no-charts"]) == 0
    assert "report" in capsys.readouterr().out and (sample_run / report.HTML).is_file()


def test_a_directory_that_is_not_a_run_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_matrix_is_in_specification_order(sample_run: Path) -> None:
    run = report.load_run(sample_run)
    keys = [html._section_key(r) for r in run.requirements if r["role"] == "map"]
    ordered = [k[4] for k in sorted(keys)]
    assert ordered.index("REQ-MUST-PASS") < ordered.index("REQ-MUST-FAIL") < ordered.index("REQ-SHOULD-WARN")


def test_matrix_links_only_to_test_purposes_that_have_a_section(sample_run: Path, page: Page) -> None:
    text = (sample_run / report.HTML).read_text()
    targets = set(re.findall(r'href="#([^"]+)"', text))
    ids = set(re.findall(r'<section [^>]*id="([^"]+)"', text))
    assert targets and targets <= ids
    assert "<code>HMIP-MAP-T-NEVER</code>" in text  # declared, never run: named without a link


def test_records_written_without_their_text_get_it_from_the_catalogue(tmp_path: Path) -> None:
    """Runs written before the records carried document, paragraph and text still quote the requirement."""
    import json

    rid = "HMIP-4140-3.1-P11-MUST-1"
    (tmp_path / "results.json").write_text(json.dumps({
        "dut_role": "ar", "edition": "rfc4140", "results": [],
        "requirements": [{"id": rid, "section": "3.1", "keyword": "MUST", "actor": ["AR"], "status": "untested",
                          "verdict": "UNTESTED", "reason": None, "tests": [], "judged_by": {}}]}))
    record = report.load_run(tmp_path).requirements[0]
    assert (record["document"], record["paragraph"]) == ("rfc4140", 11)
    assert record["text"].startswith("If a router advertisement is used for MAP discovery")
