"""Reusable conformance checks for :class:`harness.drivers.CommandDriver` implementations.

Like trio's stream conformance checkers: give :class:`DriverContract` a factory returning an
*unopened* driver for a working node, then run every check (:meth:`DriverContract.run_all`)
or one by name (``contract.check(name, driver)``, handy with ``pytest.mark.parametrize``
over :data:`CHECKS`).  Checks only use POSIX sh, printf and sleep on the node.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from harness.drivers import CommandDriver, CommandFailed, CommandResult
from harness.errors import CommandTimeoutError

DriverFactory = Callable[[], CommandDriver]

#: names of the checks, in the order :meth:`DriverContract.run_all` runs them
CHECKS = (
    "stdout",
    "exit_status",
    "stderr",
    "multiline",
    "large_output",
    "special_chars",
    "unicode",
    "no_trailing_newline",
    "empty_stdin",
    "timeout",
    "close_reopen",
)

SPECIAL_ARGS = [
    "it's",
    'say "hi"',
    "$HOME `id` $(id)",
    "back\\slash",
    "a;b|c&d>e<f",
    "*?[x]{y}",
    "!bang #hash ~tilde",
    "%s %d %%",
    "tab\there",
]


def sh_quote(text: str) -> str:
    """Single-quote ``text`` for a POSIX shell."""
    return "'" + text.replace("'", "'\\''") + "'"


@dataclasses.dataclass
class DriverContract:
    """The behaviour every driver must show.

    ``separates_stderr``: False for drivers that merge stderr into stdout (serial console).
    ``timeout``: the short timeout used by the timeout check (seconds).
    """

    factory: DriverFactory
    separates_stderr: bool = True
    timeout: float = 0.5

    def run_all(self) -> None:
        """Run every check on one driver from the factory, closing it afterwards."""
        driver = self.factory()
        try:
            for name in CHECKS:
                self.check(name, driver)
        finally:
            driver.close()

    def check(self, name: str, driver: CommandDriver) -> None:
        """Run check ``name`` on ``driver`` (opened on demand; left open and usable)."""
        getattr(self, f"check_{name}")(driver)

    # -- the checks --------------------------------------------------------------------

    def check_stdout(self, d: CommandDriver) -> None:
        r = d.run("echo hello")
        assert isinstance(r, CommandResult)
        assert (r.command, r.exit_status, r.stdout) == ("echo hello", 0, "hello\n"), r
        assert r.ok and r.check() is r
        assert r.duration >= 0

    def check_exit_status(self, d: CommandDriver) -> None:
        r = d.run("exit 3")
        assert r.exit_status == 3 and not r.ok, r
        assert d.run("false").exit_status == 1
        assert d.run("true").exit_status == 0
        assert d.run("(exit 255)").exit_status == 255
        try:
            d.run("echo why >&2; exit 7").check()
        except CommandFailed as exc:
            assert exc.result.exit_status == 7
        else:
            raise AssertionError("check() did not raise CommandFailed")

    def check_stderr(self, d: CommandDriver) -> None:
        r = d.run("echo out; echo err >&2")
        if self.separates_stderr:
            assert (r.stdout, r.stderr) == ("out\n", "err\n"), r
        else:
            assert (r.stdout, r.stderr) == ("out\nerr\n", ""), r

    def check_multiline(self, d: CommandDriver) -> None:
        r = d.run("printf 'a\\nb\\n\\nc\\n'")
        assert r.stdout == "a\nb\n\nc\n", r
        r = d.run("echo one\necho two\nexit 4")  # a multi-line script
        assert (r.stdout, r.exit_status) == ("one\ntwo\n", 4), r

    def check_large_output(self, d: CommandDriver) -> None:
        r = d.run("i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done", timeout=30)
        assert r.stdout == "".join(f"line{i}\n" for i in range(2000)), r.stdout[-200:]

    def check_special_chars(self, d: CommandDriver) -> None:
        command = "printf '%s\\n' " + " ".join(sh_quote(a) for a in SPECIAL_ARGS)
        r = d.run(command)
        assert r.stdout == "".join(a + "\n" for a in SPECIAL_ARGS), r
        assert r.command == command

    def check_unicode(self, d: CommandDriver) -> None:
        text = "grüße ✓ 日本語 ∞"
        r = d.run(f"printf '%s\\n' {sh_quote(text)}")
        assert r.stdout == text + "\n", r
        assert d.run("printf '\\303\\251\\n'").stdout == "é\n"

    def check_no_trailing_newline(self, d: CommandDriver) -> None:
        assert d.run("printf x").stdout == "x"
        assert d.run("true").stdout == ""

    def check_empty_stdin(self, d: CommandDriver) -> None:
        r = d.run("cat; echo done", timeout=5)  # must not hang on, or eat, input
        assert r.stdout == "done\n", r

    def check_timeout(self, d: CommandDriver) -> None:
        command = "echo started; sleep 10; echo never"
        start = time.monotonic()
        try:
            d.run(command, timeout=self.timeout)
        except CommandTimeoutError as exc:
            elapsed = time.monotonic() - start
            assert exc.node == d.node
            assert exc.command == command and exc.timeout == self.timeout
            assert "started" in exc.partial_output and "never" not in exc.partial_output
            assert self.timeout <= elapsed < self.timeout + 5, elapsed
        else:
            raise AssertionError("no CommandTimeoutError")
        r = d.run("echo still usable")
        assert (r.exit_status, r.stdout) == (0, "still usable\n"), r

    def check_close_reopen(self, d: CommandDriver) -> None:
        d.open()
        d.open()  # idempotent
        d.close()
        d.close()  # idempotent
        assert d.run("echo again").stdout == "again\n"  # run() reopens
        d.close()
        with d as same:
            assert same is d
            assert d.run("echo ctx").stdout == "ctx\n"
        d.open()
        assert d.run("echo reopened").stdout == "reopened\n"
