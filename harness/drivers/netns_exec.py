"""A node that is a network namespace on a device reached through another driver.

The virtual Wi-Fi lab's nodes are namespaces inside a QEMU guest; a lab may also host several
logical nodes on one Linux box the same way.  :class:`NetnsExecDriver` runs each command as
``ip netns exec NS sh -c CMD`` through the device's own driver (SSH or serial), so node commands
travel the device's real management path.
"""

from __future__ import annotations

import shlex

from harness.drivers.base import CommandDriver, CommandResult


class NetnsExecDriver(CommandDriver):
    """Commands of node ``node`` run in namespace ``netns`` of the device behind ``device``."""

    def __init__(self, node: str, device: CommandDriver, netns: str) -> None:
        self.node = node
        self.device = device
        self.netns = netns
        self.default_timeout = device.default_timeout

    def __repr__(self) -> str:
        return f"NetnsExecDriver(node={self.node!r}, netns={self.netns!r}, via={self.device!r})"

    def open(self) -> None:
        self.device.open()

    def close(self) -> None:
        self.device.close()

    def _run(self, command: str, timeout: float) -> CommandResult:
        wrapped = f"ip netns exec {shlex.quote(self.netns)} sh -c {shlex.quote(command)}"
        result = self.device._run(wrapped, timeout)
        return CommandResult(command, result.exit_status, result.stdout, result.stderr, result.duration)
