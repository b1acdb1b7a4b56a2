"""Management drivers: run shell commands on a node over SSH, a serial console or locally."""

from __future__ import annotations

from harness.drivers.base import CommandDriver, CommandFailed, CommandResult
from harness.drivers.local import LocalDriver
from harness.drivers.serial import SerialDriver
from harness.drivers.ssh import SshDriver

__all__ = [
    "CommandDriver",
    "CommandFailed",
    "CommandResult",
    "LocalDriver",
    "SerialDriver",
    "SshDriver",
]
