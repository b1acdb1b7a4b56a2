"""A physical (or externally built) lab: nodes exist already and are only reached.

``up`` connects to every node and fails with a clear ERROR when one cannot be reached;
``down`` only closes connections.  A lab's handover is a Wi-Fi roam, driven by the station
and access-point drivers (a later addition); until then ``attach`` raises
:class:`~harness.errors.TestbedError` saying so, which tests report as NOT APPLICABLE.
"""

from __future__ import annotations

from harness.drivers.base import CommandDriver
from harness.drivers.local import LocalDriver
from harness.drivers.serial import SerialDriver
from harness.drivers.ssh import SshDriver
from harness.errors import TestbedError
from harness.testbed.backend import AttachResult, TestbedBackend
from harness.testbed.model import Node


class HandoverNotSupported(TestbedError):
    """This testbed cannot move a mobile node between access links."""


class LabTestbed(TestbedBackend):
    """Nodes reached over their declared SSH, serial or local management connections."""

    def up(self) -> None:
        for node in self.spec.nodes.values():
            if node.role != "switch":
                self.driver(node.name).open()

    def down(self) -> None:
        self.close_drivers()

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
