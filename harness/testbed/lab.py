"""A physical (or externally built) lab: nodes exist already and are only reached.

``up`` connects to every node and fails with a clear ERROR when one cannot be reached;
``down`` closes the connections (and drops the run's state, below).  A lab's handover is a
Wi-Fi roam: ``attach(mn, router)`` roams the mobile node's station (its ``station:`` settings)
to the BSSID of the access point on the router's access link
(:func:`harness.testbed.wifi.roam_attach`).  A mobile node without a station cannot be moved:
``attach`` raises :class:`HandoverNotSupported` saying so, which tests report as NOT APPLICABLE.
``ap(node)``, ``station(node)`` and ``power(node)`` hand out the node's access point, station and
power-port drivers.  ``check()`` checks the nodes in parallel with bounded time;
:mod:`harness.testbed.labcheck` is the fuller pre-flight check behind ``hmipv6ct testbed check``.

From ``up`` to ``down`` the run keeps a state file (a :class:`~harness.testbed.runstate.RunState`
without namespaces or processes) in which faults journal themselves.  The lab's nodes are
never owned by the run, so a run killed while a fault is applied leaves only that record,
with the commands that undo the fault, from which ``hmipv6ct clean`` removes it over the
node's own management connection.  ``down`` deletes the state when no fault is left in it.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from harness.drivers.base import CommandDriver
from harness.drivers.local import LocalDriver
from harness.drivers.serial import SerialDriver
from harness.drivers.ssh import SshDriver
from harness.errors import TestbedError
from harness.testbed import runstate
from harness.testbed.backend import AttachResult, NodeHealth, TestbedBackend
from harness.testbed.model import Node, Testbed

log = logging.getLogger("hmipv6ct.testbed.lab")


class HandoverNotSupported(TestbedError):
    """This testbed cannot move a mobile node between access links."""


class LabTestbed(TestbedBackend):
    """Nodes reached over their declared SSH, serial or local management connections.

    ``connect_timeout`` bounds reaching a node (SSH: TCP connect, banner, key exchange and login each; serial:
    each login step and the shell's first answer); None keeps the drivers' defaults (10 s).
    """

    def __init__(self, spec: Testbed, connect_timeout: float | None = None) -> None:
        super().__init__(spec)
        self.state: runstate.RunState | None = None  # the fault journal, from up() to down()
        self.connect_timeout = connect_timeout
        self._wifi: dict[tuple[str, str], object] = {}  # (kind, node) -> AP/station/power driver

    @property
    def journal(self) -> runstate.RunState | None:
        return self.state

    def owns_node(self, node: str) -> bool:
        return False  # a lab node exists before the run and after it: a fault on it must be undone there

    def up(self) -> None:
        if self.state is None:  # first, so that a fault applied by anyone using this backend is journaled
            self.state = runstate.RunState.create(str(Path(self.spec.path).resolve()))
        for node in self.spec.nodes.values():
            if node.role != "switch":
                self.driver(node.name).open()
        self.state.complete = True
        self.state.save()

    def down(self) -> None:
        self.close_drivers()
        state, self.state = self.state, None
        if state is None:
            return
        if state.faults:  # not removed (the run is going down on an error): leave them to `hmipv6ct clean`
            log.warning("testbed %s: %d fault(s) still applied (%s); keeping %s so that 'hmipv6ct clean' undoes them",
                        self.spec.name, len(state.faults),
                        ", ".join(f"{r.get('fault')} on {r.get('node')}" for r in state.faults), state.workdir)
            return
        shutil.rmtree(state.workdir, ignore_errors=True)

    def _make_driver(self, node: Node) -> CommandDriver:
        m = node.management
        password = m.password.reveal() if m.password else None
        bounded = {} if self.connect_timeout is None else {"connect_timeout": self.connect_timeout}
        if m.type == "ssh":
            return SshDriver(node.name, m.host, m.port, user=m.user, password=password,
                             key_file=str(m.key_file) if m.key_file else None,
                             known_hosts=str(m.known_hosts) if m.known_hosts else None, **bounded)
        if m.type == "serial":
            prompt = {} if self.connect_timeout is None else {"prompt_timeout": self.connect_timeout}
            return SerialDriver(node.name, m.device, baudrate=m.baudrate, user=m.user, password=password, **prompt)
        return LocalDriver(node.name, netns=m.netns)

    def check(self, deadline: float = 60.0) -> list[NodeHealth]:
        """Per node, in parallel: reachable, interfaces up, addresses present.  A node whose check has not
        finished after ``deadline`` seconds is reported unreachable (its thread is abandoned, never waited for)."""
        nodes = [node for node in self.spec.nodes.values() if node.role != "switch"]
        for node in nodes:  # create the drivers here, not in the threads
            self.driver(node.name)
        results: dict[str, NodeHealth] = {}

        def one(node: Node) -> None:
            try:
                results[node.name] = self.check_node(node)
            except Exception as exc:  # noqa: BLE001 -- reported per node, never lost in a thread
                results[node.name] = NodeHealth(node.name, False, f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=one, args=(node,), name=f"check:{node.name}", daemon=True)
                   for node in nodes]
        for t in threads:
            t.start()
        end = time.monotonic() + deadline
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        return [results.get(node.name) or NodeHealth(node.name, False, f"check did not finish within {deadline:g} s")
                for node in nodes]

    # -- Wi-Fi and power -------------------------------------------------------------------
    def _node(self, name: str, what: str) -> Node:
        node = self.spec.nodes.get(name)
        if node is None:
            raise TestbedError(f"testbed {self.spec.name!r}: no node {name!r} (asked for its {what})")
        return node

    def ap(self, node: str):
        """The access point driver (:mod:`harness.wifi.ap`) of ``node`` (role ap), over its management connection."""
        from harness.testbed.wifi import access_point_of

        key = ("ap", node)
        if key not in self._wifi:
            self._wifi[key] = access_point_of(self._node(node, "access point"), self.driver(node))
        return self._wifi[key]

    def station(self, node: str):
        """The Wi-Fi station driver (:mod:`harness.wifi.station`) of mobile node ``node``."""
        from harness.testbed.wifi import station_of

        key = ("station", node)
        if key not in self._wifi:
            self._wifi[key] = station_of(self._node(node, "Wi-Fi station"), self.driver(node))
        return self._wifi[key]

    def power(self, node: str):
        """The power port (:mod:`harness.wifi.power`) of ``node``: a no-op one when the file declares none."""
        from harness.testbed.wifi import power_of

        key = ("power", node)
        if key not in self._wifi:
            self._wifi[key] = power_of(self._node(node, "power port"))
        return self._wifi[key]

    def close_drivers(self) -> None:
        self._wifi.clear()  # they hold the command drivers closed here
        super().close_drivers()

    def tester_port(self, link: str) -> tuple[str | None, str]:
        tester = self.spec.tester
        if tester is None:
            raise TestbedError(f"testbed {self.spec.name!r} has no tester node")
        return tester.management.netns, tester.interface_on(link).name

    def attach(self, mn: str, router: str) -> AttachResult:
        """Roam ``mn``'s Wi-Fi station to the access point on ``router``'s access link (or on the access link
        named ``router``)."""
        node = self._node(mn, "handover")
        if node.station is None:
            raise HandoverNotSupported(
                f"testbed {self.spec.name!r}: cannot move {mn!r} to {router!r}: {mn!r} has no 'station' settings "
                "(station: {driver: wpa_cli|iw, interface: ...}), and a lab moves a mobile node only by roaming "
                "its Wi-Fi station to the access point of the target link")
        from harness.testbed.wifi import roam_attach

        return roam_attach(self, mn, router)
