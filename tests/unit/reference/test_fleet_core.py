"""The fleet of emulated mobile nodes (reference_impl.fleet) in virtual time, against the reference MAP core.

The peer is :class:`reference_impl.map.core.MapCore` in process: the fleet's BU bytes are decoded by the reference
codec and opened by the MAP's own IPsec seam, the MAP's BAs are encoded and protected by it, then handed back as
bytes.  One test per behaviour: registration, retransmission (RFC 6275 §11.8), refresh, move, deregistration, the
BA status codes a MAP can answer, the BAs a mobile node must ignore (base §6.1, §12.1), and the sans-I/O rule.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from reference_impl import wire as w
from reference_impl.actions import Send
from reference_impl.fleet import Fleet, FleetConfig, SaProtection, Unprotected, check_builder, parse_ba
from reference_impl.fleet.messages import LocalBuBuilder
from reference_impl.map import MapConfig, MapCore
from reference_impl.security import IpsecSecurity, SaPair

MAP = w.ip6("2001:db8:f::1")
ONLINK = "2001:db8:1::/64"
RCOA_NET = int.from_bytes(w.ip6("2001:db8:f::"), "big")
LCOA_NET = int.from_bytes(w.ip6("2001:db8:1::"), "big")
LCOA2_NET = int.from_bytes(w.ip6("2001:db8:2::"), "big")


def rcoa(i: int) -> bytes:
    return (RCOA_NET | 0xF1EE << 48 | i).to_bytes(16, "big")


def lcoa(i: int, net: int = LCOA_NET) -> bytes:
    return (net | 0xF1EE << 48 | i).to_bytes(16, "big")


def sa(spi: int, protocol: str) -> dict:
    out = {"spi": spi, "protocol": protocol, "auth": "hmac-sha256-128", "auth_key": f"{spi:064x}"}
    if protocol == "esp":
        out.update(encryption="aes-cbc", enc_key=f"{spi + 7:032x}")
    return out


def pair(protocol: str = "esp") -> SaPair:
    return SaPair.from_config({"name": "tester1@map1", "map": "2001:db8:f::1/128", "rcoa": "::/0",
                               "to_map": sa(0x1000, protocol), "to_mn": sa(0x1001, protocol)})


class World:
    """A fleet and an in-process MAP core; ``deliver`` carries the fleet's BUs to the MAP, the BAs back."""

    def __init__(self, n: int = 3, security: str | None = "esp", lifetime: int = 40, **map_overrides) -> None:
        cfg = MapConfig(address=MAP, home_iface="home0", link_address=bytes(6),
                        **({"dad": "off", "onlink_prefixes": (w.ip6_prefix(ONLINK), w.ip6_prefix("2001:db8:2::/64"))}
                           | map_overrides))
        self.map = MapCore(cfg, security=IpsecSecurity([pair(security)], "map") if security else None)
        self.fleet = Fleet(FleetConfig(MAP, lifetime=lifetime, seed=7),
                           SaProtection(pair(security)) if security else Unprotected())
        for i in range(n):
            self.fleet.add(rcoa(i), lcoa(i))
        self.bas: list[bytes] = []

    def to_map(self, now: float, packets: list[bytes]) -> list[bytes]:
        """The BAs the MAP answers ``packets`` with, as bytes (nothing else it sends)."""
        out = []
        for packet in packets:
            for action in self.map.handle(now, "home0", w.decode_packet(packet)):
                if isinstance(action, Send) and action.packet.rh2_address is not None:
                    out.append(w.encode_packet(action.packet))
        self.bas += out
        return out

    def deliver(self, now: float, packets: list[bytes], rtt: float = 0.002) -> None:
        """BUs to the MAP at ``now``, its BAs to the fleet at ``now + rtt``, and so on until quiet."""
        while packets:
            answers = self.to_map(now, packets)
            now += rtt
            packets = [p for ba in answers for p in self.fleet.handle(now, ba)]

    def register_all(self, now: float = 0.0) -> None:
        for i in range(len(self.fleet)):
            self.deliver(now, self.fleet.register(now, i))


def binding(world: World, i: int):
    return world.map.cache.bindings.get(rcoa(i))


# ------------------------------------------------------------------------------------------- BU bytes


def test_builder_matches_the_reference_codec():
    check_builder(MAP)
    builder = LocalBuBuilder(MAP, Unprotected())
    for i, (seq, units) in enumerate([(1, 10), (0xFFFF, 0), (0x8000, 0xFFFF)]):
        ours = builder.build(lcoa(i), rcoa(i), seq, units)
        assert ours == w.encode_packet(w.Packet(lcoa(i), MAP, w.BindingUpdate(seq, w.BU_A | w.BU_M, units),
                                                home_address=rcoa(i)))


@pytest.mark.parametrize("protocol", ["esp", "ah"])
def test_protected_bu_opens_at_the_map_as_a_local_bu(protocol):
    """Base §12.1: ESP or AH in transport mode; the HAO stays outside, the MAP's own seam opens it."""
    fleet = Fleet(FleetConfig(MAP, lifetime=40), SaProtection(pair(protocol)))
    fleet.add(rcoa(1), lcoa(1))
    packet = fleet.register(0.0, 0)[0]
    decoded = w.decode_packet(packet)
    assert decoded.home_address == rcoa(1) and decoded.src == lcoa(1) and decoded.dst == MAP
    assert decoded.payload.next_header == (50 if protocol == "esp" else 51)
    plain, owner = IpsecSecurity([pair(protocol)], "map").open(decoded)
    bu = plain.payload
    assert owner == "tester1@map1" and isinstance(bu, w.BindingUpdate)
    assert (bu.a, bu.m, bu.h, bu.lifetime, bu.seq) == (True, True, False, 10, fleet.seq[0])


# ------------------------------------------------------------------------------------------- registration


@pytest.mark.parametrize("security", ["esp", "ah", None])
def test_every_mobile_node_registers(security):
    world = World(n=20, security=security)
    world.register_all()
    fleet = world.fleet
    assert fleet.bound == 20 and fleet.pending() == 0
    assert fleet.counters["accepted_register"] == 20 and dict(fleet.statuses) == {0: 20}
    for i in range(20):
        b = binding(world, i)
        assert b is not None and b.lcoa == lcoa(i) and b.seq == fleet.seq[i]
        assert b.sa == ("tester1@map1" if security else None)
        assert fleet.registered_at[i] == pytest.approx(0.002)
    assert fleet.latencies["register"] == [pytest.approx(0.002)] * 20
    assert not fleet.ignored


def test_initial_sequence_numbers_are_random_per_node_and_reproducible():
    a, b = World(n=50).fleet, World(n=50).fleet
    assert a.seq == b.seq and len(set(a.seq)) > 40


# ------------------------------------------------------------------------------------------- retransmission


def test_unanswered_bu_is_retransmitted_with_backoff_and_new_sequence_numbers():
    """RFC 6275 §11.8: InitialBindackTimeoutFirstReg (1.5 s), doubled each time, capped at 32 s."""
    world = World(n=1)
    fleet = world.fleet
    first = fleet.register(0.0, 0)  # lost
    assert len(first) == 1
    seqs = [fleet.seq[0]]
    times, now = [], 0.0
    for _ in range(7):
        now = fleet.next_deadline()
        times.append(now)
        out = fleet.tick(now)
        assert len(out) == 1
        seqs.append(fleet.seq[0])
    assert [round(b - a, 6) for a, b in zip([0.0] + times, times)] == [1.5, 3.0, 6.0, 12.0, 24.0, 32.0, 32.0]
    assert [(b - a) & 0xFFFF for a, b in zip(seqs, seqs[1:])] == [1] * 7
    assert fleet.counters["retransmissions"] == 7 and fleet.counters["bu_sent"] == 8
    # the last one gets through: latency from that BU, completion from the first
    world.deliver(now, out)
    assert fleet.bound == 1 and fleet.latencies["register"] == [pytest.approx(0.002)]
    assert fleet.completions["register"] == [pytest.approx(now + 0.002)]


def test_ba_for_an_earlier_transmission_of_the_exchange_is_accepted():
    world = World(n=1)
    fleet = world.fleet
    first = fleet.register(0.0, 0)
    fleet.tick(1.5)  # retransmission (lost); the first BU was only delayed
    world.deliver(1.6, first)
    assert fleet.bound == 1 and fleet.latencies["register"] == [pytest.approx(1.602)]
    assert fleet.next_deadline() == pytest.approx(0.75 * 40)  # refresh counted from the acknowledged BU


def test_duplicate_ba_is_ignored():
    world = World(n=1)
    fleet = world.fleet
    first = fleet.register(0.0, 0)
    second = fleet.tick(1.5)
    world.deliver(1.6, first)
    world.deliver(1.7, second)  # the MAP accepts it as a refresh, the node has nothing outstanding
    assert fleet.ignored == {"no outstanding BU (duplicate or late BA)": 1}
    assert fleet.counters["accepted_register"] == 1


def test_max_transmissions_gives_up():
    fleet = Fleet(FleetConfig(MAP, max_transmissions=3))
    fleet.add(rcoa(0), lcoa(0))
    fleet.register(0.0, 0)
    while (t := fleet.next_deadline()) is not None:
        fleet.tick(t)
    assert fleet.counters["bu_sent"] == 3 and fleet.counters["gave_up"] == 1 and fleet.pending() == 0


# ------------------------------------------------------------------------------------------- refresh, expiry


def test_refresh_before_expiry():
    world = World(n=2, lifetime=40)
    world.register_all(0.0)
    fleet = world.fleet
    due = fleet.next_deadline()
    assert due == pytest.approx(30.0)  # 75 % of the granted 40 s, from when the BU was sent
    out = fleet.tick(due)
    assert len(out) == 2
    world.deliver(due, out)
    assert fleet.counters["accepted_refresh"] == 2 and fleet.bound == 2
    assert fleet.expires[0] == pytest.approx(due + 40)
    assert len(fleet.latencies["refresh"]) == 2


def test_binding_refresh_advice_brings_the_refresh_forward():
    world = World(n=1, lifetime=40, refresh_advice=8)
    world.register_all(0.0)
    assert world.fleet.next_deadline() == pytest.approx(8.0)


def test_granted_lifetime_below_the_request_is_used():
    world = World(n=1, lifetime=400, max_binding_lifetime=20)
    world.register_all(0.0)
    assert world.fleet.expires[0] == pytest.approx(20.0)


def test_unanswered_refresh_lets_the_binding_expire():
    world = World(n=1, lifetime=40)
    world.register_all(0.0)
    fleet = world.fleet
    while fleet.next_deadline() is not None and fleet.next_deadline() <= 40.0:
        fleet.tick(fleet.next_deadline())  # refresh and its retransmissions, all lost
    assert fleet.bound == 0 and fleet.counters["expired"] == 1 and fleet.pending() == 1


# ------------------------------------------------------------------------------------------- moves


def test_move_repoints_the_binding_to_the_new_lcoa():
    world = World(n=2)
    world.register_all(0.0)
    fleet = world.fleet
    new = lcoa(0, LCOA2_NET)
    out = fleet.move(5.0, 0, new)
    assert w.decode_packet(out[0]).src == new and w.decode_packet(out[0]).home_address == rcoa(0)
    world.deliver(5.0, out)
    assert binding(world, 0).lcoa == new and binding(world, 1).lcoa == lcoa(1)
    assert fleet.counters["accepted_move"] == 1 and fleet.bound == 2
    assert world.map.tunnel_for(rcoa(0)) == new


def test_ba_to_the_lcoa_left_behind_is_ignored():
    world = World(n=1)
    fleet = world.fleet
    out = fleet.register(0.0, 0)
    answers = world.to_map(0.0, out)  # BA on its way to the old LCoA
    fleet.move(0.001, 0, lcoa(0, LCOA2_NET))
    fleet.handle(0.002, answers[0])
    assert fleet.ignored == {"not addressed to the current LCoA": 1} and fleet.bound == 0


def test_move_before_the_first_ba_is_still_a_first_registration():
    world = World(n=1)
    world.fleet.register(0.0, 0)  # lost
    world.deliver(0.5, world.fleet.move(0.5, 0, lcoa(0, LCOA2_NET)))
    assert world.fleet.counters["accepted_register"] == 1 and binding(world, 0).lcoa == lcoa(0, LCOA2_NET)


# ------------------------------------------------------------------------------------------- deregistration


def test_deregistration_removes_the_binding():
    world = World(n=2)
    world.register_all(0.0)
    world.deliver(3.0, world.fleet.deregister(3.0, 1))
    assert binding(world, 1) is None and binding(world, 0) is not None
    assert world.fleet.bound == 1 and world.fleet.counters["accepted_deregister"] == 1
    assert world.fleet.next_deadline() == pytest.approx(30.0)  # only node 0's refresh is left


# ------------------------------------------------------------------------------------------- status codes


def test_cache_full_is_status_130_and_the_node_stops():
    world = World(n=3, max_bindings=2)
    world.register_all(0.0)
    fleet = world.fleet
    assert dict(fleet.statuses) == {0: 2, 130: 1} and dict(fleet.rejected) == {130: 1}
    assert fleet.bound == 2 and fleet.pending() == 0 and fleet.summary(1.0)["failed"] == 1


def test_lcoa_outside_the_onlink_prefixes_is_status_129():
    world = World(n=1)
    world.fleet.lcoa[0] = (int.from_bytes(w.ip6("2001:db8:99::"), "big") | 5).to_bytes(16, "big")
    world.register_all(0.0)
    assert dict(world.fleet.rejected) == {129: 1}


def test_rcoa_off_the_map_prefix_is_status_132():
    world = World(n=0)
    world.fleet.add(w.ip6("2001:db8:77::5"), lcoa(0))
    world.register_all(0.0)
    assert dict(world.fleet.rejected) == {132: 1}


def test_status_135_continues_after_the_last_accepted_sequence_number():
    """RFC 6275 §11.7.3: a BA with 135 carries the last accepted number; the node sends again after it, once."""
    world = World(n=1)
    world.register_all(0.0)
    fleet = world.fleet
    accepted = fleet.seq[0]
    fleet.seq[0] = (accepted - 100) & 0xFFFF  # the node lost track (e.g. a restart)
    world.deliver(30.0, fleet.tick(30.0))
    assert fleet.statuses[135] == 1 and fleet.counters["accepted_refresh"] == 1
    assert fleet.seq[0] == (accepted + 1) & 0xFFFF and binding(world, 0).seq == fleet.seq[0]


# ------------------------------------------------------------------------------------------- BAs ignored


def _ba(world: World, i: int, **kw) -> bytes:
    """A BA to node ``i`` answering its outstanding BU, protected by the MAP's seam unless ``plain``."""
    fleet = world.fleet
    plain = kw.pop("plain", False)
    packet = w.Packet(kw.pop("src", MAP), kw.pop("dst", fleet.lcoa[i]),
                      w.BindingAcknowledgement(kw.pop("status", 0), kw.pop("seq", fleet.seq[i]), 10),
                      rh2_address=kw.pop("rh2", rcoa(i)))
    if not plain:
        packet = world.map.security.protect(packet, "tester1@map1")
    return w.encode_packet(packet)


@pytest.mark.parametrize("change, reason", [
    ({"rh2": None}, "no type 2 routing header (base §6.1: silently ignored)"),
    ({"src": w.ip6("2001:db8:f::2")}, "not from the MAP"),
    ({"rh2": w.ip6("2001:db8:f::99")}, "RCoA of no fleet mobile node"),
    ({"plain": True}, "unprotected Mobility Header (base §12.1)"),
])
def test_bas_a_mobile_node_must_ignore(change, reason):
    world = World(n=1)
    world.fleet.register(0.0, 0)
    world.fleet.handle(0.1, _ba(world, 0, **change))
    assert world.fleet.ignored == {reason: 1} and world.fleet.pending() == 1


def test_tampered_and_replayed_bas_are_ignored():
    world = World(n=1)
    world.fleet.register(0.0, 0)
    good = _ba(world, 0)
    tampered = good[:-1] + bytes([good[-1] ^ 1])
    world.fleet.handle(0.1, tampered)
    assert world.fleet.ignored == {"ICV mismatch (RFC 4303 §3.4.4.1)": 1}
    world.fleet.handle(0.2, good)
    world.fleet.register(0.3, 0)
    world.fleet.handle(0.4, good)  # the same ESP sequence number again
    assert any("replay" in reason for reason in world.fleet.ignored)
    assert world.fleet.counters["accepted_register"] == 1


def test_ba_with_a_wrong_checksum_is_ignored():
    world = World(n=1, security=None)
    world.fleet.register(0.0, 0)
    ba = bytearray(_ba(world, 0, plain=True))
    ba[-3] ^= 0xFF  # inside the Mobility Header (its padding)
    world.fleet.handle(0.1, bytes(ba))
    assert world.fleet.ignored == {"Mobility Header checksum": 1}


def test_parse_ba_reads_refresh_advice_and_k():
    packet = w.encode_packet(w.Packet(MAP, lcoa(0), w.BindingAcknowledgement(
        0, 9, 10, w.BA_K, (w.BindingRefreshAdvice(3),)), rh2_address=rcoa(0)))
    ba = parse_ba(packet, Unprotected())
    assert (ba.status, ba.seq, ba.units, ba.k, ba.refresh_advice, ba.rcoa) == (0, 9, 10, True, 3, rcoa(0))


# ------------------------------------------------------------------------------------------- hygiene


def test_fleet_is_sans_io():
    """No sockets, clocks, threads or event loops in the fleet (messages and time in, messages out)."""
    package = Path(__file__).resolve().parents[3] / "reference_impl" / "fleet"
    for path in package.glob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        assert not names & {"socket", "time", "threading", "asyncio", "select", "selectors", "subprocess", "scapy",
                            "harness"}, path


def test_config_checks():
    with pytest.raises(ValueError):
        FleetConfig(MAP, lifetime=2)
    with pytest.raises(ValueError):
        FleetConfig(MAP, refresh_ratio=1.0)
    assert dataclasses.replace(FleetConfig(MAP), lifetime=41).lifetime_units == 10
