"""Scapy-side helpers the tester uses to craft and read packets (never the reference codec).

Works around the scapy 2.8 issues listed in PLATFORM.md: BU flags are always set explicitly
(its default is K,H,A), lifetimes are in 4-second units, and BA/BU pairing is done by
sequence number rather than ``answers()``.
"""

from __future__ import annotations

import logging

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet6 import (  # noqa: E402
    HAO, ICMPv6ND_RS, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptMAP, ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr, IPv6, IPv6ExtHdrDestOpt,
    IPv6ExtHdrRouting, in6_getnsma, in6_getnsmac,
)
from scapy.layers.inet import UDP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.layers.inet6 import MIP6MH_BA, MIP6MH_BU  # noqa: E402
from scapy.layers.inet6 import _MobilityHeader as MobilityHeader  # noqa: E402
from scapy.packet import Packet  # noqa: E402
from scapy.utils6 import in6_mactoifaceid  # noqa: E402
from scapy.pton_ntop import inet_pton  # noqa: E402

import ipaddress  # noqa: E402
import socket  # noqa: E402

__all__ = [
    "HAO", "ICMPv6ND_RS", "Ether", "IPv6", "ICMPv6EchoRequest", "ICMPv6EchoReply", "ICMPv6ND_RA", "ICMPv6ND_NS", "ICMPv6ND_NA",
    "ICMPv6NDOptMAP", "ICMPv6NDOptPrefixInfo", "ICMPv6NDOptSrcLLAddr", "ICMPv6NDOptDstLLAddr",
    "IPv6ExtHdrDestOpt", "IPv6ExtHdrRouting", "MIP6MH_BU", "MIP6MH_BA", "MobilityHeader",
    "UDP", "decode", "ipv6_layers", "innermost", "link_local_from_mac", "mac_str", "neighbor_advert",
    "router_solicitation", "solicited_node", "solicited_node_mac", "upstream_advertisement",
]


def decode(data: bytes) -> Packet:
    return Ether(data)


def ipv6_layers(pkt: Packet) -> list[IPv6]:
    """The IPv6 headers of ``pkt`` from outermost to innermost (IPv6-in-IPv6 unwrapped)."""
    layers = []
    layer = pkt.getlayer(IPv6)
    while layer is not None:
        layers.append(layer)
        layer = layer.payload.getlayer(IPv6) if layer.payload is not None else None
    return layers


def innermost(pkt: Packet) -> IPv6 | None:
    layers = ipv6_layers(pkt)
    return layers[-1] if layers else None


def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def link_local_from_mac(mac: str) -> str:
    """The EUI-64 link-local address the kernel forms from ``mac``, in canonical text form."""
    return str(ipaddress.IPv6Address("fe80::" + in6_mactoifaceid(mac)))


def solicited_node(address: str) -> str:
    """The solicited-node multicast group of ``address`` (RFC 4291 §2.7.1)."""
    return socket.inet_ntop(socket.AF_INET6, in6_getnsma(inet_pton(socket.AF_INET6, address)))


def solicited_node_mac(address: str) -> str:
    return in6_getnsmac(in6_getnsma(inet_pton(socket.AF_INET6, address)))


def router_solicitation(mac: str) -> Packet:
    """An RS from the unspecified address (no Source Link-Layer Address option, RFC 4861 §4.1) to all-routers."""
    return Ether(dst="33:33:00:00:00:02", src=mac) / IPv6(src="::", dst="ff02::2", hlim=255) / ICMPv6ND_RS()


def upstream_advertisement(mac: str, source: str, options: list) -> Packet:
    """An RA to all-nodes from a router the tester plays upstream of a router under test: link-local ``source``,
    hop limit 255, router lifetime 0 (not a default router), its Source Link-Layer Address, then ``options``."""
    ra = (Ether(dst="33:33:00:00:00:01", src=mac) / IPv6(src=source, dst="ff02::1", hlim=255)
          / ICMPv6ND_RA(routerlifetime=0) / ICMPv6NDOptSrcLLAddr(lladdr=mac))
    for option in options:
        ra = ra / option
    return ra


def neighbor_advert(ns: Packet, target_mac: str, router: bool) -> bytes:
    """A solicited NA answering ``ns`` (an ``Ether/IPv6/ICMPv6ND_NS``) for its target."""
    ip = ns[IPv6]
    target = ns[ICMPv6ND_NS].tgt
    dst_ip = ip.src if ip.src != "::" else "ff02::1"
    solicited = ip.src != "::"
    reply = (Ether(src=target_mac, dst=ns[Ether].src if solicited else "33:33:00:00:00:01")
             / IPv6(src=target, dst=dst_ip, hlim=255)
             / ICMPv6ND_NA(tgt=target, R=int(router), S=int(solicited), O=1)
             / ICMPv6NDOptDstLLAddr(lladdr=target_mac))
    return bytes(reply)
