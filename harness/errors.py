"""Exceptions raised by the harness.

Two families are kept strictly apart, because they lead to different verdicts::

    HarnessError
    ├── InfrastructureError          -> ERROR verdict (the test could not judge the DUT)
    │   ├── TestbedError             a testbed could not be built, reached or torn down
    │   │   └── TestbedFileError     a testbed file is malformed (names file, line, problem)
    │   ├── DriverError              a management connection failed
    │   │   ├── ConnectError         the device cannot be reached at all
    │   │   ├── AuthenticationError  the credentials were refused
    │   │   ├── HostKeyMismatchError the SSH host key differs from the pinned one
    │   │   ├── ConnectionLostError  an established connection dropped
    │   │   ├── CommandTimeoutError  a command did not finish within its timeout
    │   │   └── ConsoleError         a serial console misbehaved (no prompt, garbled marker)
    │   └── CaptureError             the tester could not send or capture
    └── (DUT requirement violations are not exceptions of this tree; see the verdict module)
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class InfrastructureError(HarnessError):
    """The test bed, not the device under test, failed: the verdict is ERROR, never FAIL."""


class TestbedError(InfrastructureError):
    """A testbed could not be built, reached or torn down."""

    __test__ = False  # not a pytest test class


class TestbedFileError(TestbedError):
    """A testbed file is malformed.  ``str()`` reads ``FILE:LINE: problem``."""

    __test__ = False

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")


class DriverError(InfrastructureError):
    """A management connection (SSH, serial, local) failed.  ``node`` names the device."""

    def __init__(self, node: str, message: str) -> None:
        self.node = node
        super().__init__(f"{node}: {message}")


class ConnectError(DriverError):
    """The device could not be reached (refused, unreachable, no such serial port)."""


class AuthenticationError(DriverError):
    """The device refused the credentials (wrong password or key, wrong console login)."""


class HostKeyMismatchError(DriverError):
    """The SSH server presented a host key that differs from the pinned one."""


class ConnectionLostError(DriverError):
    """An established management connection dropped."""


class CommandTimeoutError(DriverError):
    """A command did not complete within its timeout.  Partial output is kept."""

    def __init__(self, node: str, command: str, timeout: float, partial_output: str = "") -> None:
        self.command = command
        self.timeout = timeout
        self.partial_output = partial_output
        super().__init__(node, f"command {command!r} did not finish within {timeout:g} s")


class ConsoleError(DriverError):
    """A serial console did not behave (no login prompt, no shell prompt, lost marker)."""


class CaptureError(InfrastructureError):
    """The tester could not open, send on or capture from a link."""
