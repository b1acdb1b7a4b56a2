"""Power ports of lab devices (an AP or a phone on a switched outlet), driven from the tester host.

:class:`CommandPower` runs command templates on the tester host (a PDU's CLI, ``snmpset``,
``uhubctl``, a relay board script...) with ``{outlet}`` and ``{node}`` filled in, split with
:func:`shlex.split` and run without a shell.  :class:`NoPower` stands for a device without a
switchable outlet: it does nothing and says so.
"""

from __future__ import annotations

import abc
import logging
import os
import shlex
import string
import subprocess
import time
from collections.abc import Callable, Mapping

from harness.wifi.errors import PowerError

__all__ = ["CommandPower", "NoPower", "PowerPort"]

log = logging.getLogger("harness.wifi.power")


class PowerPort(abc.ABC):
    """The power supply of one device, named ``name`` (the node it feeds)."""

    #: False when the port cannot actually switch anything
    available: bool = True

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def on(self) -> None:
        """Switch the outlet on."""

    @abc.abstractmethod
    def off(self) -> None:
        """Switch the outlet off."""

    @abc.abstractmethod
    def cycle(self, delay: float = 5.0) -> None:
        """Off, wait ``delay`` seconds (the device's own discharge time), on."""

    @abc.abstractmethod
    def state(self) -> str | None:
        """The outlet's state as the port reports it (e.g. ``"on"``), or None when it cannot tell."""


class NoPower(PowerPort):
    """No switchable outlet: every call does nothing and logs that it did nothing."""

    available = False

    def __repr__(self) -> str:
        return f"NoPower({self.name!r})"

    def _skip(self, what: str) -> None:
        log.warning("power %s: no power control configured; %s does nothing", self.name, what)

    def on(self) -> None:
        self._skip("on")

    def off(self) -> None:
        self._skip("off")

    def cycle(self, delay: float = 5.0) -> None:
        self._skip("cycle")

    def state(self) -> None:
        self._skip("state")
        return None


class CommandPower(PowerPort):
    """Power switched by commands on the tester host.

    ``on``/``off``/``cycle``/``status`` are command templates such as
    ``"pdu-cli --outlet {outlet} on"``; ``{outlet}`` (default: ``name``) and ``{node}`` (``name``)
    are substituted into each word after :func:`shlex.split`, so a value with spaces stays one
    argument and nothing passes through a shell.  ``env`` adds variables to the host environment
    (credentials for the PDU, say).  A non-zero exit, a missing program or a run longer than
    ``timeout`` raises :class:`PowerError` with the exit status and stderr.  Without a ``cycle``
    template, :meth:`cycle` is off, ``delay`` seconds, on.  :meth:`state` returns the ``status``
    command's stripped stdout in lower case (None without a ``status`` template).
    """

    FIELDS = ("outlet", "node")

    def __init__(self, name: str, on: str, off: str, cycle: str | None = None, status: str | None = None,
                 timeout: float = 30.0, env: Mapping[str, str] | None = None, *, outlet: str | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(name)
        self.outlet = name if outlet is None else str(outlet)
        self.timeout = timeout
        self.env = dict(env or {})
        self._sleep = sleep
        self.templates: dict[str, str | None] = {"on": on, "off": off, "cycle": cycle, "status": status}
        for what, template in self.templates.items():
            if template is not None:
                self._argv(what, template)  # reject bad templates now, not when the outlet matters

    def __repr__(self) -> str:
        return f"CommandPower({self.name!r}, outlet={self.outlet!r})"

    def _argv(self, what: str, template: str) -> list[str]:
        try:
            words = shlex.split(template)
        except ValueError as exc:
            raise ValueError(f"power {self.name}: {what} template {template!r}: {exc}") from None
        if not words:
            raise ValueError(f"power {self.name}: {what} template is empty")
        values = {"outlet": self.outlet, "node": self.name}
        argv = []
        for word in words:
            for _, field, _, _ in string.Formatter().parse(word):
                if field is not None and field not in self.FIELDS:
                    raise ValueError(f"power {self.name}: {what} template {template!r}: unknown placeholder "
                                     f"{{{field}}} (known: {', '.join('{%s}' % f for f in self.FIELDS)})")
            argv.append(word.format(**values))
        return argv

    def _call(self, what: str) -> str:
        template = self.templates[what]
        assert template is not None
        argv = self._argv(what, template)
        log.info("power %s: %s: %s", self.name, what, shlex.join(argv))
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=self.timeout, env={**os.environ, **self.env})
        except subprocess.TimeoutExpired:
            raise PowerError(self.name, f"{what}: {shlex.join(argv)!r} did not finish within {self.timeout:g} s") from None
        except OSError as exc:
            raise PowerError(self.name, f"{what}: cannot run {argv[0]!r}: {exc}") from None
        if proc.returncode != 0:
            detail = " | ".join((proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-3:])
            raise PowerError(self.name, f"{what}: {shlex.join(argv)!r} exited {proc.returncode}: {detail}")
        return proc.stdout

    def on(self) -> None:
        self._call("on")

    def off(self) -> None:
        self._call("off")

    def cycle(self, delay: float = 5.0) -> None:
        if self.templates["cycle"] is not None:
            self._call("cycle")
            return
        self.off()
        self._sleep(delay)  # the device's power-off time, not a test's wait
        self.on()

    def state(self) -> str | None:
        if self.templates["status"] is None:
            return None
        return self._call("status").strip().lower() or None
