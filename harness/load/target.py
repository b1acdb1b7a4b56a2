"""What a load run aims at, read from the testbed: the MAP under load, the links and addresses the fleet uses.

* The MAP: ``--map`` or the testbed's DUT if it is a MAP, else its first MAP.  Its address and the RCoA prefix
  come from its home link (the link it shares with the access routers naming it, base §5).
* LCoAs: from the access links of the ARs naming the MAP (the MAP's valid on-link prefixes, base §6.2), or
  ``--lcoa-prefix``.  Mobile nodes alternate between those links; a move picks the next one.
* BUs leave the tester's port on the MAP's link, addressed to the MAP's MAC there; BAs are read on that port.
* Correspondent traffic for the tunnel check enters the MAP on another of its links with a tester port (the core).
* IPsec (base §12.1): the testbed's SA pair ``<identity>@<map>`` (default ``tester1``), whose RCoA selector is any
  RCoA, so one pair protects every emulated mobile node's BUs and BAs.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from harness.errors import HarnessError
from harness.testbed.model import Testbed


class TargetError(HarnessError):
    """The testbed does not offer what a load run needs."""


@dataclasses.dataclass
class LoadTarget:
    map_node: str
    map_address: str
    map_link: str  # where BUs go out and BAs come back
    map_mac: str
    rcoa_prefix: ipaddress.IPv6Network
    lcoa_links: list[str]  # access links whose prefixes the LCoAs come from (None of the tester's own)
    lcoa_prefixes: list[ipaddress.IPv6Network]
    routers: list[str]  # the ARs forwarding to those links
    cn_link: str  # where the tester, as a correspondent, sends toward RCoAs
    cn_mac: str  # the MAP's MAC on cn_link
    sa_name: str | None  # the IPsec SA pair (None: IPsec off)


def _mac_of(spec: Testbed, node: str, link: str) -> str:
    mac = spec.links[link].members[node].mac
    if not mac:
        raise TargetError(f"{node}'s MAC on link {link!r} is unknown (a lab testbed must give it: 'mac:' on the "
                          "interface)")
    return mac


def resolve(spec: Testbed, map_node: str | None = None, lcoa_prefixes: list[str] | None = None,
            identity: str = "tester1") -> LoadTarget:
    if map_node is None:
        dut = spec.dut_node
        maps = spec.nodes_with_role("map")
        map_node = dut.name if dut is not None and dut.role == "map" else (maps[0].name if maps else None)
    if map_node is None or map_node not in spec.nodes or spec.nodes[map_node].role != "map":
        raise TargetError(f"no MAP {map_node!r} in testbed {spec.name!r}")
    if spec.tester is None:
        raise TargetError(f"testbed {spec.name!r} has no tester node")
    try:
        home = spec.map_link(map_node)
        address = spec.map_address(map_node)
    except KeyError as exc:
        raise TargetError(str(exc)) from None
    if home.prefix is None:
        raise TargetError(f"link {home.name!r} has no prefix: no RCoAs can be formed")
    routers = [n.name for n in spec.nodes.values() if map_node in n.maps]
    links = []
    for router in routers:
        try:
            links.append(spec.access_link_of(router).name)
        except KeyError:
            continue
    if lcoa_prefixes:
        prefixes = [ipaddress.IPv6Network(p) for p in lcoa_prefixes]
        links = [next((name for name in links if spec.links[name].prefix == p), "") for p in prefixes]
    else:
        prefixes = [spec.links[name].prefix for name in links]
    if not prefixes or any(p is None or p.prefixlen > 64 for p in prefixes):
        raise TargetError(f"no /64 (or shorter) access prefix for the LCoAs of {map_node}'s mobile nodes")
    tester = spec.tester.name
    if tester not in home.members:
        raise TargetError(f"the tester has no port on {map_node}'s link {home.name!r}")
    cn_link = next((name for name, link in spec.links.items() if name != home.name and map_node in link.members
                    and tester in link.members), None)
    if cn_link is None:
        raise TargetError(f"the tester shares no link with {map_node} besides {home.name!r}: no way to send "
                          "correspondent traffic through the MAP")
    sa_name = None
    if spec.security.on:
        sa_name = f"{identity}@{map_node}"
        try:
            spec.security.pair(sa_name)
        except KeyError as exc:
            raise TargetError(str(exc)) from None
    return LoadTarget(map_node, address, home.name, _mac_of(spec, map_node, home.name), home.prefix,
                      links, prefixes, routers, cn_link, _mac_of(spec, map_node, cn_link), sa_name)
