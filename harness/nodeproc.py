"""A harness program run in the background on a node, through the node's management connection.

``python -m MODULE ARGS`` is started with ``nohup`` on the node (a namespace of this run, or a lab router or
host reached over SSH or a console); its PID and start time (field 22 of /proc/PID/stat) are read back, so
:meth:`NodeProgram.stop` ends that process only -- never one that recycled its PID.  Before it starts, its record
goes into the run's journal (``testbed.journal``, the list faults use) with the shell command that ends it, so
``hmipv6ct clean`` stops it on a node the run does not own if the run dies; it is struck off once stopped.

A node without ``python3`` that can import the harness cannot run it: :class:`ProgramUnavailable` (a
:class:`~harness.errors.HarnessError`) says so, and the caller decides what that means (a flow not measured).
"""

from __future__ import annotations

import logging
import secrets
import shlex
import sys
import time
from typing import Any

from harness.errors import HarnessError, InfrastructureError
from harness.testbed import runstate

log = logging.getLogger("hmipv6ct.nodeproc")

PREFIX = "hmipv6ct_prog_"

# "the start time of PID, if it runs": empty for no such process or a zombie
START_TIME_SH = ("_st() { _s=$(sed 's/.*) //' /proc/$1/stat 2>/dev/null) || return 0; set -- $_s; "
                 "case $1 in Z|X) ;; *) echo \"${20}\" ;; esac; }")


class ProgramUnavailable(HarnessError):
    """The node cannot run the harness program (no python3, or the harness is not importable there)."""


class ProgramError(InfrastructureError):
    """Starting, stopping or reading a node program failed."""


def kill_sh(pid: int | None, pid_start: object, pid_file: str) -> str:
    """Shell (after :data:`START_TIME_SH`): SIGKILL the process if it is still the one started -- its PID and start
    time known, or, journaled before the start, read from ``pid_file`` ("PID START") the start script writes."""
    q = shlex.quote
    if pid is not None:
        return f"[ \"$(_st {pid})\" = {q(str(pid_start))} ] && kill -KILL {pid}"
    return (f"if [ -r {q(pid_file)} ]; then read _p _t <{q(pid_file)}; "
            f"[ -n \"$_t\" ] && [ \"$(_st $_p)\" = \"$_t\" ] && kill -KILL $_p; fi")


def python_for(testbed: Any, node: str) -> str:
    """The Python that runs harness programs on ``node``: this one for a namespace of this run, else python3."""
    return sys.executable if getattr(testbed, "owns_node", lambda n: False)(node) else "python3"


class NodeProgram:
    """``python -m module *args`` in the background on ``node``; ``{dir}`` in an argument is its work directory
    on the node (``/tmp/hmipv6ct_prog_<id>``), where it writes its files."""

    START_TIMEOUT = 10.0
    STOP_TIMEOUT = 5.0

    def __init__(self, testbed: Any, node: str, module: str, *args: str, name: str = "") -> None:
        self.testbed, self.node, self.module = testbed, node, module
        self.id = f"{name or module.rsplit('.', 1)[-1]}-{secrets.token_hex(4)}"
        self.dir = f"/tmp/{PREFIX}{self.id}"
        self.args = [a.replace("{dir}", self.dir) for a in args]
        self.python = python_for(testbed, node)
        # a testbed whose nodes start Python slowly (the Wi-Fi lab's guest runs under TCG) may allow more
        self.start_timeout = float(getattr(testbed, "program_start_timeout", self.START_TIMEOUT))
        self.pid: int | None = None
        self.pid_start: str | None = None
        self.started_at: float | None = None
        self.stopped_at: float | None = None

    def path(self, name: str) -> str:
        return f"{self.dir}/{name}"

    def describe(self) -> str:
        return f"{self.module} {' '.join(self.args)} on {self.node}"

    # -- start and stop -----------------------------------------------------------------------------------------
    def start(self, ready_file: str | None = None) -> "NodeProgram":
        """Start it; with ``ready_file`` (a name in its directory) wait until the program has created it."""
        q = shlex.quote
        self._journal_add()
        log_file, py = q(self.path("log")), q(self.python)
        ready = f"[ -e {q(self.path(ready_file))} ]" if ready_file else "true"
        script = "\n".join([
            START_TIME_SH,
            f"{py} -c 'import {self.module}' 2>&1 || exit 91",
            f"mkdir -p {q(self.dir)} || exit 92",
            f"nohup {py} -m {q(self.module)} {' '.join(q(a) for a in self.args)} >{log_file} 2>&1 </dev/null &",
            "pid=$!; start=$(_st $pid)",
            f"echo \"$pid $start\" >{q(self.path('pid'))}; echo \"pid $pid $start\"",
            f"end=$(( $(date +%s) + {int(self.start_timeout)} ))",
            f"until {ready}; do",
            "  [ -n \"$start\" ] && [ \"$(_st $pid)\" = \"$start\" ] ||",
            f"    {{ echo 'the program ended:'; tail -n 20 {log_file}; exit 93; }}",
            f"  [ $(date +%s) -lt $end ] || {{ echo 'not ready after {self.start_timeout:g} s'; exit 94; }}",
            "  sleep 0.05 2>/dev/null || sleep 1",
            "done",
        ])
        try:
            result = self.testbed.driver(self.node).run(script, timeout=self.start_timeout + 20)
        except BaseException:
            self._journal_strike()
            raise
        for line in result.stdout.splitlines():
            words = line.split()
            if len(words) == 3 and words[0] == "pid" and words[1].isdigit():
                self.pid, self.pid_start = int(words[1]), words[2]
        detail = (result.stdout + result.stderr).strip()[-600:]
        if result.exit_status == 91:
            self._journal_strike()
            raise ProgramUnavailable(f"{self.node}: {self.python} cannot import {self.module}: {detail}")
        if self.pid is not None:
            self._journal_update()
        if not result.ok or self.pid is None:
            self.stop()
            raise ProgramError(f"{self.describe()}: start failed (exit {result.exit_status}): {detail}")
        self.started_at = time.time()
        log.info("%s: pid %d", self.describe(), self.pid)
        return self

    def stop(self) -> None:
        """SIGTERM (then SIGKILL after STOP_TIMEOUT) to its PID while its start time matches; idempotent."""
        if self.stopped_at is not None:
            return
        if self.pid is not None:
            script = "\n".join([
                START_TIME_SH,
                f"[ \"$(_st {self.pid})\" = {shlex.quote(str(self.pid_start))} ] && kill -TERM {self.pid}",
                f"end=$(( $(date +%s) + {int(self.STOP_TIMEOUT)} ))",
                f"while [ \"$(_st {self.pid})\" = {shlex.quote(str(self.pid_start))} ]; do",
                f"  if [ $(date +%s) -ge $end ]; then kill -KILL {self.pid}; echo SIGKILL; break; fi",
                "  sleep 0.05 2>/dev/null || sleep 1",
                "done; true",
            ])
            result = self.testbed.driver(self.node).run(script, timeout=self.STOP_TIMEOUT + 20)
            if "SIGKILL" in result.stdout:
                log.warning("%s: did not end on SIGTERM, killed", self.describe())
        self.stopped_at = time.time()
        self._journal_strike()

    def read(self, name: str) -> str:
        """A file the program wrote in its directory."""
        result = self.testbed.driver(self.node).run(f"cat {shlex.quote(self.path(name))}", timeout=30)
        if not result.ok:
            raise ProgramError(f"{self.describe()}: cannot read {name}: {(result.stderr or result.stdout).strip()}"
                               f"; its log: {self.log_tail()}")
        return result.stdout

    def log_tail(self) -> str:
        result = self.testbed.driver(self.node).run(f"tail -n 5 {shlex.quote(self.path('log'))}", timeout=30)
        return result.stdout.strip()

    def remove_files(self) -> None:
        self.testbed.driver(self.node).run(f"rm -rf {shlex.quote(self.dir)}", timeout=30)

    def undo_commands(self) -> list[str]:
        """Shell: end the process if it is still the one started, and remove its directory."""
        kill = kill_sh(self.pid, self.pid_start, self.path("pid"))
        return [f"{START_TIME_SH}; {kill}; rm -rf {shlex.quote(self.dir)}; true"]

    # -- journal (the list faults use: ``hmipv6ct clean`` runs the undo commands on nodes the run does not own) ----
    def _journal_add(self) -> None:
        runstate.journal_add(self.testbed, self.id, "program", self.node, {"module": self.module, "args": self.args},
                             self.undo_commands())

    def _journal_update(self) -> None:
        runstate.journal_update(self.testbed, self.id, pid=self.pid, pid_start=self.pid_start,
                                undo=self.undo_commands())

    def _journal_strike(self) -> None:
        runstate.journal_strike(self.testbed, self.id)
