"""Hand-built Mobility Header frames and a small frame summariser for the kernel probes (bytes + struct only).

Independent of the reference implementation's codec (the harness never imports it) and of scapy
(too slow to import in a TCG guest).  Layouts (RFC 6275)::

    BU  = IPv6 | Destination Options [PadN(2), Home Address option at 8n+6] | MH type 5
    BA  = IPv6 | Routing header type 2 [segments left 1, home address]      | MH type 6

Checksums use the pseudo-header RFC 6275 §6.1.1 asks for: the home address as source for a BU
carrying a Home Address option, the routing header's address as destination for a BA with RH2.
"""

from __future__ import annotations

import socket
import struct

__all__ = ["ba_packet", "bu_packet", "checksum", "ethernet", "ip6", "summarise"]

NH_HOP, NH_ROUTING, NH_FRAG, NH_ICMPV6, NH_NONE, NH_DSTOPTS, NH_MH = 0, 43, 44, 58, 59, 60, 135
MH_BU, MH_BA = 5, 6
HAO_TYPE = 201
ICMP_NAMES = {1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded", 4: "parameter-problem",
              128: "echo-request", 129: "echo-reply", 133: "router-solicitation", 134: "router-advertisement",
              135: "neighbor-solicitation", 136: "neighbor-advertisement", 143: "mldv2-report"}


def ip6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def fmt(addr: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, addr)


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _upper_checksum(src: bytes, dst: bytes, nh: int, upper: bytes) -> int:
    return checksum(src + dst + struct.pack("!IxxxB", len(upper), nh) + upper)


def _mh(mh_type: int, body: bytes, src: bytes, dst: bytes) -> bytes:
    """A Mobility Header (payload proto 59) padded with PadN to a multiple of 8 octets, checksum filled."""
    length = 6 + len(body)
    pad = -length % 8
    if pad == 1:
        body += b"\0"  # Pad1
    elif pad:
        body += bytes([1, pad - 2]) + b"\0" * (pad - 2)  # PadN
    mh = struct.pack("!BBBBH", NH_NONE, (6 + len(body)) // 8 - 1, mh_type, 0, 0) + body
    csum = _upper_checksum(src, dst, NH_MH, mh)
    return mh[:4] + struct.pack("!H", csum) + mh[6:]


def _ipv6(src: bytes, dst: bytes, nh: int, payload: bytes, hop_limit: int = 64) -> bytes:
    return struct.pack("!IHBB", 6 << 28, len(payload), nh, hop_limit) + src + dst + payload


def bu_packet(src: str, dst: str, seq: int, flags: int = 0x8800, lifetime: int = 10, hoa: str | None = None) -> bytes:
    """A Binding Update (A and M set by default; lifetime in 4 s units), with a Home Address option if ``hoa``."""
    s, d = ip6(src), ip6(dst)
    body = struct.pack("!HHH", seq, flags, lifetime)
    if hoa is None:
        return _ipv6(s, d, NH_MH, _mh(MH_BU, body, s, d))
    mh = _mh(MH_BU, body, ip6(hoa), d)
    dstopts = struct.pack("!BB", NH_MH, 2) + bytes([1, 2, 0, 0]) + bytes([HAO_TYPE, 16]) + ip6(hoa)
    return _ipv6(s, d, NH_DSTOPTS, dstopts + mh)


def ba_packet(src: str, dst: str, seq: int, status: int = 0, lifetime: int = 10, home: str | None = None) -> bytes:
    """A Binding Acknowledgement, with a type 2 routing header carrying ``home`` if given."""
    s, d = ip6(src), ip6(dst)
    body = struct.pack("!BBHH", status, 0, seq, lifetime)
    if home is None:
        return _ipv6(s, d, NH_MH, _mh(MH_BA, body, s, d))
    mh = _mh(MH_BA, body, s, ip6(home))
    rh2 = struct.pack("!BBBBI", NH_MH, 2, 2, 1, 0) + ip6(home)
    return _ipv6(s, d, NH_ROUTING, rh2 + mh)


def ethernet(dst_mac: bytes, src_mac: bytes, packet: bytes) -> bytes:
    return dst_mac + src_mac + b"\x86\xdd" + packet


def summarise(packet: bytes) -> dict:
    """What a probe needs to know about one IPv6 packet (no Ethernet header)."""
    if len(packet) < 40 or packet[0] >> 4 != 6:
        return {"kind": "not-ipv6"}
    nh, src, dst = packet[6], fmt(packet[8:24]), fmt(packet[24:40])
    out: dict = {"src": src, "dst": dst, "headers": []}
    off = 40
    while nh in (NH_HOP, NH_ROUTING, NH_DSTOPTS, NH_FRAG) and off + 8 <= len(packet):
        out["headers"].append(nh)
        if nh == NH_FRAG:
            nxt, size = packet[off], 8
        else:
            nxt, size = packet[off], (packet[off + 1] + 1) * 8
        if nh == NH_ROUTING:
            out["routing_type"] = packet[off + 2]
            out["segments_left"] = packet[off + 3]
            if packet[off + 2] == 2 and off + 24 <= len(packet):
                out["rh2_address"] = fmt(packet[off + 8:off + 24])
        if nh == NH_DSTOPTS:
            i = off + 2
            while i < off + size:
                t = packet[i]
                if t == 0:
                    i += 1
                    continue
                if t == HAO_TYPE and i + 18 <= len(packet):
                    out["home_address"] = fmt(packet[i + 2:i + 18])
                i += 2 + packet[i + 1]
        nh, off = nxt, off + size
    out["upper"] = nh
    body = packet[off:]
    if nh == NH_ICMPV6 and len(body) >= 4:
        out["kind"] = "icmpv6"
        out["icmp_type"], out["icmp_code"] = body[0], body[1]
        out["icmp_name"] = ICMP_NAMES.get(body[0], str(body[0]))
        if body[0] < 128 and len(body) >= 8:  # an error: pointer/MTU word, then the invoking packet
            out["icmp_param"] = struct.unpack("!I", body[4:8])[0]
            inner = summarise(body[8:])
            out["invoking"] = {k: inner[k] for k in ("src", "dst", "kind", "mh_type") if k in inner}
        if body[0] in (135, 136) and len(body) >= 24:
            out["target"] = fmt(body[8:24])
    elif nh == NH_MH and len(body) >= 6:
        out["kind"] = "mh"
        out["mh_type"] = body[2]
        if body[2] == MH_BU and len(body) >= 12:
            out["seq"], out["flags"], out["lifetime"] = struct.unpack("!HHH", body[6:12])
        if body[2] == MH_BA and len(body) >= 12:
            out["status"], out["ba_flags"], out["seq"], out["lifetime"] = struct.unpack("!BBHH", body[6:12])
        psrc = ip6(out.get("home_address", src))
        pdst = ip6(out.get("rh2_address", dst))
        mh_len = min(len(body), (body[1] + 1) * 8)
        out["checksum_ok"] = _upper_checksum(psrc, pdst, NH_MH, body[:mh_len]) == 0
    else:
        out["kind"] = f"proto-{nh}"
    return out
