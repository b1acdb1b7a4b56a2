"""Mobility Header format check points read from a frame's own bytes (RFC 6275 §6.1.1), not from scapy's view.

:func:`read_mh` walks the IPv6 header chain of an Ethernet/IPv6 frame (as the tester's IPsec seam opened it) up to
the Mobility Header and returns what the format clauses talk about: the Next Header value in the header immediately
before it, the Mobility Header from its first octet to the end of the IPv6 payload, and the pseudo-header addresses
its checksum must be computed with -- the Home Address option's address as source (§6.1.1 ¶17), the type 2 routing
header's address as destination (RFC 8200 §8.1).  :meth:`MhView.checksum_with` computes a checksum independently
(own one's-complement sum; neither scapy's recomputation, which PLATFORM.md shows wrong when PadN precedes the Home
Address option, nor the reference codec), with any pseudo-header source and Upper-Layer Packet Length, so that a
check point can also say *which* wrong pseudo-header a sender used.

:func:`bu_bytes` and :func:`local_bu_frame` build a local Binding Update byte by byte (exact flags word, options
and checksum), for the purposes that send unusual or malformed ones; :func:`protected` puts it under the tester's
IPsec SA pair.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import struct

from harness.tester.mobility import ones_sum16

MH, DSTOPTS, ROUTING, HOPOPTS, NO_NEXT = 135, 60, 43, 0, 59
_NAMES = {HOPOPTS: "Hop-by-Hop Options header", DSTOPTS: "Destination Options header", ROUTING: "routing header"}

#: the Binding Acknowledgement status values RFC 6275 §6.1.8 defines (HMIPv6 adds none: base §6.2)
RFC6275_STATUS = frozenset({0, 1, *range(128, 140)})


def _packed(address: str | bytes) -> bytes:
    return address if isinstance(address, bytes) else ipaddress.IPv6Address(address).packed


def pseudo_checksum(src: str | bytes, dst: str | bytes, mh: bytes, length: int | None = None) -> int:
    """The checksum of Mobility Header ``mh`` (its checksum field taken as zero) under the pseudo-header
    ``src``, ``dst``, Upper-Layer Packet Length ``length`` (default: ``len(mh)``) and Next Header 135."""
    body = bytearray(mh)
    body[4:6] = b"\0\0"
    upper = len(mh) if length is None else length
    return ~ones_sum16(_packed(src) + _packed(dst) + struct.pack("!I3xB", upper, MH) + bytes(body)) & 0xFFFF


@dataclasses.dataclass(frozen=True)
class MhView:
    """A Mobility Header as it is in a frame's bytes."""

    ip_src: bytes
    ip_dst: bytes
    payload_length: int      #: the IPv6 Payload Length
    preceding: int           #: Next Header value in the header immediately before the Mobility Header
    preceding_name: str      #: that header ("IPv6 header", "Destination Options header", ...)
    hao: bytes | None        #: Home Address option address
    rh2: bytes | None        #: type 2 routing header address
    mh: bytes                #: from the Mobility Header's first octet to the end of the IPv6 payload

    @property
    def payload_proto(self) -> int:
        return self.mh[0]

    @property
    def header_length(self) -> int:
        """The length the Header Len field gives, in octets ((Header Len + 1) x 8)."""
        return (self.mh[1] + 1) * 8

    @property
    def mh_type(self) -> int:
        return self.mh[2]

    @property
    def checksum(self) -> int:
        return struct.unpack_from("!H", self.mh, 4)[0]

    @property
    def pseudo_src(self) -> bytes:
        """RFC 6275 §6.1.1: the Home Address option's address when there is one, else the IPv6 source."""
        return self.hao or self.ip_src

    @property
    def pseudo_dst(self) -> bytes:
        """RFC 8200 §8.1: the final destination, the type 2 routing header's address when there is one."""
        return self.rh2 or self.ip_dst

    @property
    def message(self) -> bytes:
        """The Mobility Header as long as its Header Len says (the whole of it, when the lengths agree)."""
        return self.mh[:self.header_length]

    def checksum_with(self, *, src: bytes | str | None = None, length: int | None = None) -> int:
        """The checksum computed here: RFC 6275 §6.1.1's pseudo-header unless ``src`` / ``length`` say otherwise."""
        return pseudo_checksum(self.pseudo_src if src is None else src, self.pseudo_dst, self.message,
                               self.header_length if length is None else length)

    def checksum_diagnosis(self) -> str:
        """Which pseudo-header the carried checksum matches (for a check point's detail)."""
        carried = self.checksum
        if carried == self.checksum_with():
            return f"checksum {carried:#06x} verifies (RFC 6275 §6.1.1 pseudo-header)"
        guesses = []
        if self.hao is not None and carried == self.checksum_with(src=self.ip_src):
            guesses.append("the IPv6 source instead of the Home Address option's address")
        if self.rh2 is not None and carried == pseudo_checksum(self.pseudo_src, self.ip_dst, self.message,
                                                               self.header_length):
            guesses.append("the IPv6 destination instead of the type 2 routing header's address")
        if carried == self.checksum_with(length=self.payload_length):
            guesses.append("the IPv6 Payload Length instead of the Mobility Header's length")
        why = f" -- it was computed with {' and '.join(guesses)}" if guesses else ""
        return f"checksum {carried:#06x}, expected {self.checksum_with():#06x}{why}"

    @staticmethod
    def text(address: bytes | None) -> str | None:
        return None if address is None else str(ipaddress.IPv6Address(address))


def read_mh(frame: bytes) -> MhView | None:
    """The Mobility Header of an Ethernet/IPv6 frame (no tunnel), else None.  Bytes past the IPv6 payload (Ethernet
    padding) are left out."""
    ip = frame[14:]
    if len(ip) < 40 or ip[0] >> 4 != 6:
        return None
    plen = struct.unpack_from("!H", ip, 4)[0]
    ip = ip[:40 + plen]
    src, dst = ip[8:24], ip[24:40]
    hao = rh2 = None
    nh, pos, before = ip[6], 40, "IPv6 header"
    while nh in (HOPOPTS, DSTOPTS, ROUTING):
        if pos + 8 > len(ip):
            return None
        length = (ip[pos + 1] + 1) * 8
        if nh == ROUTING and ip[pos + 2] == 2 and length == 24:
            rh2 = ip[pos + 8:pos + 24]
        if nh == DSTOPTS:
            opt = pos + 2
            while opt < pos + length:
                if ip[opt] == 0:  # Pad1
                    opt += 1
                    continue
                if ip[opt] == 201 and ip[opt + 1] == 16:
                    hao = ip[opt + 2:opt + 18]
                opt += 2 + ip[opt + 1]
        before = _NAMES[nh] if nh != ROUTING or rh2 is None else "type 2 routing header"
        nh, pos = ip[pos], pos + length
    if nh != MH or pos + 6 > len(ip):
        return None
    return MhView(src, dst, plen, nh, before, hao, rh2, bytes(ip[pos:]))


def opened_bytes(tester, frame) -> bytes:
    """The captured frame's bytes with its Mobility Header's ESP/AH opened by the tester's IPsec seam (the bytes the
    seam gave scapy, read again from the capture rather than rebuilt by scapy)."""
    data = frame.data
    plen = struct.unpack_from("!H", data, 18)[0] if len(data) >= 54 else 0
    ip = data[14:54 + plen]
    opened = tester.protection.unprotect(ip)
    return data[:14] + (opened.ipv6 if opened.ipv6 is not None else ip)


def format_findings(view: MhView) -> dict[str, tuple[bool, str]]:
    """The §6.1.1 format check points for one Mobility Header: name -> (holds, detail)."""
    total = len(view.mh)
    return {
        "next_header": (view.preceding == MH,
                        f"the {view.preceding_name} before the Mobility Header carries Next Header {view.preceding}"),
        "payload_proto": (view.payload_proto == NO_NEXT, f"Payload Proto {view.payload_proto}"),
        "length": (total % 8 == 0 and total == view.header_length,
                   f"Mobility Header of {total} octets to the end of the IPv6 payload, Header Len "
                   f"{view.mh[1]} ({view.header_length} octets)"),
        "checksum": (view.checksum == view.checksum_with(), view.checksum_diagnosis()),
    }


# -- building Binding Updates byte by byte ---------------------------------------------------------------------
def _pad(n: int) -> bytes:
    return b"" if n == 0 else b"\0" if n == 1 else bytes((1, n - 2)) + bytes(n - 2)


def bu_bytes(seq: int, flags: int, units: int, options: bytes = b"") -> bytes:
    """A Binding Update (MH type 5, Payload Proto 59) with the 16-bit flags word ``flags`` as given, ``options``
    verbatim and trailing padding to a multiple of 8 octets; its checksum field is zero."""
    body = struct.pack("!BBBBHHHH", NO_NEXT, 0, 5, 0, 0, seq & 0xFFFF, flags & 0xFFFF, units & 0xFFFF) + options
    body += _pad(-len(body) % 8)
    return body[:1] + bytes((len(body) // 8 - 1,)) + body[2:]


def with_checksum(mh: bytes, value: int) -> bytes:
    return mh[:4] + struct.pack("!H", value & 0xFFFF) + mh[6:]


def local_bu_frame(mn, mh: bytes, rcoa: str | None = None) -> bytes:
    """Ethernet/IPv6 frame bytes of a local BU from the played mobile node ``mn`` (LCoA -> MAP, Home Address option =
    ``rcoa``, default its RCoA) carrying the Mobility Header bytes ``mh`` unchanged (scapy builds only the headers
    before it)."""
    from scapy.packet import Raw

    from harness.tester.packets import HAO, Ether, IPv6, IPv6ExtHdrDestOpt

    return bytes(Ether(dst=mn.router_mac, src=mn.mac) / IPv6(src=mn.lcoa, dst=mn.map)
                 / IPv6ExtHdrDestOpt(nh=MH, options=[HAO(hoa=rcoa or mn.rcoa)]) / Raw(mh))


def protected(tester, frame: bytes) -> bytes:
    """``frame`` with its Mobility Header protected under the tester's SA pair for it (unchanged without IPsec)."""
    from harness.tester.protection import AUTO

    return frame[:14] + tester.protection.protect(frame[14:], AUTO)
