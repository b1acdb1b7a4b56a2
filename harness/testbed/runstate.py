"""Per-run bookkeeping: the namespace prefix, the work directory and what was created.

Every resource is recorded in ``/tmp/hmipv6ct/<prefix>/state.json`` *before* it is created,
so that ``hmipv6ct clean`` can remove what a crashed or SIGKILLed run left behind.  A run is
"live" while its owner process (pid + start time, so a recycled pid does not count) exists or
while it was deliberately left up (``hmipv6ct testbed up``).

Faults journal themselves here too (``faults``: each with the shell commands that undo it).  For a
dead run, ``clean`` first undoes those on nodes the run does not own (a lab router, reached over its
management connection as the lab backend does); a run whose faults cannot all be undone keeps its
state for a later ``clean``.  Faults on the run's own namespaces go with the namespaces.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import netns

# not under /run: the sshd of a virtual router mounts its own tmpfs over /run
STATE_ROOT = Path(os.environ.get("HMIPV6CT_STATE_DIR", "/tmp/hmipv6ct"))
PREFIX_RE = re.compile(r"^hm6-[0-9a-f]{6}$")
NETNS_RE = re.compile(r"^(hm6-[0-9a-f]{6})-[a-z0-9]+$")
FAULT_UNDO_TIMEOUT = 20.0  # seconds per undo command of a journaled fault (clean)


def new_prefix() -> str:
    return f"hm6-{secrets.token_hex(3)}"


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat).

    None when there is no such process or it is a zombie (it has ended; only its parent's
    wait is missing, e.g. when the parent was SIGKILLed and init does not reap).
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(pid: int, start: int | None) -> bool:
    now = process_start_time(pid)
    return now is not None and (start is None or now == start)


@dataclasses.dataclass
class RunState:
    prefix: str
    workdir: Path
    testbed: str = ""
    owner_pid: int = 0
    owner_start: int | None = None
    detached: bool = False  # deliberately left up by `hmipv6ct testbed up`
    complete: bool = False
    namespaces: list[str] = dataclasses.field(default_factory=list)
    processes: list[dict] = dataclasses.field(default_factory=list)  # {pid, start, what}
    faults: list[dict] = dataclasses.field(default_factory=list)  # applied faults not yet removed (journal, with undo)
    created: float = dataclasses.field(default_factory=time.time)

    @classmethod
    def create(cls, testbed: str) -> "RunState":
        prefix = new_prefix()
        workdir = STATE_ROOT / prefix
        workdir.mkdir(parents=True, mode=0o700)
        state = cls(prefix=prefix, workdir=workdir, testbed=testbed, owner_pid=os.getpid(),
                    owner_start=process_start_time(os.getpid()))
        state.save()
        return state

    @classmethod
    def load(cls, prefix: str) -> "RunState":
        data = json.loads((STATE_ROOT / prefix / "state.json").read_text())
        data["workdir"] = Path(data["workdir"])
        return cls(**data)

    def save(self) -> None:
        data = dataclasses.asdict(self)
        data["workdir"] = str(self.workdir)
        tmp = self.workdir / "state.json.tmp"
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.workdir / "state.json")

    def netns_name(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    def will_create_namespaces(self, names: list[str]) -> None:
        self.namespaces.extend(n for n in names if n not in self.namespaces)
        self.save()

    def started(self, pid: int, what: str) -> None:
        self.processes.append({"pid": pid, "start": process_start_time(pid), "what": what})
        self.save()

    @property
    def live(self) -> bool:
        return self.detached or alive(self.owner_pid, self.owner_start)


def all_runs() -> list[RunState]:
    runs = []
    if STATE_ROOT.is_dir():
        for entry in sorted(STATE_ROOT.iterdir()):
            if PREFIX_RE.match(entry.name) and (entry / "state.json").is_file():
                try:
                    runs.append(RunState.load(entry.name))
                except (ValueError, TypeError, OSError):
                    continue
    return runs


def find_detached(testbed_path: str) -> RunState | None:
    """The run left up by ``testbed up`` for this testbed file, if any."""
    target = str(Path(testbed_path).resolve())
    for run in all_runs():
        if run.detached and run.testbed == target:
            return run
    return None


def _kill_group(pid: int, start: int | None, grace: float = 1.0) -> bool:
    """End a process we started (and its group) by pid; True if it was running."""
    if not alive(pid, start):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return True
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not alive(pid, start):
                return True
            time.sleep(0.02)
    return True


def destroy_process(pid: int) -> bool:
    """End one process we started (and its process group), by PID."""
    return _kill_group(pid, process_start_time(pid))


def destroy(prefix: str, namespaces: list[str], processes: list[dict], workdir: Path | None) -> list[str]:
    """Remove processes, namespaces and files of one run; return what was removed."""
    removed = []
    for proc in processes:
        if _kill_group(proc["pid"], proc.get("start")):
            removed.append(f"process {proc['pid']} ({proc.get('what', '?')})")
    names = [n for n in namespaces if netns.exists(n)]
    for name in names:  # anything else still running inside our namespaces was started by us
        for pid in netns.pids_in(name):
            if pid != os.getpid() and _kill_group(pid, process_start_time(pid), grace=0.5):
                removed.append(f"process {pid} (in namespace {name})")
    if names:
        batch = "".join(f"netns delete {n}\n" for n in names)
        subprocess.run(["ip", "-force", "-batch", "-"], input=batch, text=True, capture_output=True)
        for name in names:
            if netns.exists(name):
                subprocess.run(["ip", "netns", "delete", name], capture_output=True)
            removed.append(f"namespace {name}" + (" (FAILED to delete)" if netns.exists(name) else ""))
    if workdir is not None and workdir.exists():
        shutil.rmtree(workdir, ignore_errors=True)
        removed.append(f"directory {workdir}")
    return removed


def fault_testbed(run: RunState, record: dict) -> str:
    """The testbed file a journaled fault was applied through: the record's, unless it is relative (it was
    written as the run named it, and ``clean`` may run elsewhere), then the run's (resolved when it began)."""
    path = str(record.get("testbed") or "")
    if not path or not Path(path).is_absolute():
        path = run.testbed or path
    return path


class LabDrivers:
    """Drivers for the nodes named in fault journals, built from their testbed files the way the lab backend
    reaches its nodes (one backend per file, one driver per node).  ``close`` ends every connection."""

    def __init__(self) -> None:
        self._backends: dict[str, Any] = {}

    def __call__(self, testbed: str, node: str):
        # lazily: harness.testbed and its lab backend import this module
        from harness.testbed import load
        from harness.testbed.lab import LabTestbed

        if testbed not in self._backends:
            self._backends[testbed] = LabTestbed(load(testbed))
        return self._backends[testbed].driver(node)

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close_drivers()


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def undo_faults(run: RunState, drivers: Callable[[str, str], Any],
                timeout: float = FAULT_UNDO_TIMEOUT) -> tuple[list[str], list[str]]:
    """Undo the journaled faults of (dead) ``run`` on nodes it does not own, through ``drivers(testbed, node)``.

    Each fault whose undo commands all succeed is struck off the journal (saved at once).  Returns (removed,
    failed): ``fault KIND on NODE (TESTBED)`` and the same with the reason for faults still applied.  A node
    found unreachable is not tried again for the run's other faults.  Owned faults are left alone (they go
    with the run's namespaces)."""
    removed: list[str] = []
    failed: list[str] = []
    unreachable: dict[tuple[str, str], str] = {}
    for record in list(run.faults):
        if record.get("owned", False):
            continue
        testbed, node = fault_testbed(run, record), str(record.get("node", "?"))
        what = f"fault {record.get('fault', '?')} on {node} ({testbed or 'unknown testbed'})"
        reason = unreachable.get((testbed, node))
        if reason is None:
            try:
                driver = drivers(testbed, node)
                driver.open()
            except Exception as exc:  # noqa: BLE001 -- a file gone, a node unreachable: report, keep, go on
                reason = unreachable[(testbed, node)] = _reason(exc)
        if reason is None:
            for command in record.get("undo") or []:
                try:
                    result = driver.run(command, timeout=timeout)
                except Exception as exc:  # noqa: BLE001
                    reason = f"{command!r}: {_reason(exc)}"
                    break
                if not result.ok:
                    detail = " ".join((result.stderr or result.stdout).split())[:300]
                    reason = f"{command!r} exited {result.exit_status}" + (f": {detail}" if detail else "")
                    break
        if reason is not None:
            failed.append(f"{what}: {reason}")
            continue
        if not record.get("undo"):
            what += " (no undo command was recorded: check the node by hand)"
        run.faults[:] = [r for r in run.faults if r is not record]
        run.save()
        removed.append(what)
    return removed, failed


def clean(include_detached: bool = False,
          drivers: Callable[[str, str], Any] | None = None) -> tuple[list[str], list[str]]:
    """Remove leftovers of dead runs.  Returns (removed, kept-with-reason).

    A dead run's faults on nodes it does not own are undone first (through ``drivers(testbed, node)``;
    default: :class:`LabDrivers`).  When one cannot be, the run's processes and namespaces still go but its
    state directory is kept, with the faults left to undo, and the kept line says ``FAILED`` and why.
    """
    removed: list[str] = []
    kept: list[str] = []
    known = set()
    own_drivers = drivers is None
    if drivers is None:
        drivers = LabDrivers()
    try:
        for run in all_runs():
            known.add(run.prefix)
            if run.live and not (include_detached and run.detached):
                why = "left up by 'testbed up'" if run.detached else f"its runner (pid {run.owner_pid}) is alive"
                kept.append(f"run {run.prefix} ({run.testbed}): {why}")
                continue
            undone, failed = undo_faults(run, drivers)
            removed += undone
            if failed:
                removed += destroy(run.prefix, run.namespaces, run.processes, None)
                run.namespaces, run.processes = [], []
                run.save()
                kept += [f"run {run.prefix} ({run.testbed}): FAILED to remove {f}; state kept in {run.workdir} "
                         "for a later 'hmipv6ct clean'" for f in failed]
                continue
            removed += destroy(run.prefix, run.namespaces, run.processes, run.workdir)
    finally:
        if own_drivers:
            drivers.close()  # type: ignore[union-attr]
    # namespaces that look like ours but whose state file is gone (crash before it was written)
    orphans: dict[str, list[str]] = {}
    for name in netns.list_names():
        m = NETNS_RE.match(name)
        if m and m.group(1) not in known:
            orphans.setdefault(m.group(1), []).append(name)
    for prefix, names in orphans.items():
        removed += destroy(prefix, names, [], None)
    return removed, kept


# -- the journal of undoable things (faults, node programs) a run writes through its testbed -----------------------
def journal_add(testbed: Any, record_id: str, kind: str, node: str, params: dict, undo: list[str]) -> None:
    """Record, before it happens, something to undo on ``node`` (``undo``: shell commands, harmless when there is
    nothing left to undo) in ``testbed.journal``; a testbed without a journal keeps none."""
    journal = getattr(testbed, "journal", None)
    if journal is None:
        return
    owned = getattr(testbed, "owns_node", lambda n: False)(node)
    path = getattr(testbed.spec, "path", "")
    journal.faults.append({"id": record_id, "fault": kind, "node": node, "params": dict(params), "undo": undo,
                           "owned": owned, "testbed": str(Path(path).resolve()) if path else "",
                           "applying_at": time.time()})
    journal.save()


def journal_update(testbed: Any, record_id: str, **fields: Any) -> None:
    journal = getattr(testbed, "journal", None)
    if journal is None:
        return
    for rec in journal.faults:
        if rec.get("id") == record_id:
            rec.update(fields)
    journal.save()


def journal_strike(testbed: Any, record_id: str) -> None:
    """Strike the record off once undone."""
    journal = getattr(testbed, "journal", None)
    if journal is None:
        return
    journal.faults[:] = [r for r in journal.faults if r.get("id") != record_id]
    journal.save()
