"""Home agent core (sans-I/O) driven in virtual time: one test per clause / transition / status code of RFC 6275
§9.5.1, §10.3, §10.4 (base document §6.3: the HA is unchanged by HMIPv6; the care-of address is the RCoA)."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from reference_impl import wire as w
from reference_impl.actions import HaBindingAdded, HaBindingRemoved, HaBindingUpdated, Log, Send
from reference_impl.ha import HaConfig, HaCore
from reference_impl.map.binding_cache import BindingCache
from reference_impl.security import SecurityDrop

HA = w.ip6("2001:db8:7::1")
HOME = w.ip6("2001:db8:7::aa")
HOME2 = w.ip6("2001:db8:7::bb")
RCOA = w.ip6("2001:db8:f1::ff:fe00:aa")
RCOA2 = w.ip6("2001:db8:f2::ff:fe00:aa")
HA_MAC = w.mac("02:00:00:00:07:01")
PEER_MAC = w.mac("02:00:00:00:07:77")
HOME_IF, CORE_IF = "home0", "core0"


def make(**overrides) -> HaCore:
    core = HaCore(HaConfig(address=HA, home_iface=HOME_IF, link_address=HA_MAC, **({"dad": "off"} | overrides)))
    core.start(0.0)
    return core


def bu(seq: int, lifetime: int = 100, *, flags: int = w.BU_A | w.BU_H, home: bytes | None = HOME,
       src: bytes = RCOA, options: tuple | None = None) -> w.Packet:
    opts = (w.AlternateCareOfAddress(src),) if options is None else options
    return w.Packet(src, HA, w.BindingUpdate(seq, flags, lifetime, opts), home_address=home)


def sends(actions) -> list[Send]:
    return [a for a in actions if isinstance(a, Send)]


def bas(actions) -> list[tuple[Send, w.BindingAcknowledgement]]:
    return [(s, s.packet.payload) for s in sends(actions) if isinstance(s.packet.payload, w.BindingAcknowledgement)]


def one_ba(actions) -> w.BindingAcknowledgement:
    found = bas(actions)
    assert len(found) == 1, actions
    return found[0][1]


def of(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def logs(actions, event: str) -> list[Log]:
    return [a for a in actions if isinstance(a, Log) and a.event == event]


# --- registration ---------------------------------------------------------------------------------------------------


def test_home_registration_dad_then_ba_with_rh2():
    """RFC 6275 §10.3.1, §9.5.4: DAD for the home address on the home link before the BA; the BA goes from the HA
    address to the BU's source (the RCoA, base §6.1) with a type 2 routing header holding the home address; the HA
    then tunnels to the RCoA (§10.4.2, base §6.3) and accepts reverse-tunnelled packets from it (§10.4.5)."""
    core = make(dad="on")
    actions = core.handle(0.0, CORE_IF, bu(7))
    assert not bas(actions)
    (ns,) = sends(actions)
    assert (ns.iface, ns.packet.src, ns.packet.dst) == (HOME_IF, w.UNSPECIFIED, w.solicited_node(HOME))
    assert ns.packet.payload == w.NeighborSolicitation(HOME) and ns.packet.hop_limit == 255
    assert core.tunnel_for(HOME) is None
    actions = core.tick(1.0)
    (added,) = of(actions, HaBindingAdded)
    assert (added.home_address, added.care_of_address, added.lifetime, added.iface) == (HOME, RCOA, 400, HOME_IF)
    (send, ba) = bas(actions)[0]
    assert (ba.status, ba.seq, ba.lifetime, ba.k) == (0, 7, 100, False)
    assert (send.packet.src, send.packet.dst, send.packet.rh2_address, send.iface) == (HA, RCOA, HOME, CORE_IF)
    assert w.decode_packet(w.encode_packet(send.packet)) == send.packet
    assert core.tunnel_for(HOME) == RCOA
    assert core.check_reverse_tunnel(RCOA, HOME) and not core.check_reverse_tunnel(RCOA2, HOME)


def test_unsolicited_neighbor_advertisements():
    """RFC 6275 §10.4.1: all-nodes NA for the home address with the HA's link-layer address, R=0 S=0 O=1, from the
    HA's address, up to unsolicited_na_count times."""
    core = make(unsolicited_na_count=3)
    nas = [s for s in sends(core.handle(0.0, CORE_IF, bu(1))) if isinstance(s.packet.payload, w.NeighborAdvertisement)]
    assert len(nas) == 1
    assert nas[0].packet.payload == w.NeighborAdvertisement(HOME, r=False, s=False, o=True,
                                                            options=(w.TargetLinkLayerAddress(HA_MAC),))
    assert (nas[0].packet.src, nas[0].packet.dst, nas[0].link_dst) == (HA, w.ALL_NODES, w.multicast_mac(w.ALL_NODES))
    assert len(sends(core.tick(1.0))) == 1 and len(sends(core.tick(2.0))) == 1 and not sends(core.tick(3.0))


def test_l_flag_defends_derived_link_local_address():
    """RFC 6275 §10.3.1, §10.4.1: with L set the HA runs DAD for, advertises and proxies the link-local address
    derived from the home address too; packets to that link-local address are not tunnelled (§10.4.2)."""
    core = make(dad="on")
    link_local = w.ip6("fe80::aa")
    actions = core.handle(0.0, CORE_IF, bu(1, flags=w.BU_A | w.BU_H | w.BU_L))
    assert {s.packet.payload.target for s in sends(actions)} == {HOME, link_local}
    actions = core.tick(1.0)
    targets = {s.packet.payload.target for s in sends(actions) if isinstance(s.packet.payload, w.NeighborAdvertisement)}
    assert targets == {HOME, link_local}
    ns = w.Packet(w.ip6("fe80::77"), w.solicited_node(link_local), w.NeighborSolicitation(
        link_local, options=(w.SourceLinkLayerAddress(PEER_MAC),)), hop_limit=255)
    (na,) = sends(core.handle(2.0, HOME_IF, ns))
    assert na.packet.payload.target == link_local and na.packet.payload.s and na.link_dst == PEER_MAC
    assert core.tunnel_for(link_local) is None


def test_dad_failure_gives_134():
    """RFC 6275 §10.3.1: DAD failing for the home address (a neighbour advertises it, or another node's DAD probe)
    -> BA 134, no binding."""
    core = make(dad="on")
    core.handle(0.0, CORE_IF, bu(3))
    na = w.Packet(w.ip6("fe80::77"), w.ALL_NODES, w.NeighborAdvertisement(
        HOME, o=True, options=(w.TargetLinkLayerAddress(PEER_MAC),)), hop_limit=255)
    ba = one_ba(core.handle(0.5, HOME_IF, na))
    assert (ba.status, ba.seq) == (134, 3) and core.tunnel_for(HOME) is None and core.next_deadline() is None
    core.handle(1.0, CORE_IF, bu(4, home=HOME2))
    probe = w.Packet(w.UNSPECIFIED, w.solicited_node(HOME2), w.NeighborSolicitation(HOME2), hop_limit=255)
    assert one_ba(core.handle(1.2, HOME_IF, probe)).status == 134


def test_not_home_subnet_gives_132():
    """RFC 6275 §10.3.1: a home address that is not on-link with respect to the HA's prefix list -> 132."""
    core = make()
    assert one_ba(core.handle(0.0, CORE_IF, bu(1, home=w.ip6("2001:db8:99::1")))).status == 132
    core = make(home_prefixes=(w.ip6_prefix("2001:db8:99::/64"),))
    assert one_ba(core.handle(0.0, CORE_IF, bu(1, home=w.ip6("2001:db8:99::1")))).status == 0


def test_deregistration_and_133_without_binding():
    """RFC 6275 §10.3.2: lifetime 0 without a home registration -> 133; with one -> BA 0 lifetime 0, interception
    stops at once, and the entry is kept MAX_DELETE_BCE_TIMEOUT so a delayed older BU gets 135."""
    core = make()
    assert one_ba(core.handle(0.0, CORE_IF, bu(1, lifetime=0))).status == 133
    core.handle(1.0, CORE_IF, bu(2))
    actions = core.handle(2.0, CORE_IF, bu(3, lifetime=0))
    (removed,) = of(actions, HaBindingRemoved)
    assert removed.reason == "deregistered"
    ba = one_ba(actions)
    assert (ba.status, ba.lifetime) == (0, 0) and core.tunnel_for(HOME) is None
    ba = one_ba(core.handle(3.0, CORE_IF, bu(2)))
    assert (ba.status, ba.seq) == (135, 3)
    core.tick(12.0)
    assert one_ba(core.handle(12.0, CORE_IF, bu(2))).status == 0  # tombstone gone: any number accepted


def test_deregistration_from_home_link_without_hao():
    """RFC 6275 §10.3.2: at home the MN MAY omit the Home Address option (its source is the home address); the BA
    then goes to that address without a routing header (§9.5.4)."""
    core = make()
    core.handle(0.0, CORE_IF, bu(1))
    at_home = w.Packet(HOME, HA, w.BindingUpdate(2, w.BU_A | w.BU_H, 0))
    (send, ba) = bas(core.handle(1.0, HOME_IF, at_home))[0]
    assert ba.status == 0 and (send.packet.dst, send.packet.rh2_address) == (HOME, None)


def test_sequence_number_out_of_window_135():
    """RFC 6275 §9.5.1: a sequence number not newer than the last accepted -> 135 with the last accepted number."""
    core = make()
    core.handle(0.0, CORE_IF, bu(0xFFFE))
    ba = one_ba(core.handle(1.0, CORE_IF, bu(0xFFFE)))
    assert (ba.status, ba.seq) == (135, 0xFFFE)
    assert one_ba(core.handle(2.0, CORE_IF, bu(1))).status == 0  # modulo 2**16


def test_invalid_home_registrations_silently_discarded():
    """RFC 6275 §10.3.1, §9.5.1: no Home Address option; H clear (a correspondent registration: no return
    routability here); H with a Nonce Indices option; a care-of address that is not unicast routable."""
    core = make()
    assert not sends(core.handle(0.0, CORE_IF, bu(1, home=None)))
    assert not sends(core.handle(0.0, CORE_IF, bu(2, flags=w.BU_A)))
    assert not sends(core.handle(0.0, CORE_IF, bu(3, options=(w.NonceIndices(1, 1),))))
    assert not sends(core.handle(0.0, CORE_IF, bu(4, options=(w.AlternateCareOfAddress(w.ip6("fe80::1")),))))
    assert core.counters["bu_discarded"] == 4 and not core.cache.bindings


def test_refresh_and_care_of_address_change():
    """RFC 6275 §10.3.1: an existing entry is updated (new care-of address: HaBindingUpdated; the tunnel follows);
    no second DAD."""
    core = make(dad="on")
    core.handle(0.0, CORE_IF, bu(1))
    core.tick(1.0)
    actions = core.handle(5.0, CORE_IF, bu(2, src=RCOA2))
    (updated,) = of(actions, HaBindingUpdated)
    assert (updated.care_of_address, updated.old_care_of_address) == (RCOA2, RCOA)
    assert one_ba(actions).status == 0 and core.tunnel_for(HOME) == RCOA2
    assert not any(isinstance(s.packet.payload, w.NeighborSolicitation) for s in sends(actions))


def test_ba_sent_even_with_a_clear_and_m_flag_ignored():
    """RFC 6275 §10.3.1: the HA MUST return a BA regardless of A; the HMIPv6 M bit is reserved for a HA (ignored,
    logged)."""
    core = make()
    actions = core.handle(0.0, CORE_IF, bu(1, flags=w.BU_H | w.BU_M))
    assert one_ba(actions).status == 0
    assert logs(actions, "bu_a_flag_clear") and logs(actions, "bu_m_flag_ignored")


def test_lifetime_capped_by_prefix_and_status_1():
    """RFC 6275 §10.3.1: lifetime <= remaining prefix validity (and local policy); status 1 when the prefix becomes
    invalid within the binding; bindings removed when the prefix expires."""
    core = make(prefix_valid_until=100.0, max_binding_lifetime=1000)
    ba = one_ba(core.handle(0.0, CORE_IF, bu(1, lifetime=200)))
    assert (ba.status, ba.lifetime) == (1, 25)
    core2 = make(max_binding_lifetime=40)
    assert one_ba(core2.handle(0.0, CORE_IF, bu(1, lifetime=200))).lifetime == 10
    actions = core.tick(100.0)
    assert of(actions, HaBindingRemoved)[0].reason == "prefix-expired"


def test_proxy_neighbor_discovery():
    """RFC 6275 §10.4.1: NS for a bound home address -> NA R=0 with the HA's link-layer address, S=1 to the
    solicitor (O per proxy_na_override); NS from :: (DAD) -> NA to all-nodes; unbound targets are not answered."""
    core = make()
    core.handle(0.0, CORE_IF, bu(1))
    ns = w.Packet(w.ip6("2001:db8:7::77"), w.solicited_node(HOME), w.NeighborSolicitation(
        HOME, options=(w.SourceLinkLayerAddress(PEER_MAC),)), hop_limit=255)
    (na,) = sends(core.handle(1.0, HOME_IF, ns))
    assert na.packet.payload == w.NeighborAdvertisement(HOME, r=False, s=True, o=False,
                                                        options=(w.TargetLinkLayerAddress(HA_MAC),))
    assert (na.packet.dst, na.link_dst) == (w.ip6("2001:db8:7::77"), PEER_MAC)
    dad = w.Packet(w.UNSPECIFIED, w.solicited_node(HOME), w.NeighborSolicitation(HOME), hop_limit=255)
    (na,) = sends(core.handle(1.0, HOME_IF, dad))
    assert na.packet.dst == w.ALL_NODES and not na.packet.payload.s
    other = dataclasses.replace(ns, payload=w.NeighborSolicitation(HOME2))
    assert not sends(core.handle(1.0, HOME_IF, other))
    assert not sends(core.handle(1.0, HOME_IF, dataclasses.replace(ns, hop_limit=64)))


def test_binding_expires():
    """RFC 6275 §10.3.1: the entry MUST be deleted when its lifetime ends; interception stops."""
    core = make()
    core.handle(0.0, CORE_IF, bu(1, lifetime=5))
    assert core.next_deadline() == 20.0
    assert of(core.tick(20.0), HaBindingRemoved)[0].reason == "expired"
    assert core.tunnel_for(HOME) is None


def test_cache_full_130_and_security_seam():
    """RFC 6275 §10.3.1 ("insufficient resources") -> 130; the security seam (§5.1) sees every BU first."""
    core = make(max_bindings=1)
    core.handle(0.0, CORE_IF, bu(1))
    assert one_ba(core.handle(0.0, CORE_IF, bu(1, home=HOME2))).status == 130

    class Deny:
        required = True

        def open(self, packet):
            raise SecurityDrop("denied")

        def protect(self, packet, pair):
            return packet

    denied = HaCore(HaConfig(address=HA, home_iface=HOME_IF, link_address=HA_MAC, dad="off"), security=Deny())
    assert not sends(denied.handle(0.0, CORE_IF, bu(1)))


def test_binding_cache_is_the_maps():
    """Shared helper: the HA keeps its bindings in reference_impl.map.binding_cache (the MAP is a HA for RCoAs)."""
    assert isinstance(make().cache, BindingCache)


def test_snapshot_is_json():
    """Control command state: bindings, pending DAD, tombstones, counters; JSON without NaN/Infinity."""
    core = make(dad="on")
    core.handle(0.0, CORE_IF, bu(1))
    core.handle(0.0, CORE_IF, bu(1, home=HOME2, flags=w.BU_A | w.BU_H | w.BU_L))
    snap = json.loads(json.dumps(core.snapshot(), allow_nan=False))
    assert len(snap["pending_dad"]) == 2
    core.tick(1.0)
    snap = json.loads(json.dumps(core.snapshot(), allow_nan=False))
    assert snap["bindings"][1]["defended"] == ["2001:db8:7::bb", "fe80::bb"]


def test_ha_public_exports_resolve():
    """Every name in the package's explicit __all__ exists, without duplicates."""
    import importlib

    package = importlib.import_module("reference_impl.ha")
    assert len(set(package.__all__)) == len(package.__all__)
    assert all(hasattr(package, name) for name in package.__all__)


def test_ha_package_is_sans_io():
    """Project rule: the cores have no sockets, clocks, threads or event loops (and no scapy / harness)."""
    import reference_impl.ha as ha

    forbidden = {"socket", "time", "threading", "asyncio", "select", "selectors", "subprocess", "scapy", "harness"}
    for path in Path(ha.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & forbidden, path
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert node.module.split(".")[0] not in forbidden, path


@pytest.mark.parametrize("bad", [{"dad": "optimistic"}, {"unsolicited_na_count": 4}, {"link_address": b"\x00"}])
def test_config_validation(bad):
    """Configuration errors are refused at construction."""
    with pytest.raises(ValueError):
        HaConfig(**({"address": HA, "home_iface": HOME_IF, "link_address": HA_MAC} | bad))
