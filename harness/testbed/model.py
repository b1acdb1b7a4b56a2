"""What a testbed file describes: nodes, links, addressing, the DUT, its PICS and timers.

These are passive descriptions (labgrid's "resources"): building, reaching and tearing down
is the job of a backend (:mod:`harness.testbed.netns` for virtual runs, :mod:`.lab` for real
devices).  Nothing here knows pytest.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path
from typing import Any

from harness.timers import TimerProfile

ROLES = ("map", "ar", "mn", "ha", "cn", "router", "tester", "switch", "ap")
BACKENDS = ("netns", "lab", "wifi-vm")
VIRTUAL_BACKENDS = ("netns", "wifi-vm")  # built by the suite itself (node names, interfaces, management are its own)
AP_DRIVERS = ("hostapd", "openwrt")
STATION_DRIVERS = ("wpa_cli", "iw")
POWER_TYPES = ("none", "command")
MANAGEMENT_TYPES = ("ssh", "serial", "local")


class Secret:
    """A credential.  Never shows its value in ``str``/``repr``; read it with ``reveal()``."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source  # e.g. "env MAP1_PASSWORD" or "testbed file": safe to print

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(<hidden>, from {self.source})"

    __str__ = __repr__


@dataclasses.dataclass
class Management:
    """How the harness reaches a node's command line."""

    type: str  # ssh | serial | local
    host: str | None = None
    port: int = 22
    user: str | None = None
    password: Secret | None = None
    key_file: Path | None = None
    known_hosts: Path | None = None
    device: str | None = None
    baudrate: int = 115200
    netns: str | None = None  # filled by the netns backend


@dataclasses.dataclass
class Route:
    destination: ipaddress.IPv6Network
    via: ipaddress.IPv6Address


@dataclasses.dataclass
class Interface:
    """A node's interface on a link."""

    node: str
    name: str
    link: str
    address: ipaddress.IPv6Interface | None = None  # static global address, if any
    advertise: bool = False  # this interface sends Router Advertisements for the link prefix
    mac: str | None = None  # filled by the backend


@dataclasses.dataclass
class AccessPointSpec:
    """A Wi-Fi access point (a node with role ``ap``): bridges its radio to the access link it is a member of."""

    ssid: str
    channel: int
    bssid: str | None = None  # None: read from the AP
    interface: str = "wlan0"  # the radio's interface on the AP
    driver: str = "hostapd"  # hostapd (hostapd_cli) | openwrt (ubus/uci)
    ctrl_dir: str | None = None  # hostapd control directory (hostapd_cli -p)
    radio: str | None = None  # OpenWrt wireless section (e.g. radio0)
    passphrase: Secret | None = None  # WPA2-PSK; None: an open network


@dataclasses.dataclass
class StationSpec:
    """A mobile node's Wi-Fi station: handover is a roam to the target router's access point."""

    driver: str = "wpa_cli"  # wpa_cli | iw
    interface: str = "wlan0"
    ctrl_dir: str | None = None  # wpa_supplicant control directory (wpa_cli -p)
    log: str | None = None  # wpa_supplicant's -t log on the device: roam times come from it
    ssid: str | None = None  # the network the station joins (default: its APs' SSID)


@dataclasses.dataclass
class PowerSpec:
    """How a lab switches a device's power (a PDU): command templates run on the tester host."""

    type: str = "none"  # none | command
    on: str | None = None
    off: str | None = None
    cycle: str | None = None
    status: str | None = None
    outlet: str | None = None  # filled into {outlet}


@dataclasses.dataclass
class Node:
    name: str
    role: str
    management: Management
    interfaces: dict[str, Interface] = dataclasses.field(default_factory=dict)
    routes: list[Route] = dataclasses.field(default_factory=list)
    services: list[str] = dataclasses.field(default_factory=list)
    maps: list[str] = dataclasses.field(default_factory=list)  # MAPs an access router advertises
    daemon_options: dict[str, object] = dataclasses.field(default_factory=dict)  # merged into a reference daemon's section
    command: str | None = None  # replaces the reference daemon: "{config}" and "{python}" are filled in
    autostart: bool = True  # False: the HMIPv6 daemon is configured but started only on demand (start_service)
    ap: AccessPointSpec | None = None  # role ap
    station: StationSpec | None = None  # role mn on Wi-Fi
    power: PowerSpec | None = None
    line: int | None = None

    @property
    def forwards(self) -> bool:
        return self.role in ("map", "ar", "ha", "router")

    def interface_on(self, link: str) -> Interface:
        for iface in self.interfaces.values():
            if iface.link == link:
                return iface
        raise KeyError(f"node {self.name!r} has no interface on link {link!r}")


@dataclasses.dataclass
class Link:
    name: str
    prefix: ipaddress.IPv6Network | None
    members: dict[str, Interface]  # node name -> interface
    access: bool = False  # an access link a mobile node can attach to
    line: int | None = None


@dataclasses.dataclass
class Testbed:
    """A loaded, validated testbed file."""

    name: str
    path: Path
    backend: str
    nodes: dict[str, Node]
    links: dict[str, Link]
    dut: str | None
    pics: dict[str, object]
    dut_profile: str
    timers: TimerProfile
    description: str = ""
    security: Any = None  # harness.testbed.security.SecuritySpec (IPsec SA pairs, base §12.1); set by the loader

    def __post_init__(self) -> None:
        if self.security is None:
            from harness.testbed.security import SecuritySpec
            self.security = SecuritySpec()

    def nodes_with_role(self, role: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.role == role]

    @property
    def dut_node(self) -> Node | None:
        return self.nodes.get(self.dut) if self.dut else None

    @property
    def tester(self) -> Node | None:
        testers = self.nodes_with_role("tester")
        return testers[0] if testers else None

    def access_links(self) -> list[Link]:
        return [link for link in self.links.values() if link.access]

    def advertising_router(self, link: str) -> Node | None:
        """The node that advertises ``link``'s prefix (its access router)."""
        for iface in self.links[link].members.values():
            if iface.advertise:
                return self.nodes[iface.node]
        return None

    def map_link(self, map_node: str) -> Link:
        """The link on which ``map_node``'s MAP address lives: the one it shares with the ARs naming it."""
        for link in self.links.values():
            if map_node in link.members and any(map_node in self.nodes[m].maps for m in link.members):
                return link
        raise KeyError(f"no access router advertises MAP {map_node!r}")

    def map_address(self, map_node: str) -> str:
        iface = self.map_link(map_node).members[map_node]
        if iface.address is None:
            raise KeyError(f"MAP {map_node!r} has no address on link {iface.link!r}")
        return str(iface.address.ip)

    def access_points(self) -> list[Node]:
        return self.nodes_with_role("ap")

    def access_point_on(self, link: str) -> Node | None:
        """The access point bridged to ``link``, if the link is a Wi-Fi one."""
        return next((n for n in self.access_points() if link in {i.link for i in n.interfaces.values()}), None)

    def access_link_of(self, router: str) -> Link:
        """The access link on which router ``router`` advertises."""
        for link in self.links.values():
            member = link.members.get(router)
            if member is not None and member.advertise:
                return link
        raise KeyError(f"{router!r} advertises on no link")
