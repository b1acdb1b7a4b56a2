"""``junit.xml`` from a run's results: one testsuite per role, one testcase per test purpose, with its clauses.

CI servers read JUnit; each testcase carries the verdict and, as properties, the requirement IDs with their
clause (document, section, paragraph, keyword) and a link to the RFC section, and its evidence files.
FAIL is a ``<failure>``, ERROR an ``<error>``; NOT APPLICABLE and INCONCLUSIVE are ``<skipped>`` with the verdict
in the message (never a pass); WARN and INFO pass, with the verdict and reason in ``<system-out>``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from harness.report.clauses import clause, rfc_link
from harness.report.model import Run

SKIPPED = frozenset({"NOT APPLICABLE", "INCONCLUSIVE", "NOT RUN"})


def build(run: Run) -> ET.ElementTree:
    records = {(r["role"], r["id"]): r for r in run.requirements}
    root = ET.Element("testsuites", name="hmipv6-conformance")
    for role, head in run.roles.items():
        entries = [e for e in run.results if e.get("role") == role]
        suite = ET.SubElement(root, "testsuite", name=f"hmipv6 {role} {head.get('edition', '')}".strip(),
                              tests=str(len(entries)),
                              failures=str(sum(e["verdict"] == "FAIL" for e in entries)),
                              errors=str(sum(e["verdict"] == "ERROR" for e in entries)),
                              skipped=str(sum(e["verdict"] in SKIPPED for e in entries)),
                              time=f"{sum(e.get('duration') or 0 for e in entries):.3f}")
        props = ET.SubElement(suite, "properties")
        for key in ("git_commit", "testbed", "edition", "host"):
            if head.get(key) is not None:
                ET.SubElement(props, "property", name=key, value=str(head[key]))
        if head.get("dut"):
            ET.SubElement(props, "property", name="dut", value=str(head["dut"]))
        for e in entries:
            suite.append(_testcase(role, e, records, run))
    ET.indent(root)
    return ET.ElementTree(root)


def _testcase(role: str, e: Mapping[str, Any], records, run: Run) -> ET.Element:
    name = f"{e['test_purpose']} {e.get('title') or ''}".strip() if e.get("test_purpose") else e["nodeid"]
    case = ET.Element("testcase", classname=f"hmipv6.{role}", name=name, time=f"{e.get('duration') or 0:.3f}")
    props = ET.SubElement(case, "properties")
    ET.SubElement(props, "property", name="verdict", value=e["verdict"])
    for rid in e.get("requirements", []):
        rec = records.get((role, rid), {})
        ET.SubElement(props, "property", name="requirement", value=f"{rid} ({clause(rec)})" if rec else rid)
        link = rfc_link(rec.get("document"), rec.get("section"))
        if link:
            ET.SubElement(props, "property", name="link", value=link)
    for f in e.get("evidence", []):
        path = run.evidence_path(e, f)
        ET.SubElement(props, "property", name="evidence",
                      value=os.path.relpath(path, run.directory) if path else f"{f} (missing)")
    verdict, reason = e["verdict"], e.get("reason") or ""
    if verdict == "FAIL":
        ET.SubElement(case, "failure", message=reason[:1000], type="FAIL").text = reason
    elif verdict == "ERROR":
        ET.SubElement(case, "error", message=reason[:1000], type="ERROR").text = reason
    elif verdict in SKIPPED:
        ET.SubElement(case, "skipped", message=f"{verdict}: {reason}"[:1000])
    elif verdict != "PASS":
        ET.SubElement(case, "system-out").text = f"{verdict}: {reason}"
    return case


def write(run: Run, path) -> None:
    build(run).write(path, encoding="utf-8", xml_declaration=True)
