"""The daemons' shared event loop (``reference_impl/daemon/runner.py``) under fuzzed frames and misbehaving cores
(issue 9): MAP1 (with its advertiser and userspace tunnel plane) and an AR wired as hmipv6-map / hmipv6-ar wire
them, on fake links, take every frame without an escaped exception; a core that raises, asks for a packet that
cannot be encoded, or names a link-layer destination that is not 6 octets costs a counted, logged error -- never
the daemon; a flood of malformed frames writes a bounded number of log lines."""

from __future__ import annotations

import io
import json
import random

from fuzz_support import (
    CORES, MAP, MAP_MAC, MN_MAC, FakeLink, _FakeControl, _FakeRaw, daemons, mutate, packets, through_daemons,
)
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.malformed import Generator, Target, World, build_pool
from reference_impl import wire as w
from reference_impl.actions import Send
from reference_impl.daemon import runner


@CORES
@given(st.lists(st.tuples(packets(), st.integers(0, 2**32)), min_size=1, max_size=4))
def test_event_loops_take_mutated_frames(items):
    loops = daemons()
    for packet, seed in items:
        through_daemons(mutate(w.encode_packet(packet), random.Random(seed)), loops)


@CORES
@given(st.integers(0, 2**32))
def test_event_loops_take_the_soak_generator_frames(seed):
    """The soak's own generator (benchmarks.malformed), aimed at the fake daemons' addresses."""
    world = World([], MAP, w.ip6("2001:db8:100::"), [w.ip6("2001:db8:110::")], w.ip6("2001:db8:110::aa"),
                  [w.ip6("2001:db8:100::c0a")], [w.ip6("2001:db8:100::f0")], frozenset(), spis=[0x1000])
    targets = [Target("map", "dom", MAP_MAC, "map", MAP, map_facing=True),
               Target("ar", "acc", w.mac("02:00:00:00:0a:01"), "ar", w.ip6("2001:db8:110::1"), access=True),
               Target("mn", "acc", MN_MAC, "mn", w.ip6("2001:db8:110::aa"), access=True)]
    loops = daemons()
    for _target, _kind, frame in build_pool(Generator(world, random.Random(seed), MN_MAC), targets, 12):
        through_daemons(frame[14:], loops)


class _Core:
    """A core that misbehaves on demand."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.handled = 0

    def start(self, now):
        return []

    def tick(self, now):
        return []

    def next_deadline(self):
        return None

    def snapshot(self):
        return {}

    def handle(self, now, iface, packet):
        self.handled += 1
        if self.mode == "raise":
            raise KeyError("a bug in the core")
        if self.mode == "unencodable":
            return [Send("dom", w.Packet(None, MAP, w.EchoRequest(1, 1)))]
        if self.mode == "long_mac":
            return [Send("dom", w.Packet(MAP, w.ip6("2001:db8:100::9"), w.EchoRequest(1, 1)), bytes(range(14)))]
        return []


def _loop(core):
    saved = runner.RawSender, runner.ControlServer
    runner.RawSender, runner.ControlServer = _FakeRaw, _FakeControl
    try:
        link = FakeLink("dom", MAP_MAC)
        daemon = runner.Daemon("test", core, {"dom": link}, runner.JsonLog("test", io.StringIO()), "/nonexistent",
                               lambda iface, frame: True)
        return daemon, link
    finally:
        runner.RawSender, runner.ControlServer = saved


def _events(daemon) -> list[dict]:
    return [json.loads(line) for line in daemon.log.stream.getvalue().splitlines()]


ECHO = MAP_MAC + MN_MAC + b"\x86\xdd" + w.encode_packet(w.Packet(w.ip6("2001:db8:100::9"), MAP, w.EchoRequest(1, 1)))


def test_an_exception_in_the_core_is_counted_and_the_loop_goes_on():
    core = _Core()
    daemon, link = _loop(core)
    core.mode = "raise"
    link.inbox += [ECHO, ECHO]
    daemon._drain("dom")
    assert core.handled == 2 and daemon.counters["internal_errors"] == 2
    (first, *_) = [e for e in _events(daemon) if e["event"] == "internal_error"]
    assert first["where"] == "frame" and "KeyError" in first["error"] and "a bug in the core" in first["traceback"]
    core.mode = "ok"
    link.inbox.append(ECHO)
    daemon._drain("dom")
    assert core.handled == 3 and daemon.counters["internal_errors"] == 2 and daemon.counters["to_core"] == 3


def test_a_packet_that_cannot_be_encoded_is_counted_not_sent():
    core = _Core()
    daemon, link = _loop(core)
    core.mode = "unencodable"
    link.inbox.append(ECHO)
    daemon._drain("dom")
    assert daemon.counters["encode_errors"] == 1 and daemon.counters["internal_errors"] == 0
    assert not link.sent and daemon.raw.sent == 0
    assert any(e["event"] == "encode_error" and "TypeError" in e["error"] for e in _events(daemon))


def test_a_link_layer_destination_of_the_wrong_size_is_not_used():
    """A 14-octet "MAC" (from a link-layer address option of length 2) would frame garbage: the packet is routed
    instead (the kernel resolves the neighbour) and the event logged."""
    core = _Core()
    daemon, link = _loop(core)
    core.mode = "long_mac"
    link.inbox.append(ECHO)
    daemon._drain("dom")
    assert not link.sent and daemon.raw.sent == 1 and daemon.counters["sent"] == 1
    assert any(e["event"] == "bad_link_dst" and e["link_dst"] == bytes(range(14)).hex() for e in _events(daemon))


def test_a_flood_of_malformed_frames_writes_a_bounded_log(monkeypatch):
    monkeypatch.setattr(runner.time, "monotonic", lambda: 500.0)  # all in one second of the limiter
    core = _Core()
    daemon, link = _loop(core)
    daemon.accept = lambda iface, frame: True
    link.inbox += [MAP_MAC + MN_MAC + b"\x86\xdd" + b"\x60" + bytes(20)] * 1000
    for _ in range(20):
        daemon._drain("dom")
    assert daemon.counters["decode_errors"] == 1000  # the counter stays exact
    written = [e for e in _events(daemon) if e["event"] == "decode_error"]
    assert len(written) == runner.LOG_BURST, len(written)


def test_the_log_says_how_many_lines_it_suppressed(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    log = runner.JsonLog("test", stream, burst=3)
    for _ in range(10):
        log("decode_error", reason="x")
    log("binding_added", rcoa="y")  # not a flood event: always written
    clock[0] = 101.0
    log("decode_error", reason="z")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["event"] for e in lines] == ["decode_error"] * 3 + ["binding_added", "decode_error"]
    assert lines[-1]["suppressed_before"] == 7 and "suppressed_before" not in lines[0]
