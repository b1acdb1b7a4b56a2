"""Node operations over any command driver (SSH, serial, local): read state, wait with deadlines.

These run standard Linux commands (``ip -j``, ``ping``) on the node, so they work the same
on a namespace router, a lab router over SSH and a mobile device over its serial console.
"""

from __future__ import annotations

import ipaddress
import json
import time

from harness.drivers.base import CommandDriver
from harness.errors import InfrastructureError


def addresses(driver: CommandDriver, ifname: str | None = None, scope: str = "global") -> list[ipaddress.IPv6Interface]:
    """The node's IPv6 addresses (of ``ifname`` if given) with the given scope."""
    cmd = "ip -j -6 addr show" + (f" dev {ifname}" if ifname else "")
    result = driver.run(cmd, timeout=10)
    if not result.ok:
        raise InfrastructureError(f"{driver.node}: {cmd!r} failed: {result.stderr.strip() or result.stdout.strip()}")
    try:
        entries = json.loads(result.stdout or "[]")
    except ValueError:
        raise InfrastructureError(f"{driver.node}: cannot parse {cmd!r} output: {result.stdout[:200]!r}") from None
    found = []
    for entry in entries:
        for a in entry.get("addr_info", []):
            if a.get("family") == "inet6" and a.get("scope") == scope:
                found.append(ipaddress.IPv6Interface(f"{a['local']}/{a['prefixlen']}"))
    return found


def wait_for_address(driver: CommandDriver, prefix: ipaddress.IPv6Network, timeout: float,
                     ifname: str | None = None, poll: float = 0.1) -> ipaddress.IPv6Interface | None:
    """The first address of the node inside ``prefix``, polled until the deadline; None if none came."""
    deadline = time.monotonic() + timeout
    while True:
        for addr in addresses(driver, ifname):
            if addr.ip in prefix:
                return addr
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)


def ping(driver: CommandDriver, destination: str, count: int = 3, wait: float = 1.0,
         source: str | None = None) -> tuple[int, int]:
    """Ping from the node; return (sent, received) as ping reports them."""
    src = f" -I {source}" if source else ""
    result = driver.run(f"ping -6 -n -c {count} -i 0.2 -W {wait:g}{src} {destination}", timeout=count * (wait + 1) + 10)
    for line in result.stdout.splitlines():
        if "packets transmitted" in line:
            parts = line.split(",")
            return int(parts[0].split()[0]), int(parts[1].split()[0])
    raise InfrastructureError(f"{driver.node}: ping printed no statistics (exit {result.exit_status}): "
                              f"{(result.stderr or result.stdout).strip()[:300]}")
