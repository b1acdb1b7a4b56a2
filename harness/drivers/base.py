"""The one command seam every management driver implements.

A driver runs shell commands on one node and returns their output and exit status.  SSH
(paramiko), serial console (pyserial) and local (subprocess, optionally in a network
namespace) implement it; an adb or vendor-CLI driver would be one more class.  Drivers know
nothing of pytest.  Failures raise :mod:`harness.errors` ``DriverError`` subclasses.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import time

from harness.errors import redact

log = logging.getLogger("harness.drivers")


@dataclasses.dataclass(frozen=True)
class CommandResult:
    """What one command produced."""

    command: str
    exit_status: int
    stdout: str
    stderr: str = ""
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def check(self) -> "CommandResult":
        """Return self, or raise :class:`CommandFailed` when the exit status is not 0."""
        if self.exit_status != 0:
            raise CommandFailed(self)
        return self


class CommandFailed(Exception):
    """A command ran but exited non-zero (raised only by :meth:`CommandResult.check`)."""

    def __init__(self, result: CommandResult) -> None:
        self.result = result
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        super().__init__(
            f"{result.command!r} exited {result.exit_status}: " + " | ".join(detail)
        )


class CommandDriver(abc.ABC):
    """Run commands on one node.  Use as a context manager or call :meth:`close`."""

    #: node name used in error messages and logs
    node: str
    default_timeout: float = 30.0

    @abc.abstractmethod
    def open(self) -> None:
        """Connect (and log in).  Idempotent."""

    @abc.abstractmethod
    def _run(self, command: str, timeout: float) -> CommandResult:
        """Run one command; implementations raise DriverError subclasses on failure."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection.  Idempotent, never raises."""

    #: what ran on this node (time, command, exit status, output head), for per-test evidence
    transcript: list[dict]

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run ``command`` through a POSIX shell; return its output and exit status."""
        self.open()
        timeout = self.default_timeout if timeout is None else timeout
        start = time.monotonic()
        log.debug("%s $ %s", self.node, command)
        if not hasattr(self, "transcript"):
            self.transcript = []
        # the transcript is evidence: a credential in a command or its output is masked (harness.errors.redact)
        entry = {"time": time.time(), "node": self.node, "command": redact(command)}
        self.transcript.append(entry)
        try:
            result = self._run(command, timeout)
        except Exception as exc:
            entry.update(error=f"{type(exc).__name__}: {redact(str(exc))}", duration=round(time.monotonic() - start, 3))
            raise
        result = dataclasses.replace(result, duration=time.monotonic() - start)
        entry.update(exit=result.exit_status, stdout=redact(result.stdout[-2000:]), stderr=redact(result.stderr[-1000:]),
                     duration=round(result.duration, 3))
        log.debug("%s exit %d (%.3f s)", self.node, result.exit_status, result.duration)
        return result

    def __enter__(self) -> "CommandDriver":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
