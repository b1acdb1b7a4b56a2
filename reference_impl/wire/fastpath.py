"""Forwarding fast paths: peek at and rewrite raw packet bytes with ``struct``, without building objects.

For a userspace data plane (tunnelling to LCoAs, checking reverse-tunnelled packets) at tens of thousands of
packets per second.  Every function returns None instead of raising on input it cannot handle.
"""

from __future__ import annotations

import struct

__all__ = [
    "decapsulate",
    "decrement_hop_limit",
    "encapsulate",
    "frame_payload",
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
