"""The I/O layers of ``hmipv6-ha`` and ``hmipv6-cn`` without sockets: configuration files, the tunnelling plane
serving the home agent, and the correspondent node's route-optimisation plane with fake TUN / raw senders.
(The daemons themselves run in network namespaces in tests/integration/test_reference_ha_cn.py.)"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
import yaml

from reference_impl import wire as w
from reference_impl.actions import (
    BindingAdded, BindingRemoved, BindingUpdated, CnBindingAdded, CnBindingRemoved, HaBindingAdded, HaBindingRemoved,
    HaBindingUpdated, Log, Send,
)
from reference_impl.cn import CnConfig, CnCore, rr
from reference_impl.daemon.cn_main import CnDataPlane
from reference_impl.daemon.config import ConfigError, cn_config, ha_config, ha_interfaces, load_config
from reference_impl.daemon.dataplane import TunnelPlane, binding_change
from reference_impl.ha import HaConfig, HaCore

HA = w.ip6("2001:db8:10::2")
HOME = w.ip6("2001:db8:10::abc")
COA = w.ip6("2001:db8:50::c0a")
OTHER = w.ip6("2001:db8:50::bad")
CN = w.ip6("2001:db8:50::10")
PEER = w.ip6("2001:db8:60::1")
MAC = w.mac("02:00:00:00:00:02")
UDP = w.RawPayload(17, struct.pack("!HHHH", 1000, 2000, 12, 0x1234) + b"data")


def write(tmp_path: Path, doc: dict) -> str:
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


# ------------------------------------------------------------------------------------------------ configuration


def test_ha_config_defaults_and_keys(tmp_path) -> None:
    cfg = load_config(write(tmp_path, {"role": "ha", "control_socket": "/x", "ha": {
        "address": "2001:db8:10::2", "home_iface": "eth0", "listen": ["eth1"], "dad": False,
        "dad_retrans_timer": 0.25, "home_prefixes": ["2001:db8:11::/64"], "refresh_advice": 60}}))
    assert ha_interfaces(cfg) == ["eth0", "eth1"]
    core = ha_config(cfg, {"eth0": MAC, "eth1": MAC})
    assert (core.address, core.home_iface, core.link_address, core.dad) == (HA, "eth0", MAC, "off")
    assert core.dad_retrans_timer == 0.25 and core.refresh_advice == 60 and core.prefix_length == 64
    assert core.home_prefixes == (w.ip6_prefix("2001:db8:11::/64"),) and core.proxy_nd is True


@pytest.mark.parametrize("section, words", [
    ({"address": "2001:db8:10::2", "home_iface": "eth0", "dad_transmit": 2}, ["unknown", "dad_transmit"]),
    ({"address": "2001:db8:10::2", "home_iface": "eth0", "max_bindings": "many"}, ["max_bindings"]),
    ({"address": "2001:db8:10::2", "home_iface": "eth0", "proxy_nd": "yes"}, ["proxy_nd", "true or false"]),
    ({"address": "2001:db8:10::2", "home_iface": "eth0", "dad": "optimistic"}, ["dad"]),
    ({"address": "fe80::1", "home_iface": "eth0"}, ["global unicast"]),
    ({"home_iface": "eth0"}, ["missing", "address"]),
    ({"address": "2001:db8:10::2", "home_iface": "eth9"}, ["home_iface", "eth9"]),
])
def test_ha_config_errors_name_the_key(tmp_path, section, words) -> None:
    cfg = load_config(write(tmp_path, {"role": "ha", "control_socket": "/x", "ha": section}))
    with pytest.raises(ConfigError) as err:
        ha_config(cfg, {"eth0": MAC})
    assert all(word in str(err.value) for word in words), str(err.value)
    assert str(err.value).count("d.yaml") == 1, str(err.value)  # one line, the file named once


def test_cn_config(tmp_path) -> None:
    cfg = load_config(write(tmp_path, {"role": "cn", "control_socket": "/x", "cn": {
        "address": "2001:db8:50::10", "listen": ["eth0"], "node_key": "ab" * 20, "nonce_interval": 5,
        "max_nonce_lifetime": 40, "tun_device": "cn0"}}))
    core, settings = cn_config(cfg)
    assert (core.address, core.node_key, core.nonce_interval, core.max_nonce_lifetime) == \
        (CN, bytes([0xAB]) * 20, 5.0, 40.0)
    assert (settings.listen, settings.tun_device, settings.tun_mtu) == (["eth0"], "cn0", 1476)


@pytest.mark.parametrize("section, words", [
    ({"address": "2001:db8:50::10"}, ["missing", "listen"]),
    ({"address": "2001:db8:50::10", "listen": "eth0"}, ["listen", "list"]),
    ({"address": "2001:db8:50::10", "listen": ["eth0"], "node_key": "00"}, ["node_key", "20 octets"]),
    ({"address": "2001:db8:50::10", "listen": ["eth0"], "tun_mtu": 600}, ["tun_mtu"]),
    ({"address": "2001:db8:50::10", "listen": ["eth0"], "tun_device": "x" * 16}, ["tun_device"]),
    ({"address": "2001:db8:50::10", "listen": ["eth0"], "max_binding_lifetime": 1000}, ["max_binding_lifetime"]),
    ({"address": "2001:db8:50::10", "listen": ["eth0"], "binding_cache": 3}, ["unknown", "binding_cache"]),
])
def test_cn_config_errors_name_the_key(tmp_path, section, words) -> None:
    cfg = load_config(write(tmp_path, {"role": "cn", "control_socket": "/x", "cn": section}))
    with pytest.raises(ConfigError) as err:
        cn_config(cfg)
    assert all(word in str(err.value) for word in words), str(err.value)
    assert str(err.value).count("d.yaml") == 1, str(err.value)  # one line, the file named once


def test_map_and_ar_roles_still_load(tmp_path) -> None:
    for role in ("map", "ar"):
        assert load_config(write(tmp_path, {"role": role, "control_socket": "/x", role: {}})).role == role


# ----------------------------------------------------------------------------------------------- HA tunnelling


def test_binding_change_reads_map_and_ha_actions() -> None:
    assert binding_change(BindingAdded(HOME, COA, 40, "eth0")) == ("added", HOME, COA)
    assert binding_change(BindingUpdated(HOME, COA, OTHER, 40)) == ("updated", HOME, COA)
    assert binding_change(BindingRemoved(HOME, COA, "expired")) == ("removed", HOME, COA)
    assert binding_change(HaBindingAdded(HOME, COA, 40, "eth0")) == ("added", HOME, COA)
    assert binding_change(HaBindingUpdated(HOME, COA, OTHER, 40)) == ("updated", HOME, COA)
    assert binding_change(HaBindingRemoved(HOME, COA, "deregistered")) == ("removed", HOME, COA)
    assert binding_change(Log("x")) is None


class FakeRaw:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, str | None]] = []

    def send(self, packet: bytes, ifname: str | None = None, ifindex: int = 0) -> None:
        self.sent.append((packet, ifname))


class FakeTable:
    def __init__(self) -> None:
        self.held: set[str] = set()

    def intercept(self, address: str) -> None:
        self.held.add(address)

    def release(self, address: str) -> None:
        self.held.discard(address)


def frame(packet: w.Packet) -> bytes:
    return w.encode_frame(w.Frame(MAC, w.mac("02:00:00:00:00:99"), packet))


def test_tunnel_plane_serves_the_home_agent() -> None:
    core = HaCore(HaConfig(address=HA, home_iface="eth0", link_address=MAC, dad="off"))
    raw, table = FakeRaw(), FakeTable()
    plane = TunnelPlane(core, HA, {HA}, raw, table, lambda *a, **k: None)
    bu = w.Packet(COA, HA, w.BindingUpdate(1, w.BU_A | w.BU_H, 25), home_address=HOME)
    for action in core.handle(0.0, "eth0", bu):
        plane.on_action(action)
    assert table.held == {w.fmt(HOME)}
    # to the home address: RFC 2473 HA -> CoA, inner hop limit decremented
    assert plane.on_data("eth0", frame(w.Packet(PEER, HOME, UDP, hop_limit=30)))
    outer = w.decode_packet(raw.sent[-1][0])
    assert (outer.src, outer.dst, outer.inner.src, outer.inner.dst, outer.inner.hop_limit) == (HA, COA, PEER, HOME, 29)
    # reverse tunnel: forwarded from the bound CoA only (RFC 6275 §10.4.5)
    assert plane.on_data("eth0", frame(w.Packet(COA, HA, w.Packet(HOME, PEER, UDP))))
    assert w.decode_packet(raw.sent[-1][0]).dst == PEER and plane.counters["reverse_forwarded"] == 1
    assert plane.on_data("eth0", frame(w.Packet(OTHER, HA, w.Packet(HOME, PEER, UDP))))
    assert len(raw.sent) == 2 and plane.counters["reverse_rejected"] == 1
    # Neighbor Solicitations for the home address stay with the core (proxy ND)
    ns = w.Packet(PEER, w.solicited_node(HOME), w.NeighborSolicitation(HOME), hop_limit=255)
    assert not plane.on_data("eth0", frame(ns))
    # de-registration releases the address
    dereg = w.Packet(COA, HA, w.BindingUpdate(2, w.BU_A | w.BU_H, 0), home_address=HOME)
    for action in core.handle(1.0, "eth0", dereg):
        plane.on_action(action)
    assert table.held == set() and not plane.on_data("eth0", frame(w.Packet(PEER, HOME, UDP)))


# ----------------------------------------------------------------------------------- CN route optimisation


class FakeTun:
    name = "cn0"

    def __init__(self) -> None:
        self.inbox: list[bytes] = []  # what the host stack routed into the device
        self.written: list[bytes] = []  # what the daemon delivered to the host stack

    def read(self) -> bytes | None:
        return self.inbox.pop(0) if self.inbox else None

    def write(self, packet: bytes) -> None:
        self.written.append(packet)


class FakeLink:
    name, index = "eth0", 7


def bound_cn() -> tuple[CnCore, CnDataPlane, FakeTun, FakeRaw, list]:
    """A CN with a binding HOME -> COA made by a return routability exchange and a signed BU."""
    core = CnCore(CnConfig(address=CN, binding_error_interval=0.0), rng=random.Random(7))
    hoti = w.Packet(HOME, CN, rr.encode_rr(rr.HomeTestInit(b"homecook")))
    coti = w.Packet(COA, CN, rr.encode_rr(rr.CareOfTestInit(b"coacook!")))
    hot = rr.decode_rr(next(a for a in core.handle(0.0, "eth0", hoti) if isinstance(a, Send)).packet.payload)
    cot = rr.decode_rr(next(a for a in core.handle(0.0, "eth0", coti) if isinstance(a, Send)).packet.payload)
    kbm = rr.binding_management_key(hot.token, cot.token)
    bu = rr.sign(w.BindingUpdate(1, w.BU_A, 25, (w.NonceIndices(hot.nonce_index, cot.nonce_index),)), kbm, COA, CN)
    dispatched: list = []
    tun, raw = FakeTun(), FakeRaw()
    plane = CnDataPlane(core, tun, raw, {"eth0": FakeLink()}, lambda *a, **k: None, dispatched.extend)
    routes: list[tuple[str, ...]] = []
    plane._ip = lambda *args: routes.append(args)  # no kernel here
    for action in core.handle(0.0, "eth0", w.Packet(COA, CN, bu, home_address=HOME)):
        plane.on_action(action)
    assert routes == [("-6", "route", "replace", f"{w.fmt(HOME)}/128", "dev", "cn0", "proto", "99")]
    return core, plane, tun, raw, dispatched


def test_cn_route_optimises_what_the_host_sends_to_the_home_address() -> None:
    _core, plane, tun, raw, _ = bound_cn()
    sent = w.encode_packet(w.Packet(CN, HOME, UDP, hop_limit=64))
    echo = w.encode_packet(w.Packet(CN, HOME, w.EchoRequest(1, 2, b"x")))
    tun.inbox += [sent, echo, w.encode_packet(w.Packet(CN, PEER, UDP))]
    plane.read_tun()
    ro = [w.decode_packet(p, verify_checksums=False) for p, _ in raw.sent]
    assert [(p.src, p.dst, p.rh2_address) for p in ro] == [(CN, COA, HOME)] * 2
    assert ro[0].payload == UDP and ro[0].hop_limit == 64
    # checksums are those of the original packet: the pseudo-header destination is the home address (§6.4)
    assert raw.sent[1][0][-len(echo) + 40:] == echo[40:]
    w.decode_packet(raw.sent[1][0])  # and they verify
    assert plane.counters["route_optimised"] == 2 and plane.counters["no_binding"] == 1


def test_cn_never_route_optimises_mobility_headers() -> None:
    """RFC 6275 §6.1: a Home Test to a bound home address goes out plainly, bound to the interface (the TUN route
    would otherwise catch it)."""
    _core, plane, tun, raw, _ = bound_cn()
    hot = w.Packet(CN, HOME, rr.encode_rr(rr.HomeTest(1, b"homecook", b"tokentok")))
    assert plane.bypasses_tun(Send("eth0", hot))
    assert not plane.bypasses_tun(Send("eth0", w.Packet(CN, COA, hot.payload)))
    tun.inbox.append(w.encode_packet(hot))
    plane.read_tun()
    assert raw.sent == [(w.encode_packet(hot), "eth0")]


def test_cn_accepts_a_home_address_option_only_from_the_bound_care_of_address() -> None:
    _core, plane, tun, _raw, dispatched = bound_cn()
    data = w.Packet(COA, CN, w.EchoRequest(5, 6, b"ping"), home_address=HOME)
    assert plane.on_data("eth0", frame(data))
    delivered = w.decode_packet(tun.written[-1])  # checksum still right with the home address as source
    assert (delivered.src, delivered.dst, delivered.home_address) == (HOME, CN, None)
    assert plane.counters["home_address_accepted"] == 1
    # from another source: dropped with a Binding Error status 1 (§9.3.1)
    assert plane.on_data("eth0", frame(w.Packet(OTHER, CN, UDP, home_address=HOME)))
    assert len(tun.written) == 1 and plane.counters["home_address_rejected"] == 1
    be = next(a for a in dispatched if isinstance(a, Send)).packet
    assert (be.src, be.dst, be.payload.status, be.payload.home_address) == (CN, OTHER, 1, HOME)
    # signalling behind a Home Address option is the core's, other destination options the kernel's
    bu = w.Packet(COA, CN, w.BindingUpdate(9, w.BU_A, 25), home_address=HOME)
    assert not plane.on_data("eth0", frame(bu))
    other = w.Packet(PEER, CN, UDP, dest_options=(w.Ipv6Option(0x1E, b"\x00\x00"),))
    assert plane.on_data("eth0", frame(other)) and tun.written[-1] == w.encode_packet(other)
    assert not plane.on_data("eth0", frame(w.Packet(PEER, CN, UDP)))  # plain traffic: the kernel's


def test_cn_binding_removal_deletes_the_route() -> None:
    _core, plane, _tun, _raw, _ = bound_cn()
    seen: list[tuple[str, ...]] = []
    plane._ip = lambda *args: seen.append(args)
    plane.on_action(CnBindingRemoved(HOME, COA, "expired"))
    plane.on_action(CnBindingAdded(HOME, COA, 40))
    assert seen[0][:4] == ("-6", "route", "del", f"{w.fmt(HOME)}/128") and seen[1][2] == "replace"
