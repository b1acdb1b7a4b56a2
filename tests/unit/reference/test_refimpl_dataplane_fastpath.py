"""The userspace data plane's fast paths (``reference_impl/daemon/linkio.py``, ``dataplane.py``, ``nexthop.py``) give
what the frame-by-frame code gives:

* :meth:`BatchReceiver.receive` sorts a whole ``recvmmsg`` batch with a few checks and falls back to the per-frame
  loop (:meth:`BatchReceiver._sort`) for any batch holding a truncated frame, a frame of another host or our own, or
  a frame with an unfinished checksum -- the kernel's answer is simulated here, message by message;
* :meth:`TunnelPlane.on_batch` remembers, within a batch, the next hop of an unbound inner destination of the
  reverse tunnel, and forgets it whenever a frame went to the per-frame path (which may bind that destination);
* :class:`NextHops` sends on a send-only packet socket of its own, not on the link's receiving socket.
Never asserts on speed."""

from __future__ import annotations

import ctypes
import random
import socket
import struct

import pytest

from benchmarks import bench_dataplane as bd
from reference_impl import wire as w
from reference_impl.daemon import linkio
from reference_impl.daemon import nexthop as nh
from reference_impl.daemon.linkio import BatchReceiver
from reference_impl.daemon.nexthop import NextHops
from tests.unit.benchmarks.test_bench_dataplane_units import MAP, N, bound_map, plane, random_frame
from tests.unit.reference.test_refimpl_nexthop import GW_MAC, OUR_MAC, FakeRtnl, hops

# ----------------------------------------------------------------------------------------- batched receiving


class FakeKernel:
    """Writes one ``recvmmsg`` answer into a BatchReceiver's buffers, as the kernel would: per message the frame
    (cut at the slot: MSG_TRUNC), its ``sockaddr_ll`` packet type, and (or not) a PACKET_AUXDATA control message
    with a ``tp_status``.  ``stale``: status bytes left set in the control buffers of messages without one."""

    def __init__(self, receiver: BatchReceiver) -> None:
        self.r = receiver
        self.batch: list[tuple[bytes, int, int | None]] = []  # (frame, packet type, tp_status or None)
        self.stale = False
        receiver.call = self  # type: ignore[assignment]

    def __call__(self, fd: int, address: int, count: int, flags: int, timeout: object) -> int:
        r = self.r
        msgs = (ctypes.c_char * len(r.pristine)).from_address(address)
        size_t = ctypes.sizeof(ctypes.c_size_t)
        flags_at = linkio._MMsgHdr.hdr.offset + linkio._MsgHdr.flags.offset
        for k, (frame, pkttype, status) in enumerate(self.batch[:count]):
            base = k * r.stride
            length = min(len(frame), r.slot)
            r.data_view[k * r.slot:k * r.slot + length] = frame[:length]
            struct.pack_into("@I", msgs, base + linkio._MMsgHdr.len.offset, length)
            struct.pack_into("@i", msgs, base + flags_at, linkio.MSG_TRUNC if len(frame) > r.slot else 0)
            r.names_view[k * linkio._NAME_SIZE + 10] = pkttype
            control = k * linkio._CONTROL_SIZE
            if status is None:
                struct.pack_into("@N", msgs, base + r.lengths_at, 0)
                if self.stale:
                    r.controls_view[r.status_byte + control] = 0xFF
                continue
            cmsg = struct.pack(f"@Nii{r.aux_min - struct.calcsize('@Nii') - linkio.AUXDATA.size}x", r.aux_min,
                               linkio.SOL_PACKET, linkio.PACKET_AUXDATA) + linkio.AUXDATA.pack(status, 0, 0, 0, 0, 0, 0)
            r.controls_view[control:control + len(cmsg)] = cmsg
            struct.pack_into("@N", msgs, base + r.lengths_at, len(cmsg))
        assert size_t in (4, 8)
        n, self.batch = min(len(self.batch), count), self.batch[count:]
        return n


def udp_frame(payload: bytes) -> bytes:
    """An Ethernet + IPv6 + UDP frame whose checksum field holds garbage (an offloading sender's partial sum)."""
    udp = struct.pack("!HHHH", 4000, 9000, 8 + len(payload), 0x1234) + payload
    return bd.eth(bd.IF_MAP, bd.IF_AR) + struct.pack("!IHBB16s16s", 6 << 28, len(udp), 17, 64, bd.lcoa(1),
                                                     w.ip6(bd.CN_ADDR)) + udp


def receiver(slot: int = 200) -> tuple[BatchReceiver, FakeKernel]:
    r = BatchReceiver(-1, count=8, slot=slot)
    return r, FakeKernel(r)


def test_a_plain_batch_is_returned_whole_without_the_per_frame_loop() -> None:
    r, kernel = receiver()
    frames = [udp_frame(bytes([k]) * (k + 1)) for k in range(6)]
    kernel.batch = [(f, linkio.PACKET_HOST, 0) for f in frames]
    r._sort = None  # type: ignore[assignment]  # the fast path must not need it
    assert r.receive() == frames


@pytest.mark.parametrize("pkttype", [linkio.PACKET_OTHERHOST, linkio.PACKET_OUTGOING])
def test_frames_of_other_hosts_and_our_own_are_left_out_of_a_batch(pkttype: int) -> None:
    r, kernel = receiver()
    frames = [udp_frame(bytes([k])) for k in range(5)]
    kernel.batch = [(f, pkttype if k == 2 else linkio.PACKET_MULTICAST, 0) for k, f in enumerate(frames)]
    assert r.receive() == frames[:2] + frames[3:]


def test_an_unfinished_checksum_is_completed_in_a_batch() -> None:
    r, kernel = receiver()
    frames = [udp_frame(bytes([k]) * 9) for k in range(4)]
    kernel.batch = [(f, 0, linkio.TP_STATUS_CSUMNOTREADY if k == 3 else 0) for k, f in enumerate(frames)]
    got = r.receive()
    assert got[:3] == frames[:3] and got[3] == linkio.complete_checksum(frames[3]) != frames[3]


def test_a_stale_status_byte_without_auxdata_changes_nothing() -> None:
    r, kernel = receiver()
    frames = [udp_frame(bytes([k])) for k in range(3)]
    kernel.stale = True
    kernel.batch = [(f, 0, None) for f in frames]
    assert r.receive() == frames


def test_truncated_frames_and_frames_exactly_a_slot_long() -> None:
    r, kernel = receiver(slot=120)
    short, exact, long = udp_frame(b"a"), udp_frame(bytes(120 - 62)), udp_frame(bytes(90))
    assert len(exact) == 120 and len(long) > 120
    kernel.batch = [(short, 0, 0), (exact, 0, 0), (long, 0, 0), (short, 0, 0)]
    assert r.receive() == [short, exact, short]


def test_the_fast_path_gives_what_the_per_frame_loop_gives() -> None:
    rng = random.Random(20261127)
    for _ in range(300):
        r, kernel = receiver(slot=rng.choice([120, 200]))
        kernel.stale = rng.random() < 0.3
        batch = [(udp_frame(rng.randbytes(rng.choice([0, 5, 70]))),
                  rng.choice([0, 0, 0, 1, 2, 3, 4]) if rng.random() < 0.3 else 0,
                  rng.choice([None, 0, 0, linkio.TP_STATUS_CSUMNOTREADY, 0xF7]))
                 for _ in range(rng.randrange(1, 9))]
        kernel.batch = list(batch)
        got = r.receive()
        kernel.batch = list(batch)
        n = r.call(-1, r.address, r.count, 0, None)  # the same answer again, sorted frame by frame
        assert got == r._sort(n)


# ------------------------------------------------------------------------ the reverse tunnel's per-batch memo


def up_frame(i: int, dst: bytes, hop: int = 64) -> bytes:
    inner = struct.pack("!IHBB16s16s", 6 << 28, 8, 59, hop, bd.rcoa(i), dst) + bytes(8)
    return bd.eth(bd.IF_MAP, bd.IF_AR) + struct.pack("!IHBB16s16s", 6 << 28, len(inner), 41, 64, bd.lcoa(i),
                                                     MAP) + inner


def test_a_destination_bound_in_mid_batch_is_tunnelled_from_then_on() -> None:
    """The per-frame path handles a BU in the middle of a batch; the reverse-tunnelled packets after it towards
    the address it bound go into that tunnel, not to the next hop remembered for the address before."""
    core = bound_map()
    newcomer = bd.rcoa(N + 5)
    p, raw = plane(core)
    sent: list[bytes] = []
    p.hops = hops(FakeRtnl(), sent)
    bu = bd.eth(bd.IF_MAP, bd.IF_AR) + bytes(40)  # stands for the BU; the per-frame path below binds newcomer

    def per_frame(iface: str, frame: bytes) -> None:
        assert frame == bu
        core.handle(0.0, bd.IF_MAP, w.Packet(bd.lcoa(N + 5), MAP, w.BindingUpdate(1, w.BU_A | w.BU_M, 100),
                                             home_address=newcomer))

    p.on_batch(bd.IF_MAP, [up_frame(0, newcomer), up_frame(1, newcomer), bu, up_frame(2, newcomer)], per_frame)
    assert [f[14 + 24:14 + 40] for f in sent] == [newcomer, newcomer]  # before the BU: to the next hop
    assert len(raw.sent) == 1 and raw.sent[0][8:24] == MAP and raw.sent[0][24:40] == bd.lcoa(N + 5)
    assert raw.sent[0][40:] == up_frame(2, newcomer)[54:61] + bytes([63]) + up_frame(2, newcomer)[62:]
    assert p.counters["reverse_forwarded"] == 3 and p.counters["tunnelled"] == 1


def test_with_next_hops_a_batch_sends_what_the_raw_socket_would() -> None:
    """Random batches (every frame shape the plane tells apart, several correspondents and mobile nodes): through
    next hops, the same IPv6 packets behind the next hop's Ethernet header, the same counters but link_sent, the
    same frames to the per-frame path, as through the raw socket alone."""
    rng = random.Random(4140)
    core = bound_map()
    for _ in range(300):
        frames = [random_frame(rng) for _ in range(rng.randrange(1, 40))]
        frames += [up_frame(rng.randrange(N), rng.choice([w.ip6(bd.CN_ADDR), w.ip6("2001:db8:dc::7"),
                                                          bd.rcoa(rng.randrange(N))]),
                            rng.choice([1, 2, 64])) for _ in range(rng.randrange(0, 20))]
        rng.shuffle(frames)
        alone, raw_a = plane(core)
        others_a: list[bytes] = []
        alone.on_batch(bd.IF_MAP, frames, lambda iface, frame: others_a.append(frame))
        linked, raw_l = plane(core)
        sent: list[bytes] = []
        linked.hops = hops(FakeRtnl(), sent, mtu=rng.choice([1500, 150]))
        others_l: list[bytes] = []
        linked.on_batch(bd.IF_MAP, frames, lambda iface, frame: others_l.append(frame))
        assert others_l == others_a
        assert all(f[:14] == GW_MAC + OUR_MAC + b"\x86\xdd" for f in sent)
        assert sorted([f[14:] for f in sent] + raw_l.sent) == sorted(raw_a.sent)
        assert linked.counters.pop("link_sent") == len(sent)
        assert alone.counters.pop("link_sent") == 0
        assert linked.counters == alone.counters


# --------------------------------------------------------------------------------------- the send-only socket


def test_next_hops_send_on_a_socket_of_their_own_that_receives_nothing() -> None:
    try:
        link = linkio.LinkSocket("lo")
    except PermissionError:
        pytest.skip("packet sockets need CAP_NET_RAW")
    table = NextHops({"lo": link}, rtnl=FakeRtnl())  # type: ignore[arg-type]
    try:
        send = table.by_index[link.index][0]
        sender = send.__self__  # type: ignore[attr-defined]
        assert isinstance(sender, socket.socket) and sender is not link.sock
        assert sender.getsockname()[:2] == ("lo", 0)  # protocol 0: no receive hook; not in the event loop
        assert not sender.getblocking()
        frame = bytes(12) + b"\x86\xdd" + struct.pack("!IHBB16s16s", 6 << 28, 0, 59, 64, w.ip6("::1"), w.ip6("::1"))
        assert send(frame) == len(frame)
    finally:
        table.close()
        link.close()
    assert sender.fileno() == -1  # closed with the table


def test_send_socket_refuses_an_unknown_interface() -> None:
    with pytest.raises(OSError):
        nh.send_socket("hm6-no-such-if0")


# ------------------------------------------------------------------------------------- the micro-benchmark


def test_micro_benchmark_measures_every_row_with_every_frame_forwarded() -> None:
    """``benchmarks/micro_dataplane.py`` at tiny size: every row present, each a positive time and ratio (its own
    checks assert that every frame was forwarded on the fast path and none went elsewhere)."""
    from benchmarks import micro_dataplane as micro
    figures = micro.measure(bindings=32, batches=2, repeat=1)
    for direction in ("down", "up"):
        assert figures[f"raw_{direction}_ns"] > 0 and figures[f"plane_{direction}_ns"] > 0
        assert figures[f"plane_{direction}_over_raw"] > 0
    assert figures["recv_one_ns"] > 0 and figures["recv_batch_over_one"] > 0


# ------------------------------------------------------------------ frames of other hosts, dropped in the kernel


def _lo_link() -> linkio.LinkSocket:
    try:
        return linkio.LinkSocket("lo")
    except PermissionError:
        pytest.skip("packet sockets need CAP_NET_RAW")


def _lo_frames(link: linkio.LinkSocket, frames: list[bytes], marker: bytes) -> list[bytes]:
    """Send ``frames`` on lo (another packet socket) and read back those of them ``link`` gets (lo is shared:
    other traffic is told apart by ``marker``)."""
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        tx.bind(("lo", 0))
        for frame in frames:
            tx.send(frame)
    finally:
        tx.close()
    got: list[bytes] = []
    for _ in range(50):
        batch = link.receive_batch()
        got += [f for f in batch if marker in f]
        if not batch:
            break
    return got


def _marked(dst_mac: bytes, nh_value: int, marker: bytes, first: bytes = b"") -> bytes:
    body = first + marker
    return dst_mac + bytes(6) + b"\x86\xdd" + struct.pack("!IHBB16s16s", 6 << 28, len(body), nh_value, 64,
                                                          w.ip6("::1"), w.ip6("::1")) + body


def test_frames_for_other_hosts_are_dropped_by_the_sockets_filter_not_read() -> None:
    """lo's address is 00:00:00:00:00:00: a frame to another unicast MAC arrives as PACKET_OTHERHOST.  The link
    socket's filter drops it in the kernel, so its batches read no source address at all."""
    link = _lo_link()
    try:
        assert link._prelude and link._batch is not None and not link._batch.addresses
        marker = b"hm6-prelude-" + random.randbytes(8).hex().encode()
        ours, other = _marked(bytes(6), 59, marker + b"1"), _marked(b"\x02\x00\x00\x00\x00\x01", 59, marker + b"2")
        assert _lo_frames(link, [other, ours, other], marker) == [ours]
    finally:
        link.close()


def test_a_kernel_planes_filter_keeps_the_prelude() -> None:
    from reference_impl.daemon.dataplane import KERNEL_PLANE_FILTER
    link = _lo_link()
    try:
        link.attach_filter(KERNEL_PLANE_FILTER)
        marker = b"hm6-prelude-" + random.randbytes(8).hex().encode()
        bu_like = _marked(bytes(6), 60, marker + b"1")  # kept by the kernel plane's filter
        bulk = _marked(bytes(6), 59, marker + b"2")  # dropped by it
        other = _marked(b"\x02\x00\x00\x00\x00\x01", 60, marker + b"3")  # dropped by the prelude
        assert _lo_frames(link, [bulk, other, bu_like], marker) == [bu_like]
    finally:
        link.close()
