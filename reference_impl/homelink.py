"""What a MAP and a home agent share: serving addresses on their own link as a home agent does.

A MAP acts as a home agent for RCoAs (base §6.1, §6.2) and the HA for home addresses (RFC 6275 §10):
both defend bound addresses with proxy Neighbor Discovery, run DAD before the first BA, send the
unsolicited all-nodes NA when a binding is created (§10.4.1) and bound their bindings by their prefix's
lifetime (§10.3.1).  These pieces live here once; each core keeps its own binding logic.
"""

from __future__ import annotations

from typing import Any

from .actions import Send
from .wire.addresses import (
    ALL_NODES, UNSPECIFIED, is_multicast, is_unicast_routable, link_local_from_mac, multicast_mac, prefix_of,
    solicited_node,
)
from .wire.icmpv6 import (
    NeighborAdvertisement, NeighborSolicitation, SourceLinkLayerAddress, TargetLinkLayerAddress, ethernet_lladdr,
)
from .wire.ipv6 import Packet

__all__ = ["INF", "INFINITE", "HomeLinkAddressing", "check_home_link_config", "dad_probe", "na_from_neighbour",
           "ns_to_consider", "preferred_remaining", "prefix_remaining", "proxy_na", "unsolicited_na"]

INFINITE = 0xFFFFFFFF  # "infinity" for prefix lifetimes (RFC 4861 §4.6.2)
INF = float("inf")


class HomeLinkAddressing:
    """Address properties of a MAP or HA configuration (mixed into their frozen, slotted dataclasses)."""

    __slots__ = ()

    @property
    def prefix(self) -> bytes:
        return prefix_of(self.address, self.prefix_length)

    @property
    def own_link_local(self) -> bytes:
        return self.link_local if self.link_local is not None else link_local_from_mac(self.link_address)

    @property
    def addresses(self) -> tuple[bytes, ...]:
        return (self.address,) + self.extra_addresses


def check_home_link_config(cfg: Any, what: str) -> None:
    """The validation both configurations need (raises ValueError)."""
    if not is_unicast_routable(cfg.address):
        raise ValueError(f"{what} address must be a global unicast address")
    if cfg.max_binding_lifetime < 4 or cfg.max_bindings < 0 or cfg.dad_transmits < 1:
        raise ValueError("max_binding_lifetime >= 4 s, max_bindings >= 0, dad_transmits >= 1")
    if not 1 <= cfg.unsolicited_na_count <= 3:
        raise ValueError("unsolicited_na_count must be 1..3 (MAX_NEIGHBOR_ADVERTISEMENT)")
    if len(cfg.link_address) != 6:
        raise ValueError("link_address must be a 6-byte MAC")


def prefix_remaining(cfg: Any, now: float) -> float:
    """Remaining valid lifetime of the served prefix in seconds (INF when infinite)."""
    if cfg.prefix_valid_until is not None:
        return max(0.0, cfg.prefix_valid_until - now)
    return INF if cfg.prefix_valid_lifetime == INFINITE else float(cfg.prefix_valid_lifetime)


def preferred_remaining(cfg: Any, now: float) -> float:
    if cfg.prefix_preferred_until is not None:
        return max(0.0, cfg.prefix_preferred_until - now)
    return INF if cfg.prefix_preferred_lifetime == INFINITE else float(cfg.prefix_preferred_lifetime)


def dad_probe(cfg: Any, address: bytes) -> Send:
    """DAD probe (RFC 4862 §5.4.2): NS from :: to the solicited-node group, no SLLA option."""
    group = solicited_node(address)
    return Send(cfg.home_iface, Packet(UNSPECIFIED, group, NeighborSolicitation(address), hop_limit=255),
                multicast_mac(group))


def unsolicited_na(cfg: Any, address: bytes) -> Send:
    """RFC 6275 §10.4.1: all-nodes NA for ``address`` with our link-layer address, R=0 S=0 O=1."""
    na = NeighborAdvertisement(address, r=False, s=False, o=True, options=(TargetLinkLayerAddress(cfg.link_address),))
    return Send(cfg.home_iface, Packet(cfg.address, ALL_NODES, na, hop_limit=255), multicast_mac(ALL_NODES))


def proxy_na(cfg: Any, target: bytes, solicitor: bytes, slla: bytes | None) -> Send:
    """Answer an NS for a defended address (RFC 6275 §10.4.1; RFC 4861 §7.2.8 for proxies): R=0, our
    link-layer address, O per ``proxy_na_override``; S=1 to the solicitor, or S=0 to all nodes for DAD.

    ``slla``: the solicitor's Ethernet address (6 octets) or None, in which case the NA still goes to the
    solicitor's address (RFC 4861 §7.2.4: "unicast the advertisement to the Source Address of the solicitation")
    and the I/O layer resolves it."""
    from_dad = solicitor == UNSPECIFIED
    na = NeighborAdvertisement(target, r=False, s=not from_dad, o=cfg.proxy_na_override,
                               options=(TargetLinkLayerAddress(cfg.link_address),))
    if from_dad:
        return Send(cfg.home_iface, Packet(cfg.address, ALL_NODES, na, hop_limit=255), multicast_mac(ALL_NODES))
    return Send(cfg.home_iface, Packet(cfg.address, solicitor, na, hop_limit=255), slla)


def ns_to_consider(packet: Packet, ns: NeighborSolicitation) -> tuple[bool, bytes | None] | None:
    """(from DAD?, source Ethernet address) of a valid NS (RFC 4861 §7.1.1), or None to discard it.  A Source
    Link-Layer Address option that does not hold a 6-octet Ethernet address (Length other than 1, RFC 2464 §6) is
    treated as absent for the answer, but still makes a DAD solicitation invalid (§7.1.1: "If the IP source
    address is the unspecified address, there is no source link-layer address option in the message")."""
    if packet.hop_limit != 255 or ns.code != 0 or is_multicast(ns.target):
        return None
    from_dad = packet.src == UNSPECIFIED
    if from_dad and (packet.dst != solicited_node(ns.target)
                     or any(isinstance(o, SourceLinkLayerAddress) for o in ns.options)):
        return None
    return from_dad, ethernet_lladdr(ns.options)


def na_from_neighbour(cfg: Any, own: frozenset[bytes] | set[bytes], packet: Packet,
                      na: NeighborAdvertisement) -> tuple[bool, bytes | None]:
    """(valid and from another node?, target link-layer address) of a received NA (RFC 4861 §7.1.2;
    our own advertisements looped back do not count)."""
    if packet.hop_limit != 255 or na.code != 0 or is_multicast(na.target):
        return False, None
    if is_multicast(packet.dst) and na.s:
        return False, None
    tlla = next((o.address for o in na.options if isinstance(o, TargetLinkLayerAddress)), None)
    if packet.src in own or packet.src == cfg.own_link_local or tlla == cfg.link_address:
        return False, tlla
    return True, tlla
