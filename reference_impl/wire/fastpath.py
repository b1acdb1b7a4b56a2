"""Fast paths: peek at, rewrite and build raw packet bytes with ``struct``, without building objects.

For a userspace data plane (tunnelling to LCoAs, checking reverse-tunnelled packets) and for a MAP's binding
refreshes at tens of thousands of packets per second.  Every function returns None instead of raising on input
it cannot handle; :func:`local_bu` accepts only one exact layout (a subset of what the full decoder accepts, read
the same way) so that anything else takes the full path.
"""

from __future__ import annotations

import struct

__all__ = [
    "binding_ack",
    "decapsulate",
    "decrement_hop_limit",
    "encapsulate",
    "frame_payload",
    "local_bu",
    "peek",
    "upper_layer",
]

_HEAD = struct.Struct("!IHBB16s16s")
_ADDRS = struct.Struct("!16s16s")
_ETHERTYPE_IPV6 = b"\x86\xdd"


def frame_payload(frame: bytes) -> bytes | None:
    """The IPv6 packet inside an Ethernet II frame, or None if the frame is not IPv6."""
    if len(frame) < 54 or frame[12:14] != _ETHERTYPE_IPV6:
        return None
    return frame[14:]


def peek(packet: bytes) -> tuple[int, bytes, bytes] | None:
    """(next header, source, destination) of an IPv6 packet, or None if it is not one."""
    if len(packet) < 40 or packet[0] >> 4 != 6:
        return None
    src, dst = _ADDRS.unpack_from(packet, 8)
    return packet[6], src, dst


def upper_layer(packet: bytes) -> tuple[int, int] | None:
    """(protocol, offset) of the upper layer after Hop-by-Hop / Routing / Destination Options headers."""
    if len(packet) < 40 or packet[0] >> 4 != 6:
        return None
    nh, pos, end = packet[6], 40, len(packet)
    while nh in (0, 43, 60):
        if pos + 2 > end:
            return None
        nh, pos = packet[pos], pos + (packet[pos + 1] + 1) * 8
    return (nh, pos) if pos <= end else None


def encapsulate(src: bytes, dst: bytes, inner: bytes, hop_limit: int = 64) -> bytes:
    """RFC 2473 IPv6-in-IPv6: a 40-octet outer header (next header 41) in front of ``inner``."""
    return _HEAD.pack(6 << 28, len(inner), 41, hop_limit, src, dst) + inner


def decapsulate(packet: bytes) -> tuple[bytes, bytes] | None:
    """(outer source, inner packet) if ``packet`` is IPv6 carrying IPv6 directly, else None."""
    if len(packet) < 80 or packet[0] >> 4 != 6 or packet[6] != 41:
        return None
    plen = (packet[4] << 8) | packet[5]
    inner = packet[40 : 40 + plen]
    if len(inner) < 40 or inner[0] >> 4 != 6:
        return None
    return packet[8:24], inner


def decrement_hop_limit(packet: bytes) -> bytes | None:
    """A copy with the hop limit decremented, or None if it would reach 0 (RFC 8200 §3: discard)."""
    if len(packet) < 40 or packet[7] <= 1:
        return None
    return packet[:7] + bytes((packet[7] - 1,)) + packet[8:]


# ------------------------------------------------------------------------------------------ BU in, BA out
# The layout reference_impl.wire.encode_packet gives a BU with a Home Address option and no mobility options:
#   IPv6 (next header 60, payload length 40) | Destination Options: next header 135, length 2 (24 octets),
#   PadN 2, HAO (type 201, length 16, at 8n+6) | Mobility Header: payload proto 59, length 1 (16 octets),
#   MH type 5, reserved 0, checksum, sequence, flags, lifetime, PadN 2 (trailing padding)
# and the BA a MAP answers it with: IPv6 (next header 43, payload length 40) | type 2 routing header
#   (next header 135, length 2, type 2, segments left 1, reserved, RCoA) | Mobility Header type 6, PadN 2.
_BU_DSTOPTS = bytes((135, 2, 1, 2, 0, 0, 201, 16))
_MH_BU = bytes((59, 1, 5, 0))
_MH_PAD = bytes((1, 2, 0, 0))
_BU_FIELDS = struct.Struct("!HHH")
_BU_SUM = struct.Struct("!8H8x16H")  # from the IPv6 destination: destination, (skip) home address + MH
_RH2 = bytes((135, 2, 2, 1, 0, 0, 0, 0))
_BA_MH = struct.Struct("!BBBBHBBHH4s")
_WORDS8 = struct.Struct("!8H")
_BA_CONST = (59 << 8 | 1) + (6 << 8) + 0x0102 + 16 + 135  # fixed MH words + pseudo-header length and next header


def local_bu(packet: bytes) -> tuple[bytes, bytes, bytes, int, int, int] | None:
    """(source, destination, home address, sequence, flags, lifetime) of a Binding Update laid out exactly as
    the reference codec sends one with a Home Address option and no mobility options, its checksum verified
    with the home address as pseudo-header source (RFC 6275 §6.1.1); None for any other packet."""
    if len(packet) < 80 or packet[0] >> 4 != 6 or packet[4:7] != b"\x00\x28\x3c" or packet[40:48] != _BU_DSTOPTS \
            or packet[64:68] != _MH_BU or packet[76:80] != _MH_PAD:
        return None
    total = sum(_BU_SUM.unpack_from(packet, 24)) + 16 + 135
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    if total != 0xFFFF:
        return None
    seq, flags, lifetime = _BU_FIELDS.unpack_from(packet, 70)
    return packet[8:24], packet[24:40], packet[48:64], seq, flags, lifetime


def binding_ack(src: bytes, dst: bytes, rcoa: bytes, status: int, seq: int, lifetime: int) -> bytes:
    """The BA (K flag clear, no mobility options) from ``src`` to ``dst`` with a type 2 routing header holding
    ``rcoa``, as :func:`~reference_impl.wire.encode_packet` encodes it (hop limit 64)."""
    total = sum(_WORDS8.unpack(src)) + sum(_WORDS8.unpack(rcoa)) + _BA_CONST + (status << 8) + seq + lifetime
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return (_HEAD.pack(6 << 28, 40, 43, 64, src, dst) + _RH2 + rcoa
            + _BA_MH.pack(59, 1, 6, 0, ~total & 0xFFFF, status, 0, seq, lifetime, _MH_PAD))
