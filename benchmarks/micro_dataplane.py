"""In-process micro-benchmark of the userspace data plane's per-packet Python cost (no namespaces, no wire).

    python -m benchmarks.micro_dataplane [--bindings 256] [--batches 4000] [--repeat 5] [--json FILE]

Rows, each as ns per frame and as a ratio to the baseline measured in the same process:

* ``raw_{down,up}`` (baseline): the loop body of ``bench_dataplane.raw_forward`` for one frame (lookup, checks,
  header rebuilt, one call of ``send``), frames from a prebuilt list, ``send`` a C no-op.
* ``plane_{down,up}``: :meth:`TunnelPlane.on_batch` on 32-frame batches of the same frames, a real :class:`MapCore`
  holding the bindings (registered through its BU handling), next hops cached (:class:`NextHops` with a fake
  rtnetlink) whose ``send`` is the same C no-op.
* ``recv_one`` (baseline) / ``recv_batch``: receiving the same frames from a UNIX datagram socket pair, one
  ``recv`` each (the raw forwarder's way) against :class:`BatchReceiver` ``recvmmsg`` batches (the daemon's way).

What the kernel does per packet on a real link (veth transmit, the far end's softirq) is not here: these figures
are the Python share only, the part a change of the daemon's code moves.  Timings are best-of ``--repeat``.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import struct
import time
from typing import Any, Callable

from benchmarks import bench_dataplane as bd
from benchmarks.common import lcoa, rcoa, write_result
from reference_impl import wire as w
from reference_impl.daemon.dataplane import TunnelPlane
from reference_impl.daemon.linkio import RECV_BATCH, BatchReceiver
from reference_impl.daemon.nexthop import NUD_PERMANENT, NextHops
from reference_impl.map.config import MapConfig
from reference_impl.map.core import MapCore

PROG = "python -m benchmarks.micro_dataplane"
MAP = w.ip6(bd.MAP_ADDR)


class _Rtnl:
    """Every destination routed on link 7, its neighbour PERMANENT."""

    def route(self, dst: bytes, src: bytes | None = None) -> tuple[int, None, int]:
        return 7, None, 0

    def neighbour(self, address: bytes, ifindex: int) -> tuple[int, bytes]:
        return NUD_PERMANENT, b"\x02\x00\x00\x00\x00\x99"

    def close(self) -> None:
        pass


class _Table:
    def intercept(self, address: str) -> None:
        pass

    def release(self, address: str) -> None:
        pass


class _Raw:
    def send(self, packet: bytes, ifname: str | None = None, ifindex: int = 0) -> None:
        raise AssertionError("the micro-benchmark's packets all leave on the (fake) packet socket")


def bound_core(n: int) -> MapCore:
    core = MapCore(MapConfig(address=MAP, home_iface=bd.IF_MAP, link_address=w.mac(bd.MAC[bd.IF_MAP]), dad="off",
                             onlink_prefixes=(w.ip6_prefix(bd.LCOA_PREFIX),), max_bindings=10 * n + 10))
    for i in range(n):
        core.handle(0.0, bd.IF_MAP, w.Packet(lcoa(i), MAP, w.BindingUpdate(1, w.BU_A | w.BU_M, 1000),
                                             home_address=rcoa(i)))
    return core


def make_plane(core: MapCore, send: Callable[[bytes], Any]) -> TunnelPlane:
    plane = TunnelPlane(core, MAP, {MAP}, _Raw(), _Table(), lambda *a, **k: None)  # type: ignore[arg-type]
    hops = NextHops({}, rtnl=_Rtnl(), ttl=1e9)  # type: ignore[arg-type]
    hops.by_index[7] = (send, b"\x02\x00\x00\x00\x00\x01", 1500, "x")
    plane.hops = hops
    return plane


def frames_for(direction: str, n: int, payload: int = 64) -> list[bytes]:
    flow = bd.Flow(direction, "tunnel" if direction == "up" else "plain", "plain" if direction == "up" else "tunnel",
                   n, payload, b"mcro")
    return [flow.sent_frame(i) for i in range(n)]


def raw_loop(direction: str, n: int, send: Callable[[bytes], Any]) -> Callable[[list[bytes]], int]:
    """bench_dataplane.raw_forward's loop body, over a list instead of recv()."""
    bound = {rcoa(i): lcoa(i) for i in range(n)}
    out = bd.eth(bd.IF_AR, bd.IF_MAP) if direction == "down" else bd.eth(bd.IF_CN, bd.IF_MAP_CN)
    own, header, get, nh_ipv6 = MAP, struct.Struct("!IHBB16s16s").pack, bound.get, bd.NH_IPV6

    def down(frames: list[bytes]) -> int:
        forwarded = 0
        for f in frames:
            dst = get(f[38:54])
            if dst is None or f[21] <= 1:
                continue
            send(out + header(0x60000000, len(f) - 14, nh_ipv6, 64, own, dst) + f[14:21] + bytes((f[21] - 1,))
                 + f[22:])
            forwarded += 1
        return forwarded

    def up(frames: list[bytes]) -> int:
        forwarded = 0
        for f in frames:
            if f[20] != nh_ipv6 or f[38:54] != own or len(f) < 94 or get(f[62:78]) != f[22:38] or f[61] <= 1:
                continue
            send(out + f[54:61] + bytes((f[61] - 1,)) + f[62:])
            forwarded += 1
        return forwarded

    return down if direction == "down" else up


def best_ns(runs: list[Callable[[], None]], frames_per_run: int, rounds: int, repeat: int) -> list[float]:
    """Best of ``repeat`` timings of ``rounds`` calls of each of ``runs`` (interleaved, so that a burst of other
    load on the machine hits them alike), in ns per frame."""
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for k, run in enumerate(runs):
            start = time.perf_counter_ns()
            for _ in range(rounds):
                run()
            best[k] = min(best[k], (time.perf_counter_ns() - start) / (rounds * frames_per_run))
    return best


def measure(bindings: int, batches: int, repeat: int) -> dict[str, Any]:
    core = bound_core(bindings)
    sent: list[int] = []
    send = len  # a C call taking the packet, as sock.send does
    figures: dict[str, Any] = {}
    for direction in ("down", "up"):
        frames = frames_for(direction, bindings)
        batch_list = [frames[k:k + RECV_BATCH] for k in range(0, len(frames), RECV_BATCH)]
        raw = raw_loop(direction, bindings, send)
        plane = make_plane(core, send)
        other = lambda iface, frame: sent.append(1)  # noqa: E731 - must stay unused
        on_batch = plane.on_batch
        for b in batch_list:  # resolve every next hop once, check every frame is forwarded
            on_batch(bd.IF_MAP, b, other)
        assert not sent and plane.counters["link_sent"] == bindings, plane.counters
        assert raw(frames) == bindings
        rounds = max(1, batches // len(batch_list))

        def run_raw() -> None:
            for b in batch_list:
                raw(b)

        def run_plane() -> None:
            for b in batch_list:
                on_batch(bd.IF_MAP, b, other)
        base, ours = best_ns([run_raw, run_plane], bindings, rounds, repeat)
        figures[f"raw_{direction}_ns"] = round(base, 1)
        figures[f"plane_{direction}_ns"] = round(ours, 1)
        figures[f"plane_{direction}_over_raw"] = round(ours / base, 3)
    figures.update(measure_receive(frames_for("up", RECV_BATCH), batches, repeat))
    return figures


def measure_receive(frames: list[bytes], batches: int, repeat: int) -> dict[str, Any]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        for s in (a, b):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        b.setblocking(False)
        receiver = BatchReceiver(b.fileno())
        recv = b.recv
        times_one, times_batch = [], []
        rounds = max(1, batches // 4)
        for _ in range(repeat):
            one = many = 0
            for _ in range(rounds):
                for f in frames:
                    a.send(f)
                start = time.perf_counter_ns()
                for _ in frames:
                    recv(4096)
                one += time.perf_counter_ns() - start
                for f in frames:
                    a.send(f)
                start = time.perf_counter_ns()
                got = receiver.receive()
                many += time.perf_counter_ns() - start
                assert got == frames
            times_one.append(one / (rounds * len(frames)))
            times_batch.append(many / (rounds * len(frames)))
    one, many = min(times_one), min(times_batch)
    return {"recv_one_ns": round(one, 1), "recv_batch_ns": round(many, 1), "recv_batch_over_one": round(many / one, 3),
            "recv_one_median_ns": round(statistics.median(times_one), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--bindings", type=int, default=256)
    parser.add_argument("--batches", type=int, default=400, help="32-frame batches per timing")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.bindings % RECV_BATCH:
        parser.error(f"--bindings must be a multiple of {RECV_BATCH}")
    figures = measure(args.bindings, args.batches, args.repeat)
    for direction in ("down", "up"):
        print(f"{direction:>4}: raw forwarder body {figures[f'raw_{direction}_ns']:7.1f} ns/frame (baseline), "
              f"TunnelPlane.on_batch {figures[f'plane_{direction}_ns']:7.1f} ns/frame = "
              f"{figures[f'plane_{direction}_over_raw']:.3f}x")
    print(f"recv: one recv() {figures['recv_one_ns']:7.1f} ns/frame (baseline), BatchReceiver "
          f"{figures['recv_batch_ns']:7.1f} ns/frame = {figures['recv_batch_over_one']:.3f}x")
    path = write_result("micro_dataplane", vars(args), figures, args.json)
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
