"""The mobile node's data plane as pure functions on raw packet bytes (base document §6.1, §6.1.1, §6.5, §12.2;
RFC 6275 §11.3.1, §11.3.3; RFC 5380 §11).

The core decides, these functions carry it out: whenever the decision changes the core emits
``MnPathsChanged(paths)`` with a frozen :class:`Paths`, and the I/O layer hands every outgoing packet of the host
stack to :func:`outgoing` and every received packet to :func:`incoming`.

Outgoing, by source address (``outgoing``):

==========================  =============================================================================
home address, RO with dst   route optimisation (§6.1.1, RFC 6275 §11.3.1): source = the care-of address the CN
                            holds (the RCoA), Home Address option = home address; in HMIPv6 mode inside the
                            MAP tunnel (outer LCoA -> MAP, §6.1)
home address, no RO         reverse tunnelling (RFC 6275 §11.3.1): inner packet in RCoA -> HA, inside LCoA ->
                            MAP (§6.1, §12.2: encapsulated twice); in Mobile IPv6 mode LCoA -> HA
an RCoA                     §6.5 (the RCoA used as source, INC-8): inside that MAP's tunnel LCoA -> MAP
anything else (LCoA, ...)   unchanged: packets from the LCoA are not tunnelled (§6.1 last paragraph, INC-8)
home address, at home       unchanged (RFC 6275 §11.5.5: once the de-registration is sent the home address is
                            used on the home link as on any link; the I/O layer sends it to the current router)
==========================  =============================================================================

Incoming (``incoming``) returns ``(verdict, data)``: "signal" (give the original packet, decoded, to the core's
``handle``: a Mobility Header at the innermost level, or a Router Advertisement), "deliver" (``data`` is the plain
packet for the host stack: tunnels removed, a type 2 routing header for the home address processed so the home
address is the destination), "drop" (a tunnel from a node that is not a bound MAP / the home agent, or to an
address that is not ours), or "pass" (not mobility traffic: hand the packet to the kernel unchanged).  At home
(``Paths.at_home``) packets to the home address are treated as packets to the LCoA are away from home (the BA of
the de-registration is signalling), and a Neighbor Solicitation for the home address is signalling too: the core
answers it (RFC 6275 §11.5.5 "MUST be prepared to reply to Neighbor Solicitations for its home address").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..wire import fastpath
from ..wire.errors import DecodeError
from ..wire.ipv6 import decode_packet, encode_packet

__all__ = ["Paths", "incoming", "outgoing", "upper_layer_mtu"]

_TUNNEL, _MH, _ICMPV6 = 41, 135, 58
_EXTENSIONS = (0, 43, 60)  # Hop-by-Hop, Routing, Destination Options: a type 2 routing header may follow
_RA, _NS = 134, 135
_HAO_HEADER = 24  # Destination Options header carrying a Home Address option (8n+6 alignment): 24 octets


@dataclass(slots=True, frozen=True)
class Paths:
    """The data-plane view of one mobile node (see the module docstring for how it is used).

    ``mode``: "none" (no care-of address yet), "hmipv6", "mipv6" (no MAP usable: plain Mobile IPv6) or "home".
    ``map`` / ``rcoa``: the primary MAP and RCoA (None in Mobile IPv6 mode); ``tunnels``: every (RCoA, MAP) pair
    with a local binding acknowledged or being kept (primary, additional MAPs, previous MAP forwarding).
    ``ha_coa``: the care-of address the home agent acknowledged (None: no home registration yet).
    ``ro``: (correspondent, care-of address) pairs with an acknowledged correspondent binding.
    ``at_home``: on the home link (mode "home", RFC 6275 §11.5.5): the home address is used untunnelled.
    """

    iface: str
    mode: str
    home_address: bytes
    lcoa: bytes | None = None
    router_mac: bytes | None = None
    map: bytes | None = None
    rcoa: bytes | None = None
    home_agent: bytes | None = None
    ha_coa: bytes | None = None
    ro: tuple[tuple[bytes, bytes], ...] = ()
    tunnels: tuple[tuple[bytes, bytes], ...] = ()
    link_mtu: int = 1500
    router: bytes | None = None  # link-local address of the current default router
    at_home: bool = False

    def map_for(self, rcoa: bytes) -> bytes | None:
        return next((m for r, m in self.tunnels if r == rcoa), None)

    def ro_coa(self, correspondent: bytes) -> bytes | None:
        return next((c for cn, c in self.ro if cn == correspondent), None)


def upper_layer_mtu(paths: Paths, src: bytes | None = None, dst: bytes | None = None) -> int:
    """RFC 5380 §11: the MTU left for upper layers after the encapsulations the packet will get (40 octets per
    IPv6-in-IPv6 header, 24 for a Home Address option).  ``src`` None means the home address."""
    mtu = paths.link_mtu
    src = paths.home_address if src is None else src
    if src == paths.home_address:
        coa = paths.ro_coa(dst) if dst is not None else None
        if coa is not None:
            return mtu - _HAO_HEADER - (40 if paths.map_for(coa) is not None else 0)
        if paths.ha_coa is not None:
            return mtu - 40 - (40 if paths.map_for(paths.ha_coa) is not None else 0)
        return mtu
    return mtu - 40 if paths.map_for(src) is not None else mtu


def _with_map(paths: Paths, coa: bytes, packet: bytes) -> bytes | None:
    map_address = paths.map_for(coa)
    if map_address is None:
        return packet if coa == paths.lcoa else None
    if paths.lcoa is None:
        return None
    return fastpath.encapsulate(paths.lcoa, map_address, packet)


def outgoing(paths: Paths, packet: bytes) -> bytes | None:
    """The bytes to transmit for a packet of the host stack, or None to drop it (home address without any path)."""
    head = fastpath.peek(packet)
    if head is None:
        return None
    _nh, src, dst = head
    if src == paths.home_address:
        if paths.at_home:
            return packet
        coa = paths.ro_coa(dst)
        if coa is not None:
            try:
                decoded = decode_packet(packet, verify_checksums=False)
            except DecodeError:
                return None
            # RFC 6275 §11.3.1: checksums stay those computed with the home address as source (it is the pseudo-
            # header source whenever a Home Address option is present), so the encoder's values are unchanged.
            ro = encode_packet(dataclasses.replace(decoded, src=coa, home_address=paths.home_address))
            return _with_map(paths, coa, ro)
        if paths.ha_coa is not None and paths.home_agent is not None:
            return _with_map(paths, paths.ha_coa, fastpath.encapsulate(paths.ha_coa, paths.home_agent, packet))
        return None
    if paths.map_for(src) is not None:
        return _with_map(paths, src, packet)
    return packet


def _is_signal(packet: bytes) -> bool:
    upper = fastpath.upper_layer(packet)
    return upper is not None and upper[0] in (_MH, 50, 51)  # plain or ESP/AH-protected (base §12.1)


def _final(paths: Paths, original: bytes, packet: bytes, ours: set[bytes]) -> tuple[str, bytes]:
    if _is_signal(packet):
        return "signal", original
    if packet[6] in _EXTENSIONS:
        try:
            decoded = decode_packet(packet, verify_checksums=False)
        except DecodeError:
            return "drop", packet
        if decoded.rh2_address is None:
            return "deliver", packet
        if decoded.rh2_address != paths.home_address or decoded.dst not in ours:
            return "drop", packet
        # RFC 6275 §11.3.3: process the type 2 routing header: the home address becomes the destination
        return "deliver", encode_packet(dataclasses.replace(decoded, dst=decoded.rh2_address, rh2_address=None))
    return "deliver", packet


def incoming(paths: Paths, packet: bytes) -> tuple[str, bytes]:
    """Classify and unwrap a received packet (see the module docstring)."""
    head = fastpath.peek(packet)
    if head is None:
        return "drop", packet
    nh, src, dst = head
    ours = {a for a in (paths.lcoa, paths.home_address) if a is not None} | {r for r, _ in paths.tunnels}
    if nh == _ICMPV6 and len(packet) > 40 and packet[40] == _RA:
        return "signal", packet
    if paths.at_home and nh == _ICMPV6 and len(packet) >= 64 and packet[40] == _NS \
            and packet[48:64] == paths.home_address:
        return "signal", packet
    if nh != _TUNNEL:
        mine = dst == paths.lcoa or (paths.at_home and dst == paths.home_address)
        if mine and (_is_signal(packet) or nh in _EXTENSIONS):
            return _final(paths, packet, packet, ours)
        return "pass", packet
    if dst != paths.lcoa:
        return "drop", packet
    got = fastpath.decapsulate(packet)
    if got is None:
        return "drop", packet
    outer_src, inner = got
    inner_head = fastpath.peek(inner)
    if inner_head is None:
        return "drop", packet
    inner_nh, inner_src, inner_dst = inner_head
    if (inner_dst, outer_src) in paths.tunnels:  # from the MAP that holds this RCoA (§6.1)
        if inner_nh == _TUNNEL and inner_src == paths.home_agent and inner_dst == paths.ha_coa:
            got = fastpath.decapsulate(inner)  # HA -> RCoA inside MAP -> LCoA (RFC 6275 §10.4.2 + §6.1)
            if got is None:
                return "drop", packet
            return _final(paths, packet, got[1], ours)
        return _final(paths, packet, inner, ours)
    if outer_src == paths.home_agent and paths.ha_coa == paths.lcoa:  # Mobile IPv6 mode: HA -> LCoA
        return _final(paths, packet, inner, ours)
    return "drop", packet
