"""Packet sockets: AF_PACKET per interface for receiving and link-layer sends, raw IPv6 for routed sends.

A frame a packet socket reads may carry a transport checksum the sender's kernel has not finished
(``TP_STATUS_CSUMNOTREADY``: checksum offload, as on veth pairs, where no NIC ever computes it).  Such a frame is
completed on receipt (:func:`complete_checksum`), as a wire would have delivered it: a tunnelling MAP or home agent
re-sends it whole, and the far end would otherwise drop it as corrupt.
"""

from __future__ import annotations

import errno
import fcntl
import socket
import struct

from reference_impl.wire.checksum import upper_layer_checksum

ETH_P_IPV6 = 0x86DD
PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, PACKET_OUTGOING = 0, 1, 2, 3, 4
SIOCGIFINDEX = 0x8933
SO_BINDTODEVICE = 25
SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_ALLMULTI, PACKET_AUXDATA = 263, 1, 2, 8
TP_STATUS_CSUMNOTREADY = 1 << 3
AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata
UDP, TCP = 17, 6


def complete_checksum(frame: bytes) -> bytes:
    """``frame`` (Ethernet, IPv6) with the UDP or TCP checksum computed in full (it held the pseudo-header sum only).
    Only a transport header right after the IPv6 header is completed; anything else is returned unchanged."""
    if len(frame) < 54 or frame[12:14] != b"\x86\xdd" or frame[20] not in (UDP, TCP):
        return frame
    ip, nh = frame[14:54], frame[20]
    upper = bytearray(frame[54:14 + 40 + struct.unpack_from("!H", frame, 18)[0]])
    at = 6 if nh == UDP else 16
    if len(upper) < at + 2:
        return frame
    upper[at:at + 2] = b"\0\0"
    value = upper_layer_checksum(ip[8:24], ip[24:40], nh, bytes(upper))
    if nh == UDP and value == 0:
        value = 0xFFFF
    struct.pack_into("!H", upper, at, value)
    return frame[:54] + bytes(upper) + frame[54 + len(upper):]


class LinkSocket:
    """Every IPv6 frame of one interface (not our own sends, not frames for other hosts)."""

    def __init__(self, ifname: str) -> None:
        self.name = ifname
        # protocol in network order for socket(), host order for bind() (see the platform notes)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
        self.sock.bind((ifname, ETH_P_IPV6))
        self.sock.setblocking(False)
        self.mac: bytes = self.sock.getsockname()[4]
        req = fcntl.ioctl(self.sock.fileno(), SIOCGIFINDEX, struct.pack("16si", ifname.encode(), 0))
        self.index: int = struct.unpack("16si", req)[1]
        # all multicast frames (solicited-node groups of proxied RCoAs, all-routers) pass a real NIC's filter
        self.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack("iHH8s", self.index, PACKET_MR_ALLMULTI, 0, b""))
        self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> bytes | None:
        """The next pending frame addressed to this host (or multicast), or None if none is waiting."""
        while True:
            try:
                data, ancillary, _flags, addr = self.sock.recvmsg(65535, socket.CMSG_SPACE(AUXDATA.size))
            except BlockingIOError:
                return None
            except OSError as exc:  # the interface went down (carrier loss, link flap): nothing to read now
                if exc.errno in (errno.ENETDOWN, errno.ENXIO):
                    return None
                raise
            if addr[2] not in (PACKET_OUTGOING, PACKET_OTHERHOST):
                for level, kind, value in ancillary:
                    if level == SOL_PACKET and kind == PACKET_AUXDATA and len(value) >= AUXDATA.size \
                            and AUXDATA.unpack_from(value)[0] & TP_STATUS_CSUMNOTREADY:
                        return complete_checksum(data)
                return data

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def close(self) -> None:
        self.sock.close()


class RawSender:
    """Send whole IPv6 packets (header included); the kernel routes them and resolves neighbours."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self._bound: dict[str, socket.socket] = {}

    def send(self, packet: bytes, ifname: str | None = None, ifindex: int = 0) -> None:
        dst = socket.inet_ntop(socket.AF_INET6, packet[24:40])
        sock = self.sock
        if ifname is not None:  # out of this interface (link-local or on-link destinations)
            sock = self._bound.get(ifname)
            if sock is None:
                sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
                sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
                self._bound[ifname] = sock
        sock.sendto(packet, (dst, 0, 0, ifindex))

    def close(self) -> None:
        self.sock.close()
        for sock in self._bound.values():
            sock.close()
