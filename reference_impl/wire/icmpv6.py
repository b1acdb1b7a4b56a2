"""ICMPv6 messages (RFC 4443) and Neighbor Discovery (RFC 4861) with the HMIPv6 MAP option.

Each message and option is one frozen dataclass; its docstring names the clause and draws the layout.
:func:`decode_icmpv6` turns the ICMPv6 bytes (checksum already verified by the packet decoder) into one of them,
:func:`encode_icmpv6` does the reverse with a zero checksum that the packet encoder fills in.

ND messages keep their ``code`` and reserved fields so that a checker can see what a sender put there;
validation that depends on the IPv6 header (hop limit 255, source address rules) belongs to the receiver.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Union

from .errors import DecodeError

__all__ = [
    "AdvertisementInterval",
    "EchoReply",
    "EchoRequest",
    "IcmpMessage",
    "Icmpv6Opaque",
    "MapOption",
    "Mtu",
    "NdOption",
    "NdOptionUnknown",
    "NeighborAdvertisement",
    "NeighborSolicitation",
    "PI_A",
    "PI_L",
    "PI_R",
    "PrefixInformation",
    "RA_H",
    "RA_M",
    "RA_O",
    "RouterAdvertisement",
    "RouterSolicitation",
    "SourceLinkLayerAddress",
    "TargetLinkLayerAddress",
    "decode_icmpv6",
    "decode_nd_options",
    "encode_icmpv6",
    "encode_nd_options",
    "ethernet_lladdr",
]

# ---------------------------------------------------------------------------------------------------------------
# Neighbor Discovery options (RFC 4861 §4.6): Type (8) | Length (8, units of 8 octets, 0 forbidden) | data
# ---------------------------------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class SourceLinkLayerAddress:
    """Source Link-Layer Address option, type 1 (RFC 4861 §4.6.1).  ``address``: 6 bytes on Ethernet."""

    TYPE: ClassVar[int] = 1
    address: bytes


@dataclass(slots=True, frozen=True)
class TargetLinkLayerAddress:
    """Target Link-Layer Address option, type 2 (RFC 4861 §4.6.1)."""

    TYPE: ClassVar[int] = 2
    address: bytes


PI_L = 0x80  # on-link
PI_A = 0x40  # autonomous address configuration
PI_R = 0x20  # router address (RFC 6275 §7.2)


@dataclass(slots=True, frozen=True)
class PrefixInformation:
    """Prefix Information option, type 3, length 4 (RFC 4861 §4.6.2; R flag RFC 6275 §7.2).

    Prefix Length (8) | L A R Reserved1 (8) | Valid Lifetime (32) | Preferred Lifetime (32) | Reserved2 (32)
    | Prefix (128)
    """

    TYPE: ClassVar[int] = 3
    LENGTH: ClassVar[int] = 4
    FORMAT: ClassVar[struct.Struct] = struct.Struct("!BBIII16s")
    prefix: bytes
    prefix_length: int = 64
    flags: int = PI_L | PI_A
    valid_lifetime: int = 2592000
    preferred_lifetime: int = 604800
    reserved2: int = 0


@dataclass(slots=True, frozen=True)
class Mtu:
    """MTU option, type 5, length 1 (RFC 4861 §4.6.4): Reserved (16) | MTU (32)."""

    TYPE: ClassVar[int] = 5
    LENGTH: ClassVar[int] = 1
    FORMAT: ClassVar[struct.Struct] = struct.Struct("!HI")
    mtu: int
    reserved: int = 0


@dataclass(slots=True, frozen=True)
class AdvertisementInterval:
    """Advertisement Interval option, type 7, length 1 (RFC 6275 §7.3): Reserved (16) | interval in ms (32)."""

    TYPE: ClassVar[int] = 7
    LENGTH: ClassVar[int] = 1
    FORMAT: ClassVar[struct.Struct] = struct.Struct("!HI")
    interval_ms: int
    reserved: int = 0


@dataclass(slots=True, frozen=True)
class MapOption:
    """MAP option, type 23, length 3 (base document §5; type assigned in RFC 4140 §11, RFC 5380 §5).

    Dist (4) | Pref (4) | R (1) | Reserved (7) | Valid Lifetime (32) | Global IP Address for MAP (128)

    ``dist`` 0 MUST NOT be used; ``pref`` 15 is the highest; ``valid_lifetime`` 0 signals MAP failure (§10).
    The R flag means "form the RCoA from this prefix" in RFC 4140 and "the MAP allocates the RCoA
    (RFC 4877 §9)" in RFC 5380; the bit is the same.
    """

    TYPE: ClassVar[int] = 23
    LENGTH: ClassVar[int] = 3
    FORMAT: ClassVar[struct.Struct] = struct.Struct("!BBI16s")
    address: bytes
    dist: int = 1
    pref: int = 10
    r: bool = True
    valid_lifetime: int = 0xFFFFFFFF
    reserved: int = 0


@dataclass(slots=True, frozen=True)
class NdOptionUnknown:
    """Any other ND option, kept as type + the ``8 * length - 2`` data bytes (RFC 4861 §4.6: skip unknown)."""

    type: int
    data: bytes


NdOption = Union[
    SourceLinkLayerAddress, TargetLinkLayerAddress, PrefixInformation, Mtu, AdvertisementInterval, MapOption,
    NdOptionUnknown,
]


def decode_nd_options(data: bytes, offset: int = 0) -> tuple[NdOption, ...]:
    """Decode an ND option list.  ``offset`` is the position of ``data`` in the original buffer (for errors)."""
    options: list[NdOption] = []
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < 2:
            raise DecodeError("nd option truncated", offset + pos)
        otype = data[pos]
        units = data[pos + 1]
        if units == 0:
            raise DecodeError("nd option length 0", offset + pos)  # RFC 4861 §4.6: MUST discard
        size = units * 8
        if pos + size > end:
            raise DecodeError("nd option overruns message", offset + pos)
        body = data[pos + 2 : pos + size]
        if otype == 1:
            options.append(SourceLinkLayerAddress(body[:6] if units == 1 else body))
        elif otype == 2:
            options.append(TargetLinkLayerAddress(body[:6] if units == 1 else body))
        elif otype == 3:
            if units != 4:
                raise DecodeError("prefix information length != 4", offset + pos)
            plen, flags, valid, preferred, res2, prefix = PrefixInformation.FORMAT.unpack(body)
            options.append(PrefixInformation(prefix, plen, flags, valid, preferred, res2))
        elif otype == 5:
            if units != 1:
                raise DecodeError("mtu option length != 1", offset + pos)
            reserved, mtu = Mtu.FORMAT.unpack(body)
            options.append(Mtu(mtu, reserved))
        elif otype == 7:
            if units != 1:
                raise DecodeError("advertisement interval length != 1", offset + pos)
            reserved, interval = AdvertisementInterval.FORMAT.unpack(body)
            options.append(AdvertisementInterval(interval, reserved))
        elif otype == 23:
            if units != 3:
                raise DecodeError("map option length != 3", offset + pos)
            dist_pref, r_res, valid, address = MapOption.FORMAT.unpack(body)
            options.append(MapOption(address, dist_pref >> 4, dist_pref & 0x0F, bool(r_res & 0x80), valid,
                                     r_res & 0x7F))
        else:
            options.append(NdOptionUnknown(otype, body))
        pos += size
    return tuple(options)


def ethernet_lladdr(options: tuple[NdOption, ...] | list[NdOption],
                    kind: type[SourceLinkLayerAddress | TargetLinkLayerAddress] = SourceLinkLayerAddress
                    ) -> bytes | None:
    """The Ethernet address carried by the first ``kind`` option of ``options``, or None when there is none or it
    does not hold one: on Ethernet the option has Length 1 and carries the 6-octet address (RFC 2464 §6; RFC 4861
    §4.6.1: "the length for IEEE 802 addresses is 1"), so any other length is treated as an absent option."""
    option = next((o for o in options if isinstance(o, kind)), None)
    return option.address if option is not None and len(option.address) == 6 else None


def _lladdr(otype: int, address: bytes) -> bytes:
    units = (len(address) + 2 + 7) // 8
    return bytes((otype, units)) + address + bytes(units * 8 - 2 - len(address))


def encode_nd_options(options: tuple[NdOption, ...] | list[NdOption]) -> bytes:
    out = bytearray()
    for opt in options:
        if isinstance(opt, (SourceLinkLayerAddress, TargetLinkLayerAddress)):
            out += _lladdr(opt.TYPE, opt.address)
        elif isinstance(opt, PrefixInformation):
            out += bytes((3, 4)) + PrefixInformation.FORMAT.pack(
                opt.prefix_length, opt.flags, opt.valid_lifetime, opt.preferred_lifetime, opt.reserved2, opt.prefix)
        elif isinstance(opt, Mtu):
            out += bytes((5, 1)) + Mtu.FORMAT.pack(opt.reserved, opt.mtu)
        elif isinstance(opt, AdvertisementInterval):
            out += bytes((7, 1)) + AdvertisementInterval.FORMAT.pack(opt.reserved, opt.interval_ms)
        elif isinstance(opt, MapOption):
            if not (0 <= opt.dist <= 15 and 0 <= opt.pref <= 15 and 0 <= opt.reserved <= 0x7F):
                raise ValueError(f"MAP option field out of range: {opt}")
            out += bytes((23, 3)) + MapOption.FORMAT.pack(
                (opt.dist << 4) | opt.pref, (0x80 if opt.r else 0) | opt.reserved, opt.valid_lifetime, opt.address)
        elif isinstance(opt, NdOptionUnknown):
            if (len(opt.data) + 2) % 8:
                raise ValueError("unknown ND option data must make the option a multiple of 8 octets")
            out += bytes((opt.type, (len(opt.data) + 2) // 8)) + opt.data
        else:
            raise TypeError(f"not an ND option: {opt!r}")
    return bytes(out)


# ---------------------------------------------------------------------------------------------------------------
# Messages.  ICMPv6 header (RFC 4443 §2.1): Type (8) | Code (8) | Checksum (16) | body
# ---------------------------------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class RouterSolicitation:
    """Router Solicitation, type 133 (RFC 4861 §4.1): Reserved (32) | options."""

    TYPE: ClassVar[int] = 133
    options: tuple[NdOption, ...] = ()
    reserved: int = 0
    code: int = 0


RA_M = 0x80  # managed address configuration
RA_O = 0x40  # other configuration
RA_H = 0x20  # home agent (RFC 6275 §7.1)


@dataclass(slots=True, frozen=True)
class RouterAdvertisement:
    """Router Advertisement, type 134 (RFC 4861 §4.2; H flag RFC 6275 §7.1).

    Cur Hop Limit (8) | M O H + 5 other bits (8) | Router Lifetime (16) | Reachable Time (32) | Retrans Timer (32)
    | options
    """

    TYPE: ClassVar[int] = 134
    FORMAT: ClassVar[struct.Struct] = struct.Struct("!BBHII")
    cur_hop_limit: int = 64
    flags: int = 0
    router_lifetime: int = 1800
    reachable_time: int = 0
    retrans_timer: int = 0
    options: tuple[NdOption, ...] = ()
    code: int = 0

    @property
    def map_options(self) -> tuple[MapOption, ...]:
        return tuple(o for o in self.options if isinstance(o, MapOption))


@dataclass(slots=True, frozen=True)
class NeighborSolicitation:
    """Neighbor Solicitation, type 135 (RFC 4861 §4.3): Reserved (32) | Target Address (128) | options."""

    TYPE: ClassVar[int] = 135
    FORMAT: ClassVar[struct.Struct] = struct.Struct("!I16s")
    target: bytes
    options: tuple[NdOption, ...] = ()
    reserved: int = 0
    code: int = 0


@dataclass(slots=True, frozen=True)
class NeighborAdvertisement:
    """Neighbor Advertisement, type 136 (RFC 4861 §4.4).

    R (1) | S (1) | O (1) | Reserved (29) | Target Address (128) | options
    """

    TYPE: ClassVar[int] = 136
    FORMAT: ClassVar[struct.Struct] = struct.Struct("!I16s")
    target: bytes
    r: bool = False
    s: bool = False
    o: bool = False
    options: tuple[NdOption, ...] = ()
    reserved: int = 0
    code: int = 0


@dataclass(slots=True, frozen=True)
class EchoRequest:
    """Echo Request, type 128 (RFC 4443 §4.1): Identifier (16) | Sequence Number (16) | data."""

    TYPE: ClassVar[int] = 128
    FORMAT: ClassVar[struct.Struct] = struct.Struct("!HH")
    identifier: int
    sequence: int
    data: bytes = b""
    code: int = 0


@dataclass(slots=True, frozen=True)
class EchoReply:
    """Echo Reply, type 129 (RFC 4443 §4.2): Identifier (16) | Sequence Number (16) | data."""

    TYPE: ClassVar[int] = 129
    FORMAT: ClassVar[struct.Struct] = struct.Struct("!HH")
    identifier: int
    sequence: int
    data: bytes = b""
    code: int = 0


@dataclass(slots=True, frozen=True)
class Icmpv6Opaque:
    """Any other ICMPv6 message, errors (types 1–4, RFC 4443 §3) included: type, code and the body after the
    checksum, uninterpreted."""

    type: int
    code: int
    body: bytes = b""


IcmpMessage = Union[
    RouterSolicitation, RouterAdvertisement, NeighborSolicitation, NeighborAdvertisement, EchoRequest, EchoReply,
    Icmpv6Opaque,
]

_NA_R, _NA_S, _NA_O = 0x80000000, 0x40000000, 0x20000000
_U32 = struct.Struct("!I")


def decode_icmpv6(data: bytes, offset: int = 0) -> IcmpMessage:
    """Decode ICMPv6 bytes (header included, checksum NOT checked here).  ``offset``: position in the buffer."""
    if len(data) < 4:
        raise DecodeError("icmpv6 header truncated", offset)
    mtype, code = data[0], data[1]
    body = data[4:]
    if mtype == 133:
        if len(body) < 4:
            raise DecodeError("router solicitation truncated", offset + 4)
        return RouterSolicitation(decode_nd_options(body[4:], offset + 8), _U32.unpack_from(body)[0], code)
    if mtype == 134:
        if len(body) < 12:
            raise DecodeError("router advertisement truncated", offset + 4)
        chl, flags, lifetime, reachable, retrans = RouterAdvertisement.FORMAT.unpack_from(body)
        options = decode_nd_options(body[12:], offset + 16)
        return RouterAdvertisement(chl, flags, lifetime, reachable, retrans, options, code)
    if mtype == 135:
        if len(body) < 20:
            raise DecodeError("neighbor solicitation truncated", offset + 4)
        reserved, target = NeighborSolicitation.FORMAT.unpack_from(body)
        return NeighborSolicitation(target, decode_nd_options(body[20:], offset + 24), reserved, code)
    if mtype == 136:
        if len(body) < 20:
            raise DecodeError("neighbor advertisement truncated", offset + 4)
        word, target = NeighborAdvertisement.FORMAT.unpack_from(body)
        return NeighborAdvertisement(
            target, bool(word & _NA_R), bool(word & _NA_S), bool(word & _NA_O),
            decode_nd_options(body[20:], offset + 24), word & 0x1FFFFFFF, code)
    if mtype in (128, 129):
        if len(body) < 4:
            raise DecodeError("echo truncated", offset + 4)
        ident, seq = EchoRequest.FORMAT.unpack_from(body)
        cls = EchoRequest if mtype == 128 else EchoReply
        return cls(ident, seq, bytes(body[4:]), code)
    return Icmpv6Opaque(mtype, code, bytes(body))


def encode_icmpv6(msg: IcmpMessage) -> bytes:
    """ICMPv6 bytes with a zero checksum (the packet encoder computes it from the pseudo-header)."""
    if isinstance(msg, Icmpv6Opaque):
        return bytes((msg.type, msg.code, 0, 0)) + msg.body
    head = bytes((msg.TYPE, msg.code, 0, 0))
    if isinstance(msg, RouterSolicitation):
        return head + _U32.pack(msg.reserved) + encode_nd_options(msg.options)
    if isinstance(msg, RouterAdvertisement):
        return head + RouterAdvertisement.FORMAT.pack(
            msg.cur_hop_limit, msg.flags, msg.router_lifetime, msg.reachable_time, msg.retrans_timer,
        ) + encode_nd_options(msg.options)
    if isinstance(msg, NeighborSolicitation):
        return head + NeighborSolicitation.FORMAT.pack(msg.reserved, msg.target) + encode_nd_options(msg.options)
    if isinstance(msg, NeighborAdvertisement):
        if not 0 <= msg.reserved <= 0x1FFFFFFF:
            raise ValueError("NA reserved field has 29 bits")
        word = (_NA_R if msg.r else 0) | (_NA_S if msg.s else 0) | (_NA_O if msg.o else 0) | msg.reserved
        return head + NeighborAdvertisement.FORMAT.pack(word, msg.target) + encode_nd_options(msg.options)
    if isinstance(msg, (EchoRequest, EchoReply)):
        return head + EchoRequest.FORMAT.pack(msg.identifier, msg.sequence) + msg.data
    raise TypeError(f"not an ICMPv6 message: {msg!r}")
