"""A physical (or externally built) lab: nodes exist already and are only reached.

``up`` connects to every node and fails with a clear ERROR when one cannot be reached;
``down`` closes the connections (and drops the run's state, below).  A lab's handover is a
Wi-Fi roam, driven by the station and access-point drivers (a later addition); until then
``attach`` raises :class:`~harness.errors.TestbedError` saying so, which tests report as NOT
APPLICABLE.

From ``up`` to ``down`` the run keeps a state file (a :class:`~harness.testbed.runstate.RunState`
without namespaces or processes) in which faults journal themselves.  The lab's nodes are
never owned by the run, so a run killed while a fault is applied leaves only that record,
with the commands that undo the fault, from which ``hmipv6ct clean`` removes it over the
node's own management connection.  ``down`` deletes the state when no fault is left in it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from harness.drivers.base import CommandDriver
from harness.drivers.local import LocalDriver
from harness.drivers.serial import SerialDriver
from harness.drivers.ssh import SshDriver
from harness.errors import TestbedError
from harness.testbed import runstate
from harness.testbed.backend import AttachResult, TestbedBackend
from harness.testbed.model import Node, Testbed

log = logging.getLogger("hmipv6ct.testbed.lab")


class HandoverNotSupported(TestbedError):
    """This testbed cannot move a mobile node between access links."""


class LabTestbed(TestbedBackend):
    """Nodes reached over their declared SSH, serial or local management connections."""

    def __init__(self, spec: Testbed) -> None:
        super().__init__(spec)
        self.state: runstate.RunState | None = None  # the fault journal, from up() to down()

    @property
    def journal(self) -> runstate.RunState | None:
        return self.state

    def owns_node(self, node: str) -> bool:
        return False  # a lab node exists before the run and after it: a fault on it must be undone there

    def up(self) -> None:
        if self.state is None:  # first, so that a fault applied by anyone using this backend is journaled
            self.state = runstate.RunState.create(str(Path(self.spec.path).resolve()))
        for node in self.spec.nodes.values():
            if node.role != "switch":
                self.driver(node.name).open()
        self.state.complete = True
        self.state.save()

    def down(self) -> None:
        self.close_drivers()
        state, self.state = self.state, None
        if state is None:
            return
        if state.faults:  # not removed (the run is going down on an error): leave them to `hmipv6ct clean`
            log.warning("testbed %s: %d fault(s) still applied (%s); keeping %s so that 'hmipv6ct clean' undoes them",
                        self.spec.name, len(state.faults),
                        ", ".join(f"{r.get('fault')} on {r.get('node')}" for r in state.faults), state.workdir)
            return
        shutil.rmtree(state.workdir, ignore_errors=True)

    def _make_driver(self, node: Node) -> CommandDriver:
        m = node.management
        password = m.password.reveal() if m.password else None
        if m.type == "ssh":
            return SshDriver(node.name, m.host, m.port, user=m.user, password=password,
                             key_file=str(m.key_file) if m.key_file else None,
                             known_hosts=str(m.known_hosts) if m.known_hosts else None)
        if m.type == "serial":
            return SerialDriver(node.name, m.device, baudrate=m.baudrate, user=m.user, password=password)
        return LocalDriver(node.name, netns=m.netns)

    def tester_port(self, link: str) -> tuple[str | None, str]:
        tester = self.spec.tester
        if tester is None:
            raise TestbedError(f"testbed {self.spec.name!r} has no tester node")
        return tester.management.netns, tester.interface_on(link).name

    def attach(self, mn: str, router: str) -> AttachResult:
        raise HandoverNotSupported(
            f"testbed {self.spec.name!r}: handover of {mn!r} to {router!r} needs a Wi-Fi station driver, "
            "which this version does not have")
