"""Local BUs and BAs on bytes, for thousands of mobile nodes per second.

A local BU (base §4.1, §6.1; RFC 6275 §6.1.7) as the reference codec lays it out::

    IPv6 (src LCoA, dst MAP, next header 60) | Destination Options: PadN(2), Home Address option = RCoA (8n+6)
    | [ESP | AH] | Mobility Header: BU, A and M set, sequence number, lifetime (4 s units), PadN(2)

The Mobility Header checksum covers the pseudo-header with the *home address* (the RCoA) as source (RFC 6275
§6.1.1), so a move (new LCoA, same RCoA) changes no checksum; the sum of the constant part is computed once.
:func:`check_builder` compares the result with :func:`reference_impl.wire.encode_packet` (a fleet does it at start).

BAs are read with a walk over the extension headers (any order RFC 8200 allows), the type 2 routing header's
address being the RCoA the BA is about (base §6.1: a BA without it MUST be silently ignored); the checksum is
verified with the routing header's address as the pseudo-header destination (RFC 8200 §8.1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..wire import BU_A, BU_M, BindingUpdate, Packet, decode_packet, encode_packet
from .protection import FleetProtection

__all__ = ["BaView", "LocalBuBuilder", "check_builder", "parse_ba", "sum16"]

NH_DSTOPTS, NH_ROUTING, NH_HOPOPTS, NH_MOBILITY, MH_BA = 60, 43, 0, 135, 6
_IPV6 = struct.Struct("!IHBB16s16s")
_WORDS8 = struct.Struct("!8H")
_BU_TAIL = struct.Struct("!HHHH")  # checksum, sequence, flags, lifetime
_BU_HEAD = bytes((59, 1, 5, 0))  # payload proto none, header length 1 (16 octets), MH type 5, reserved
_BU_PAD = bytes((1, 2, 0, 0))  # PadN to the 8-octet multiple
_HAO_HEAD = bytes((1, 2, 0, 0, 201, 16))  # PadN(2) then Home Address option type 201, length 16 (8n+6)
_BA = struct.Struct("!BBHH")  # status, flags, sequence, lifetime (after the 6-octet MH header)


def sum16(data: bytes) -> int:
    """Sum of big-endian 16-bit words of an even-length ``data`` (not folded)."""
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


class LocalBuBuilder:
    """BU packets from one fleet to one MAP, protected by ``protection``."""

    def __init__(self, map_address: bytes, protection: FleetProtection, hop_limit: int = 64,
                 flags: int = BU_A | BU_M) -> None:
        self.map_address, self.protection, self.hop_limit, self.flags = map_address, protection, hop_limit, flags
        mh_len = len(_BU_HEAD) + _BU_TAIL.size + len(_BU_PAD)
        # pseudo-header (minus the RCoA) + the Mobility Header's constant words
        self._base = sum16(map_address) + mh_len + NH_MOBILITY + sum16(_BU_HEAD) + flags + sum16(_BU_PAD)

    def mobility_header(self, rcoa_sum: int, seq: int, units: int) -> bytes:
        """The BU's Mobility Header with its checksum, for an RCoA whose word sum is ``rcoa_sum``."""
        checksum = ~_fold(self._base + rcoa_sum + seq + units) & 0xFFFF
        return _BU_HEAD + _BU_TAIL.pack(checksum, seq, self.flags, units) + _BU_PAD

    def build(self, lcoa: bytes, rcoa: bytes, seq: int, units: int, rcoa_sum: int | None = None) -> bytes:
        """The whole IPv6 packet: LCoA -> MAP, HAO = RCoA, BU(seq, A|M, units), protected."""
        if rcoa_sum is None:
            rcoa_sum = sum(_WORDS8.unpack(rcoa))
        mh = self.mobility_header(rcoa_sum, seq, units)
        hop_limit, dst = self.hop_limit, self.map_address

        def head(next_header: int, upper: int) -> bytes:
            return (_IPV6.pack(0x60000000, 24 + upper, NH_DSTOPTS, hop_limit, lcoa, dst)
                    + bytes((next_header, 2)) + _HAO_HEAD + rcoa)

        return self.protection.seal(head, mh)


def check_builder(map_address: bytes) -> None:
    """The unprotected builder's packets equal the reference codec's (raises AssertionError otherwise)."""
    from .protection import Unprotected

    builder = LocalBuBuilder(map_address, Unprotected())
    lcoa, rcoa = bytes(range(0x20, 0x30)), bytes(range(0xA0, 0xB0))
    for seq, units in ((0, 0), (1, 150), (0x7FFF, 0xFFFF), (0xFFFF, 1)):
        ours = builder.build(lcoa, rcoa, seq, units)
        codec = encode_packet(Packet(lcoa, map_address, BindingUpdate(seq, BU_A | BU_M, units), home_address=rcoa))
        assert ours == codec, (seq, units, ours.hex(), codec.hex())
        decode_packet(ours)  # checksum verified by the codec


@dataclass(slots=True, frozen=True)
class BaView:
    """What a mobile node needs from a BA (RFC 6275 §6.1.8)."""

    src: bytes
    dst: bytes
    rcoa: bytes | None  # the type 2 routing header's address (None: no such header)
    status: int
    k: bool
    seq: int
    units: int  # granted lifetime, 4 s units
    refresh_advice: int | None  # Binding Refresh Advice interval, 4 s units (RFC 6275 §6.2.4)


def parse_ba(packet: bytes, protection: FleetProtection) -> BaView | str:
    """A BA addressed to one of the fleet's LCoAs, or why ``packet`` is not one (a short reason)."""
    if len(packet) < 40 or packet[0] >> 4 != 6:
        return "not IPv6"
    end = 40 + ((packet[4] << 8) | packet[5])
    if end > len(packet):
        return "truncated"
    src, dst = packet[8:24], packet[24:40]
    nh, pos, rcoa = packet[6], 40, None
    while nh in (NH_HOPOPTS, NH_ROUTING, NH_DSTOPTS):
        if pos + 8 > end:
            return "extension header truncated"
        size = (packet[pos + 1] + 1) * 8
        if nh == NH_ROUTING and packet[pos + 2] == 2 and size == 24:
            rcoa = packet[pos + 8:pos + 24]
        nh, pos = packet[pos], pos + size
    if pos > end:
        return "extension header truncated"
    mh = protection.open(packet, nh, pos, end)
    if isinstance(mh, str):
        return mh
    if len(mh) < 12 or mh[2] != MH_BA:
        return "not a Binding Acknowledgement"
    size = (mh[1] + 1) * 8
    if size != len(mh):
        return "Mobility Header length mismatch"
    pseudo = sum16(src) + sum16(rcoa if rcoa is not None else dst) + size + NH_MOBILITY
    if _fold(pseudo + sum16(mh)) != 0xFFFF:
        return "Mobility Header checksum"
    status, flags, seq, units = _BA.unpack_from(mh, 6)
    advice = None
    opt = 12
    while opt < size:  # mobility options: Binding Refresh Advice (type 2, length 2)
        if mh[opt] == 0:
            opt += 1
            continue
        if opt + 2 > size or opt + 2 + mh[opt + 1] > size:
            return "mobility option truncated"
        if mh[opt] == 2 and mh[opt + 1] == 2:
            advice = (mh[opt + 2] << 8) | mh[opt + 3]
        opt += 2 + mh[opt + 1]
    return BaView(src, dst, rcoa, status, bool(flags & 0x80), seq, units, advice)
