"""Next hops on the daemon's packet sockets (``reference_impl/daemon/nexthop.py``) and the userspace data plane's use
of them: the same IPv6 packets as through the raw socket, behind the right Ethernet header; the raw socket whenever
the next hop is not known to be reachable, too big, or its send fails; the cache emptied on rtnetlink changes and
after its time to live."""

from __future__ import annotations

import socket
import struct

from benchmarks import bench_dataplane as bd
from reference_impl.daemon import nexthop as nh
from reference_impl.daemon.nexthop import NextHops, Rtnl

from tests.unit.benchmarks.test_bench_dataplane_units import MAP, bound_map, flow, plane

GW_MAC, OUR_MAC = b"\x02\x00\x00\x00\x00\x99", b"\x02\x00\x00\x00\x00\x01"


class FakeRtnl:
    def __init__(self, state: int = nh.NUD_REACHABLE, route: tuple[int, bytes | None, int] | None = (7, None, 0)
                 ) -> None:
        self.state, self.route_to, self.asked = state, route, 0

    def route(self, dst: bytes, src: bytes | None = None) -> tuple[int, bytes | None, int] | None:
        self.asked += 1
        return self.route_to

    def neighbour(self, address: bytes, ifindex: int) -> tuple[int, bytes | None] | None:
        return self.state, GW_MAC

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def hops(rtnl: FakeRtnl, sent: list[bytes], mtu: int = 1500, fail: bool = False,
         clock: Clock | None = None) -> NextHops:
    table = NextHops({}, rtnl=rtnl, clock=clock or Clock())  # type: ignore[arg-type]

    def send(frame: bytes) -> int:
        if fail:
            raise OSError(105, "No buffer space available")
        sent.append(frame)
        return len(frame)
    table.by_index[7] = (send, OUR_MAC, mtu, "x")
    return table


def test_resolved_only_for_reachable_permanent_or_noarp_neighbours() -> None:
    for state, usable in ((nh.NUD_REACHABLE, True), (nh.NUD_PERMANENT, True), (nh.NUD_NOARP, True),
                          (0x04, False), (0x08, False), (0x10, False), (0x20, False), (0x01, False)):  # STALE...
        entry = hops(FakeRtnl(state), []).lookup(bd.lcoa(0))
        assert (entry[0] is not None) == usable, state
        if usable:
            assert entry[1] == GW_MAC + OUR_MAC + b"\x86\xdd" and entry[3] == 1500


def test_unrouted_foreign_interface_and_non_global_destinations_go_raw() -> None:
    assert hops(FakeRtnl(route=None), []).lookup(bd.lcoa(0))[0] is None
    assert hops(FakeRtnl(route=(8, None, 0)), []).lookup(bd.lcoa(0))[0] is None  # no packet socket there
    assert hops(FakeRtnl(route=(7, None, 1280)), []).lookup(bd.lcoa(0))[3] == 1280  # a path MTU below the link's
    table = hops(FakeRtnl(), [])
    for dst in (socket.inet_pton(socket.AF_INET6, a) for a in ("ff02::1", "fe80::1", "::1", "::")):
        assert table.lookup(dst)[0] is None


def test_entries_expire_and_every_rtnetlink_change_empties_the_cache() -> None:
    rtnl, clock = FakeRtnl(), Clock()
    table = hops(rtnl, [], clock=clock)
    table.lookup(bd.lcoa(0))
    table.lookup(bd.lcoa(0))
    assert rtnl.asked == 1
    clock.now += nh.ENTRY_TTL + 0.01
    table.lookup(bd.lcoa(0))
    assert rtnl.asked == 2
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        a.setblocking(False)
        table.notify = a  # type: ignore[assignment]
        b.send(struct.pack("=IHHII", 16, nh.RTM_GETROUTE, 0, 0, 0))  # not a change
        table.on_readable()
        assert table.entries
        b.send(struct.pack("=IHHII", 16, nh.RTM_NEWNEIGH, 0, 0, 0))
        table.on_readable()
        assert not table.entries
        table.notify = None


def test_real_rtnetlink_answers_local_and_unreachable_routes_as_not_forwardable() -> None:
    rtnl = Rtnl()
    try:
        assert rtnl.route(socket.inet_pton(socket.AF_INET6, "::1")) is None  # a local route
        assert rtnl.neighbour(socket.inet_pton(socket.AF_INET6, "2001:db8::dead"), 1) is None
    finally:
        rtnl.close()


def _batches(direction: str) -> tuple[list[bytes], bytes]:
    f = flow(direction, "tunnel" if direction == "down" else "plain")
    return [f.sent_frame(i) for i in range(4)], f.sent_frame(0)


def test_link_sends_carry_the_raw_sockets_packet_behind_the_next_hops_header() -> None:
    for direction in ("down", "up"):
        frames, _ = _batches(direction)
        raw_plane, raw = plane(bound_map())
        raw_plane.on_batch(bd.IF_MAP, frames, lambda iface, frame: None)
        linked_plane, unused = plane(bound_map())
        sent: list[bytes] = []
        linked_plane.hops = hops(FakeRtnl(), sent)
        linked_plane.on_batch(bd.IF_MAP, frames, lambda iface, frame: None)
        assert len(raw.sent) == 4 and not unused.sent
        assert sent == [GW_MAC + OUR_MAC + b"\x86\xdd" + p for p in raw.sent], direction
        assert linked_plane.counters["link_sent"] == 4
        assert linked_plane.counters["tunnelled"] == raw_plane.counters["tunnelled"]


def test_too_big_unresolved_or_failing_next_hops_fall_back_to_the_raw_socket() -> None:
    frames, _ = _batches("down")
    for table in (hops(FakeRtnl(), [], mtu=len(frames[0]) + 25),  # one octet short of outer header + packet
                  hops(FakeRtnl(0x04), []),  # STALE
                  hops(FakeRtnl(), [], fail=True)):
        p, raw = plane(bound_map())
        p.hops = table
        p.on_batch(bd.IF_MAP, frames, lambda iface, frame: None)
        assert len(raw.sent) == 4 and p.counters["tunnelled"] == 4 and p.counters["link_sent"] == 0
        assert all(pkt[8:24] == MAP for pkt in raw.sent)
        if p.counters["link_send_errors"]:
            assert not table.entries  # the failing next hop forgotten
