"""Requirement coverage: what a run (or the suite) says about every catalogued requirement.

``results.json`` carries, next to the verdict per test purpose, one record per requirement of the run's
DUT role and edition (:func:`run_coverage`); ``hmipv6ct requirements`` prints the same status for the whole
catalogue (:func:`status`)::

    {"id": ..., "document": "rfc4140" | "rfc5380" | "rfc6275" ..., "section": ..., "paragraph": ...,
     "keyword": ..., "text": the quoted sentence, "actor": [...],
     "status": "covered" | "untested" | "not-testable", "verdict": ..., "reason": ...,
     "tests": [test purpose IDs], "judged_by": {test purpose: verdict for this requirement}}

``status``
    ``covered``       a test purpose of this run declares the requirement
    ``untested``      testable, but no test purpose judges it (yet)
    ``not-testable``  the catalogue gives the reason why it cannot be checked over the wire or by device control

``verdict`` of a covered requirement comes from the check points that judged it, not from the whole test:
a test that FAILed on one requirement stopped there, and its other requirements are ``NOT JUDGED``.  Per
test purpose: NOT APPLICABLE, ERROR, INCONCLUSIVE as the test's verdict; otherwise the worst outcome of its
check points against this requirement (FAIL, WARN, INFO, PASS), or NOT JUDGED when it has none.  Over the
test purposes the worst wins, in the order of :data:`ORDER`.  Requirements nobody judged get ``UNTESTED`` or
``NOT TESTABLE``; a test purpose collected but never finished (interrupted run) counts as ``NOT RUN``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

COVERED, UNTESTED, NOT_TESTABLE = "covered", "untested", "not-testable"

#: worst first: a requirement's verdict over several test purposes is the first of these any of them gave
ORDER = ("FAIL", "ERROR", "WARN", "INCONCLUSIVE", "INFO", "NOT RUN", "PASS", "NOT JUDGED", "NOT APPLICABLE")
HMIP_EDITIONS = ("rfc4140", "rfc5380")


def status(req, tests: Iterable[str], catalog=None) -> tuple[str, str | None]:
    """(status, reason) of ``req`` given the test purposes that declare it."""
    if not req.testable:
        return NOT_TESTABLE, req.reason
    if list(tests):
        return COVERED, None
    return UNTESTED, "no test purpose judges it yet"


def _verdict_from_entry(entry: Mapping[str, Any], rid: str) -> str:
    verdict = entry.get("verdict")
    if verdict in ("NOT APPLICABLE", "ERROR", "INCONCLUSIVE"):
        return verdict
    outcomes = [c.get("outcome") for c in entry.get("checks", []) if c.get("requirement") == rid]
    for v in ORDER:
        if v in outcomes:
            return v
    return "NOT JUDGED"


def clause_fields(req, edition: str) -> dict[str, Any]:
    """Where ``req`` is in the specification a run of ``edition`` judges it against: its document (the edition, or
    for an inherited clause its own RFC), section, paragraph, keyword and the quoted sentence."""
    document = edition if edition in req.editions else req.editions[0]
    return {"document": document, "section": req.section.get(document), "paragraph": req.paragraph.get(document),
            "keyword": req.keyword or "(binding)", "text": req.text_for(document)}


def worst(verdicts: Iterable[str]) -> str | None:
    got = set(verdicts)
    return next((v for v in ORDER if v in got), None)


def in_scope(req, role: str | None, edition: str) -> bool:
    """Whether a run judging ``role`` in ``edition`` reports on ``req``."""
    if req.reference_only or req.informative:
        return False
    if edition not in req.editions and not req.inherited:
        return False
    return role is None or role.upper() in req.actor


def run_coverage(catalog, role: str | None, edition: str, purposes: Mapping[str, Iterable[str]] | None,
                 entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One record per requirement of ``role`` and ``edition`` (and per requirement any test purpose of the run
    declares).  ``purposes``: test purpose ID -> requirement IDs, for every test purpose collected for the run
    (None: those of the journal ``entries``, e.g. when rebuilding from a journal)."""
    entries = [e for e in entries if e.get("test_purpose")]
    if purposes is None:
        purposes = {e["test_purpose"]: e.get("requirements", []) for e in entries}
    by_purpose = {e["test_purpose"]: e for e in entries}
    declared: dict[str, list[str]] = {}
    for tp, rids in purposes.items():
        for rid in rids:
            declared.setdefault(rid, []).append(tp)
    records = []
    for req in catalog.all():
        # the role's requirements, and any other requirement a test purpose declares -- of this edition only
        if not (in_scope(req, role, edition) or (req.id in declared and in_scope(req, None, edition))):
            continue
        tests = sorted(declared.get(req.id, []))
        state, reason = status(req, tests, catalog)
        judged_by = {}
        if state == COVERED:
            judged_by = {tp: (_verdict_from_entry(by_purpose[tp], req.id) if tp in by_purpose else "NOT RUN")
                         for tp in tests}
            verdict = worst(judged_by.values()) or "NOT RUN"
        else:
            verdict = "UNTESTED" if state == UNTESTED else "NOT TESTABLE"
        records.append({"id": req.id, **clause_fields(req, edition), "actor": list(req.actor), "status": state,
                        "verdict": verdict, "reason": reason, "tests": tests, "judged_by": judged_by})
    return records


def summary(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts per status and per verdict."""
    out: dict[str, dict[str, int]] = {"status": {}, "verdict": {}}
    for r in records:
        out["status"][r["status"]] = out["status"].get(r["status"], 0) + 1
        out["verdict"][r["verdict"]] = out["verdict"].get(r["verdict"], 0) + 1
    return out
