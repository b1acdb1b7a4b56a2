"""The MAP's refresh fast path (what ``hmipv6ct bench map`` measures) behaves exactly as the full path.

``fastpath.local_bu`` / ``fastpath.binding_ack`` against the codec, byte for byte; ``MapCore.refresh_fast`` against
``MapCore.handle`` on random BU streams: same BA bytes, log lines, counters and final state, and no change at all
when it declines.  Plus the benchmark's own frame patching (``BuFrames``) against the codec.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from benchmarks.bench_map import BuFrames
from reference_impl import wire as w
from reference_impl.actions import Log, Send
from reference_impl.map import MapConfig, MapCore
from reference_impl.security import NullSecurity
from reference_impl.wire import fastpath

MAP = w.ip6("2001:db8:f::1")
OTHER_MAP = w.ip6("2001:db8:f::2")
MAP_MAC = w.mac("02:00:00:00:00:0f")
LCOA_NET = w.ip6_prefix("2001:db8:1::/64")
HOME, ACCESS = "home0", "core0"
RCOAS = [w.ip6(f"2001:db8:f::{i:x}") for i in range(0x100, 0x108)] + [MAP, w.ip6("2001:db8:99::5")]
LCOAS = [w.ip6(f"2001:db8:1::{i:x}") for i in range(1, 4)] + [w.ip6("2001:db8:77::1"), w.ip6("fe80::1")]


def _config(**changes: object) -> MapConfig:
    return MapConfig(**{"address": MAP, "home_iface": HOME, "link_address": MAP_MAC, "dad": "off",  # type: ignore[arg-type]
                        "onlink_prefixes": (LCOA_NET,), "extra_addresses": (OTHER_MAP,), **changes})


def _random_bu(r: random.Random, seqs: dict[bytes, int]) -> w.Packet:
    """Mostly plain refreshes of a few RCoAs, with every kind of exception mixed in."""
    flags = r.choice([w.BU_A | w.BU_M] * 6 + [w.BU_M, w.BU_A | w.BU_M | w.BU_H, w.BU_A, w.BU_A | w.BU_M | w.BU_K])
    lifetime = r.choice([100] * 8 + [0, 1, 0xFFFF])
    rcoa = r.choice(RCOAS)
    seq = seqs[rcoa] = (seqs.get(rcoa, 0) + 1) & 0xFFFF
    if r.random() < 0.1:
        seq = r.choice([seq - 2, seq + 0x8000, r.randrange(0x10000)]) & 0xFFFF
    src = r.choice(LCOAS[:1] * 6 + LCOAS[1:])
    dst = r.choice([MAP] * 8 + [OTHER_MAP, w.ip6("2001:db8:f::3")])
    return w.Packet(src, dst, w.BindingUpdate(seq, flags, lifetime), home_address=rcoa)


def _fast_then_full(core: MapCore, now: float, packet: w.Packet, data: bytes) -> tuple[list, bytes | None]:
    """What the daemon does: the fast path on the bytes, else the full path on the decoded packet."""
    bu = fastpath.local_bu(data)
    if bu is not None:
        src, dst, rcoa, seq, flags, lifetime = bu
        got = core.refresh_fast(now, ACCESS, src, dst, rcoa, seq, flags, lifetime)
        if got is not None:
            return core.refresh_logs(src, rcoa, seq, *got), fastpath.binding_ack(dst, src, rcoa, got[0], seq, got[1])
    return core.handle(now, ACCESS, w.decode_packet(data)), None


def _observable(actions: list) -> tuple[list, list]:
    logs = [(a.event, dict(a.fields)) for a in actions if isinstance(a, Log)]
    sent = [w.encode_packet(a.packet) for a in actions if isinstance(a, Send)]
    return logs, sent


@pytest.mark.parametrize("seed", range(6))
def test_refresh_fast_is_handle(seed: int) -> None:
    r = random.Random(seed)
    full, fast = MapCore(_config()), MapCore(_config())
    taken, seqs = 0, {}
    for k in range(3000):
        now = k * 0.5 + r.random() * 0.1  # bindings of 1 s (lifetime 1) expire along the way
        packet = _random_bu(r, seqs)
        data = w.encode_packet(packet)
        expected = full.handle(now, ACCESS, packet)
        got, ba = _fast_then_full(fast, now, packet, data)
        exp_logs, exp_sent = _observable(expected)
        got_logs, got_sent = _observable(got)
        if ba is not None:
            taken += 1
            got_sent = [ba]
            assert [type(a) for a in expected] == [Log, Log, Send], expected  # a plain refresh, nothing else
        assert got_logs == exp_logs and got_sent == exp_sent, (k, packet)
        if k % 500 == 0:
            assert fast.snapshot() == full.snapshot()
    assert fast.snapshot() == full.snapshot() and fast.counters == full.counters
    assert taken > 150  # the fast path was really exercised


def _bound_core(**changes: object) -> MapCore:
    core = MapCore(_config(**changes))
    core.handle(0.0, ACCESS, w.Packet(LCOAS[0], MAP, w.BindingUpdate(1, w.BU_A | w.BU_M, 100), home_address=RCOAS[0]))
    return core


def _refresh(core: MapCore, now: float = 1.0, seq: int = 2) -> tuple[int, int] | None:
    return core.refresh_fast(now, ACCESS, LCOAS[0], MAP, RCOAS[0], seq, w.BU_A | w.BU_M, 100)


def test_refresh_fast_declines_without_touching_anything() -> None:
    class Sub(MapCore):
        pass

    class Guard(NullSecurity):
        pass

    cases = {
        "subclass": Sub(_config()),
        "custom policy": MapCore(_config(), policy=lambda bu, core: None),
        "refresh advice": _bound_core(refresh_advice=40),
    }
    sub = cases["subclass"]
    sub.handle(0.0, ACCESS, w.Packet(LCOAS[0], MAP, w.BindingUpdate(1, w.BU_A | w.BU_M, 100), home_address=RCOAS[0]))
    cases["custom policy"].handle(0.0, ACCESS, w.Packet(LCOAS[0], MAP, w.BindingUpdate(1, w.BU_A | w.BU_M, 100),
                                                        home_address=RCOAS[0]))
    guarded = _bound_core()
    guarded.security = Guard()
    cases["other security"] = guarded
    for name, core in cases.items():
        before = core.snapshot()
        assert _refresh(core) is None, name
        assert core.snapshot() == before, name
    due = _bound_core()
    before = due.snapshot()
    assert _refresh(due, now=500.0) is None and due.snapshot() == before  # the expiry timer runs first (full path)
    stale = _bound_core()
    assert _refresh(stale, seq=1) is None  # 135 is the full path's
    assert _refresh(_bound_core()) == (0, 100)


def test_local_bu_and_binding_ack_are_the_codec() -> None:
    r = random.Random(3)
    for _ in range(3000):
        a, b, c = (r.randbytes(16) for _ in range(3))
        status, seq, lifetime, flags = r.randrange(256), r.randrange(0x10000), r.randrange(0x10000), r.randrange(0x10000)
        ba = w.Packet(a, b, w.BindingAcknowledgement(status, seq, lifetime, 0, ()), hop_limit=64, rh2_address=c)
        assert fastpath.binding_ack(a, b, c, status, seq, lifetime) == w.encode_packet(ba)
        data = w.encode_packet(w.Packet(a, b, w.BindingUpdate(seq, flags, lifetime), home_address=c))
        assert fastpath.local_bu(data) == (a, b, c, seq, flags, lifetime)
        flipped = bytearray(data)
        flipped[r.randrange(len(data))] ^= 1 << r.randrange(8)
        got = fastpath.local_bu(bytes(flipped))
        if got is not None:  # never a different reading from the full decoder's
            p = w.decode_packet(bytes(flipped))
            assert got == (p.src, p.dst, p.home_address, p.payload.seq, p.payload.flags, p.payload.lifetime)


@pytest.mark.parametrize("packet", [
    w.Packet(LCOAS[0], MAP, w.BindingUpdate(2, w.BU_A | w.BU_M, 100, (w.AlternateCareOfAddress(LCOAS[1]),)),
             home_address=RCOAS[0]),
    w.Packet(LCOAS[0], MAP, w.BindingUpdate(2, w.BU_A | w.BU_M, 100, (w.BindingRefreshAdvice(3),)),
             home_address=RCOAS[0]),
    w.Packet(LCOAS[0], MAP, w.BindingUpdate(2, w.BU_A | w.BU_M, 100)),  # no Home Address option
    w.Packet(LCOAS[0], MAP, w.BindingUpdate(2, w.BU_A | w.BU_M, 100), home_address=RCOAS[0],
             dest_options=(w.Ipv6Option(0x1E, b"\0\0"),)),
    w.Packet(LCOAS[0], MAP, w.BindingUpdate(2, w.BU_A | w.BU_M, 100), home_address=RCOAS[0], rh2_address=RCOAS[1]),
    w.Packet(LCOAS[0], MAP, w.BindingAcknowledgement(0, 2, 100), home_address=RCOAS[0]),
])
def test_local_bu_leaves_every_other_layout_to_the_decoder(packet: w.Packet) -> None:
    assert fastpath.local_bu(w.encode_packet(packet)) is None


def test_local_bu_refuses_a_bad_checksum() -> None:
    good = w.encode_packet(w.Packet(LCOAS[0], MAP, w.BindingUpdate(2, w.BU_A | w.BU_M, 100), home_address=RCOAS[0]))
    assert fastpath.local_bu(good) is not None
    assert fastpath.local_bu(w.encode_packet(dataclasses.replace(w.decode_packet(good)), checksum=0x1234)) is None


def test_bench_frames_are_the_codec() -> None:
    BuFrames().check()


# ----------------------------------------------------------------------------- the daemon's side (no sockets)


class _Raw:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, packet: bytes) -> None:
        self.sent.append(packet)


class _Daemon:
    """What :class:`RefreshFastPath` uses of the runner's Daemon."""

    def __init__(self) -> None:
        self.counters = {"to_core": 0, "sent": 0, "send_errors": 0}
        self.raw = _Raw()
        self.lines: list[dict] = []

    def log(self, event: str, **fields: object) -> None:
        self.lines.append({"event": event, **fields})

    def holding(self) -> bool:
        return False


def _frame(seq: int, **changes: object) -> bytes:
    bu = w.Packet(LCOAS[0], MAP, w.BindingUpdate(seq, w.BU_A | w.BU_M, 100), home_address=RCOAS[0])
    return b"\x02\0\0\0\0\x0f\x02\0\0\0\0\x77\x86\xdd" + w.encode_packet(dataclasses.replace(bu, **changes))


def test_daemon_fast_path_answers_counts_and_limits_its_log(monkeypatch: pytest.MonkeyPatch) -> None:
    from reference_impl.daemon import map_main

    clock = [100.2]
    monkeypatch.setattr(map_main.time, "monotonic", lambda: clock[0])
    core = _bound_core()
    core.start(0.0)
    daemon, passed = _Daemon(), []
    fast = map_main.RefreshFastPath(daemon, core, lambda iface, frame: passed.append(frame) or False, burst=2)  # type: ignore[arg-type]
    for seq in range(2, 7):
        assert fast.on_data(ACCESS, _frame(seq)) is True
    assert [fastpath.local_bu(p) for p in daemon.raw.sent] == [None] * 5  # BAs, not BUs
    assert [w.decode_packet(p).payload.seq for p in daemon.raw.sent] == [2, 3, 4, 5, 6]
    assert daemon.counters == {"to_core": 5, "sent": 5, "send_errors": 0, "fast_refreshes": 5,
                               "refreshes_unlogged": 3}
    assert [line["event"] for line in daemon.lines] == ["binding_refreshed", "ba_sent"] * 2
    clock[0] = 101.0  # the next second: logged again, saying how many were not
    assert fast.on_data(ACCESS, _frame(7))
    assert daemon.lines[-2]["unlogged_before"] == 3 and "unlogged_before" not in daemon.lines[-1]
    # anything else goes on to the next handler: an old sequence number, another layout, non-IPv6
    for frame in (_frame(3), _frame(8, home_address=None), b"\0" * 13 + b"\x08\x00" + bytes(80)):
        assert fast.on_data(ACCESS, frame) is False
    assert len(passed) == 3 and core.counters["bu_received"] == 7  # the 6 refreshes and the first BU


def test_preload_registers_through_the_core_and_rebuilds_the_intercept_set_once() -> None:
    import gc

    from reference_impl.daemon import map_main
    from reference_impl.daemon.dataplane import TunnelPlane

    class Table:
        def __init__(self) -> None:
            self.rebuilt: list[list[str]] = []

        def rebuild(self, addresses: list[str]) -> None:
            self.rebuilt.append(list(addresses))

        def intercept(self, address: str) -> None:
            raise AssertionError("one nft run per binding")

    core = MapCore(_config(dad="on", max_bindings=10_000))
    core.start(0.0)
    table, lines = Table(), []
    plane = TunnelPlane(core, MAP, {MAP}, _Raw(), table, lambda *a, **k: None)  # type: ignore[arg-type]
    try:
        reply = map_main.preload(core, plane, table, lambda event, **f: lines.append((event, f)), 1.0,  # type: ignore[arg-type]
                                 {"count": 300, "rcoa": "2001:db8:f::1:0", "lcoa": "2001:db8:1::1:0"})
    finally:
        gc.unfreeze()
    assert reply["ok"] and reply["ba_statuses"] == {"0": 300} and reply["bindings"] == 300
    assert core.config.dad == "on" and core.counters["dad_started"] == 0  # DAD skipped, the setting restored
    assert len(table.rebuilt) == 1 and len(table.rebuilt[0]) == 300 and "2001:db8:f::1:12b" in table.rebuilt[0]
    assert core.tunnel_for(w.ip6("2001:db8:f::1:12b")) == w.ip6("2001:db8:1::1:12b")
    assert [event for event, _ in lines] == ["preloaded"]
    assert map_main.set_dad(core, lambda *a, **k: None, "optimistic") == {"ok": True, "dad": "optimistic"}  # type: ignore[arg-type]
    assert core.config.dad == "optimistic" and not map_main.set_dad(core, lambda *a, **k: None, "maybe")["ok"]  # type: ignore[arg-type]
