"""Unit tests of the handover benchmark's pieces that need no namespaces: the delay forwarder's logic, the frame
classifier and carrier parser of the observer, the interruption/loss/signalling computation, the generated testbed
and the report.  Nothing here asserts on speed."""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import time
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from benchmarks import delay, handover_agents as agents
from benchmarks.bench_handover import Params, binding_seq, cn_address, flow_rate, registered, settled, topology
from benchmarks.handover_analysis import CRITERION, analyse, count_sent, flow_gap, percentile, verdict

# --- the delay element ----------------------------------------------------------------------------------------------


def test_delay_line_releases_in_order_after_the_delay() -> None:
    line = delay.DelayLine(0.05)
    assert line.next_due() is None
    assert line.push(10.0, b"a") and line.push(10.01, b"b")
    assert line.next_due() == pytest.approx(10.05)
    assert line.pop_due(10.049) == []
    assert line.pop_due(10.05) == [(pytest.approx(10.05), b"a")]
    assert len(line) == 1
    assert line.pop_due(11.0) == [(pytest.approx(10.06), b"b")]
    assert line.pop_due(12.0) == [] and line.next_due() is None


def test_delay_line_zero_delay_and_tail_drop() -> None:
    line = delay.DelayLine(0.0, limit=2)
    assert line.push(1.0, b"x") and line.push(1.0, b"y")
    assert not line.push(1.0, b"z")
    assert line.dropped == 1
    assert [f for _, f in line.pop_due(1.0)] == [b"x", b"y"]
    with pytest.raises(ValueError):
        delay.DelayLine(-0.001)


@pytest.mark.parametrize("text", ["a,b", "a,a,1", "a,b,-1", "a,b,x", ",b,1"])
def test_pair_rejects_bad_specs(text: str) -> None:
    with pytest.raises(ValueError):
        delay.Pair.parse(text)


def test_pair_parses() -> None:
    assert delay.Pair.parse("p4, hdcb ,50") == delay.Pair("p4", "hdcb", 50.0)


def test_lateness_summary() -> None:
    late = delay.Lateness()
    assert late.summary() == {"frames": 0}
    for v in (0.0001, 0.0002, 0.002, 0.006):
        late.add(v)
    s = late.summary()
    assert s["frames"] == 4 and s["max_ms"] == pytest.approx(6.0) and s["min_ms"] == pytest.approx(0.1)
    assert s["over_1ms"] == 2 and s["over_5ms"] == 1


def test_stalls_merge_late_frames() -> None:
    late = delay.Lateness()
    late.add(0.001, 10.0)  # not late enough to count
    late.add(0.5, 20.5)  # due at 20.0
    late.add(0.45, 20.52)
    late.add(0.006, 30.006)
    assert len(late.late_at) == 3
    assert delay.stalls(late.late_at) == [[20.0, 20.52, 0.5], [30.0, 30.006, 0.006]]
    assert delay.stalls([]) == []


def test_mark_stalls_flags_moves_overlapping_a_stall() -> None:
    from benchmarks.bench_handover import mark_stalls

    configs = [{"summary": {}, "moves": [{"break": 10.0, "resumed": True, "registered": True},
                                         {"break": 11.0, "resumed": True, "registered": True}]}]
    mark_stalls(configs, {"directions": {"a->b": {"stalls": [[10.5, 10.6, 0.02]]}}}, 1.0)
    assert [m["delay_stall_ms"] for m in configs[0]["moves"]] == [20.0, 0.0]
    assert configs[0]["summary"]["moves_with_delay_stall"] == 1


def test_kernel_time_from_ancillary_data() -> None:
    anc = [(socket.SOL_SOCKET, delay.SO_TIMESTAMPNS, struct.pack("qq", 10, 500_000_000))]
    assert delay.kernel_time(anc) == pytest.approx(10.5)
    assert delay.kernel_time([]) is None


class FakePacketSocket:
    """A datagram socket pair end that answers ``recvmsg`` as an AF_PACKET socket does (address tuple with the
    packet type); frames starting with ``OUT`` pose as this process's own sends (PACKET_OUTGOING)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def recvmsg(self, size: int, ancsize: int):
        data = self.sock.recv(size)
        kind = delay.PACKET_OUTGOING if data.startswith(b"OUT") else 0
        return data, [], 0, ("if", 3, kind, 1, b"")

    def send(self, data: bytes) -> int:
        return self.sock.send(data)


def test_forward_loop_delays_both_directions_and_skips_own_frames() -> None:
    a_peer, a_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b_peer, b_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        fa, fb = FakePacketSocket(a_end), FakePacketSocket(b_end)
        dirs = [delay.Direction("a->b", fa, fb, delay.DelayLine(0.02)),
                delay.Direction("b->a", fb, fa, delay.DelayLine(0.02))]
        for i in range(5):
            a_peer.send(b"frame-%d" % i)
        a_peer.send(b"OUT-own")
        b_peer.send(b"back")
        delay.forward(dirs, until=time.time() + 0.3)
        b_peer.setblocking(False)
        a_peer.setblocking(False)
        got_b = []
        while True:
            try:
                got_b.append(b_peer.recv(100))
            except BlockingIOError:
                break
        assert got_b == [b"frame-%d" % i for i in range(5)]  # in order, unchanged, the own frame not forwarded
        assert a_peer.recv(100) == b"back"
        stats = delay.stats(dirs, [delay.Pair("a", "b", 20.0)])
        assert stats["a->b"]["received"] == 5 and stats["a->b"]["sent"] == 5 and stats["a->b"]["queued"] == 0
        assert stats["b->a"]["sent"] == 1
        # never released before its due time (lateness = send time - due time)
        assert min(dirs[0].late.values) >= 0 and len(dirs[0].late.values) == 5
    finally:
        for s in (a_peer, a_end, b_peer, b_end):
            s.close()


# --- the observer's frame classifier --------------------------------------------------------------------------------

MAC = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x86\xdd"


def ip6(a: str) -> bytes:
    return ipaddress.IPv6Address(a).packed


def ipv6(nh: int, src: str, dst: str, payload: bytes) -> bytes:
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) + ip6(src) + ip6(dst) + payload


def mh(kind: int, body: bytes) -> bytes:
    data = bytes([59, 0, kind, 0, 0, 0]) + body
    data += bytes(-len(data) % 8)
    return bytes([59, len(data) // 8 - 1]) + data[2:]


def dest_opts_hao(nh: int, home: str) -> bytes:
    return bytes([nh, 2]) + bytes([1, 2, 0, 0]) + bytes([201, 16]) + ip6(home)  # PadN(2) + Home Address option


def rh2(nh: int, home: str) -> bytes:
    return bytes([nh, 2, 2, 1]) + bytes(4) + ip6(home)


def test_classify_router_solicitation_and_advertisement() -> None:
    rs = MAC + ipv6(58, "fe80::1", "ff02::2", bytes([133, 0, 0, 0]) + bytes(4))
    assert agents.classify(rs) == ("icmp:rs", None, ip6("fe80::1"), ip6("ff02::2"), 0)
    ra = MAC + ipv6(58, "fe80::2", "ff02::1", bytes([134, 0, 0, 0]) + bytes(12))
    assert agents.classify(ra)[0] == "icmp:ra"


def test_classify_binding_update_with_home_address_option() -> None:
    bu = mh(5, struct.pack("!HHH", 4242, 0x8800, 100))
    frame = MAC + ipv6(60, "2001:db8:120::5", "2001:db8:100::1", dest_opts_hao(135, "2001:db8:100::5") + bu)
    kind, seq, src, dst, depth = agents.classify(frame)
    assert (kind, seq, depth) == ("mh:bu", 4242, 0) and dst == ip6("2001:db8:100::1")


def test_classify_looks_through_tunnels() -> None:
    inner_bu = ipv6(60, "2001:db8:100::5", "2001:db8:10::2",
                    dest_opts_hao(135, "2001:db8:10::100") + mh(5, struct.pack("!HHH", 7, 0xC000, 100)))
    frame = MAC + ipv6(41, "2001:db8:120::5", "2001:db8:100::1", inner_bu)
    kind, _seq, src, dst, depth = agents.classify(frame)
    assert (kind, src, dst, depth) == ("mh:bu", ip6("2001:db8:100::5"), ip6("2001:db8:10::2"), 1)
    hoti = ipv6(135, "2001:db8:10::100", "2001:db8:20::10", mh(1, bytes(10)))
    twice = MAC + ipv6(41, "2001:db8:120::5", "2001:db8:100::1",
                       ipv6(41, "2001:db8:100::5", "2001:db8:10::2", hoti))
    assert agents.classify(twice)[0] == "mh:hoti" and agents.classify(twice)[4] == 2
    udp = MAC + ipv6(41, "2001:db8:100::1", "2001:db8:120::5",
                     ipv6(17, "2001:db8:20::10", "2001:db8:10::100", bytes(8) + agents.payload(0, 1, 1.0)))
    assert agents.classify(udp) is None


def test_classify_binding_acknowledgement_with_routing_header_and_odd_frames() -> None:
    ba = mh(6, bytes([0, 0]) + struct.pack("!HH", 4242, 100))
    frame = MAC + ipv6(43, "2001:db8:100::1", "2001:db8:120::5", rh2(135, "2001:db8:100::5") + ba)
    assert agents.classify(frame)[:2] == ("mh:ba", 4242)
    assert agents.classify(MAC + ipv6(50, "2001:db8::1", "2001:db8::2", bytes(16)))[0] == "esp"
    assert agents.classify(b"\x00" * 12 + b"\x08\x00" + bytes(60)) is None  # IPv4
    assert agents.classify(frame[:60]) is None  # truncated inside the headers


def test_carrier_from_rtnetlink_messages() -> None:
    def newlink(index: int, flags: int) -> bytes:
        body = struct.pack("=BxHiII", 10, 1, index, flags, 0)
        return struct.pack("=IHHII", 16 + len(body), agents.RTM_NEWLINK, 0, 0, 0) + body

    assert agents.carrier_of(newlink(3, 0x1003) + newlink(3, 0x11043), 3) is True  # the last state of the batch
    assert agents.carrier_of(newlink(3, 0x1003), 3) is False
    assert agents.carrier_of(newlink(4, 0x11043), 3) is None


def test_payload_round_trip() -> None:
    data = agents.payload(3, 70000, 1234.5)
    assert len(data) == agents.PAYLOAD_SIZE
    flow, seq, sent = agents.parse_payload(data)
    assert (flow, seq) == (3, 70000) and sent == pytest.approx(1234.5)
    assert agents.parse_payload(b"XXXX" + data[4:]) is None


# --- the interruption computation -----------------------------------------------------------------------------------

MAP, HA, CN1, CN2 = "2001:db8:100::1", "2001:db8:10::2", "2001:db8:20::10", "2001:db8:20::11"
ROLES = {MAP: "map", HA: "ha", CN1: "cn", CN2: "cn"}
LCOA, LL, ROUTER = "2001:db8:120::5", "fe80::5", "fe80::1"


def test_flow_gap_takes_the_longest_silence_up_to_a_datagram_sent_after_the_break() -> None:
    # arrivals every 10 ms; the break at 1.0; a late delivery at 1.002 of a datagram sent before it; resume at 1.08
    times = [0.97, 0.98, 0.99, 1.002, 1.08, 1.09]
    seqs = [97, 98, 99, 100, 108, 109]
    sent = [t - 0.05 for t in times]
    top = [97, 98, 99, 100, 108, 109]
    g = flow_gap(times, seqs, sent, top, 1.0, 2.0)
    assert g["interruption"] == pytest.approx(0.078) and g["gap_start"] == 1.002 and g["gap_end"] == 1.08
    assert (g["seq_last"], g["seq_resume"]) == (99, 108)
    assert flow_gap(times, seqs, sent, top, 1.0, 1.05) is None  # not resumed in the window
    assert flow_gap(times[4:], seqs[4:], sent[4:], top[4:], 1.0, 2.0)["interruption"] is None  # nothing before


def flow(start: float, end: float, rate: float, path: float, missing: set[int], extra: list[tuple[int, float]],
         flow_id: int) -> list[tuple[int, int, float, float]]:
    """Arrivals of a flow sending seq k at start + k/rate, each arriving ``path`` later unless in ``missing``."""
    out = []
    k = 0
    while start + k / rate < end:
        if k not in missing:
            out.append((flow_id, k, start + k / rate + path, start + k / rate))
        k += 1
    out += [(flow_id, seq, t, start + seq / rate) for seq, t in extra]
    return out


def scenario():
    """Two flows at 100 pps (arrival = send + 50 ms), three moves (breaks at 1.0, 2.0, 2.5 s).
    Move 0: both flows lose the datagrams that would have arrived in [1.0, 1.08); flow 0 gets one late delivery.
    Move 1: flow 1 does not resume before move 2 (it comes back at 2.6); flow 0 resumes at 2.05.
    Move 2: no BU (the MN did not register): not measured.  Flow 0 also loses seq 45 (outside any move) and the
    last three datagrams of each flow are never received (the tail)."""
    rate, path = 100.0, 0.05
    lost0 = set(range(95, 103)) - {95} | {45} | set(range(195, 200)) | set(range(245, 250))
    lost1 = set(range(95, 103)) | set(range(195, 255))
    a0 = flow(0.0, 3.0, rate, path, lost0, [], 0)
    a0 = [a if a[1] != 95 else (0, 95, 1.002, 0.95) for a in a0]  # a late delivery just after the break
    a1 = flow(0.0, 3.0, rate, path, lost1, [], 1)
    arrivals = [a for a in a0 + a1 if a[1] < 297]  # tail: 297..299 sent, never received
    events = [
        (1.01, "out", "icmp:rs", None, LL, "ff02::2", 0), (1.03, "in", "icmp:ra", None, ROUTER, "ff02::1", 0),
        (1.06, "out", "mh:bu", 7, LCOA, MAP, 0), (1.063, "in", "mh:ba", 7, MAP, LCOA, 0),
        (1.07, "out", "icmp:ns", None, LCOA, "ff02::1:ff00:1", 0),
        (2.01, "out", "icmp:rs", None, LL, "ff02::2", 0), (2.02, "in", "icmp:ra", None, ROUTER, "ff02::1", 0),
        (2.03, "out", "mh:bu", 8, LCOA, MAP, 0), (2.032, "in", "mh:ba", 8, MAP, LCOA, 0),
        (2.51, "out", "icmp:rs", None, LL, "ff02::2", 0), (2.52, "in", "icmp:ra", None, ROUTER, "ff02::1", 0),
    ]
    carrier = [(1.0, False), (1.005, True), (2.0, False), (2.004, True), (2.5, False), (2.503, True)]
    moves = [{"index": 0, "to": "ar2", "down": 0.999, "up": 1.006}, {"index": 1, "to": "ar1", "down": 1.999,
                                                                       "up": 2.005},
             {"index": 2, "to": "ar2", "down": 2.499, "up": 2.504}]
    return moves, {"arrivals": arrivals, "events": events, "carrier": carrier}, [300, 300]


def test_analyse_interruption_loss_and_accounting() -> None:
    moves, observed, sent = scenario()
    r = analyse("hmipv6", moves, observed, sent, ROLES, MAP, echo_rtt=0.002, end=3.2)
    m0, m1, m2 = r["moves"]
    # move 0: flow 0's silence runs from the late delivery (1.002) to 1.08, flow 1's from 0.99 to 1.08
    assert m0["flows"][0]["interruption"] == pytest.approx(0.078)
    assert m0["flows"][1]["interruption"] == pytest.approx(0.09)
    assert m0["interruption"] == pytest.approx(0.084) and m0["interruption_max"] == pytest.approx(0.09)
    assert [f["lost"] for f in m0["flows"]] == [7, 8]
    assert m0["detection"] == pytest.approx(0.03) and m0["rtt_map"] == pytest.approx(0.003)
    assert m0["ra_to_bu"] == pytest.approx(0.03) and m0["predicted"] == pytest.approx(0.033)
    assert m0["ok"] is False and m0["ratio"] == pytest.approx(0.084 / 0.033)
    assert m0["signalling"] == {"rs": 1, "bu_map": 1, "ns": 1} and m0["mobility_sent"] == 1
    assert m0["registered"] and m0["resumed"]
    # move 1: flow 1 did not come back before move 2; move 2 gets its whole silence and loss, but has no BU
    assert m1["flows"][1]["interruption"] is None and not m1["resumed"]
    assert m2["flows"][1]["interruption"] == pytest.approx(2.6 - 1.99)
    assert m2["flows"][1]["lost"] == 60 and not m2["registered"]
    s = r["summary"]
    assert (s["moves"], s["measured"], s["not_resumed"], s["not_registered"]) == (3, 1, 1, 1)
    acc = r["accounting"]
    for a in acc:  # every datagram accounted for
        assert a["sent"] == a["received"] + a["lost_in_moves"] + a["lost_other"] + a["lost_tail"]
    assert acc[0]["lost_other"] == 1 and acc[0]["lost_other_seqs"] == [45]
    assert acc[0]["lost_tail"] == 3 and acc[1]["lost_tail"] == 3
    assert acc[1]["lost_in_moves"] == 8 + 60


def staggered(n: int, rate_per_flow: float, end: float, transit: float, outage: tuple[float, float],
              late=lambda j: 0.0, threshold: float = 0.0002):
    """``n`` flows staggered as the flow source sends them (aggregate slot j = k * n + f, due at j / (n x rate)),
    each datagram ``late(j)`` behind its slot, arriving ``transit`` after it was sent unless it would arrive inside
    ``outage`` (the path's true interruption at the MN).  Returns (arrivals, sent per flow, stalls, slot)."""
    slot = 1 / (n * rate_per_flow)
    arrivals, sent, stalls = [], [0] * n, []
    j = 0
    while j * slot < end:
        k, f = divmod(j, n)
        e = late(j)
        t_sent = j * slot + e
        if e > threshold:
            stalls.append((j * slot, e))
        sent[f] += 1
        if not outage[0] <= t_sent + transit < outage[1]:
            arrivals.append((f, k, t_sent + transit, t_sent))
        j += 1
    return arrivals, sent, stalls, slot


def one_move(t_break: float, detection: float, rtt: float):
    """A move whose carrier goes down at ``t_break`` (up 4 ms later), the RA ``detection`` after it and a MAP BU/BA
    ``rtt`` long right after the RA."""
    moves = [{"index": 0, "to": "ar2", "down": t_break - 0.001, "up": t_break + 0.005}]
    ra = t_break + detection
    events = [(ra, "in", "icmp:ra", None, ROUTER, "ff02::1", 0), (ra + 0.001, "out", "mh:bu", 3, LCOA, MAP, 0),
              (ra + 0.001 + rtt, "in", "mh:ba", 3, MAP, LCOA, 0)]
    return moves, events, [(t_break, False), (t_break + 0.004, True)]


def test_aggregate_interruption_resolution_and_verdict() -> None:
    # two flows at 50/s each: the aggregate has a slot every 10 ms; the path is down at the MN from 0.995 to 1.063
    arrivals, sent, stalls, slot = staggered(2, 50.0, 2.0, 0.05, (0.995, 1.063))
    moves, events, carrier = one_move(0.995, 0.055, 0.005)  # predicted 60 ms, allowance 66 ms
    observed = {"arrivals": arrivals, "events": events, "carrier": carrier}
    r = analyse("hmipv6", moves, observed, sent, ROLES, MAP, end=2.0, slot=slot, stalls=stalls,
                stall_threshold=0.0002)
    m = r["moves"][0]
    # per flow: flow 0 from 0.99 to 1.07, flow 1 from 0.98 to 1.08 (20 ms resolution); aggregate 0.99 -> 1.07
    assert [f["interruption"] for f in m["flows"]] == [pytest.approx(0.08), pytest.approx(0.10)]
    assert m["interruption"] == pytest.approx(0.09) and m["agg_interruption"] == pytest.approx(0.08)
    assert m["resolution"] == pytest.approx(2 * (0.01 + 0.0002))
    assert m["agg_interruption"] - m["resolution"] < 1.063 - 0.995 <= m["agg_interruption"]  # the truth is inside
    assert m["predicted"] == pytest.approx(0.06) and m["ratio_agg"] == pytest.approx(0.08 / 0.06)
    assert m["verdict_agg"] == "unresolved"  # 66 ms lies between 80 - 20.4 and 80
    assert m["agg_pre"] == pytest.approx(0.005) and m["agg_bu_to_first"] == pytest.approx(1.07 - 1.051)
    s = r["summary"]
    assert s["criterion_agg"] == {"ok": 0, "unresolved": 1, "fail": 0, "checked": 1}
    assert s["slot_ms"] == pytest.approx(10) and s["flow_interval_ms"] == pytest.approx(20)
    assert s["transit_jitter_ms"]["max"] == pytest.approx(0, abs=1e-9)
    # every datagram accounted for: flow 0 lost slots 96, 98, 100, flow 1 slots 95, 97, 99, 101
    assert [a["lost_in_moves"] for a in r["accounting"]] == [3, 4] and m["lost"] == 7
    for a in r["accounting"]:
        assert a["sent"] == a["received"] + a["lost_in_moves"] + a["lost_other"] + a["lost_tail"]
    assert s["received"] == len(arrivals) and s["sent"] == sum(sent)
    assert m["agg_interruption"] <= min(f["interruption"] for f in m["flows"])  # any flow ends the silence
    # a recorded pacing stall inside the gap widens the resolution; one outside it does not
    r2 = analyse("hmipv6", moves, observed, sent, ROLES, MAP, end=2.0, slot=slot,
                 stalls=[(0.96, 0.01), (1.5, 0.05)], stall_threshold=0.0002)
    assert r2["moves"][0]["resolution"] == pytest.approx(2 * (0.01 + 0.01))


def test_aggregate_bound_contains_the_true_interruption() -> None:
    """Random outages, phases and pacing lateness: the measured aggregate silence is never below the true outage
    and exceeds it by less than the stated resolution (equal transit times)."""
    import random

    rng = random.Random(7)
    for trial in range(150):
        n = rng.choice((1, 2, 5))
        a = 0.5 + rng.random() * 0.1
        outage = (a, a + 0.02 + rng.random() * 0.08)
        lateness = {j: rng.random() * 0.004 for j in range(2000) if rng.random() < 0.2}
        arrivals, sent, stalls, slot = staggered(n, 200.0 / n, 1.2, 0.03, outage, lambda j: lateness.get(j, 0.0))
        moves, events, carrier = one_move(a, 0.03, 0.003)
        r = analyse("hmipv6", moves, {"arrivals": arrivals, "events": events, "carrier": carrier}, sent, ROLES,
                    MAP, end=1.2, slot=slot, stalls=stalls, stall_threshold=0.0002)
        m = r["moves"][0]
        true = outage[1] - outage[0]
        assert m["agg_interruption"] >= true - 1e-9, trial
        assert m["agg_interruption"] - m["resolution"] < true, trial
        assert sum(a["lost_in_moves"] for a in r["accounting"]) == sum(sent) - len(arrivals)


def test_verdict() -> None:
    assert verdict(0.05, 0.05, 0.002) == "ok" and verdict(CRITERION * 0.05, 0.05, 0.002) == "ok"
    assert verdict(0.0560, 0.05, 0.002) == "unresolved" and verdict(0.0580, 0.05, 0.002) == "fail"
    assert verdict(0.0580, 0.05, None) == "unresolved"  # no stated resolution: never a fail
    assert verdict(None, 0.05, 0.002) is None and verdict(0.05, None, 0.002) is None


def with_home_agent(observed: dict) -> dict:
    """The scenario's BU/BA exchanged with the HA (tunnelled), as in MIPv6 mode."""
    events = [e if e[2] not in ("mh:bu", "mh:ba") else
              (e[0], e[1], e[2], e[3], e[4] if e[1] == "out" else HA, HA if e[1] == "out" else e[5], 1)
              for e in observed["events"]]
    return {**observed, "events": events}


def test_analyse_mipv6_uses_the_home_agent_exchange_and_echo_round_trip() -> None:
    moves, observed, sent = scenario()
    observed = with_home_agent(observed)
    r = analyse("mipv6", moves, observed, sent, ROLES, MAP, echo_rtt=0.002, end=3.2)
    m0 = r["moves"][0]
    assert m0["rtt_map"] is None and m0["rtt_ha"] == pytest.approx(0.003) and m0["registered"]
    assert m0["ok"] is None and m0["predicted_echo"] == pytest.approx(0.032)
    assert m0["signalling"]["bu_ha"] == 1


def test_count_sent_classifies_bus_by_destination() -> None:
    events = [(1.0, "out", "mh:bu", 1, LCOA, MAP, 0), (1.1, "out", "mh:bu", 2, LCOA, HA, 1),
              (1.2, "out", "mh:bu", 3, LCOA, CN1, 1), (1.3, "out", "mh:coti", None, LCOA, CN2, 0),
              (1.4, "in", "mh:ba", 1, MAP, LCOA, 0), (1.5, "out", "mh:bu", 4, LCOA, "2001:db8::99", 0),
              (1.6, "out", "icmp:redirect", None, LCOA, MAP, 0)]
    assert count_sent(events, ROLES) == {"bu_map": 1, "bu_ha": 1, "bu_cn": 1, "coti": 1, "bu_other": 1}
    assert count_sent(events, ROLES, 1.05, 1.25) == {"bu_ha": 1, "bu_cn": 1}


def test_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3, 1, 2], 0.5) == 2 and percentile([0, 10], 0.95) == pytest.approx(9.5)


# --- the generated testbed and the mobile node's state -------------------------------------------------------------

def test_generated_testbed_loads(tmp_path) -> None:
    from harness.testbed import load
    from harness.testbed.refconfig import mn_config

    path = tmp_path / "testbed.yaml"
    import yaml
    path.write_text(yaml.safe_dump(topology(10)))
    spec = load(path)
    assert sorted(n for n in spec.nodes if n.startswith("cn")) == sorted(f"cn{i}" for i in range(1, 11))
    assert str(spec.nodes["cn10"].interface_on("cn").address.ip) == cn_address(10) == "2001:db8:20::19"
    assert spec.map_address("map1") == MAP and spec.access_link_of("ar2").name == "acc2"
    assert spec.timers.initial_bindack_timeout == 1.0 and spec.timers.max_rtr_solicitation_delay == pytest.approx(0.05)
    spec.nodes["mn"].daemon_options = {"hmipv6": False, "correspondents": [cn_address(1)]}
    section = mn_config(spec, spec.nodes["mn"], tmp_path)["mn"]
    assert section["hmipv6"] is False and section["correspondents"] == [CN1] and section["home_agent"] == HA
    assert "security" not in mn_config(spec, spec.nodes["mn"], tmp_path)


def state(mode: str, lcoa: str, bul: list[tuple[str, str, str, str]]) -> dict:
    return {"mode": mode, "lcoa": lcoa, "binding_update_list": [
        {"kind": k, "peer": p, "state": st, "bound_coa": coa, "expires_at": 100.0, "seq": 7} for k, p, st, coa in bul]}


def test_registered_and_settled() -> None:
    bul = [("map", MAP, "bound", LCOA), ("ha", HA, "bound", "2001:db8:100::5"), ("cn", CN1, "bound", "x")]
    s = state("hmipv6", LCOA, bul)
    assert registered(s, "hmipv6", [CN1]) and not registered(s, "hmipv6", [CN1, CN2])
    assert not registered(s, "mipv6", [CN1])
    assert settled(s, "hmipv6", ipaddress.IPv6Network("2001:db8:120::/64"))
    assert not settled(s, "hmipv6", ipaddress.IPv6Network("2001:db8:110::/64"))
    assert not settled(s, "mipv6", ipaddress.IPv6Network("2001:db8:120::/64"))  # the HA holds the RCoA
    assert binding_seq(s, "hmipv6") == 7 and binding_seq(s, "mipv6") == 7
    assert settled(s, "hmipv6", ipaddress.IPv6Network("2001:db8:120::/64"), seq_before=6)
    assert not settled(s, "hmipv6", ipaddress.IPv6Network("2001:db8:120::/64"), seq_before=7)  # no new BU


# --- the report -----------------------------------------------------------------------------------------------------

def test_report_renders_table_html_and_well_formed_svgs(tmp_path) -> None:
    from benchmarks import handover_report as report

    moves, observed, sent = scenario()
    configs = []
    for mode, n in (("hmipv6", 1), ("mipv6", 1), ("hmipv6", 2), ("mipv6", 2)):
        r = analyse(mode, moves, observed if mode == "hmipv6" else with_home_agent(observed), sent, ROLES, MAP,
                    echo_rtt=0.002, end=3.2)
        r.update(n_cns=n, echo_mn_map={"avg": 2.0}, cpu={"mn_pct": 1.0}, send_errors=0, observer_counts={},
                 cross_check={"equal": True, "daemon": {}, "captured": {}})
        configs.append(r)
    ping = {"avg": 100.2, "mdev": 0.1, "added_one_way_ms": 50.1, "ratio_to_configured": 1.002}
    raw = {"prefix": "hm6-test", "setup_s": 1.0, "wall_s": 10.0, "started": 0.0, "configs": configs,
           "delay": {"baseline_rt_ha": {"avg": 0.04}, "core_map1_cn1": ping, "dom_map1_ar1": dict(ping),
                     "forwarder": {"realtime": True, "directions": {"a->b": {"lateness": {
                         "frames": 3, "p50_ms": 0.1, "p99_ms": 0.3, "max_ms": 0.5, "over_5ms": 0}}}}}}
    params = Params(moves=1, cns=(1, 2))
    fig = report.figures(params, raw)
    json.dumps(fig)
    assert fig["complete"]
    assert [c["n_cns"] for c in fig["comparison"]] == [1, 2]
    assert fig["criterion"]["moves_checked"] == 2 and not fig["criterion"]["holds"]
    crit = fig["criterion"]
    assert crit["moves_ok"] + crit["moves_unresolved"] + crit["moves_fail"] == crit["moves_checked"]
    assert set(crit["mipv6_echo"]) == {1, 2}
    for c in fig["configs"]:  # the per-move records carry the aggregate figures the summary counts
        assert sum(1 for m in c["moves"] if m["agg_interruption"] is not None and m["resumed"] and m["registered"]
                   and m["interruption"] is not None) == c["summary"]["agg_interruption_ms"].get("n", 0)
    mach = {"cpus": 2, "loadavg": [1.0, 1.0, 1.0], "python": "3.11", "kernel": "x"}
    text = report.table(params, fig, mach)
    assert "hmipv6   1" in text and "DOES NOT HOLD" in text and "ok/unr/fail" in text
    html = report.write_html(tmp_path, params, fig, mach)
    assert "<table>" in html.read_text()
    for svg in tmp_path.glob("*.svg"):
        ET.fromstring(svg.read_text())
    assert {p.stem for p in tmp_path.glob("*.svg")} >= {"interruption", "interruption_cdf", "lost_per_move",
                                                       "mobility_sent_per_move", "hmipv6_decomposition"}


def test_params_defaults_fit_the_brief() -> None:
    p = Params()
    assert p.moves >= 20 and p.cns == (1, 5, 10) and p.delay_ms == 50 and set(p.modes) == {"hmipv6", "mipv6"}
    assert SimpleNamespace(**vars(p)).rate > 0
    # an aggregate rate split across the CNs (same aggregate resolution at every N) unless fixed per CN
    assert [flow_rate(p, n) * n for n in p.cns] == [p.rate] * 3
    assert flow_rate(Params(rate_per_cn=100.0), 10) == 100.0
