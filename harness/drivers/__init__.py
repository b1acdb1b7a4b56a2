"""Management drivers: run shell commands on a node over SSH, a serial console or locally.

The drivers are imported on first use (PEP 562), so code that only needs the seam (``harness.drivers.base``,
e.g. the Wi-Fi drivers running inside a slow QEMU guest) does not pay for paramiko and pyserial.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "CommandDriver": "base", "CommandFailed": "base", "CommandResult": "base",
    "LocalDriver": "local", "NetnsExecDriver": "netns_exec", "SerialDriver": "serial", "SshDriver": "ssh",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"harness.drivers.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'harness.drivers' has no attribute {name!r}")
