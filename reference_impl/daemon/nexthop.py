"""Link-layer next hops for a userspace data plane: forwarded packets leave on a packet socket of the daemon (a
send-only one per link: :func:`send_socket`) with an Ethernet header cached per destination, instead of a raw IPv6
socket (whose ``sendto`` -- routing, neighbour lookup, netfilter output hooks -- cost ~1.2 us per packet here against
~0.75 us for a packet socket send).

Resolution asks the kernel over rtnetlink (struct only): ``RTM_GETROUTE`` for the destination (output interface,
gateway), then ``RTM_GETNEIGH`` for the next hop on that interface.  A destination is sent on a packet socket only
when all of these hold, else it is left to the raw socket (the kernel routes it, resolves and probes neighbours):

* the route is a plain unicast route (no lightweight-tunnel encapsulation, not local/blackhole/unreachable) out of
  an interface the daemon has a packet socket on (Ethernet), and the packet fits that interface's MTU;
* the next hop's neighbour entry is ``REACHABLE``, ``PERMANENT`` or ``NOARP`` -- never ``STALE``/``DELAY``/
  ``PROBE``/``FAILED``/``INCOMPLETE``: our packet socket sends give the kernel no reachability confirmation, so
  after ``reachable_time`` the entry goes ``STALE``; the destination then goes back through the raw socket, whose
  traffic makes the kernel probe the neighbour, and comes back to the packet socket once it is ``REACHABLE``.

Never a wrong MAC: the cache is emptied on every rtnetlink notification about neighbours, IPv6 routes or links
(a subscribed socket the event loop reads, :meth:`NextHops.on_readable`; on an overrun, ``ENOBUFS``, too), and
every entry (positive or negative) expires after :data:`ENTRY_TTL` seconds in any case.  A send that fails drops
the entry and goes through the raw socket.  What the packet socket skips: netfilter's output/postrouting hooks
(the raw socket path runs them) -- the daemon's own nftables table has no rule there.
"""

from __future__ import annotations

import errno
import fcntl
import socket
import struct
import time
from collections.abc import Callable

from .netlink import (
    NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, RTM_DELLINK, RTM_DELNEIGH, RTM_DELROUTE, RTM_GETNEIGH, RTM_GETROUTE,
    RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE, RTN_UNICAST, attr, framed, header, parse_attrs,
)

NETLINK_ROUTE = 0
RTMGRP_LINK, RTMGRP_NEIGH, RTMGRP_IPV6_ROUTE = 0x1, 0x4, 0x400
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_METRICS, RTA_ENCAP_TYPE, RTA_ENCAP = 1, 4, 5, 8, 21, 22
RTAX_MTU = 2
NDA_DST, NDA_LLADDR = 1, 2
NUD_REACHABLE, NUD_NOARP, NUD_PERMANENT = 0x02, 0x40, 0x80
USABLE_STATES = NUD_REACHABLE | NUD_NOARP | NUD_PERMANENT
SIOCGIFMTU = 0x8921
ENTRY_TTL = 2.0  # seconds an entry (resolved or not) is trusted without any notification
MAX_ENTRIES = 65536

_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BBHiHBB")
_ETH_IPV6 = b"\x86\xdd"
_CHANGES = frozenset({RTM_NEWNEIGH, RTM_DELNEIGH, RTM_NEWROUTE, RTM_DELROUTE, RTM_NEWLINK, RTM_DELLINK})


def _link_mtu(sock: socket.socket, name: str) -> int:
    return struct.unpack_from("=i", fcntl.ioctl(sock.fileno(), SIOCGIFMTU, struct.pack("16si", name.encode(), 0)), 16)[0]


def send_socket(ifname: str) -> socket.socket:
    """A packet socket for sending on ``ifname`` only (protocol 0: it receives nothing), non-blocking like the
    link's own socket.  Not the link's receiving socket: the event loop's epoll waits on that one, and the kernel
    then wakes its wait queue each time one of its sent frames is freed (``sock_wfree`` -> ``sock_def_write_space``:
    ~0.1 us per forwarded packet here); nobody waits on this one."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.bind((ifname, 0))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def usable_destination(dst: bytes) -> bool:
    """Only global unicast destinations are resolved (multicast, link-local, loopback, unspecified: raw socket)."""
    return len(dst) == 16 and dst[0] != 0xFF and not (dst[0] == 0xFE and dst[1] & 0xC0 == 0x80) \
        and any(dst[:15])


class Rtnl:
    """Blocking rtnetlink queries (one request, one answer) for one IPv6 destination."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.sock.settimeout(0.5)
        self.seq = 0

    def _ask(self, kind: int, body: bytes) -> tuple[int, bytes] | None:
        self.seq += 1
        seq = self.seq
        self.sock.send(header(kind, NLM_F_REQUEST, seq, body))
        while True:
            for mtype, mseq, reply in framed(self.sock.recv(65536)):
                if mseq == seq:
                    return None if mtype in (NLMSG_ERROR, NLMSG_DONE) else (mtype, reply)

    def route(self, dst: bytes, src: bytes | None = None) -> tuple[int, bytes | None, int] | None:
        """``(output ifindex, gateway or None, route/path MTU or 0)`` of a plain unicast route to ``dst``; None if
        there is none, or it is not plain unicast (local, unreachable, ...) or carries a lightweight-tunnel
        encapsulation."""
        body = _RTMSG.pack(socket.AF_INET6, 128, 128 if src else 0, 0, 0, 0, 0, 0, 0) + attr(RTA_DST, dst)
        if src:
            body += attr(2, src)  # RTA_SRC
        got = self._ask(RTM_GETROUTE, body)
        if got is None or got[0] != RTM_NEWROUTE or len(got[1]) < _RTMSG.size:
            return None
        rtm_type = got[1][7]
        attrs = parse_attrs(got[1], _RTMSG.size)
        if rtm_type != RTN_UNICAST or RTA_ENCAP in attrs or RTA_ENCAP_TYPE in attrs or RTA_OIF not in attrs:
            return None
        gateway = attrs.get(RTA_GATEWAY)
        metrics = attrs.get(RTA_METRICS)
        mtu = parse_attrs(metrics).get(RTAX_MTU, b"") if metrics else b""
        return (struct.unpack("=i", attrs[RTA_OIF][:4])[0], gateway if gateway and len(gateway) == 16 else None,
                struct.unpack("=I", mtu[:4])[0] if len(mtu) >= 4 else 0)

    def neighbour(self, address: bytes, ifindex: int) -> tuple[int, bytes | None] | None:
        """``(NUD state, link-layer address or None)`` of ``address`` on ``ifindex``; None without an entry."""
        body = _NDMSG.pack(socket.AF_INET6, 0, 0, ifindex, 0, 0, 0) + attr(NDA_DST, address)
        got = self._ask(RTM_GETNEIGH, body)
        if got is None or got[0] != RTM_NEWNEIGH or len(got[1]) < _NDMSG.size:
            return None
        state = _NDMSG.unpack_from(got[1])[4]
        return state, parse_attrs(got[1], _NDMSG.size).get(NDA_LLADDR)

    def close(self) -> None:
        self.sock.close()


def notification_socket() -> socket.socket:
    """A non-blocking rtnetlink socket subscribed to link, neighbour and IPv6 route changes."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    sock.bind((0, RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV6_ROUTE))
    sock.setblocking(False)
    return sock


# (send, Ethernet header, expiry, MTU of the output link) or (None, None, expiry, 0): the raw socket's
Entry = tuple[Callable[[bytes], int] | None, bytes | None, float, int]


class NextHops:
    """Destination -> ``(send, Ethernet header, expiry, MTU)`` for the daemon's packet sockets ``links``
    (``{ifname: LinkSocket}``, each with ``sock``, ``mac``, ``index``); ``(None, None, expiry, 0)`` for a
    destination the raw socket sends (the caller also sends a packet longer than the MTU there).  :meth:`lookup` is the hot path's (a dict lookup and a time comparison on a hit)."""

    def __init__(self, links: dict, rtnl: Rtnl | None = None, source: bytes | None = None,
                 clock: Callable[[], float] = time.monotonic, ttl: float = ENTRY_TTL) -> None:
        self.rtnl = rtnl if rtnl is not None else Rtnl()  # first: if it fails, no send socket is left open
        self.by_index = {}  # ifindex -> (send, own MAC, fallback MTU, name); the MTU is re-read at each resolution
        self._senders: list[socket.socket] = []
        for link in links.values():
            sock = getattr(link, "sock", None)
            if sock is None or len(getattr(link, "mac", b"")) != 6:
                continue
            try:
                mtu = _link_mtu(sock, link.name)
                sender = send_socket(link.name)
            except OSError:
                continue
            self._senders.append(sender)
            self.by_index[link.index] = (sender.send, link.mac, mtu, link.name)
        self._sock_of = {link.index: link.sock for link in links.values() if link.index in self.by_index}
        self.source, self.clock, self.ttl = source, clock, ttl
        self.entries: dict[bytes, Entry] = {}
        self.counters = {"resolved": 0, "unresolved": 0, "invalidations": 0}
        self.notify: socket.socket | None = None

    def subscribe(self) -> socket.socket:
        """The notification socket (for the event loop, with :meth:`on_readable`)."""
        if self.notify is None:
            self.notify = notification_socket()
        return self.notify

    def on_readable(self) -> None:
        """Drain the notification socket; any neighbour, route or link change (or a lost notification) empties
        the cache."""
        changed = False
        while True:
            try:
                data = self.notify.recv(65536)  # type: ignore[union-attr]
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # notifications were lost: assume anything changed
                    changed = True
                    continue
                raise
            if not data:
                break
            if any(mtype in _CHANGES for mtype, _seq, _body in framed(data)):
                changed = True
        if changed:
            self.invalidate()

    def invalidate(self, dst: bytes | None = None) -> None:
        """Forget ``dst`` (None: everything)."""
        self.counters["invalidations"] += 1
        if dst is None:
            self.entries.clear()
        else:
            self.entries.pop(dst, None)

    def lookup(self, dst: bytes) -> Entry:
        """The entry for ``dst``: resolved now if absent or expired."""
        entry = self.entries.get(dst)
        if entry is not None and entry[2] > self.clock():
            return entry
        return self.resolve(dst)

    def resolve(self, dst: bytes) -> Entry:
        expiry = self.clock() + self.ttl
        entry: Entry = (None, None, expiry, 0)
        try:
            found = self._resolve(dst)
        except OSError:
            found = None
        if found is not None:
            send, header, mtu = found
            entry = (send, header, expiry, mtu)
            self.counters["resolved"] += 1
        else:
            self.counters["unresolved"] += 1
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[dst] = entry
        return entry

    def _resolve(self, dst: bytes) -> tuple[Callable[[bytes], int], bytes, int] | None:
        if not usable_destination(dst):
            return None
        route = self.rtnl.route(dst, self.source)
        if route is None:
            return None
        ifindex, gateway, route_mtu = route
        link = self.by_index.get(ifindex)
        if link is None:
            return None
        neighbour = self.rtnl.neighbour(gateway or dst, ifindex)
        if neighbour is None:
            return None
        state, lladdr = neighbour
        if not state & USABLE_STATES or lladdr is None or len(lladdr) != 6 or lladdr == bytes(6):
            return None
        send, mac, mtu, name = link
        sock = self._sock_of.get(ifindex)
        if sock is not None:
            mtu = _link_mtu(sock, name)  # it may have changed (a link notification emptied the cache)
        if route_mtu:
            mtu = min(mtu, route_mtu)
        return send, lladdr + mac + _ETH_IPV6, mtu

    def close(self) -> None:
        self.rtnl.close()
        if self.notify is not None:
            self.notify.close()
        for sender in self._senders:
            sender.close()


