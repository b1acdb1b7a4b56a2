"""A TUN device (``/dev/net/tun``, no packet information header): the host stack's IPv6 packets in and out.

The mobile node and the correspondent node route the packets their daemon must rewrite (home address sources,
bound home addresses) into a TUN device; the daemon reads them, rewrites them as bytes, and writes the packets it
delivers back into the device, where the kernel receives them as if from a link.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


class TunError(RuntimeError):
    pass


class TunDevice:
    """Create (or attach to) the TUN device ``name``, bring it up with ``mtu`` and IPv6 on (no DAD)."""

    def __init__(self, name: str, mtu: int = 1500) -> None:
        self.name = name
        try:
            self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        except OSError as exc:
            raise TunError(f"cannot open /dev/net/tun: {exc.strerror}") from None
        try:
            fcntl.ioctl(self.fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        except OSError as exc:
            os.close(self.fd)
            raise TunError(f"cannot create TUN device {name}: {exc.strerror}") from None
        # no link-local address: the device carries only the packets routed into it (no RS, no MLD)
        for args in (["link", "set", name, "addrgenmode", "none"], ["link", "set", name, "mtu", str(mtu), "up"]):
            proc = subprocess.run(["ip", *args], capture_output=True, text=True)
            if proc.returncode != 0:
                self.close()
                raise TunError(f"ip {' '.join(args)}: {proc.stderr.strip()}")

    def fileno(self) -> int:
        return self.fd

    def read(self) -> bytes | None:
        """The next packet the host stack routed into the device, or None when none is waiting."""
        try:
            return os.read(self.fd, 65535)
        except BlockingIOError:
            return None

    def write(self, packet: bytes) -> None:
        """Hand ``packet`` to the host stack as if it had arrived on this device."""
        os.write(self.fd, packet)

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
