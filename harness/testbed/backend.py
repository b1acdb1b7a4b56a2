"""The testbed seam: what tests and the CLI may ask of any testbed, virtual or physical.

A backend builds (or just reaches) the nodes of a :class:`~harness.testbed.model.Testbed`,
hands out a command driver per node, tells the tester where its ports are, performs a
mobile node's layer-2 handover (``attach``) and checks health.  The netns backend moves a
bridge port; a Wi-Fi lab roams to the access point of the target router.

A node whose management connection failed in a test is probed once (:meth:`TestbedBackend.recover`): when it
does not answer it is *lost* -- :meth:`TestbedBackend.driver` then fails at once with the cause
(:class:`~harness.errors.NodeLostError`) instead of every later test waiting for connection timeouts, and tries the
node again only every :attr:`TestbedBackend.lost_retry` seconds.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
import dataclasses
import ipaddress
import json
import time

from harness.drivers.base import CommandDriver
from harness.errors import DriverError, NodeLostError, TestbedError
from harness.testbed.model import Node, Testbed


@dataclasses.dataclass
class InterfaceHealth:
    name: str
    present: bool
    up: bool
    missing_addresses: list[str]

    @property
    def ok(self) -> bool:
        return self.present and self.up and not self.missing_addresses


@dataclasses.dataclass
class NodeHealth:
    node: str
    reachable: bool
    detail: str = ""
    interfaces: list[InterfaceHealth] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reachable and all(i.ok for i in self.interfaces)

    def describe(self) -> str:
        if not self.reachable:
            return f"{self.node}: UNREACHABLE ({self.detail})"
        parts = []
        for i in self.interfaces:
            if not i.present:
                parts.append(f"{i.name} missing")
            else:
                state = "up" if i.up else "DOWN"
                miss = f", missing {', '.join(i.missing_addresses)}" if i.missing_addresses else ""
                parts.append(f"{i.name} {state}{miss}")
        return f"{self.node}: {'ok' if self.ok else 'PROBLEM'} ({self.detail}; {'; '.join(parts) or 'no interfaces'})"


@dataclasses.dataclass
class AttachResult:
    """Timestamps (time.time()) of a layer-2 handover as seen by the testbed."""

    mn: str
    router: str
    link: str
    link_down: float
    link_up: float
    roam: dict | None = None  # a Wi-Fi roam as the station logged it (bssid, kind, started, connected, duration_ms)


class TestbedBackend(abc.ABC):
    """A testbed made usable: drivers, tester ports, handover, health."""

    __test__ = False

    def __init__(self, spec: Testbed) -> None:
        self.spec = spec
        self._drivers: dict[str, CommandDriver] = {}
        #: where a long ``up`` reports what it is doing (the pytest plugin shows it on the terminal); None: the log
        self.progress: Callable[[str], None] | None = None
        #: nodes found gone: node -> (cause, time.monotonic() of the last attempt to reach it)
        self.lost: dict[str, tuple[str, float]] = {}

    def report_progress(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)
        else:
            logging.getLogger("harness.testbed").info("%s", message)

    # -- lifecycle -----------------------------------------------------------------
    @abc.abstractmethod
    def up(self) -> None:
        """Build (virtual) or reach (lab) every node."""

    @abc.abstractmethod
    def down(self) -> None:
        """Tear down what ``up`` built.  Idempotent; never raises for already-gone parts."""

    def __enter__(self) -> "TestbedBackend":
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- access --------------------------------------------------------------------
    @abc.abstractmethod
    def _make_driver(self, node: Node) -> CommandDriver:
        """A new, unopened driver for ``node``'s management connection."""

    #: seconds before a lost node is tried again (a lab device that rebooted comes back)
    lost_retry: float = 60.0
    #: seconds a probe of a node (reconnect and one command) may take
    probe_timeout: float = 10.0
    _RECONNECT = "; reconnecting failed: "

    def driver(self, node: str) -> CommandDriver:
        """The (shared, lazily opened) command driver of ``node``.  A lost node raises
        :class:`~harness.errors.NodeLostError` at once, or is probed again after :attr:`lost_retry` seconds."""
        if node not in self.spec.nodes:
            raise TestbedError(f"no node {node!r} in testbed {self.spec.name!r}")
        if node not in self._drivers:
            self._drivers[node] = self._make_driver(self.spec.nodes[node])
        if node in self.lost:
            cause, since = self.lost[node]
            first = cause.split(self._RECONNECT)[0]  # what made it lost, without the failed retries
            if time.monotonic() - since < self.lost_retry or not self._probe(node, first):
                raise NodeLostError(node, f"{cause} (lost earlier in this run: not tried again for "
                                          f"{self.lost_retry:g} s)")
        return self._drivers[node]

    def _probe(self, node: str, cause: str) -> bool:
        """Reconnect to ``node`` and run one command, bounded; on failure mark it lost with ``cause``."""
        drv = self._drivers.get(node) or self._make_driver(self.spec.nodes[node])
        self._drivers[node] = drv
        drv.close()
        try:
            drv.run("true", timeout=self.probe_timeout)
        except DriverError as exc:
            self.lost[node] = (f"{cause}{self._RECONNECT}{exc}", time.monotonic())
            logging.getLogger("harness.testbed").warning("%s: lost (%s)", node, self.lost[node][0])
            return False
        self.lost.pop(node, None)
        return True

    def recover(self, node: str, cause: str) -> bool:
        """After a management failure of ``node`` (``cause``, e.g. the SSH session dropped): reconnect once,
        bounded; True when it answers again.  A node that does not is marked lost (see :meth:`driver`)."""
        if node not in self.spec.nodes:
            return False
        if node in self.lost:
            return False
        return self._probe(node, cause)

    def service_failure(self, node: str) -> tuple[str, float | None] | None:
        """Why ``node``'s HMIPv6 daemon, which the testbed started and did not stop, is no longer running (it
        crashed), with the time it ended when known; None while it runs (or when the testbed cannot tell)."""
        return None

    def management_logs(self) -> dict[str, str]:
        """Transcript files the management drivers keep (a serial console's log), by node."""
        return {name: drv.log_path for name, drv in self._drivers.items() if getattr(drv, "log_path", None)}

    def command_log(self, since: float = 0.0) -> list[dict]:
        """Every command run on any node since ``since`` (time.time()), in time order (for evidence)."""
        entries = [e for drv in self._drivers.values() for e in getattr(drv, "transcript", []) if e["time"] >= since]
        return sorted(entries, key=lambda e: e["time"])

    def close_drivers(self) -> None:
        for drv in self._drivers.values():
            drv.close()
        self._drivers.clear()

    @abc.abstractmethod
    def tester_port(self, link: str) -> tuple[str | None, str]:
        """(network namespace or None, interface name) of the tester's port on ``link``."""

    @abc.abstractmethod
    def attach(self, mn: str, router: str) -> AttachResult:
        """Layer-2 handover of mobile node ``mn`` to the access link of ``router`` (or to the access link named
        ``router``: one where only the tester advertises, for mobile-node DUTs)."""

    def control_command(self, node: str) -> str | None:
        """The command that shows or steers the HMIPv6 daemon on ``node`` (append ``show``), if known."""
        return None

    @property
    def journal(self):
        """The run's state file (:class:`~harness.testbed.runstate.RunState`) in which faults are journaled, or
        None when this backend keeps none."""
        return None

    def owns_node(self, node: str) -> bool:
        """Whether the run built ``node`` (and ``clean`` removes it whole) rather than only reaching it."""
        return False

    def current_link(self, mn: str) -> str:
        """The access link ``mn`` is attached to now."""
        node = self.spec.nodes[mn]
        for iface in node.interfaces.values():
            if self.spec.links[iface.link].access:
                return iface.link
        raise TestbedError(f"{mn!r} is attached to no access link")

    # -- health ----------------------------------------------------------------------
    def check(self) -> list[NodeHealth]:
        """Per node: reachable over its management connection, interfaces up, addresses present."""
        return [self.check_node(node) for node in self.spec.nodes.values() if node.role != "switch"]

    def check_node(self, node: Node) -> NodeHealth:
        start = time.monotonic()
        try:
            result = self.driver(node.name).run("ip -j addr show", timeout=10)
        except DriverError as exc:
            return NodeHealth(node.name, False, str(exc))
        if not result.ok:
            return NodeHealth(node.name, True, f"'ip -j addr show' exited {result.exit_status}: {result.stderr.strip()}")
        try:
            links = {entry["ifname"]: entry for entry in json.loads(result.stdout)}
        except (ValueError, KeyError, TypeError):
            return NodeHealth(node.name, True, "cannot parse 'ip -j addr show' output")
        health = NodeHealth(node.name, True, f"{node.management.type} {1000 * (time.monotonic() - start):.0f} ms")
        for iface in node.interfaces.values():
            entry = links.get(iface.name)
            if entry is None:
                health.interfaces.append(InterfaceHealth(iface.name, False, False, []))
                continue
            present = {ipaddress.IPv6Address(a["local"]) for a in entry.get("addr_info", []) if a.get("family") == "inet6"}
            missing = [str(iface.address.ip)] if iface.address and iface.address.ip not in present else []
            up = "UP" in entry.get("flags", []) and "LOWER_UP" in entry.get("flags", [])
            health.interfaces.append(InterfaceHealth(iface.name, True, up, missing))
        return health
