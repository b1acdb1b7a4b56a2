"""Per-run bookkeeping: the namespace prefix, the work directory and what was created.

Every resource is recorded in ``/tmp/hmipv6ct/<prefix>/state.json`` *before* it is created,
so that ``hmipv6ct clean`` can remove what a crashed or SIGKILLed run left behind.  A run is
"live" while its owner process (pid + start time, so a recycled pid does not count) exists or
while it was deliberately left up (``hmipv6ct testbed up``).
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
from pathlib import Path

from harness import netns

# not under /run: the sshd of a virtual router mounts its own tmpfs over /run
STATE_ROOT = Path(os.environ.get("HMIPV6CT_STATE_DIR", "/tmp/hmipv6ct"))
PREFIX_RE = re.compile(r"^hm6-[0-9a-f]{6}$")
NETNS_RE = re.compile(r"^(hm6-[0-9a-f]{6})-[a-z0-9]+$")


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


def clean(include_detached: bool = False) -> tuple[list[str], list[str]]:
    """Remove leftovers of dead runs.  Returns (removed, kept-with-reason)."""
    removed: list[str] = []
    kept: list[str] = []
    known = set()
    for run in all_runs():
        known.add(run.prefix)
        if run.live and not (include_detached and run.detached):
            why = "left up by 'testbed up'" if run.detached else f"its runner (pid {run.owner_pid}) is alive"
            kept.append(f"run {run.prefix} ({run.testbed}): {why}")
            continue
        removed += destroy(run.prefix, run.namespaces, run.processes, run.workdir)
    # namespaces that look like ours but whose state file is gone (crash before it was written)
    orphans: dict[str, list[str]] = {}
    for name in netns.list_names():
        m = NETNS_RE.match(name)
        if m and m.group(1) not in known:
            orphans.setdefault(m.group(1), []).append(name)
    for prefix, names in orphans.items():
        removed += destroy(prefix, names, [], None)
    return removed, kept
