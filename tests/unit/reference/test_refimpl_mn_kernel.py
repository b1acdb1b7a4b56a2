"""The mobile node daemon's in-process kernel helpers: rtnetlink framing and carrier changes from link messages."""

from __future__ import annotations

import errno
import socket
import struct

from reference_impl.daemon import mn_kernel, netlink
from reference_impl.daemon.mn_kernel import IFF_LOWER_UP, IFLA_CARRIER, IFLA_CARRIER_DOWN_COUNT, IFLA_IFNAME
from reference_impl.daemon.mn_main import CarrierWatch
from reference_impl.daemon.netlink import RTM_NEWLINK, attr

IFF_UP, IFF_RUNNING = 0x1, 0x40


def newlink(index: int, flags: int, carrier: int | None = None, kind: int = RTM_NEWLINK,
            downs: int | None = None) -> bytes:
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 1, index, flags, 0) + attr(IFLA_IFNAME, b"eth0\0")
    if carrier is not None:
        body += attr(IFLA_CARRIER, bytes([carrier]))
    if downs is not None:
        body += attr(IFLA_CARRIER_DOWN_COUNT, struct.pack("=I", downs))
    return struct.pack("=IHHII", 16 + len(body), kind, 0, 0, 0) + body


def test_attr_is_padded_and_parsed_back() -> None:
    data = attr(3, b"eth0\0") + attr(4, struct.pack("=I", 1400))
    assert len(data) % 4 == 0
    assert netlink.parse_attrs(data) == {3: b"eth0\0", 4: struct.pack("=I", 1400)}


def test_messages_split_one_datagram() -> None:
    data = newlink(2, IFF_UP) + newlink(3, IFF_UP | IFF_LOWER_UP, 1)
    kinds = [k for k, _ in netlink.messages(data)]
    assert kinds == [RTM_NEWLINK, RTM_NEWLINK]


def test_link_carrier_reads_each_message() -> None:
    (_, down), = netlink.messages(newlink(2, IFF_UP, 0))
    (_, up), = netlink.messages(newlink(2, IFF_UP | IFF_RUNNING | IFF_LOWER_UP, 1))
    (_, bare), = netlink.messages(newlink(2, IFF_UP | IFF_LOWER_UP))
    (_, other), = netlink.messages(newlink(7, IFF_UP | IFF_LOWER_UP, 1))
    assert mn_kernel.link_carrier(down, 2) is False
    assert mn_kernel.link_carrier(up, 2) is True
    assert mn_kernel.link_carrier(bare, 2) is True
    assert mn_kernel.link_carrier(other, 2) is None
    assert mn_kernel.link_carrier(b"\0" * 8, 2) is None


class FakeSock:
    def __init__(self, datagrams: list[bytes | OSError]) -> None:
        self.datagrams = list(datagrams)

    def recv(self, _size: int) -> bytes:
        if not self.datagrams:
            raise BlockingIOError
        item = self.datagrams.pop(0)
        if isinstance(item, OSError):
            raise item
        return item


def watch(datagrams: list[bytes | OSError], up: bool, sysfs: bool | None = None, downs: int | None = None,
          sysfs_downs: int | None = None) -> CarrierWatch:
    w = CarrierWatch.__new__(CarrierWatch)
    w.iface, w.index, w.up, w.overruns, w.downs = "eth0", 2, up, 0, downs
    w.sock = FakeSock(datagrams)  # type: ignore[assignment]
    w.read = lambda: w.up if sysfs is None else sysfs  # type: ignore[method-assign]
    w.read_downs = lambda: sysfs_downs  # type: ignore[method-assign]
    return w


def test_flap_folded_by_the_kernel_into_one_up_message_is_seen_by_its_down_count() -> None:
    """The link watcher ran once after down and up: one message, carrier up, down count one higher."""
    up = IFF_UP | IFF_LOWER_UP
    w = watch([newlink(2, up, 1, downs=4)], up=True, downs=3)
    assert w.changes() == [False, True]
    assert (w.up, w.downs) == (True, 4)
    w = watch([newlink(2, up, 1, downs=4)], up=True, downs=4)  # same count: nothing happened
    assert w.changes() == []
    w = watch([newlink(2, up, 1, downs=9)], up=True, downs=None)  # no count known yet: taken as the base
    assert w.changes() == [] and w.downs == 9
    w = watch([newlink(2, IFF_UP, 0, downs=4), newlink(2, up, 1, downs=4)], up=True, downs=3)
    assert w.changes() == [False, True]  # the loss is counted once


def test_flap_drained_at_once_is_two_changes() -> None:
    """Down and up both queued before the daemon reads: re-reading /sys would see "up" and nothing else."""
    w = watch([newlink(2, IFF_UP, 0), newlink(2, IFF_UP | IFF_LOWER_UP, 1)], up=True)
    assert w.changes() == [False, True]
    assert w.up is True
    w = watch([newlink(2, IFF_UP, 0) + newlink(2, IFF_UP | IFF_LOWER_UP, 1)], up=True)
    assert w.changes() == [False, True]


def test_repeated_and_foreign_messages_are_not_changes() -> None:
    w = watch([newlink(2, IFF_UP | IFF_LOWER_UP, 1), newlink(5, IFF_UP, 0), newlink(2, IFF_UP | IFF_LOWER_UP, 1)],
              up=True)
    assert w.changes() == []
    w = watch([newlink(2, IFF_UP, 0), newlink(2, IFF_UP, 0)], up=True)
    assert w.changes() == [False]
    assert w.up is False
    assert w.changed() is None


def test_overrun_uses_the_down_count_else_assumes_a_flap_when_up() -> None:
    w = watch([OSError(errno.ENOBUFS, "No buffer space available")], up=True, sysfs=True)
    assert w.changes() == [False, True]
    assert w.overruns == 1
    w = watch([OSError(errno.ENOBUFS, "No buffer space available")], up=True, sysfs=True, downs=2, sysfs_downs=2)
    assert w.changes() == []
    w = watch([OSError(errno.ENOBUFS, "No buffer space available")], up=True, sysfs=True, downs=2, sysfs_downs=3)
    assert w.changes() == [False, True]
    w = watch([OSError(errno.ENOBUFS, "No buffer space available")], up=True, sysfs=False)
    assert w.changes() == [False]
    assert w.up is False


class FakeRtnl:
    def __init__(self, calls: list[tuple]) -> None:
        self.calls = calls

    def addr(self, add: bool, index: int, address: bytes, length: int, **_kw: object) -> None:
        self.calls.append(("addr+" if add else "addr-", address))

    def source_rule(self, add: bool, source: bytes, *_a: object) -> None:
        self.calls.append(("rule+" if add else "rule-", source))


class FakeNft:
    def __init__(self, calls: list[tuple]) -> None:
        self.calls = calls

    def run(self, command: str) -> None:
        self.calls.append(("nft", command.split()[0]))


def host(calls: list[tuple]):
    from types import SimpleNamespace

    from reference_impl.daemon.mn_main import MnHost
    h = MnHost.__new__(MnHost)
    h.rtnl, h.nft, h.deferred, h._index = FakeRtnl(calls), FakeNft(calls), [], {"eth0": 2, "tun0": 3}
    h.tun, h.table_id, h.log = SimpleNamespace(name="tun0"), "1999", lambda *a, **k: None
    h.table = SimpleNamespace(name="hmipv6_mn", own=[])
    h.sources = set()
    return h


def test_removals_wait_for_the_batch_and_a_re_added_address_stays() -> None:
    from reference_impl.actions import AddressAdded, AddressRemoved
    old, new = bytes.fromhex("20010db8011000000000000000000001"), bytes.fromhex("20010db8012000000000000000000001")
    calls: list[tuple] = []
    h = host(calls)
    h.on_action(AddressRemoved("eth0", old, "lcoa", "moved"))
    h.on_action(AddressAdded("eth0", new, 64, "lcoa"))
    assert calls == [("addr+", new), ("nft", "add")]  # the BU after this in the batch finds the new LCoA in place
    h.flush()
    assert calls[2:] == [("addr-", old), ("nft", "delete")]
    assert h.table.own == ["2001:db8:120::1"]
    calls.clear()
    rcoa = bytes.fromhex("20010db8010000000000000000000001")
    h.on_action(AddressRemoved("eth0", rcoa, "rcoa", "map-changed"))
    h.on_action(AddressAdded("eth0", rcoa, 128, "rcoa"))
    h.flush()
    assert ("addr-", rcoa) not in calls and ("addr+", rcoa) in calls
    assert rcoa in h.sources
