"""rtnetlink framing shared by the daemons' in-process kernel code (RFC 3549; ``linux/netlink.h``): message
headers, attributes, the messages of one datagram.  :mod:`.mn_kernel` (the mobile node's address, route and rule
requests) and :mod:`.nexthop` (the MAP's route and neighbour queries) build on it."""

from __future__ import annotations

import struct

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
RTM_NEWLINK, RTM_DELLINK = 16, 17
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
RTN_UNICAST = 1

HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence number, port id
_ATTR = struct.Struct("=HH")


def header(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    """One netlink message: header and ``body``."""
    return HEADER.pack(HEADER.size + len(body), kind, flags, seq, 0) + body


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 octets."""
    length = 4 + len(payload)
    return _ATTR.pack(length, kind) + payload + b"\0" * (-length % 4)


def parse_attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """Attributes from ``offset`` to the end of ``data`` (the last of each type wins; nested ones stay packed)."""
    out: dict[int, bytes] = {}
    while offset + 4 <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return out


def framed(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, sequence number, body) of each netlink message in one datagram."""
    out = []
    offset = 0
    while offset + HEADER.size <= len(data):
        length, kind, _flags, seq, _pid = HEADER.unpack_from(data, offset)
        if length < HEADER.size or offset + length > len(data):
            break
        out.append((kind, seq, data[offset + HEADER.size:offset + length]))
        offset += (length + 3) & ~3
    return out


def messages(data: bytes) -> list[tuple[int, bytes]]:
    """(type, body) of each netlink message in one datagram."""
    return [(kind, body) for kind, _seq, body in framed(data)]
