"""In-process kernel configuration for the mobile node: rtnetlink requests and libnftables, no ``ip``/``nft`` forks.

A handover changes the LCoA, the default router and the nftables set of own addresses.  Forking ``ip`` or ``nft``
costs 3-5 ms each (more under load) and the mobile node did four or five of them before its Binding Update left;
the same requests over a netlink socket or through libnftables take 0.05-0.4 ms.  Every request waits for the
kernel's acknowledgement, so its effect is in place when the call returns.

:class:`Rtnl` speaks the few rtnetlink messages the daemon needs (RFC 3549 framing; structures from
``linux/rtnetlink.h``, ``if_addr.h``, ``fib_rules.h``); :class:`NftLib` runs nft commands through ``libnftables.so.1``
(ctypes).  Both raise :class:`KernelError` with the kernel's (or nft's) message on failure.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct

from .netlink import (
    NLM_F_ACK, NLM_F_REQUEST, NLMSG_ERROR, RTM_DELROUTE, RTM_NEWLINK, RTM_NEWROUTE, RTN_UNICAST, attr, framed, header,
    parse_attrs,
)

RTM_NEWADDR, RTM_DELADDR = 20, 21
RTM_NEWRULE, RTM_DELRULE = 32, 33
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
IFA_ADDRESS, IFA_LOCAL, IFA_CACHEINFO, IFA_FLAGS = 1, 2, 6, 8
IFA_F_NODAD = 0x02
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
FRA_SRC, FRA_PRIORITY, FRA_TABLE = 2, 6, 15
FR_ACT_TO_TBL = 1
IFLA_IFNAME, IFLA_MTU, IFLA_OPERSTATE, IFLA_CARRIER = 3, 4, 16, 33
IFLA_CARRIER_DOWN_COUNT = 48
IFF_LOWER_UP = 0x10000
RT_TABLE_MAIN, RT_TABLE_UNSPEC = 254, 0
INFINITY = 0xFFFFFFFF

class KernelError(RuntimeError):
    """The kernel (or libnftables) refused a request; ``errno`` is set for netlink errors."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.errno = code


def link_state(body: bytes, index: int) -> tuple[bool, int | None] | None:
    """(carrier, carrier down count) an RTM_NEWLINK body reports for interface ``index``; None for another
    interface or a short body.  The carrier: IFLA_CARRIER, else IFF_LOWER_UP (an interface that is administratively
    down has neither).  The down count (IFLA_CARRIER_DOWN_COUNT, None if absent) goes up at every carrier loss, at
    once: the kernel's link watcher sends one message for the state it finds when it runs, so a quick down-up flap
    can reach userspace as a single message saying "up" -- with a higher down count."""
    if len(body) < 16:
        return None
    _family, _type, ifindex, flags, _change = struct.unpack_from("=BxHiII", body, 0)
    if ifindex != index:
        return None
    attrs = parse_attrs(body, 16)
    downs = attrs.get(IFLA_CARRIER_DOWN_COUNT)
    down_count = struct.unpack_from("=I", downs)[0] if downs and len(downs) >= 4 else None
    if not flags & IFF_LOWER_UP:
        return False, down_count
    carrier = attrs.get(IFLA_CARRIER)
    return (bool(carrier[0]) if carrier else True), down_count


def link_carrier(body: bytes, index: int) -> bool | None:
    """The carrier an RTM_NEWLINK body reports for interface ``index`` (see :func:`link_state`)."""
    state = link_state(body, index)
    return None if state is None else state[0]


class Rtnl:
    """A NETLINK_ROUTE request socket (blocking; each request waits for its acknowledgement)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> None:
        self.seq += 1
        seq = self.seq
        self.sock.send(header(kind, NLM_F_REQUEST | NLM_F_ACK | flags, seq, body))
        while True:
            for mtype, rseq, reply in framed(self.sock.recv(65536)):
                if mtype == NLMSG_ERROR and rseq == seq:
                    (code,) = struct.unpack_from("=i", reply)
                    if code:
                        raise KernelError(os.strerror(-code), -code)
                    return

    # -- addresses ----------------------------------------------------------------------------------------------
    def addr(self, add: bool, index: int, address: bytes, prefix_length: int, *, nodad: bool = True,
             valid: int = INFINITY, preferred: int = INFINITY) -> None:
        """``ip -6 addr replace|del ADDRESS/LEN dev IF [nodad] [valid_lft V preferred_lft P]``."""
        body = struct.pack("=BBBBI", socket.AF_INET6, prefix_length, 0, 0, index)
        body += attr(IFA_LOCAL, address) + attr(IFA_ADDRESS, address)
        if add:
            body += attr(IFA_FLAGS, struct.pack("=I", IFA_F_NODAD if nodad else 0))
            if valid != INFINITY or preferred != INFINITY:
                body += attr(IFA_CACHEINFO, struct.pack("=IIII", preferred, valid, 0, 0))
            self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, body)
        else:
            self.request(RTM_DELADDR, 0, body)

    # -- routes -------------------------------------------------------------------------------------------------
    def default_route(self, add: bool, protocol: int, gateway: bytes | None = None, index: int = 0) -> None:
        """``ip -6 route replace default via GW dev IF proto P`` / ``ip -6 route del default proto P``."""
        body = struct.pack("=BBBBBBBBI", socket.AF_INET6, 0, 0, 0, RT_TABLE_MAIN, protocol, 0, RTN_UNICAST, 0)
        if add:
            assert gateway is not None
            body += attr(RTA_GATEWAY, gateway) + attr(RTA_OIF, struct.pack("=i", index))
            self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body)
        else:
            self.request(RTM_DELROUTE, 0, body)

    # -- policy rules -------------------------------------------------------------------------------------------
    def source_rule(self, add: bool, source: bytes, table: int, priority: int | None = None) -> None:
        """``ip -6 rule add from SOURCE lookup TABLE priority P`` / ``ip -6 rule del from SOURCE lookup TABLE``."""
        body = struct.pack("=BBBBBBBBI", socket.AF_INET6, 0, 128, 0, table if table < 256 else RT_TABLE_UNSPEC,
                           0, 0, FR_ACT_TO_TBL if add else 0, 0)
        body += attr(FRA_SRC, source) + attr(FRA_TABLE, struct.pack("=I", table))
        if priority is not None:
            body += attr(FRA_PRIORITY, struct.pack("=I", priority))
        self.request(RTM_NEWRULE if add else RTM_DELRULE, NLM_F_CREATE | NLM_F_EXCL if add else 0, body)

    # -- links --------------------------------------------------------------------------------------------------
    def set_mtu(self, index: int, mtu: int) -> None:
        """``ip link set IF mtu MTU``."""
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, 0, 0) + attr(IFLA_MTU, struct.pack("=I", mtu))
        self.request(RTM_NEWLINK, 0, body)


class NftLib:
    """nft commands run in this process through libnftables (as ``nft -f -`` would run them)."""

    def __init__(self) -> None:
        try:
            lib = ctypes.CDLL("libnftables.so.1")
        except OSError as exc:
            raise KernelError(f"libnftables: {exc}", errno.ENOENT) from None
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        self.lib = lib
        self.ctx = lib.nft_ctx_new(0)
        if not self.ctx:
            raise KernelError("libnftables: nft_ctx_new failed")
        lib.nft_ctx_buffer_output(self.ctx)
        lib.nft_ctx_buffer_error(self.ctx)

    def run(self, command: str) -> None:
        if self.lib.nft_run_cmd_from_buffer(self.ctx, command.encode() + b"\n") != 0:
            error = (self.lib.nft_ctx_get_error_buffer(self.ctx) or b"").decode(errors="replace").strip()
            raise KernelError(f"nft failed: {error or command}")

    def close(self) -> None:
        if self.ctx:
            self.lib.nft_ctx_free(self.ctx)
            self.ctx = None
