"""Replay recorded command outputs (tests/data/wifi/, made by tests/data/wifi/record.sh) to the Wi-Fi drivers.

:class:`RecordedDriver` implements the :class:`~harness.drivers.base.CommandDriver` ABC.  It answers
a command only when it is exactly the command line the recording ran (``index.tsv``), so a driver
that sends a different command line fails the test.  Several replies for one command are given in
order; the last one repeats (for polling).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.drivers.base import CommandDriver, CommandResult

DATA = Path(__file__).resolve().parents[2] / "data" / "wifi"


@dataclasses.dataclass(frozen=True)
class Reply:
    exit_status: int
    stdout: str
    stderr: str = ""


def _index() -> dict[str, tuple[int, str]]:
    out = {}
    for line in (DATA / "index.tsv").read_text().splitlines():
        name, rc, command = line.split("\t", 2)
        out[name] = (int(rc), command)
    return out


INDEX = _index()
LAB = dict(line.split("=", 1) for line in (DATA / "lab.env").read_text().split())
AP1, AP2, STA, IWSTA = LAB["AP1"], LAB["AP2"], LAB["STA"], LAB["IWSTA"]


def recorded(name: str) -> tuple[str, Reply]:
    """(command line, reply) of recorded command ``name``."""
    rc, command = INDEX[name]
    err = DATA / f"{name}.err"
    return command, Reply(rc, (DATA / f"{name}.out").read_text(), err.read_text() if err.exists() else "")


class RecordedDriver(CommandDriver):
    """A CommandDriver that replays replies by exact command line and records what it was sent."""

    def __init__(self, node: str = "mn", *names: str, extra: dict[str, list[Reply]] | None = None) -> None:
        self.node = node
        self.replies: dict[str, list[Reply]] = {}
        self.sent: list[str] = []
        for name in names:
            self.add(name)
        for command, replies in (extra or {}).items():
            self.replies.setdefault(command, []).extend(replies)

    def add(self, name: str) -> "RecordedDriver":
        command, reply = recorded(name)
        self.replies.setdefault(command, []).append(reply)
        return self

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def _run(self, command: str, timeout: float) -> CommandResult:
        self.sent.append(command)
        queue = self.replies.get(command)
        if not queue:
            raise AssertionError(f"unexpected command {command!r}; known: {sorted(self.replies)}")
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return CommandResult(command, reply.exit_status, reply.stdout, reply.stderr)


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def with_clock(obj: object) -> FakeClock:
    clock = FakeClock()
    obj.clock = clock  # type: ignore[attr-defined]
    obj.sleep = clock.sleep  # type: ignore[attr-defined]
    return clock
