"""A tester port: an AF_PACKET socket on one interface, possibly inside a network namespace."""

from __future__ import annotations

import fcntl
import socket
import struct

from harness import netns
from harness.errors import CaptureError

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
SIOCGIFINDEX = 0x8933


class Port:
    """Send raw Ethernet frames on, and receive every frame of, one interface."""

    def __init__(self, link: str, netns_name: str | None, ifname: str) -> None:
        self.link, self.netns, self.ifname = link, netns_name, ifname
        try:
            # protocol in network order for socket(), host order for bind() (PLATFORM.md)
            self.sock = netns.socket_in(netns_name, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.sock.bind((ifname, ETH_P_ALL))
        except OSError as exc:
            raise CaptureError(f"tester port on link {link!r} ({netns_name or 'host'}:{ifname}): {exc}") from None
        # SIOCGIFINDEX on the socket itself resolves the name in the socket's namespace
        req = fcntl.ioctl(self.sock.fileno(), SIOCGIFINDEX, struct.pack("16si", ifname.encode(), 0))
        self.ifindex = struct.unpack("16si", req)[1]
        self.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP,
                             struct.pack("iHH8s", self.ifindex, PACKET_MR_PROMISC, 0, b""))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setblocking(False)
        self.mac: bytes = self.sock.getsockname()[4]

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, frame: bytes) -> None:
        try:
            self.sock.send(frame)
        except OSError as exc:
            raise CaptureError(f"sending on link {self.link!r} failed: {exc}") from None

    def receive(self) -> tuple[float | None, bytes, bool] | None:
        """One pending frame as (kernel timestamp, bytes, outgoing?), or None if none is waiting."""
        try:
            data, anc, _flags, addr = self.sock.recvmsg(65535, 64)
        except BlockingIOError:
            return None
        ts = None
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", value[:16])
                ts = sec + nsec / 1e9
        return ts, data, addr[2] == PACKET_OUTGOING

    def close(self) -> None:
        self.sock.close()
