"""The correspondent <-> mobile node flows of an interop run, run on the nodes themselves.

Three flows (:mod:`harness.programs.flow`, started through each node's management connection by
:class:`~harness.nodeproc.NodeProgram`):

``cn->mn``  UDP with sequence numbers from the correspondent to the mobile node's home address
``mn->cn``  UDP from the home address to the correspondent
``echo``    ICMPv6 echo requests from the correspondent to the home address, and the replies

The UDP flows need the harness's Python on the mobile node; a mobile node that cannot run it (a phone) still
answers echo requests, so ``echo`` alone is measured there and the UDP flows are reported as not measured,
with the reason.  :meth:`Flows.stop` returns every measured flow as a :class:`~harness.interop.flowstats.Flow`.
"""

from __future__ import annotations

import json
import logging

from harness.interop.flowstats import Flow
from harness.nodeproc import NodeProgram, ProgramError, ProgramUnavailable

log = logging.getLogger("hmipv6ct.interop")

MODULE = "harness.programs.flow"
DOWN_PORT, UP_PORT = 9000, 9001


class Flows:
    """Start with :meth:`start`, end with :meth:`stop` (always: it also runs on a failed start)."""

    def __init__(self, testbed, mn: str, home_address: str, cn: str, cn_address: str, *, rate: float = 50.0,
                 echo_rate: float = 20.0) -> None:
        self.testbed, self.mn, self.home_address, self.cn, self.cn_address = testbed, mn, home_address, cn, cn_address
        self.rate, self.echo_rate = rate, echo_rate
        self.not_measured: dict[str, str] = {}  # flow name -> why
        self._programs: dict[str, NodeProgram] = {}
        self._stopped = False

    def _program(self, key: str, node: str, *args: str) -> NodeProgram:
        program = NodeProgram(self.testbed, node, MODULE, *args, name=f"flow-{key}")
        self._programs[key] = program
        return program

    def start(self) -> None:
        """Receivers first (each waits until it is ready), then the senders."""
        r = str(self.rate)
        try:
            self._program("cn->mn.recv", self.mn, "recv", "--bind", self.home_address, "--port", str(DOWN_PORT),
                          "--out", "{dir}/report.json").start(ready_file="report.json.ready")
        except ProgramUnavailable as exc:
            self._programs.pop("cn->mn.recv", None)
            for name in ("cn->mn", "mn->cn"):
                self.not_measured[name] = f"the mobile node cannot run the flow program: {exc}"
        self._program("mn->cn.recv", self.cn, "recv", "--bind", self.cn_address, "--port", str(UP_PORT),
                      "--out", "{dir}/report.json").start(ready_file="report.json.ready")
        self._program("echo", self.cn, "ping", "--src", self.cn_address, "--dst", self.home_address,
                      "--rate", str(self.echo_rate), "--out", "{dir}/report.json").start(ready_file="report.json.ready")
        self._program("cn->mn.send", self.cn, "send", "--src", self.cn_address, "--dst", self.home_address,
                      "--port", str(DOWN_PORT), "--rate", r, "--out", "{dir}/report.json").start()
        if "mn->cn" not in self.not_measured:
            self._program("mn->cn.send", self.mn, "send", "--src", self.home_address, "--dst", self.cn_address,
                          "--port", str(UP_PORT), "--rate", r, "--out", "{dir}/report.json").start()

    def stop(self) -> dict[str, Flow]:
        """Stop the senders, then the receivers; read and return the flows (files on the nodes are removed).  Once:
        a second call (a teardown after a failed stop) returns nothing, the files being gone."""
        if self._stopped:
            return {}
        self._stopped = True
        order = ["cn->mn.send", "mn->cn.send", "echo", "cn->mn.recv", "mn->cn.recv"]
        errors = []
        for key in order:
            if key in self._programs:
                try:
                    self._programs[key].stop()
                except Exception as exc:  # noqa: BLE001 -- stop the others, then report
                    errors.append(f"{key}: {exc}")
        flows: dict[str, Flow] = {}
        try:
            if errors:
                raise ProgramError("stopping the flow programs: " + "; ".join(errors))
            reports = {key: json.loads(p.read("report.json")) for key, p in self._programs.items()}
            for name in ("cn->mn", "mn->cn"):
                if f"{name}.send" in reports and f"{name}.recv" in reports:
                    flows[name] = Flow.from_reports(name, reports[f"{name}.send"], reports[f"{name}.recv"])
            if "echo" in reports:
                flows["echo"] = Flow.from_reports("echo", reports["echo"], reports["echo"])
        finally:
            for program in self._programs.values():
                try:
                    program.remove_files()
                except Exception as exc:  # noqa: BLE001
                    log.warning("%s: files not removed: %s", program.describe(), exc)
        return flows
