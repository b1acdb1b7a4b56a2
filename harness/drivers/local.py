"""Run commands on this machine, optionally inside a network namespace."""

from __future__ import annotations

import os
import signal
import subprocess

from harness import netns as netns_mod
from harness.drivers.base import CommandDriver, CommandResult
from harness.errors import CommandTimeoutError, ConnectError


def _decode(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


class LocalDriver(CommandDriver):
    """``sh -c COMMAND`` via subprocess, in ``ip netns exec NETNS`` when ``netns`` is set.

    Each command runs in its own process group; on timeout the whole group is killed.
    stdin is /dev/null.  A command killed by signal N reports exit status 128+N.
    """

    def __init__(self, node: str, netns: str | None = None, default_timeout: float = 30) -> None:
        self.node = node
        self.netns = netns
        self.default_timeout = default_timeout
        self._open = False

    def __repr__(self) -> str:
        where = f", netns={self.netns!r}" if self.netns else ""
        return f"LocalDriver(node={self.node!r}{where})"

    def open(self) -> None:
        if self._open:
            return
        if self.netns is not None and not netns_mod.exists(self.netns):
            raise ConnectError(self.node, f"network namespace {self.netns!r} does not exist")
        self._open = True

    def close(self) -> None:
        self._open = False

    def _argv(self, command: str) -> list[str]:
        argv = ["sh", "-c", command]
        if self.netns is not None:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        return argv

    def _run(self, command: str, timeout: float) -> CommandResult:
        try:
            proc = subprocess.Popen(
                self._argv(command),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise ConnectError(self.node, f"cannot start sh: {exc}") from exc
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            out = self._kill(proc)
            raise CommandTimeoutError(self.node, command, timeout, _decode(out)) from None
        except BaseException:  # KeyboardInterrupt etc.: leave nothing behind
            self._kill(proc)
            raise
        status = proc.returncode
        if status < 0:
            status = 128 - status
        return CommandResult(command, status, _decode(out), _decode(err))

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> bytes:
        """Kill the command's process group; return the stdout collected so far."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            out, _ = proc.communicate(timeout=2)
        except subprocess.TimeoutExpired as exc:
            # a process that left the group still holds the pipe: give up reading it
            out = exc.stdout or b""
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            proc.wait()
        return out or b""
