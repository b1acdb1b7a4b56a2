"""``benchmarks/bench_dataplane.py`` without namespaces: the receiver's frame classification, that what it expects
is what the daemon's data plane really emits; and the data-plane hot path the benchmark drove to be rewritten
(``reference_impl/daemon/dataplane.py``, ``linkio.py``): same packets out as the code it replaced (kept here as
the oracle), the kernel planes' socket filter, batched receiving.  Never asserts on speed."""

from __future__ import annotations

import random
import socket
import struct

import pytest

from benchmarks import bench_dataplane as bd
from reference_impl import wire as w
from reference_impl.daemon import linkio
from reference_impl.daemon.dataplane import KERNEL_PLANE_FILTER, TunnelPlane
from reference_impl.map.config import MapConfig
from reference_impl.map.core import MapCore
from reference_impl.wire import fastpath

N = 8
MAP = w.ip6(bd.MAP_ADDR)


class FakeRaw:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, packet: bytes, ifname: str | None = None, ifindex: int = 0) -> None:
        self.sent.append(packet)


class FakeTable:
    def intercept(self, address: str) -> None:
        pass

    def release(self, address: str) -> None:
        pass


def bound_map(n: int = N) -> MapCore:
    """A MAP core with RCoA i bound to LCoA i (i < n), registered through the core's BU handling."""
    core = MapCore(MapConfig(address=MAP, home_iface=bd.IF_MAP, link_address=w.mac(bd.MAC[bd.IF_MAP]), dad="off",
                             onlink_prefixes=(w.ip6_prefix(bd.LCOA_PREFIX),), max_bindings=1000))
    for i in range(n):
        core.handle(0.0, bd.IF_MAP, w.Packet(bd.lcoa(i), MAP, w.BindingUpdate(1, w.BU_A | w.BU_M, 1000),
                                             home_address=bd.rcoa(i)))
    assert all(core.tunnel_for(bd.rcoa(i)) == bd.lcoa(i) for i in range(n))
    return core


def plane(core: MapCore) -> tuple[TunnelPlane, FakeRaw]:
    raw = FakeRaw()
    return TunnelPlane(core, MAP, {MAP}, raw, FakeTable(), lambda *a, **k: None), raw


def flow(direction: str, out_form: str, trial: bytes = b"t001") -> bd.Flow:
    sent_form = "tunnel" if direction == "up" and out_form == "plain" and trial != b"kern" else "plain"
    return bd.Flow(direction, sent_form, out_form, N, 64, trial)


def with_seq(frame: bytes, at: int, seq: int) -> bytes:
    return frame[:at] + struct.pack("!Q", seq) + frame[at + 8:]


# ------------------------------------------------------------------------------------------------ the receiver


@pytest.mark.parametrize("direction, out_form", [("down", "tunnel"), ("down", "plain"), ("up", "plain")])
def test_generated_frames_decode_with_the_reference_codec(direction: str, out_form: str) -> None:
    f = flow(direction, out_form)
    for i in (0, N - 1):
        packet = w.decode_frame(f.sent_frame(i)).packet
        inner = packet.inner or packet
        assert inner.src == (bd.rcoa(i) if direction == "up" else w.ip6(bd.CN_ADDR))
        arrived = w.decode_frame(f.expected(i, 63)).packet
        if out_form == "tunnel":
            assert (arrived.src, arrived.dst, arrived.inner.dst) == (MAP, bd.lcoa(i), bd.rcoa(i))


@pytest.mark.parametrize("direction", ["down", "up"])
def test_the_receiver_expects_what_the_daemons_plane_emits(direction: str) -> None:
    """Frames through the real TunnelPlane (a bound MAP core) pass the receiver's checks, each at its LCoA."""
    f = flow(direction, "tunnel" if direction == "down" else "plain")
    tunnel_plane, raw = plane(bound_map())
    checker = bd.Checker(f)
    for seq in range(3 * N):
        frame = with_seq(f.sent_frame(seq % N), f.sent_token, seq)
        assert tunnel_plane.on_data(bd.IF_MAP, frame)
        out = raw.sent[-1]
        head = bd.eth(bd.IF_AR, bd.IF_MAP) if direction == "down" else bd.eth(bd.IF_CN, bd.IF_MAP_CN)
        checker.check(head + out, 1.0 + seq)
    result = checker.result()
    assert result["ok"] == 3 * N and result["bindings_reached"] == N and result["hop_limits"] == {"63": 3 * N}
    assert result["arrived"] == 3 * N and result["max_seq"] == 3 * N - 1


def test_every_frame_is_classified_once() -> None:
    f = flow("down", "tunnel")
    checker = bd.Checker(f)
    good = [with_seq(f.expected(s % N, 63), f.token, s) for s in range(6)]
    checker.check(good[0], 1.0)
    checker.check(good[0], 1.1)  # again: a duplicate
    wrong_lcoa = bytearray(good[1])
    wrong_lcoa[38:54] = bd.lcoa(5)  # binding 1's packet at binding 5's LCoA
    checker.check(bytes(wrong_lcoa), 1.2)
    flipped = bytearray(good[2])
    flipped[-1] ^= 1  # payload damaged
    checker.check(bytes(flipped), 1.3)
    plain = bd.Flow("down", "plain", "plain", N, 64, f.trial)  # arrived untunnelled
    checker.check(with_seq(plain.expected(3, 63), plain.token, 3), 1.4)
    checker.check(with_seq(bd.Flow("down", "plain", "tunnel", N, 64, b"old!").expected(4, 63), f.token, 4), 1.5)
    checker.check(bd.eth(bd.IF_AR, bd.IF_MAP) + bytes(100), 1.6)  # not a test frame
    hop = bytearray(good[5])
    hop[61] = 62  # inner hop limit decremented twice
    checker.check(bytes(hop), 1.7)
    r = checker.result()
    assert (r["ok"], r["duplicate"], r["misrouted"], r["corrupt"], r["wrong_form"], r["stale"], r["foreign"]) \
        == (1, 1, 1, 2, 1, 1, 1)
    assert r["arrived"] == r["ok"] + r["misrouted"] + r["corrupt"] + r["wrong_form"] == 5


def test_outer_header_fields_the_tunnel_entry_chooses_are_not_judged() -> None:
    """Traffic class, flow label and hop limit of the outer header are the encapsulator's (seg6 sets them)."""
    f = flow("down", "tunnel")
    checker = bd.Checker(f)
    frame = bytearray(with_seq(f.expected(2, 64), f.token, 2))
    frame[14:18] = bytes.fromhex("6a1b2c3d")
    frame[21] = 17
    checker.check(bytes(frame), 0.0)
    assert checker.result()["ok"] == 1 and checker.result()["hop_limits"] == {"64": 1}


# ----------------------------------------------------------------------------- the data plane against its oracle


def oracle(core: MapCore, frame: bytes) -> tuple[bool, list[bytes], dict[str, int]]:
    """The TunnelPlane.on_data this work replaced, built from reference_impl.wire.fastpath as it was."""
    counters = {"tunnelled": 0, "reverse_forwarded": 0, "reverse_rejected": 0, "hop_limit_exceeded": 0}
    sent: list[bytes] = []

    def tunnel(packet: bytes, lcoa: bytes) -> None:
        inner = fastpath.decrement_hop_limit(packet)
        if inner is None:
            counters["hop_limit_exceeded"] += 1
            return
        sent.append(fastpath.encapsulate(MAP, lcoa, inner))
        counters["tunnelled"] += 1

    if frame[12:14] != b"\x86\xdd" or len(frame) < 54:
        return False, sent, counters
    packet = frame[14:]
    nh, dst = packet[6], packet[24:40]
    if nh == 41 and dst == MAP:
        got = fastpath.decapsulate(packet)
        if got is None:
            counters["reverse_rejected"] += 1
            return True, sent, counters
        outer_src, inner = got
        if not core.check_reverse_tunnel(outer_src, inner[8:24]):
            counters["reverse_rejected"] += 1
            return True, sent, counters
        counters["reverse_forwarded"] += 1
        lcoa = core.tunnel_for(inner[24:40])
        if lcoa is not None:
            tunnel(inner, lcoa)
            return True, sent, counters
        forwarded = fastpath.decrement_hop_limit(inner)
        if forwarded is None:
            counters["hop_limit_exceeded"] += 1
        else:
            sent.append(forwarded)
        return True, sent, counters
    if nh == 58 and len(packet) > 40 and 133 <= packet[40] <= 137:
        return False, sent, counters
    lcoa = core.tunnel_for(dst)
    if lcoa is None:
        return False, sent, counters
    tunnel(packet, lcoa)
    return True, sent, counters


def random_frame(rng: random.Random) -> bytes:
    """IPv6 frames of every shape the plane distinguishes: to bound and unbound addresses, tunnelled to the MAP
    from the right and wrong care-of addresses, hop limits 0..2, inner packets of any length, version, padding."""
    addresses = [bd.rcoa(rng.randrange(N)), bd.rcoa(N + 3), MAP, w.ip6(bd.CN_ADDR)]
    body = rng.randbytes(rng.choice([0, 1, 8, 30, 64]))
    inner_nh = rng.choice([59, 17, 58, 6])
    if inner_nh == 58 and body:
        body = bytes([rng.choice([128, 133, 135, 136, 137, 138])]) + body[1:]
    hop = rng.choice([0, 1, 2, 64, 255])
    inner = struct.pack("!IHBB16s16s", rng.choice([6 << 28, 6 << 28, 4 << 28, (6 << 28) | 0xABCDE]), len(body), inner_nh, hop,
                        rng.choice(addresses), rng.choice(addresses)) + body
    if rng.random() < 0.5:
        i = rng.randrange(N + 1)
        src = bd.lcoa(i) if rng.random() < 0.8 else bd.lcoa(N + 1)
        inner = struct.pack("!IHBB16s16s", 6 << 28, rng.choice([len(inner)] * 4 + [39, 40, len(inner) + 9]),
                            41, rng.choice([1, 64]), src, rng.choice([MAP, MAP, bd.rcoa(0)])) + inner
        if rng.random() < 0.7:  # inner source: the RCoA bound to that LCoA
            inner = inner[:48] + bd.rcoa(i) + inner[64:]
    frame = bd.eth(bd.IF_MAP, bd.IF_AR) + inner + bytes(rng.choice([0, 0, 6]))  # Ethernet padding sometimes
    return frame[:rng.choice([len(frame), len(frame), 60, 54, 53])]


def test_the_rewritten_hot_path_sends_what_the_old_one_did() -> None:
    rng = random.Random(20240611)
    core = bound_map()
    for _ in range(4000):
        frame = random_frame(rng)
        tunnel_plane, raw = plane(core)
        consumed = tunnel_plane.on_data(bd.IF_MAP, frame)
        want_consumed, want_sent, want_counters = oracle(core, frame)
        assert (consumed, raw.sent) == (want_consumed, want_sent), frame.hex()
        assert {k: tunnel_plane.counters[k] for k in want_counters} == want_counters, frame.hex()


# ------------------------------------------------------------------------------------------------ socket layer


def filtered_pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    link = linkio.LinkSocket.__new__(linkio.LinkSocket)
    link.sock = b
    link.attach_filter(KERNEL_PLANE_FILTER)
    b.setblocking(False)
    return a, b


def ipv6_frame(nh: int, first: bytes = b"", version: int = 6, length: int = 80) -> bytes:
    frame = bytearray(length)
    frame[12:14], frame[14], frame[20] = b"\x86\xdd", version << 4, nh
    frame[54:54 + len(first)] = first
    return bytes(frame)


@pytest.mark.parametrize("frame, passes", [
    (ipv6_frame(17), False), (ipv6_frame(6), False), (ipv6_frame(59), False),
    (ipv6_frame(58, b"\x80"), False), (ipv6_frame(58, b"\x81"), False),
    (ipv6_frame(58, b"\x87"), True), (ipv6_frame(58, b"\x86"), True), (ipv6_frame(58, b"\x01"), True),
    (ipv6_frame(135), True), (ipv6_frame(60), True), (ipv6_frame(0), True), (ipv6_frame(43), True),
    (ipv6_frame(41), True), (ipv6_frame(50), True), (ipv6_frame(51), True),
    (ipv6_frame(17, version=4), True), (ipv6_frame(17, length=54), True), (ipv6_frame(58, length=54), True),
])
def test_kernel_plane_filter_spares_the_daemon_bulk_data_only(frame: bytes, passes: bool) -> None:
    """The kernel forwards TCP/UDP/no-next-header/echo traffic itself; signalling, tunnels and oddities still
    reach the daemon (a frame too short to judge included)."""
    a, b = filtered_pair()
    with a, b:
        a.send(frame)
        try:
            got = b.recv(200) == frame
        except BlockingIOError:
            got = False
    assert got == passes


def batched_link(sock: socket.socket, slot: int = linkio.RECV_SLOT) -> linkio.LinkSocket:
    link = linkio.LinkSocket.__new__(linkio.LinkSocket)
    link.sock, link._recvmsg = sock, sock.recvmsg
    link._pending, link._handed_out = linkio.collections.deque(), False
    link._batch = linkio.BatchReceiver(sock.fileno(), slot=slot)
    return link


def test_batched_receive_keeps_order_and_ends_each_batch_with_none() -> None:
    """recvmmsg batches: frames in order; after each batch one None, so none waits unseen by select()."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        link = batched_link(b)
        frames = [ipv6_frame(59, struct.pack("!I", i), length=60 + i % 7) for i in range(linkio.RECV_BATCH + 5)]
        for frame in frames:
            a.send(frame)
        got, nones = [], 0
        while nones < 3:
            frame = link.receive()
            if frame is None:
                nones += 1
                continue
            got.append(frame)
            if len(got) == linkio.RECV_BATCH:
                assert link.receive() is None  # the first batch is over
        assert got == frames
        assert link.receive() is None


def test_batched_receive_drops_frames_larger_than_its_buffers() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        link = batched_link(b, slot=100)
        for frame in (ipv6_frame(59, length=80), ipv6_frame(59, length=150), ipv6_frame(59, b"x", length=90)):
            a.send(frame)
        assert [link.receive(), link.receive()] == [ipv6_frame(59, length=80), ipv6_frame(59, b"x", length=90)]
        assert link.receive() is None


def test_a_batch_fits_in_what_the_event_loop_drains_per_wake_up() -> None:
    """Else frames of a batch could wait in the LinkSocket while select() sees an idle socket."""
    from reference_impl.daemon.runner import MAX_BATCH
    assert linkio.RECV_BATCH <= MAX_BATCH


# ------------------------------------------------------------------------------------------- per-batch dispatch


def test_batch_dispatch_sends_and_passes_on_what_the_per_frame_path_does() -> None:
    """TunnelPlane.on_batch against on_data on the same random frames (plus BUs with a destination options
    header): the same packets out (sent together after the batch: tunnelled ones in order, then decapsulated
    ones in order), the same counters, and exactly the frames on_data does not consume handed to the per-frame
    path, in order."""
    rng = random.Random(20261127)
    core = bound_map()
    for _ in range(200):
        frames = [random_frame(rng) for _ in range(rng.randrange(1, 40))]
        frames += [bd.eth(bd.IF_MAP, bd.IF_AR) + w.encode_packet(w.Packet(
            bd.lcoa(1), MAP, w.BindingUpdate(9, w.BU_A | w.BU_M, 10), home_address=bd.rcoa(1)))]
        rng.shuffle(frames)
        by_frame, raw_f = plane(core)
        others_f: list[bytes] = []
        for frame in frames:
            if not by_frame.on_data(bd.IF_MAP, frame):
                others_f.append(frame)
        batched, raw_b = plane(core)
        others_b: list[bytes] = []
        batched.on_batch(bd.IF_MAP, frames, lambda iface, frame: others_b.append(frame))
        assert others_b == others_f and batched.counters == by_frame.counters
        tunnelled = [p for p in raw_f.sent if p[8:24] == MAP]
        assert raw_b.sent == tunnelled + [p for p in raw_f.sent if p[8:24] != MAP]


def test_a_raising_frame_goes_to_the_per_frame_path_and_the_batch_goes_on() -> None:
    core = bound_map()
    batched, raw = plane(core)
    calls = iter([OSError("no"), RuntimeError("bug")])
    good = flow("down", "tunnel").sent_frame(0)

    def tunnel_for(dst: bytes) -> bytes | None:
        exc = next(calls, None)
        if isinstance(exc, RuntimeError):
            raise exc
        return core.tunnel_for(dst)
    batched._tunnel_for = tunnel_for  # type: ignore[method-assign]
    batched._direct = False  # lookups through the (patched) method, as for a core subclass overriding them
    others: list[bytes] = []
    batched.on_batch(bd.IF_MAP, [good, good, good], lambda iface, frame: others.append(frame))
    assert others == [good] and len(raw.sent) == 2 and batched.counters["tunnelled"] == 2


def test_receive_batch_returns_held_frames_then_one_recvmmsg_batch() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        link = batched_link(b)
        frames = [ipv6_frame(59, struct.pack("!I", i), length=60) for i in range(linkio.RECV_BATCH + 5)]
        for frame in frames:
            a.send(frame)
        first = link.receive()  # one frame handed out by receive(), the rest of its batch held
        got = link.receive_batch()  # the 31 held, then the next batch (the last 5)
        assert [first, *got] == frames and link.receive_batch() == []


def test_send_many_sends_in_order_and_reports_each_refused_packet() -> None:
    try:
        sender = linkio.RawSender()
    except PermissionError:
        pytest.skip("raw sockets need CAP_NET_RAW")
    loop = w.ip6("::1")
    good = struct.pack("!IHBB16s16s", 6 << 28, 0, 59, 64, loop, loop)
    bad = good + bytes(70000)  # larger than any link's MTU: EMSGSIZE
    try:
        failed = sender.send_many([good, bad, good])
    finally:
        sender.close()
    assert [p for p, _ in failed] == [bad] and isinstance(failed[0][1], OSError)
