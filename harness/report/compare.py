"""What changed between two runs: the regression gate of nightly runs (``hmipv6ct report --compare OLD NEW``).

Requirements are compared by (role, requirement ID), test purposes by (role, test purpose ID) -- tests outside
the catalogue (testbed readiness, teardowns) by (role, pytest node ID).  A change is one of :data:`KINDS`:

``newly failing``   a requirement (or a harness test) is FAIL/ERROR now and was not (or did not exist) before:
                    these make :meth:`Comparison.exit_status` non-zero
``fixed``           it was FAIL/ERROR and is something else now
``changed``         any other verdict change (PASS -> WARN, UNTESTED -> PASS ...)
``new/removed``     a requirement or test present in one run only
``timing``          a test's duration moved by more than a relative threshold *and* an absolute floor
``measurement``     a numeric measurement moved by more than the threshold (and a per-unit floor), or became or
                    stopped being None (not measurable, e.g. the flow never resumed)

A catalogued test purpose's verdict is not compared by itself: the requirements it judges carry it.  Differences
that make the comparison less meaningful (editions, testbeds, an incomplete run) are :attr:`Comparison.notes`.
"""

from __future__ import annotations

import dataclasses
import html as _html
import math
import re
import time
from typing import Any

from harness.report.clauses import clause
from harness.report.model import ROLES, Run

FAILING = frozenset({"FAIL", "ERROR"})

NEWLY_FAILING, FIXED, CHANGED = "newly failing", "fixed", "changed"
NEW_REQUIREMENT, REMOVED_REQUIREMENT = "new requirement", "removed requirement"
NEW_TEST, REMOVED_TEST, TIMING, MEASUREMENT = "new test", "removed test", "timing", "measurement"
#: the kinds of change, in report order
KINDS = (NEWLY_FAILING, FIXED, CHANGED, NEW_REQUIREMENT, REMOVED_REQUIREMENT, NEW_TEST, REMOVED_TEST, TIMING,
         MEASUREMENT)

#: absolute change a measurement must exceed, per unit, besides the relative threshold
MEASUREMENT_FLOORS = {"s": 0.05, "packets": 2}
NOT_MEASURED = "not measured"
_REASON_MAX = 160


@dataclasses.dataclass(frozen=True)
class Change:
    """One difference between the runs."""

    kind: str  # one of KINDS
    role: str
    subject: str  # requirement ID; test purpose ID (or node ID) for test, timing and measurement changes
    old: str | None  # old verdict or value text; None when absent
    new: str | None
    detail: str  # one line


@dataclasses.dataclass
class Comparison:
    """The changes from ``old`` to ``new``, in :data:`KINDS` order, then role, then subject (numbers by value)."""

    old: Run
    new: Run
    changes: list[Change]
    notes: list[str]

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.kind == NEWLY_FAILING]

    def exit_status(self) -> int:
        """1 when something is newly failing, else 0."""
        return 1 if self.regressions else 0

    def counts(self) -> dict[str, int]:
        """Number of changes per kind (kinds with none left out), in :data:`KINDS` order."""
        return {k: n for k in KINDS if (n := sum(c.kind == k for c in self.changes))}

    def summary(self) -> str:
        return ", ".join(f"{k}: {n}" for k, n in self.counts().items()) or "no changes"

    def text(self) -> str:
        """Plain text for CI logs: both runs, the notes, one line per change grouped by kind, the counts."""
        lines = [f"{label} run: {_describe(run)}" for label, run in (("old", self.old), ("new", self.new))]
        lines += [f"note: {n}" for n in self.notes]
        for kind, changes in self._grouped():
            lines.append(f"{kind} ({len(changes)}):")
            lines += [f"  {c.role:<3} {c.subject}  {_line(c)}" for c in changes]
        lines.append(self.summary())
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        """One self-contained HTML document (inline CSS, no scripts, no external resources)."""
        e = _html.escape
        runs = "".join(f"<tr><th>{label}</th><td>{e(str(run.directory))}</td><td>{e(', '.join(run.roles))}</td>"
                       f"<td>{e(_commits(run))}</td><td>{e(_started(run))}</td></tr>"
                       for label, run in (("old", self.old), ("new", self.new)))
        parts = [f"<table><tr><th></th><th>Run</th><th>Roles</th><th>Commit</th><th>Started</th></tr>{runs}</table>"]
        if self.notes:
            parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in self.notes) + "</ul>")
        for kind, changes in self._grouped():
            rows = "".join(f"<tr><td>{e(c.role)}</td><td>{e(c.subject)}</td><td>{e(c.old or '')}</td>"
                           f"<td>{e(c.new or '')}</td><td>{e(c.detail)}</td></tr>" for c in changes)
            parts.append(f'<h2 class="{kind.replace(" ", "-")}">{e(kind.capitalize())} ({len(changes)})</h2>'
                         "<table><tr><th>Role</th><th>Subject</th><th>Old</th><th>New</th><th>Detail</th></tr>"
                         f"{rows}</table>")
        parts.append(f'<p class="summary">{e(self.summary())}</p>')
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{e(f'{self.old.directory.name} -> {self.new.directory.name}')}</title>"
                f"<style>{_CSS}</style></head><body><h1>What changed between two runs</h1>"
                + "\n".join(parts) + "</body></html>\n")

    def _grouped(self) -> list[tuple[str, list[Change]]]:
        return [(k, [c for c in self.changes if c.kind == k]) for k in self.counts()]


_CSS = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1em}"
        "th,td{border:1px solid #bbb;padding:.2em .5em;text-align:left;vertical-align:top}"
        "h2.newly-failing{color:#b00}h2.fixed{color:#070}.summary{font-weight:bold}")


def compare(old: Run, new: Run, *, timing_threshold: float = 0.5, timing_floor: float = 1.0) -> Comparison:
    """The changes from ``old`` to ``new``.  ``timing_threshold``: relative change (0.5 = 50 %) a duration or a
    measurement must exceed; ``timing_floor``: seconds a duration must move by as well."""
    changes = _requirement_changes(old, new) + _test_changes(old, new)
    for key in _common(_tests(old), _tests(new)):
        before, after = _tests(old)[key], _tests(new)[key]
        changes += _timing(key, before, after, timing_threshold, timing_floor)
        changes += _measurements(key, before, after, timing_threshold)
    rank = {k: i for i, k in enumerate(KINDS)}
    changes.sort(key=lambda c: (rank[c.kind], _role_rank(c.role), _natural(c.subject)))
    return Comparison(old, new, changes, _notes(old, new))


def _requirement_changes(old: Run, new: Run) -> list[Change]:
    before, after = _by_key(old.requirements, "id"), _by_key(new.requirements, "id")
    changes = []
    for key in _union(before, after):
        was = before[key]["verdict"] if key in before else None
        now = after[key]["verdict"] if key in after else None
        kind = _verdict_kind(was, now, NEW_REQUIREMENT, REMOVED_REQUIREMENT)
        if kind is not None:
            run, record = (new, after[key]) if key in after else (old, before[key])
            changes.append(Change(kind, key[0], key[1], was, now, _requirement_detail(run, record)))
    return changes


def _test_changes(old: Run, new: Run) -> list[Change]:
    """New and removed tests; verdict changes of harness tests (catalogued ones show in their requirements)."""
    before, after = _tests(old), _tests(new)
    changes = []
    for key in _union(before, after):
        was, now = before.get(key), after.get(key)
        harness_test = (was or now).get("test_purpose") is None
        if harness_test:
            kind = _verdict_kind(was and was.get("verdict"), now and now.get("verdict"), NEW_TEST, REMOVED_TEST)
        else:
            kind = NEW_TEST if was is None else REMOVED_TEST if now is None else None
        if kind is not None:
            entry = now or was
            detail = "; ".join(x for x in (entry.get("title") or "", _short(entry.get("reason"))) if x)
            changes.append(Change(kind, key[0], key[1], was and was.get("verdict"), now and now.get("verdict"),
                                  detail))
    return changes


def _verdict_kind(was: str | None, now: str | None, new_kind: str, removed_kind: str) -> str | None:
    if now in FAILING and was not in FAILING:
        return NEWLY_FAILING
    if was is None:
        return new_kind
    if now is None:
        return removed_kind
    if was in FAILING and now not in FAILING:
        return FIXED
    return CHANGED if was != now else None


def _timing(key: tuple[str, str], before: dict, after: dict, threshold: float, floor: float) -> list[Change]:
    was, now = before.get("duration"), after.get("duration")
    if not (_numeric(was) and _numeric(now)) or not _moved(was, now, threshold, floor):
        return []
    old, new = f"{_fmt(was)} s", f"{_fmt(now)} s"
    return [Change(TIMING, key[0], key[1], old, new, f"duration {old} -> {new} ({_percent(was, now)})")]


def _measurements(key: tuple[str, str], before: dict, after: dict, threshold: float) -> list[Change]:
    """Measurements in both entries that moved (names measured in one run only are not compared)."""
    changes = []
    old_m, new_m = before.get("measurements") or {}, after.get("measurements") or {}
    for name in sorted(set(old_m) & set(new_m)):
        was, now = old_m[name].get("value"), new_m[name].get("value")
        unit = new_m[name].get("unit") or old_m[name].get("unit") or ""
        if was is None and now is None:
            continue
        if was is not None and now is not None:
            if not (_numeric(was) and _numeric(now)) or not _moved(was, now, threshold,
                                                                  MEASUREMENT_FLOORS.get(unit, 0)):
                continue
            how = f" ({_percent(was, now)})"
        else:
            note = (new_m if now is None else old_m)[name].get("note")
            how = f" ({note})" if note else ""
        old, new = _value(was, unit), _value(now, unit)
        changes.append(Change(MEASUREMENT, key[0], key[1], old, new, f"{name} {old} -> {new}{how}"))
    return changes


def _moved(was: float, now: float, threshold: float, floor: float) -> bool:
    """Whether ``was`` -> ``now`` exceeds both the relative ``threshold`` and the absolute ``floor``."""
    delta = abs(now - was)
    return delta > floor and (delta > threshold * abs(was) if was else delta > 0)


def _notes(old: Run, new: Run) -> list[str]:
    notes = []
    common = [r for r in old.roles if r in new.roles]
    if not common:
        notes.append(f"the runs have no role in common (old: {', '.join(old.roles)}; new: {', '.join(new.roles)}): "
                     "every requirement and test is new or removed")
    else:
        notes += [f"{r}: only in the old run" for r in old.roles if r not in new.roles]
        notes += [f"{r}: only in the new run" for r in new.roles if r not in old.roles]
    for role in common:
        before, after = old.roles[role], new.roles[role]
        for field, what in (("edition", "edition"), ("testbed", "testbed"), ("testbed_sha256", "testbed sha256")):
            a, b = before.get(field), after.get(field)
            if a is not None and b is not None and a != b:
                notes.append(f"{role}: {what} differs: {a} -> {b}")
    if _commits(old) != _commits(new) and "unknown" not in (_commits(old), _commits(new)):
        notes.append(f"suite commit differs (informational): {_commits(old)} -> {_commits(new)}")
    notes += [f"old run incomplete: {p}" for p in old.problems]
    notes += [f"new run incomplete: {p}" for p in new.problems]
    return notes


def _requirement_detail(run: Run, record: dict[str, Any]) -> str:
    """Section, keyword and the test purposes judging the requirement (with their reason when not PASS)."""
    where = clause(record) if record.get("section") else record.get("keyword") or ""
    judged = record.get("judged_by") or {tp: "?" for tp in record.get("tests") or []}
    tests = []
    for tp, verdict in judged.items():
        entry = run.entries_for(tp, record.get("role")) or {}
        reason = _short(entry.get("reason")) if verdict != "PASS" else ""
        tests.append(f"{tp} {verdict}" + (f" ({reason})" if reason else ""))
    if not tests and record.get("reason"):
        tests.append(_short(record["reason"]))
    return "; ".join(x for x in (where, ", ".join(tests)) if x)


def _tests(run: Run) -> dict[tuple[str, str], dict[str, Any]]:
    """Journal entries by (role, test purpose ID), or (role, node ID) for tests outside the catalogue."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for e in run.results:
        out.setdefault((e.get("role") or "", e.get("test_purpose") or e.get("nodeid") or "?"), e)
    return out


def _by_key(records: list[dict[str, Any]], field: str) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        out.setdefault((r.get("role") or "", r[field]), r)
    return out


def _union(a: dict, b: dict) -> list:
    return list(a) + [k for k in b if k not in a]


def _common(a: dict, b: dict) -> list:
    return [k for k in a if k in b]


def _role_rank(role: str) -> tuple[int, str]:
    return (ROLES.index(role) if role in ROLES else len(ROLES), role)


def _natural(subject: str) -> list:
    """Sort key: numbers by value (section 3.1 before 10)."""
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", subject)]


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fmt(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"


def _value(v: Any, unit: str) -> str:
    return NOT_MEASURED if v is None else f"{_fmt(v) if _numeric(v) else v} {unit}".rstrip()


def _percent(was: float, now: float) -> str:
    return f"{(now - was) / abs(was) * 100:+.0f} %" if was else "from 0"


def _short(text: Any) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= _REASON_MAX else text[:_REASON_MAX - 3] + "..."


def _line(c: Change) -> str:
    if c.kind in (TIMING, MEASUREMENT):
        return c.detail
    verdicts = f"{c.old} -> {c.new}" if c.old and c.new else c.new or f"was {c.old}"
    return f"{verdicts}  {c.detail}".rstrip()


def _commits(run: Run) -> str:
    commits = sorted({h["git_commit"] for h in run.roles.values() if h.get("git_commit")})
    return ", ".join(commits) or "unknown"


def _started(run: Run) -> str:
    times = [h["started"] for h in run.roles.values() if _numeric(h.get("started"))]
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(min(times))) if times else "unknown"


def _describe(run: Run) -> str:
    return f"{run.directory} (roles {', '.join(run.roles)}; commit {_commits(run)}; started {_started(run)})"
