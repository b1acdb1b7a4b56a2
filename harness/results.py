"""Run results: a journal written as each test finishes, provenance, and the final results.json.

``results.jsonl`` gets one line per finished test, flushed and synced at once, so a run that is killed
keeps every result it finished; ``results.json`` is assembled from the journal at the end (and can be
rebuilt from it by :func:`assemble`), with the requirement coverage of the run (:mod:`harness.coverage`).
Registered secrets (:func:`harness.errors.register_secret`) are masked in everything written here.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from harness import paths
from harness.coverage import summary as coverage_summary
from harness.errors import redact_data

JOURNAL = "results.jsonl"
TIMINGS = "timings.jsonl"  # per test: wall time and the part spent waiting on the protocol (tester waits)
RESULTS = "results.json"
PROVENANCE = "provenance.json"  # written when the tests start: what a killed run still tells
FAILING = {"FAIL", "ERROR"}


class Journal:
    """An append-only JSON-lines file.  Several processes may append to the same journal (``hmipv6ct run -n N``:
    one per pytest-xdist worker): each line is written whole under an exclusive lock, then synced."""

    def __init__(self, run_dir: Path, name: str = JOURNAL) -> None:
        self.path = run_dir / name
        run_dir.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(_clean(entry)) + "\n").encode()
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _clean(doc: Any) -> Any:
    """``doc`` as plain JSON data (anything else as its ``str``), every registered secret masked."""
    return redact_data(json.loads(json.dumps(doc, default=str)))


def read_journal(run_dir: Path, name: str = JOURNAL) -> list[dict[str, Any]]:
    path = run_dir / name
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a kill
    return entries


def suite_version() -> str:
    try:
        return importlib.metadata.version("hmipv6-conformance")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(paths.ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        dirty = subprocess.run(["git", "-C", str(paths.ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def provenance(testbed_path: Path, edition: str, role: str, dut: dict[str, Any], pics: dict[str, Any]) -> dict:
    try:
        digest = hashlib.sha256(testbed_path.read_bytes()).hexdigest()
    except OSError:
        digest = None
    return {
        "suite": "hmipv6-conformance", "suite_version": suite_version(), "git_commit": git_commit(),
        "testbed": str(testbed_path), "testbed_sha256": digest, "edition": edition, "dut_role": role,
        "dut": dut, "pics": pics, "host": platform.node(), "python": platform.python_version(),
        "started": time.time(),
    }


def write_provenance(run_dir: Path, head: dict[str, Any]) -> None:
    tmp = run_dir / (PROVENANCE + ".tmp")
    tmp.write_text(json.dumps(_clean(head), indent=1))
    tmp.replace(run_dir / PROVENANCE)


def relative(path: str | Path, run_dir: Path) -> str:
    """``path`` relative to the run directory when it is inside it (results and reports stay valid when the run
    directory is moved or sent away), else as it is."""
    try:
        return str(Path(path).resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path)


def address_book(spec) -> dict[str, Any]:
    """Which node holds which address, and each link's prefix (for reading captures: sequence charts).

    Static addresses from the testbed file, and the EUI-64 link-local address of every interface whose MAC the
    backend knows (the kernel's default; a device that derives its link-local address otherwise shows up under
    its address)."""
    from harness.tester.packets import link_local_from_mac

    nodes: dict[str, str] = {}
    for node in spec.nodes.values():
        for iface in node.interfaces.values():
            if iface.address is not None:
                nodes[str(iface.address.ip)] = node.name
            if iface.mac:
                nodes.setdefault(link_local_from_mac(iface.mac), node.name)
    from harness.testbed.refconfig import home_address

    for node in spec.nodes_with_role("mn"):
        home = node.daemon_options.get("home_address") or home_address(spec)
        if home:
            nodes.setdefault(str(home), node.name)
    links = {name: str(link.prefix) for name, link in spec.links.items() if link.prefix is not None}
    return {"nodes": nodes, "links": links}


def must_level_failures(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Applicable MUST-level tests that FAILed or ERRORed: these make the run's exit status non-zero."""
    return [e for e in entries if e.get("level") == "MUST" and e.get("verdict") in FAILING]


def assemble(run_dir: Path, head: dict[str, Any], interrupted: bool = False,
             requirements: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Write ``results.json`` from the journal; ``requirements``: the run's requirement coverage
    (:func:`harness.coverage.run_coverage`), stored with its summary when given."""
    entries = read_journal(run_dir)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["verdict"]] = counts.get(e["verdict"], 0) + 1
    doc = {**head, "finished": time.time(), "interrupted": interrupted, "counts": counts,
           "must_level_failures": len(must_level_failures(entries)), "results": entries}
    if requirements is not None:
        doc["requirements_summary"] = coverage_summary(requirements)
        doc["requirements"] = requirements
    tmp = run_dir / (RESULTS + ".tmp")
    tmp.write_text(json.dumps(_clean(doc), indent=2))
    tmp.replace(run_dir / RESULTS)
    return doc
