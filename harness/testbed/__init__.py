"""Testbeds: load a testbed file, then build or reach it through its backend.

    spec = load("testbeds/virtual.yaml")
    with open_backend(spec) as tb:
        tb.driver("map1").run("ip -6 route")
        tb.attach("mn", "ar2")
"""

from __future__ import annotations

from harness.testbed.backend import AttachResult, InterfaceHealth, NodeHealth, TestbedBackend
from harness.testbed.loader import load
from harness.testbed.model import Interface, Link, Management, Node, Secret, Testbed

__all__ = [
    "AttachResult", "Interface", "InterfaceHealth", "Link", "Management", "Node", "NodeHealth",
    "Secret", "Testbed", "TestbedBackend", "load", "open_backend", "resume_backend",
]


def open_backend(spec: Testbed, edition: str = "rfc4140") -> TestbedBackend:
    """The backend for ``spec`` (not yet up: call ``up()`` or use it as a context manager).

    ``edition`` selects the specification edition the bundled reference daemons follow.
    """
    if spec.backend == "netns":
        from harness.testbed.netns_backend import NetnsTestbed
        return NetnsTestbed(spec, edition=edition)
    if spec.backend == "wifi-vm":
        from harness.testbed.wifivm_backend import WifiVmTestbed
        return WifiVmTestbed(spec, edition=edition)
    from harness.testbed.lab import LabTestbed
    return LabTestbed(spec)


def resume_backend(spec: Testbed) -> TestbedBackend | None:
    """The running instance of a virtual testbed left up by ``hmipv6ct testbed up``, if any."""
    if spec.backend != "netns":
        return None
    from harness.testbed import runstate
    from harness.testbed.netns_backend import NetnsTestbed
    state = runstate.find_detached(str(spec.path))
    return NetnsTestbed(spec, state) if state else None
