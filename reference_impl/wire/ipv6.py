"""IPv6 packets (RFC 8200) with the extension headers Mobile IPv6 uses, and Ethernet II framing.

:class:`Packet` is the decoded view: addresses, hop limit, the Home Address option (RFC 6275 §6.3), the type 2
routing header (RFC 6275 §6.4), a kept Hop-by-Hop options area, and the upper-layer payload: an ICMPv6 message,
a Mobility Header message, an inner :class:`Packet` (IPv6-in-IPv6, next header 41, RFC 2473) or
:class:`RawPayload` for anything else (fragments, ESP/AH, UDP, TCP, ...).

Encoding always emits the headers in the order RFC 8200 §4.1 and RFC 6275 §6.3 ask for::

    IPv6 | Hop-by-Hop | Routing (type 2) | Destination Options (Home Address first, at 8n+6) | upper layer

and computes the ICMPv6 / Mobility Header checksum with the pseudo-header RFC 6275 §6.1.1 defines (home address
as source, routing-header address as destination).  Decoding accepts the extension headers in any order RFC 8200
allows, at most once each except Destination Options (twice), and rejects everything else with a
:class:`~reference_impl.wire.errors.DecodeError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Union

from .checksum import pseudo_addresses, upper_layer_checksum, verify_upper_layer_checksum
from .errors import DecodeError
from .icmpv6 import IcmpMessage, decode_icmpv6, encode_icmpv6
from .mobility import (
    BindingAcknowledgement, BindingError, BindingRefreshRequest, BindingUpdate, MobilityMessage, MobilityUnknown,
    decode_mh, encode_mh,
)

__all__ = [
    "ETHERTYPE_IPV6",
    "Frame",
    "Ipv6Option",
    "NH_AH",
    "NH_DSTOPTS",
    "NH_ESP",
    "NH_HOPOPTS",
    "NH_ICMPV6",
    "NH_IPV6",
    "NH_MOBILITY",
    "NH_NONE",
    "NH_ROUTING",
    "Packet",
    "Payload",
    "RawPayload",
    "decode_frame",
    "decode_packet",
    "encode_frame",
    "encode_packet",
]

NH_HOPOPTS = 0
NH_IPV6 = 41
NH_ROUTING = 43
NH_ICMPV6 = 58
NH_NONE = 59
NH_ESP = 50
NH_AH = 51
NH_DSTOPTS = 60
NH_MOBILITY = 135
ETHERTYPE_IPV6 = 0x86DD
HAO_TYPE = 201
MAX_TUNNEL_DEPTH = 4

_IPV6 = struct.Struct("!IHBB16s16s")
_MOBILITY_TYPES = (BindingUpdate, BindingAcknowledgement, BindingRefreshRequest, BindingError, MobilityUnknown)
_ETH = struct.Struct("!6s6sH")


@dataclass(slots=True, frozen=True)
class RawPayload:
    """An upper layer (or extension header) this codec does not interpret: next header value + bytes.

    ``headers``: for an Authentication Header (51) only, the IPv6 header and extension headers exactly as
    received before it, which its ICV covers (RFC 4302 §3.3.3); ignored when encoding.
    """

    next_header: int
    data: bytes = b""
    headers: bytes = b""


@dataclass(slots=True, frozen=True)
class Ipv6Option:
    """A destination option other than Pad1/PadN/Home Address, kept as type + data (RFC 8200 §4.2)."""

    type: int
    data: bytes


Payload = Union[IcmpMessage, MobilityMessage, "Packet", RawPayload]


@dataclass(slots=True, frozen=True)
class Packet:
    """An IPv6 packet (RFC 8200 §3) as HMIPv6 nodes see it.

    ``home_address``: Home Address destination option (RFC 6275 §6.3), or None.
    ``rh2_address``: the address in a type 2 routing header (RFC 6275 §6.4), or None.
    ``hop_by_hop``: the Hop-by-Hop options area (after next header/length) kept verbatim, or None.
    ``dest_options``: destination options other than padding and the Home Address option.
    """

    src: bytes
    dst: bytes
    payload: Payload
    hop_limit: int = 64
    home_address: bytes | None = None
    rh2_address: bytes | None = None
    hop_by_hop: bytes | None = None
    dest_options: tuple[Ipv6Option, ...] = ()
    traffic_class: int = 0
    flow_label: int = 0

    @property
    def inner(self) -> Packet | None:
        """The encapsulated packet of an IPv6-in-IPv6 tunnel packet (RFC 2473), else None."""
        return self.payload if isinstance(self.payload, Packet) else None

    @property
    def next_header(self) -> int:
        """Protocol number of the upper layer (58, 135, 41 or the raw value)."""
        return _payload_nh(self.payload)


def _payload_nh(payload: Payload) -> int:
    if isinstance(payload, Packet):
        return NH_IPV6
    if isinstance(payload, RawPayload):
        return payload.next_header
    if isinstance(payload, _MOBILITY_TYPES):
        return NH_MOBILITY
    return NH_ICMPV6


# ---------------------------------------------------------------------------------------------------------------
# decode
# ---------------------------------------------------------------------------------------------------------------


def decode_packet(data: bytes, *, verify_checksums: bool = True, offset: int = 0, _depth: int = 0) -> Packet:
    """Decode one IPv6 packet.  Bytes after the IPv6 payload length (Ethernet padding) are ignored.

    ``verify_checksums=False`` accepts ICMPv6 / Mobility Header checksums that do not match (for inspecting
    what a faulty sender sent); everything else stays strict.
    """
    if len(data) < 40:
        raise DecodeError("ipv6 header truncated", offset)
    vtf, plen, nh, hop_limit, src, dst = _IPV6.unpack_from(data)
    if vtf >> 28 != 6:
        raise DecodeError("ip version is not 6", offset)
    if 40 + plen > len(data):
        raise DecodeError("ipv6 payload length exceeds packet", offset + 4)
    body = bytes(data[40 : 40 + plen])
    base = offset + 40
    pos = 0
    hop_by_hop: bytes | None = None
    home: bytes | None = None
    rh2: bytes | None = None
    others: list[Ipv6Option] = []
    dest_headers = 0
    while nh in (NH_HOPOPTS, NH_ROUTING, NH_DSTOPTS):
        if len(body) - pos < 8:
            raise DecodeError("extension header truncated", base + pos)
        next_nh, units = body[pos], body[pos + 1]
        size = (units + 1) * 8
        if pos + size > len(body):
            raise DecodeError("extension header length exceeds packet", base + pos + 1)
        if nh == NH_HOPOPTS:
            if pos != 0:
                raise DecodeError("hop-by-hop header not first", base + pos)
            _walk_options(body, pos + 2, pos + size, base, others=None)
            hop_by_hop = body[pos + 2 : pos + size]
        elif nh == NH_ROUTING:
            rtype, segleft = body[pos + 2], body[pos + 3]
            if rtype != 2:
                raise DecodeError(f"routing header type {rtype} unsupported (only type 2)", base + pos + 2)
            if units != 2:
                raise DecodeError("type 2 routing header length != 2", base + pos + 1)
            if segleft != 1:
                raise DecodeError("type 2 routing header segments left != 1", base + pos + 3)
            if rh2 is not None:
                raise DecodeError("more than one routing header", base + pos)
            rh2 = body[pos + 8 : pos + 24]
        else:
            dest_headers += 1
            if dest_headers > 2:
                raise DecodeError("more than two destination options headers", base + pos)
            found = _walk_options(body, pos + 2, pos + size, base, others=others)
            if found is not None:
                if home is not None:
                    raise DecodeError("more than one home address option", base + pos)
                home = found
        nh = next_nh
        pos += size
    upper = body[pos:]
    upper_at = base + pos
    payload: Payload
    if nh == NH_ICMPV6:
        if len(upper) < 4:  # before the checksum: its field (the error's offset) must exist
            raise DecodeError("icmpv6 header truncated", upper_at)
        if verify_checksums:
            csrc, cdst = pseudo_addresses(src, dst, home, rh2)
            if not verify_upper_layer_checksum(csrc, cdst, NH_ICMPV6, upper):
                raise DecodeError("bad icmpv6 checksum", upper_at + 2)
        payload = decode_icmpv6(upper, upper_at)
    elif nh == NH_MOBILITY:
        if len(upper) < 8:
            raise DecodeError("mobility header truncated", upper_at)
        total = (upper[1] + 1) * 8
        if total > len(upper):
            raise DecodeError("mobility header length exceeds packet", upper_at + 1)
        if verify_checksums:
            csrc, cdst = pseudo_addresses(src, dst, home, rh2)
            if not verify_upper_layer_checksum(csrc, cdst, NH_MOBILITY, upper[:total]):
                raise DecodeError("bad mobility header checksum", upper_at + 4)
        payload = decode_mh(upper, upper_at)
    elif nh == NH_IPV6:
        if _depth >= MAX_TUNNEL_DEPTH:
            raise DecodeError("ipv6-in-ipv6 nested too deep", upper_at)
        payload = decode_packet(upper, verify_checksums=verify_checksums, offset=upper_at, _depth=_depth + 1)
    elif nh == NH_AH:
        payload = RawPayload(nh, upper, bytes(data[: 40 + pos]))
    else:
        payload = RawPayload(nh, upper)
    return Packet(
        src, dst, payload, hop_limit, home, rh2, hop_by_hop, tuple(others), (vtf >> 20) & 0xFF, vtf & 0xFFFFF,
    )


def _walk_options(body: bytes, pos: int, end: int, base: int, others: list[Ipv6Option] | None) -> bytes | None:
    """Check an options area (RFC 8200 §4.2); collect non-pad options into ``others``; return the HAO address."""
    home = None
    while pos < end:
        otype = body[pos]
        if otype == 0:
            pos += 1
            continue
        if end - pos < 2:
            raise DecodeError("ipv6 option truncated", base + pos)
        olen = body[pos + 1]
        if pos + 2 + olen > end:
            raise DecodeError("ipv6 option overruns header", base + pos + 1)
        if others is not None and otype != 1:
            if otype == HAO_TYPE:
                if olen != 16:
                    raise DecodeError("home address option length != 16", base + pos + 1)
                if home is not None:
                    raise DecodeError("more than one home address option", base + pos)
                home = body[pos + 2 : pos + 18]
            else:
                others.append(Ipv6Option(otype, body[pos + 2 : pos + 2 + olen]))
        pos += 2 + olen
    return home


def decode_frame(data: bytes, *, verify_checksums: bool = True) -> Frame:
    """Decode an Ethernet II frame carrying IPv6 (no FCS, no VLAN tag)."""
    if len(data) < 14:
        raise DecodeError("ethernet header truncated", 0)
    dst, src, ethertype = _ETH.unpack_from(data)
    if ethertype != ETHERTYPE_IPV6:
        raise DecodeError(f"ethertype 0x{ethertype:04x} is not IPv6", 12)
    return Frame(dst, src, decode_packet(data[14:], verify_checksums=verify_checksums, offset=14))


# ---------------------------------------------------------------------------------------------------------------
# encode
# ---------------------------------------------------------------------------------------------------------------


def _pad_options(n: int) -> bytes:
    if n == 0:
        return b""
    if n == 1:
        return b"\x00"
    return bytes((1, n - 2)) + bytes(n - 2)


def _ext(next_nh: int, area: bytes) -> bytes:
    """An options extension header around ``area`` (after the 2-octet head), padded to 8n."""
    area = area + _pad_options(-(2 + len(area)) % 8)
    return bytes((next_nh, (2 + len(area)) // 8 - 1)) + area


def encode_packet(packet: Packet, *, checksum: int | None = None) -> bytes:
    """IPv6 bytes for ``packet`` with correct checksums, or the given ``checksum`` (for negative tests)."""
    for name in ("src", "dst"):
        if len(getattr(packet, name)) != 16:
            raise ValueError(f"{name} must be 16 bytes")
    payload = packet.payload
    try:
        if isinstance(payload, Packet):
            upper, upper_nh = encode_packet(payload), NH_IPV6
        elif isinstance(payload, RawPayload):
            upper, upper_nh = payload.data, payload.next_header
        elif _payload_nh(payload) == NH_MOBILITY:
            upper, upper_nh = encode_mh(payload), NH_MOBILITY
        else:
            upper, upper_nh = encode_icmpv6(payload), NH_ICMPV6
    except struct.error as exc:
        raise ValueError(f"field out of range in {type(payload).__name__}: {exc}") from exc
    if upper_nh in (NH_ICMPV6, NH_MOBILITY) and not isinstance(payload, RawPayload):
        at = 2 if upper_nh == NH_ICMPV6 else 4
        if checksum is None:
            csrc, cdst = pseudo_addresses(packet.src, packet.dst, packet.home_address, packet.rh2_address)
            checksum = upper_layer_checksum(csrc, cdst, upper_nh, upper)
        upper = upper[:at] + struct.pack("!H", checksum) + upper[at + 2 :]
    chain: list[tuple[int, bytes]] = []  # (header code, bytes without next-header octet filled)
    if packet.hop_by_hop is not None:
        chain.append((NH_HOPOPTS, packet.hop_by_hop))
    if packet.rh2_address is not None:
        if len(packet.rh2_address) != 16:
            raise ValueError("rh2_address must be 16 bytes")
        chain.append((NH_ROUTING, b""))
    if packet.home_address is not None or packet.dest_options:
        area = bytearray()
        if packet.home_address is not None:
            if len(packet.home_address) != 16:
                raise ValueError("home_address must be 16 bytes")
            area += _pad_options(4) + bytes((HAO_TYPE, 16)) + packet.home_address  # HAO type at offset 8n+6
        for opt in packet.dest_options:
            area += bytes((opt.type, len(opt.data))) + opt.data
        chain.append((NH_DSTOPTS, bytes(area)))
    headers = bytearray()
    for i, (code, area) in enumerate(chain):
        next_nh = chain[i + 1][0] if i + 1 < len(chain) else upper_nh
        if code == NH_ROUTING:
            headers += bytes((next_nh, 2, 2, 1, 0, 0, 0, 0)) + packet.rh2_address
        else:
            headers += _ext(next_nh, area)
    first_nh = chain[0][0] if chain else upper_nh
    plen = len(headers) + len(upper)
    if plen > 0xFFFF:
        raise ValueError("payload longer than 65535 octets (jumbograms unsupported)")
    if not (0 <= packet.traffic_class <= 0xFF and 0 <= packet.flow_label <= 0xFFFFF):
        raise ValueError("traffic class has 8 bits, flow label 20")
    try:
        head = _IPV6.pack(
            (6 << 28) | (packet.traffic_class << 20) | packet.flow_label, plen, first_nh, packet.hop_limit,
            packet.src, packet.dst,
        )
    except struct.error as exc:
        raise ValueError(f"IPv6 header field out of range: {exc}") from exc
    return head + bytes(headers) + upper


@dataclass(slots=True, frozen=True)
class Frame:
    """Ethernet II frame (IEEE 802.3 / RFC 2464) carrying an IPv6 packet."""

    dst: bytes
    src: bytes
    packet: Packet


def encode_frame(frame: Frame, *, checksum: int | None = None) -> bytes:
    if len(frame.dst) != 6 or len(frame.src) != 6:
        raise ValueError("MAC addresses must be 6 bytes")
    return _ETH.pack(frame.dst, frame.src, ETHERTYPE_IPV6) + encode_packet(frame.packet, checksum=checksum)
