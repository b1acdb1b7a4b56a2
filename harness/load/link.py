"""The load generator's own AF_PACKET socket on the tester's port of the MAP's link: whole frames out, IPv6 frames
in, non-blocking, with large buffers (a burst of thousands of BAs must not be dropped by the tester itself).
Received frames carry the kernel's receive time (SO_TIMESTAMPNS), on the monotonic clock: a BA's latency does not
include the time this process took to get to it."""

from __future__ import annotations

import socket
import struct
import time

from harness import netns

ETH_P_IPV6 = 0x86DD
SOL_PACKET, PACKET_IGNORE_OUTGOING = 263, 23
SO_RCVBUFFORCE, SO_SNDBUFFORCE, SO_TIMESTAMPNS = 33, 32, 35
BUFFER = 16 << 20
_TIMESPEC = struct.Struct("qq")


class PacketLink:
    """Send and receive Ethernet frames on ``ifname`` in namespace ``ns`` (None: this namespace)."""

    def __init__(self, ns: str | None, ifname: str) -> None:
        self.sock = netns.socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
        try:
            self.sock.bind((ifname, ETH_P_IPV6))  # host order in bind (PLATFORM.md)
            self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            for force, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, force, BUFFER)
                except OSError:  # not root: the rmem_max/wmem_max-capped size
                    self.sock.setsockopt(socket.SOL_SOCKET, plain, BUFFER)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.sock.setblocking(False)
            self.mac: bytes = self.sock.getsockname()[4]  # from the socket: sysfs shows the wrong namespace
        except BaseException:
            self.sock.close()
            raise
        self.sent = self.send_errors = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, frame: bytes) -> bool:
        try:
            self.sock.send(frame)
        except OSError:  # ENOBUFS under a burst: counted, the fleet retransmits
            self.send_errors += 1
            return False
        self.sent += 1
        return True

    def receive(self, limit: int = 512) -> list[tuple[float, bytes]]:
        """Up to ``limit`` frames already queued, each with its kernel receive time on the monotonic clock."""
        out: list[tuple[float, bytes]] = []
        recvmsg, unpack = self.sock.recvmsg, _TIMESPEC.unpack_from
        offset = time.time() - time.monotonic()  # the kernel stamps wall-clock time
        try:
            for _ in range(limit):
                data, ancillary, _flags, _addr = recvmsg(4096, 64)
                stamp = None
                for level, kind, value in ancillary:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = unpack(value)
                        stamp = sec + nsec * 1e-9 - offset
                out.append((stamp if stamp is not None else time.monotonic(), data))
        except BlockingIOError:
            pass
        return out

    def close(self) -> None:
        self.sock.close()
