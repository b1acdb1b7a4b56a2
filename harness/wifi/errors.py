"""Errors of the Wi-Fi drivers.

A station or access point that refuses a command, or cannot do it at all, is a test bed problem
(the verdict is ERROR, never FAIL), so these sit under :class:`harness.errors.InfrastructureError`::

    DriverError
    └── WifiError            a Wi-Fi command failed, was refused ("FAIL") or is not supported
        └── WifiTimeoutError a station did not reach the wanted state before its deadline
    InfrastructureError
    └── PowerError           a power port command failed or timed out (tester host side)
"""

from __future__ import annotations

from harness.errors import DriverError, InfrastructureError

__all__ = ["PowerError", "WifiError", "WifiTimeoutError"]


class WifiError(DriverError):
    """A Wi-Fi command on ``node`` failed, was refused, or the tool cannot do it."""


class WifiTimeoutError(WifiError):
    """A station or AP did not reach the wanted state within its deadline (last state in the message)."""


class PowerError(InfrastructureError):
    """A power port command failed or timed out.  ``port`` names the power port."""

    def __init__(self, port: str, message: str) -> None:
        self.port = port
        super().__init__(f"power {port}: {message}")
