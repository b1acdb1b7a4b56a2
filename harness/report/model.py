"""A run directory read back for reporting: its roles, test results, requirement records and evidence.

A run directory holds either one role's run (``results.json``, ``results.jsonl``, ``evidence/``) or one
sub-directory per role with a combined ``results.json`` on top (``hmipv6ct run --dut-role all``).  A run that was
killed may have no ``results.json``: its results are read from the journal (``results.jsonl``) and the requirement
records rebuilt from the catalogue -- the run is then *incomplete*, and says so (:attr:`Run.problems`).

Nothing here needs the testbed: a run directory copied to another machine reports the same.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from harness import results
from harness.errors import HarnessError

ROLES = ("map", "ar", "mn")


class RunError(HarnessError):
    """The directory is not a run directory (or holds nothing readable)."""


@dataclasses.dataclass
class Run:
    """One run, every role of it."""

    directory: Path
    roles: dict[str, dict[str, Any]]  # role -> provenance (suite, commit, testbed, dut, pics, started, finished ...)
    results: list[dict[str, Any]]  # journal entries of every role, each with "role"
    requirements: list[dict[str, Any]]  # requirement records (harness.coverage), each with "role"
    problems: list[str]  # what is missing or incomplete, in words

    def evidence_path(self, entry: dict[str, Any], name: str) -> Path | None:
        """Where an evidence file of ``entry`` is now (relative to the run, or absolute as written by an older run);
        None when it does not exist."""
        path = Path(name)
        role_dir = self.role_dir(entry.get("role"))
        if not path.is_absolute():
            candidates = [role_dir / path, self.directory / path]
        elif "evidence" in path.parts:  # written by an older run: this run directory's copy first (it may be moved)
            candidates = [role_dir / Path(*path.parts[path.parts.index("evidence"):]), path]
        else:
            candidates = [path]
        return next((c for c in candidates if c.is_file()), None)

    def entries_for(self, test_purpose: str, role: str) -> dict[str, Any] | None:
        return next((e for e in self.results if e.get("test_purpose") == test_purpose and e.get("role") == role), None)

    def role_dir(self, role: str | None) -> Path:
        sub = self.directory / role if role else None
        return sub if sub is not None and _is_part(sub) else self.directory


def load_run(directory: str | Path) -> Run:
    """Read a run directory (a single role's or a multi-role run)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RunError(f"{directory}: no such run directory")
    role_dirs = [directory / r for r in ROLES if _is_part(directory / r)]
    parts = role_dirs or [directory]
    roles: dict[str, dict[str, Any]] = {}
    entries: list[dict[str, Any]] = []
    requirements: list[dict[str, Any]] = []
    problems: list[str] = []
    for part in parts:
        head, part_entries, part_reqs, part_problems = _load_part(part)
        if head is None and not part_entries:
            problems += part_problems
            continue
        role = (head or {}).get("dut_role") or next((e.get("role") for e in part_entries if e.get("role")), None) \
            or part.name
        roles[role] = head or {}
        entries += [{**e, "role": e.get("role") or role} for e in part_entries]
        requirements += [{**r, "role": r.get("role") or role} for r in part_reqs]
        problems += [f"{role}: {p}" for p in part_problems]
    _fill_clauses(requirements, roles, problems)
    if not roles:
        raise RunError(f"{directory}: not a run directory (no readable {results.RESULTS} or {results.JOURNAL}, "
                       f"here or in {'/'.join(ROLES)} sub-directories)" + "".join(f"; {p}" for p in problems))
    return Run(directory, roles, entries, requirements, problems)


def _load_part(part: Path) -> tuple[dict | None, list[dict], list[dict], list[str]]:
    """(provenance, entries, requirement records, problems) of one role's directory."""
    problems: list[str] = []
    doc = None
    path = part / results.RESULTS
    if path.exists():
        try:
            doc = json.loads(path.read_text())
        except ValueError as exc:
            problems.append(f"{path.name} is unreadable ({exc}); results read from the journal")
    journal = results.read_journal(part)
    if doc is not None and "roles" in doc and "dut_role" not in doc:
        doc = None  # the combined document of a multi-role run read as a part: its roles are read one by one
    if doc is None:
        started = _read_json(part / results.PROVENANCE)
        if not journal and started is None:
            return None, [], [], problems
        purposes = (started or {}).pop("purposes", None)
        if not path.exists():
            problems.append(f"no {results.RESULTS}: the run ended before it was written (killed?); "
                            f"{len(journal)} results read from the journal"
                            + ("; the test purposes it did not reach are NOT RUN" if purposes is not None else
                               "; the test purposes it did not reach are not known"))
        head = {**(started or {}), "interrupted": True}
        if journal:
            head.setdefault("dut_role", journal[0].get("role"))
            head.setdefault("edition", journal[0].get("edition"))
        return head, journal, _rebuild_requirements(head, journal, purposes, problems), problems
    head = {k: v for k, v in doc.items() if k not in ("results", "requirements")}
    if doc.get("interrupted"):
        problems.append("the run was interrupted: test purposes it did not reach are NOT RUN")
    reqs = doc.get("requirements")
    if reqs is None:
        problems.append("results.json has no requirement records (an older run): rebuilt from the catalogue")
        reqs = _rebuild_requirements(head, doc.get("results", []), None, problems)
    return head, doc.get("results", []), reqs, problems


def _fill_clauses(records: list[dict], roles: dict[str, dict], problems: list[str]) -> None:
    """Records written before they carried their clause and quoted text get them from the catalogue."""
    missing = [r for r in records if not r.get("text")]
    if not missing:
        return
    from harness import coverage

    try:
        from conformance.catalog import load_catalog
        catalog = load_catalog()
    except Exception as exc:  # noqa: BLE001 -- the matrix is still shown, without the quotes
        problems.append(f"requirement texts not filled in: the catalogue did not load ({exc})")
        return
    for r in missing:
        if r["id"] in catalog:
            edition = (roles.get(r["role"]) or {}).get("edition") or "rfc4140"
            r.update(coverage.clause_fields(catalog[r["id"]], edition))


def _is_part(path: Path) -> bool:
    return any((path / name).exists() for name in (results.RESULTS, results.JOURNAL, results.PROVENANCE))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _rebuild_requirements(head: dict, entries: list[dict], purposes: dict | None, problems: list[str]) -> list[dict]:
    from harness import coverage

    try:
        from conformance.catalog import load_catalog
        catalog = load_catalog()
    except Exception as exc:  # noqa: BLE001 -- a report without the matrix is better than none
        problems.append(f"requirement records not rebuilt: the catalogue did not load ({exc})")
        return []
    role = head.get("dut_role")
    return coverage.run_coverage(catalog, role if role in ROLES else None, head.get("edition") or "rfc4140", purposes,
                                 entries)
