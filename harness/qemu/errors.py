"""Errors of the QEMU guest runner (all are infrastructure errors: the verdict is ERROR, never FAIL).

::

    InfrastructureError
    └── GuestError                 the guest could not be built, booted or run
        ├── MissingToolError       a host tool is missing (names the Debian package that brings it)
        ├── KernelFetchError       the Debian kernel package could not be resolved, downloaded or unpacked
        └── GuestTimeoutError      the guest did not boot or the script did not finish in time (serial tail kept)
"""

from __future__ import annotations

from harness.errors import InfrastructureError


class GuestError(InfrastructureError):
    """The QEMU guest could not be built, booted or run."""


class MissingToolError(GuestError):
    """A host program the runner needs is missing; ``package`` is the Debian package that provides it."""

    def __init__(self, tool: str, package: str, why: str = "") -> None:
        self.tool, self.package = tool, package
        extra = f" ({why})" if why else ""
        super().__init__(f"{tool} not found{extra}: install the Debian package {package} "
                         f"(apt-get install --no-install-recommends {package})")


class KernelFetchError(GuestError):
    """The Debian kernel package could not be resolved, downloaded or unpacked."""


class GuestTimeoutError(GuestError):
    """The guest did not boot, or its script did not finish, within the timeout.

    ``phase`` is ``"boot"`` (the guest never reached the script) or ``"script"``;
    ``serial_tail`` holds the last lines of the serial console.
    """

    def __init__(self, phase: str, timeout: float, serial_tail: str) -> None:
        self.phase, self.timeout, self.serial_tail = phase, timeout, serial_tail
        what = "the guest did not boot" if phase == "boot" else "the guest script did not finish"
        super().__init__(f"{what} within {timeout:g} s; serial console tail:\n{serial_tail}")
