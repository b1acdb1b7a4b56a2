"""The tester playing a mobile node toward a MAP under test, and an independent MH checksum check.

The checksum is recomputed here from the raw frame bytes (RFC 6275 §6.1.1: pseudo-header source = the
Home Address option's address when present, destination = the type 2 routing header's address when
present), with neither scapy's recomputation (PLATFORM.md: wrong when PadN precedes the HAO) nor the
reference implementation's codec.
"""

from __future__ import annotations

import socket
import struct

from harness.tester import packets
from harness.tester.packets import HAO, MIP6MH_BA, MIP6MH_BU, Ether, IPv6, IPv6ExtHdrDestOpt
from harness.tester.protection import AUTO

MH, DSTOPTS, ROUTING, HOPOPTS = 135, 60, 43, 0


def ones_sum16(data: bytes) -> int:
    """The 16-bit ones'-complement sum of ``data`` (RFC 1071), not yet complemented."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def mh_pseudo_checksum(src: str, dst: str, mh: bytes) -> int:
    """The Mobility Header checksum (RFC 6275 §6.1.1) of ``mh`` (checksum field zero) from ``src`` to ``dst``."""
    pseudo = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    return ~ones_sum16(pseudo + struct.pack("!I3xB", len(mh), 135) + mh) & 0xFFFF


def mh_checksum(frame: bytes) -> tuple[int, int] | None:
    """(checksum carried, checksum computed) of the Mobility Header in an Ethernet/IPv6 frame, else None."""
    ip = frame[14:]
    if len(ip) < 40 or ip[0] >> 4 != 6:
        return None
    src, dst = ip[8:24], ip[24:40]
    nh, pos = ip[6], 40
    while nh in (HOPOPTS, DSTOPTS, ROUTING):
        if pos + 2 > len(ip):
            return None
        length = (ip[pos + 1] + 1) * 8
        if nh == ROUTING and ip[pos + 2] == 2 and length == 24:
            dst = ip[pos + 8:pos + 24]  # the type 2 routing header's home address is the final destination
        if nh == DSTOPTS:
            opt = pos + 2
            while opt < pos + length:
                otype = ip[opt]
                if otype == 0:
                    opt += 1
                    continue
                olen = ip[opt + 1]
                if otype == 201 and olen == 16:
                    src = ip[opt + 2:opt + 18]  # the Home Address option replaces the source
                opt += 2 + olen
        nh, pos = ip[pos], pos + length
    if nh != MH or pos + 6 > len(ip):
        return None
    mh = bytearray(ip[pos:pos + (ip[pos + 1] + 1) * 8])
    carried = struct.unpack_from("!H", mh, 4)[0]
    mh[4:6] = b"\0\0"
    pseudo = src + dst + struct.pack("!I3xB", len(mh), MH)
    computed = (~ones_sum16(pseudo + bytes(mh))) & 0xFFFF
    return carried, computed


class PlayedMobileNode:
    """A mobile node played by the tester on an access link: it owns an LCoA there (answering Neighbor
    Solicitations for it) and sends local BUs and reverse-tunnelled packets through the link's router."""

    def __init__(self, tester, link: str, router_mac: str, lcoa: str, rcoa: str, map_address: str) -> None:
        self.tester, self.link, self.router_mac = tester, link, router_mac
        self.lcoa, self.rcoa, self.map = lcoa, rcoa, map_address
        self.mac = tester.impersonate(link, lcoa)

    def release(self) -> None:
        self.tester.release(self.link, self.lcoa)

    def bu(self, seq: int, lifetime_s: int, flags: str = "AM", lcoa: str | None = None, rcoa: str | None = None):
        """A local BU (base §4.1: A and M set) LCoA -> MAP with the RCoA in the Home Address option.

        scapy's BU flags default to K,H,A: ``flags`` is always given explicitly; lifetime in 4 s units.
        """
        return (Ether(dst=self.router_mac, src=self.mac) / IPv6(src=lcoa or self.lcoa, dst=self.map)
                / IPv6ExtHdrDestOpt(options=[HAO(hoa=rcoa or self.rcoa)])
                / MIP6MH_BU(seq=seq, flags=flags, mhtime=lifetime_s // 4))

    def send_bu(self, seq: int, lifetime_s: int, sa: str | None = AUTO, **kw) -> int:
        """Send a BU (protected with the IPsec SA pair ``sa``: None for none, AUTO for the tester's own identity
        toward this MAP); return the capture mark taken just before it."""
        mark = self.tester.mark()
        self.tester.send(self.link, self.bu(seq, lifetime_s, **kw), sa=sa)
        return mark

    def wire_bu(self, seq: int, lifetime_s: int, sa: str | None = AUTO, **kw) -> bytes:
        """The BU frame exactly as :meth:`send_bu` would put it on the wire (protected), to replay or tamper
        with; send it with :meth:`send_raw`."""
        frame = self.bu(seq, lifetime_s, **kw)
        ip = bytes(frame[IPv6])
        return bytes(frame)[: len(bytes(frame)) - len(ip)] + self.tester.protection.protect(ip, sa)

    def send_raw(self, frame: bytes) -> int:
        """Send frame bytes as they are (an already protected, replayed or forged BU)."""
        mark = self.tester.mark()
        self.tester.send(self.link, frame, sa=None)
        return mark

    def wait_ba(self, seq: int, since: int, timeout: float):
        """The BA with sequence number ``seq`` arriving on the access link after ``since`` (scapy's
        ``answers()`` cannot pair a BA with RH2 to a BU with HAO: PLATFORM.md), or None."""
        return self.tester.wait_for(lambda f: MIP6MH_BA in f.pkt and f.pkt[MIP6MH_BA].seq == seq
                                    and f.pkt[IPv6].dst in (self.lcoa,), timeout, since, [self.link])

    def register(self, seq: int, lifetime_s: int, timeout: float, **kw):
        return self.wait_ba(seq, self.send_bu(seq, lifetime_s, **kw), timeout)

    def reverse_tunnel(self, inner, outer_src: str | None = None) -> int:
        """Send ``inner`` (an IPv6 packet from the RCoA) tunnelled LCoA -> MAP (base §6.1)."""
        mark = self.tester.mark()
        self.tester.send(self.link, Ether(dst=self.router_mac, src=self.mac)
                         / IPv6(src=outer_src or self.lcoa, dst=self.map) / inner)
        return mark


def tunnelled_to(frame, outer_dst: str, inner_dst: str) -> bool:
    """IPv6-in-IPv6 with the given outer and inner destinations."""
    layers = packets.ipv6_layers(frame.pkt)
    return len(layers) >= 2 and layers[0].dst == outer_dst and layers[1].dst == inner_dst
