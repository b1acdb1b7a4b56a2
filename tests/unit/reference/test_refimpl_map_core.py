"""MAP core (sans-I/O) driven in virtual time: one test per clause / state transition / status code."""

from __future__ import annotations

import dataclasses
import json

import pytest

from reference_impl import wire as w
from reference_impl.actions import BindingAdded, BindingRemoved, BindingUpdated, Log, Send
from reference_impl.map import MapConfig, MapCore, seq_newer
from reference_impl.security import SecurityDrop

MAP = w.ip6("2001:db8:f::1")
RCOA = w.ip6("2001:db8:f::abcd")
RCOA2 = w.ip6("2001:db8:f::beef")
LCOA = w.ip6("2001:db8:1::100")
LCOA2 = w.ip6("2001:db8:2::100")
FOREIGN = w.ip6("2001:db8:99::100")
MAP_MAC = w.mac("02:00:00:00:00:0f")
PEER_MAC = w.mac("02:00:00:00:00:77")
HOME = "home0"
ACCESS = "core0"


def make(edition: str = "rfc4140", **overrides) -> MapCore:
    cfg = MapConfig(address=MAP, home_iface=HOME, link_address=MAP_MAC, **({"dad": "off"} | overrides))
    core = MapCore(cfg, edition)
    core.start(0.0)
    return core


def bu(seq: int, lifetime: int = 100, *, flags: int = w.BU_A | w.BU_M, rcoa: bytes | None = RCOA,
       src: bytes = LCOA, dst: bytes = MAP, options: tuple = ()) -> w.Packet:
    return w.Packet(src, dst, w.BindingUpdate(seq, flags, lifetime, options), home_address=rcoa)


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


# --- registration and DAD -----------------------------------------------------------------------------------------


def test_new_binding_waits_for_dad_then_acks_with_rh2():
    """base §6.1/§6.2, RFC 6275 §10.3.1 and §9.5.4: DAD for the RCoA before the BA; the BA goes to the BU's
    source, from the MAP address, with a type 2 routing header holding the RCoA."""
    core = make(dad="on")
    actions = core.handle(0.0, ACCESS, bu(7))
    assert not bas(actions)
    (ns,) = sends(actions)
    assert ns.iface == HOME and ns.link_dst == w.multicast_mac(w.solicited_node(RCOA))
    assert ns.packet.src == w.UNSPECIFIED and ns.packet.dst == w.solicited_node(RCOA)
    assert ns.packet.hop_limit == 255
    assert ns.packet.payload == w.NeighborSolicitation(RCOA)  # no SLLA option from ::
    assert core.next_deadline() == 1.0
    assert core.tunnel_for(RCOA) is None
    assert core.tick(0.999) == []
    actions = core.tick(1.0)
    (added,) = of(actions, BindingAdded)
    assert (added.rcoa, added.lcoa, added.lifetime, added.iface) == (RCOA, LCOA, 400, HOME)
    (send, ba) = bas(actions)[0]
    assert (ba.status, ba.seq, ba.lifetime, ba.k) == (0, 7, 100, False)
    assert send.iface == ACCESS
    assert (send.packet.src, send.packet.dst, send.packet.rh2_address) == (MAP, LCOA, RCOA)
    assert send.packet.home_address is None
    decoded = w.decode_packet(w.encode_packet(send.packet))  # checksum with the RH2 pseudo-header verifies
    assert decoded == send.packet
    assert core.tunnel_for(RCOA) == LCOA


def test_unsolicited_na_when_binding_created():
    """RFC 6275 §10.4.1: multicast NA for the RCoA to all-nodes, TLLA = MAP link-layer address, R=0 S=0 O=1,
    source = the MAP's address on that link, hop limit 255; repeated unsolicited_na_count times."""
    core = make(unsolicited_na_count=3, unsolicited_na_interval=1.0)
    actions = core.handle(0.0, ACCESS, bu(1))
    nas = [s for s in sends(actions) if isinstance(s.packet.payload, w.NeighborAdvertisement)]
    assert len(nas) == 1
    na = nas[0]
    assert na.iface == HOME and na.link_dst == w.multicast_mac(w.ALL_NODES)
    assert (na.packet.src, na.packet.dst, na.packet.hop_limit) == (MAP, w.ALL_NODES, 255)
    assert na.packet.payload == w.NeighborAdvertisement(RCOA, r=False, s=False, o=True,
                                                        options=(w.TargetLinkLayerAddress(MAP_MAC),))
    assert len(sends(core.tick(1.0))) == 1
    assert len(sends(core.tick(2.0))) == 1
    assert sends(core.tick(3.0)) == []


def test_dad_failure_by_na_gives_134():
    """base §6.1 / RFC 6275 §10.3.1: a neighbour advertising the RCoA during DAD -> BA status 134, no binding."""
    core = make(dad="on")
    core.handle(0.0, ACCESS, bu(3))
    na = w.Packet(w.ip6("fe80::77"), w.ALL_NODES, w.NeighborAdvertisement(
        RCOA, o=True, options=(w.TargetLinkLayerAddress(PEER_MAC),)), hop_limit=255)
    actions = core.handle(0.5, HOME, na)
    ba = one_ba(actions)
    assert (ba.status, ba.seq) == (134, 3)
    assert not of(actions, BindingAdded) and core.tunnel_for(RCOA) is None
    assert core.next_deadline() is None
    assert core.tick(5.0) == []


def test_dad_failure_by_concurrent_dad_gives_134():
    """RFC 4862 §5.4.3: an NS from :: for the tentative RCoA means another node is claiming it -> 134."""
    core = make(dad="on")
    core.handle(0.0, ACCESS, bu(3))
    ns = w.Packet(w.UNSPECIFIED, w.solicited_node(RCOA), w.NeighborSolicitation(RCOA), hop_limit=255)
    assert one_ba(core.handle(0.2, HOME, ns)).status == 134


def test_dad_ignores_invalid_or_own_advertisements():
    """RFC 4861 §7.1.2: NAs with hop limit != 255 are discarded; the MAP's own looped-back NA is not a conflict."""
    core = make(dad="on")
    core.handle(0.0, ACCESS, bu(3))
    bad_hlim = w.Packet(w.ip6("fe80::77"), w.ALL_NODES, w.NeighborAdvertisement(RCOA, o=True), hop_limit=64)
    own = w.Packet(MAP, w.ALL_NODES, w.NeighborAdvertisement(
        RCOA, o=True, options=(w.TargetLinkLayerAddress(MAP_MAC),)), hop_limit=255)
    assert core.handle(0.1, HOME, bad_hlim) == []
    assert core.handle(0.2, HOME, own) == []
    assert one_ba(core.tick(1.0)).status == 0


def test_dad_transmits_and_retransmitted_bu_during_dad():
    """RFC 4862 §5.4 DupAddrDetectTransmits NSs RetransTimer apart; a BU retransmitted during DAD is answered
    (one BA, for the newest sequence number) when DAD ends."""
    core = make(dad="on", dad_transmits=2, dad_retrans_timer=0.5)
    assert len(sends(core.handle(0.0, ACCESS, bu(3)))) == 1
    assert logs(core.handle(0.2, ACCESS, bu(4)), "dad_in_progress")
    assert len(sends(core.tick(0.5))) == 1  # second NS
    actions = core.tick(1.0)
    assert one_ba(actions).seq == 4
    assert core.snapshot()["bindings"][0]["seq"] == 4


def test_dad_off_answers_at_once():
    """Deviation 'dad=off' (stated in the start log): binding and BA immediately."""
    core = MapCore(MapConfig(address=MAP, home_iface=HOME, link_address=MAP_MAC, dad="off"))
    started = core.start(0.0)
    assert logs(started, "deviation")
    actions = core.handle(0.0, ACCESS, bu(1))
    assert one_ba(actions).status == 0 and of(actions, BindingAdded)


def test_optimistic_dad_withdraws_binding_on_conflict():
    """Deviation 'dad=optimistic': BA at once, NS sent; a defender during the DAD window removes the binding."""
    core = make(dad="optimistic")
    actions = core.handle(0.0, ACCESS, bu(1))
    assert one_ba(actions).status == 0 and of(actions, BindingAdded)
    assert any(isinstance(s.packet.payload, w.NeighborSolicitation) for s in sends(actions))
    na = w.Packet(w.ip6("fe80::77"), w.ALL_NODES, w.NeighborAdvertisement(RCOA, o=True), hop_limit=255)
    actions = core.handle(0.5, HOME, na)
    (removed,) = of(actions, BindingRemoved)
    assert removed.reason == "dad-conflict" and core.tunnel_for(RCOA) is None


def test_optimistic_dad_window_closes():
    """Deviation 'dad=optimistic': after DupAddrDetectTransmits × RetransTimer the binding is final; a later NA is
    only logged."""
    core = make(dad="optimistic")
    core.handle(0.0, ACCESS, bu(1))
    assert logs(core.tick(1.0), "dad_completed")
    na = w.Packet(w.ip6("fe80::77"), w.ALL_NODES, w.NeighborAdvertisement(RCOA, o=True), hop_limit=255)
    actions = core.handle(2.0, HOME, na)
    assert logs(actions, "na_for_bound_rcoa") and core.tunnel_for(RCOA) == LCOA


# --- sequence numbers ---------------------------------------------------------------------------------------------


def test_seq_newer_serial_arithmetic():
    """RFC 6275 §9.5.1: with last = 15, 0..15 and 32783..65535 are 'less than or equal'."""
    assert not any(seq_newer(s, 15) for s in (*range(0, 16), 32783, 40000, 65535))
    assert all(seq_newer(s, 15) for s in (16, 100, 32782))
    assert seq_newer(0, 65535) and seq_newer(5, 65530)


def test_refresh_with_newer_seq_accepted_older_gets_135_with_last_seq():
    """RFC 6275 §9.5.1: a BU whose sequence number is not greater than the last accepted one -> BA 135 carrying
    the last accepted sequence number (PLATFORM.md 'Mobility Header facts')."""
    core = make()
    core.handle(0.0, ACCESS, bu(10))
    assert one_ba(core.handle(1.0, ACCESS, bu(11))).status == 0
    for stale in (11, 10, 11 - 32768 & 0xFFFF):
        ba = one_ba(core.handle(2.0, ACCESS, bu(stale)))
        assert (ba.status, ba.seq) == (135, 11)
    assert core.snapshot()["bindings"][0]["seq"] == 11


def test_seq_wraps_around():
    """RFC 6275 §9.5.1: comparison modulo 2**16: 65535 -> 0 is an increase."""
    core = make()
    core.handle(0.0, ACCESS, bu(65535))
    assert one_ba(core.handle(1.0, ACCESS, bu(0))).status == 0


def test_no_entry_accepts_any_seq():
    """RFC 6275 §9.5.1: without a Binding Cache entry any sequence number is accepted (also after expiry)."""
    core = make()
    core.handle(0.0, ACCESS, bu(500, lifetime=1))
    core.tick(4.0)  # expired
    assert one_ba(core.handle(5.0, ACCESS, bu(3))).status == 0


# --- lifetimes, expiry, deregistration ----------------------------------------------------------------------------


def test_granted_lifetime_capped_by_request_policy_and_prefix():
    """RFC 6275 §10.3.1: granted <= requested, <= local policy, <= remaining valid lifetime of the prefix."""
    core = make(max_binding_lifetime=200)
    assert one_ba(core.handle(0.0, ACCESS, bu(1, lifetime=10))).lifetime == 10
    assert one_ba(core.handle(0.0, ACCESS, bu(2, lifetime=1000))).lifetime == 50
    core = make(prefix_valid_lifetime=120)
    assert one_ba(core.handle(0.0, ACCESS, bu(1, lifetime=1000))).lifetime == 30


def test_decrementing_prefix_lifetime_gives_status_1_and_removes_bindings():
    """RFC 6275 §10.3.1: status 1 when the prefix becomes invalid at the end of the binding; bindings are removed
    when the prefix's valid lifetime ends; later BUs for it get 132 (base §6.2 / RFC 6275 §10.3.1)."""
    core = make(prefix_valid_until=100.0)
    ba = one_ba(core.handle(0.0, ACCESS, bu(1, lifetime=1000)))
    assert (ba.status, ba.lifetime) == (1, 25)
    core.handle(10.0, ACCESS, bu(1, rcoa=RCOA2, lifetime=2))  # ends long before the prefix
    assert core.next_deadline() == 18.0
    actions = core.tick(100.0)
    reasons = sorted(r.reason for r in of(actions, BindingRemoved))
    assert reasons == ["expired", "prefix-expired"]
    assert one_ba(core.handle(101.0, ACCESS, bu(2))).status == 132


def test_binding_expires():
    """RFC 6275 §9.5.2/§10.3.1: the entry MUST be deleted when its lifetime expires; next_deadline announces it."""
    core = make()
    core.handle(0.0, ACCESS, bu(1, lifetime=25))
    assert core.next_deadline() == 100.0
    assert core.tick(99.0) == []
    (removed,) = of(core.tick(100.0), BindingRemoved)
    assert (removed.rcoa, removed.lcoa, removed.reason) == (RCOA, LCOA, "expired")
    assert core.tunnel_for(RCOA) is None and core.next_deadline() is None


def test_expiry_processed_before_a_late_packet():
    """Timers due at ``now`` run before the packet handed in at ``now``."""
    core = make()
    core.handle(0.0, ACCESS, bu(1, lifetime=1))
    actions = core.handle(10.0, ACCESS, bu(0))
    assert isinstance(actions[0], Log) and of(actions, BindingRemoved) and one_ba(actions).status == 0


def test_deregistration_and_delayed_bu():
    """RFC 6275 §10.3.2: lifetime 0 deletes the binding, BA status 0 lifetime 0; the entry is kept invalid for
    MAX_DELETE_BCE_TIMEOUT so a delayed older BU gets 135; after that any sequence number is accepted."""
    core = make(delete_bce_timeout=10.0)
    core.handle(0.0, ACCESS, bu(5))
    actions = core.handle(1.0, ACCESS, bu(6, lifetime=0))
    ba = one_ba(actions)
    assert (ba.status, ba.lifetime, ba.seq) == (0, 0, 6)
    (removed,) = of(actions, BindingRemoved)
    assert removed.reason == "deregistered" and core.tunnel_for(RCOA) is None
    late = one_ba(core.handle(2.0, ACCESS, bu(5)))
    assert (late.status, late.seq) == (135, 6)
    core.tick(11.0)
    assert one_ba(core.handle(12.0, ACCESS, bu(1))).status == 0


def test_deregistration_without_binding_133():
    """RFC 6275 §10.3.2: de-registration for an address with no binding -> 133."""
    assert one_ba(make().handle(0.0, ACCESS, bu(1, lifetime=0))).status == 133


def test_deregistration_during_dad_cancels_it():
    """RFC 6275 §10.3.2: no binding yet -> 133; the pending registration is dropped with its DAD."""
    core = make(dad="on")
    core.handle(0.0, ACCESS, bu(1))
    actions = core.handle(0.5, ACCESS, bu(2, lifetime=0))
    assert one_ba(actions).status == 133 and logs(actions, "dad_cancelled")
    assert core.tick(2.0) == [] and core.tunnel_for(RCOA) is None


# --- rejection codes ----------------------------------------------------------------------------------------------


def test_129_lcoa_outside_valid_onlink_prefixes():
    """base §6.2: an LCoA outside the MAP's 'valid on-link prefixes' list is rejected with 129."""
    core = make(onlink_prefixes=(w.ip6_prefix("2001:db8:1::/64"), w.ip6_prefix("2001:db8:2::/64")))
    assert one_ba(core.handle(0.0, ACCESS, bu(1, src=FOREIGN))).status == 129
    assert one_ba(core.handle(0.0, ACCESS, bu(1, src=LCOA))).status == 0


def test_previous_map_forwarding_allow_list():
    """base §8: an existing binding may be re-pointed to an LCoA in a neighbouring domain only if that prefix is
    on the administrative allow-list; new bindings from there are still refused (129)."""
    core = make(onlink_prefixes=(w.ip6_prefix("2001:db8:1::/64"),),
                forward_prefixes=(w.ip6_prefix("2001:db8:2::/64"),))
    core.handle(0.0, ACCESS, bu(1))
    assert one_ba(core.handle(0.0, ACCESS, bu(1, rcoa=RCOA2, src=LCOA2))).status == 129
    actions = core.handle(1.0, ACCESS, bu(2, src=LCOA2))
    assert one_ba(actions).status == 0
    (updated,) = of(actions, BindingUpdated)
    assert (updated.rcoa, updated.lcoa, updated.old_lcoa) == (RCOA, LCOA2, LCOA)
    assert core.tunnel_for(RCOA) == LCOA2
    assert one_ba(core.handle(2.0, ACCESS, bu(3, src=FOREIGN))).status == 129
    assert core.tunnel_for(RCOA) == LCOA2


def test_130_cache_full_counts_pending_dad():
    """RFC 6275 §9.5.2/§10.3.1: insufficient resources -> 130; registrations waiting for DAD hold a slot."""
    core = make(dad="on", max_bindings=1)
    core.handle(0.0, ACCESS, bu(1))
    assert one_ba(core.handle(0.1, ACCESS, bu(1, rcoa=RCOA2))).status == 130
    core.tick(1.0)
    assert one_ba(core.handle(2.0, ACCESS, bu(1, rcoa=RCOA2))).status == 130
    assert one_ba(core.handle(2.0, ACCESS, bu(2))).status == 0  # refreshing an existing one is fine


def test_132_rcoa_not_on_map_prefix():
    """base §5/§6.2, RFC 6275 §10.3.1: the RCoA (home address) must be on the MAP's prefix -> else 132."""
    assert one_ba(make().handle(0.0, ACCESS, bu(1, rcoa=w.ip6("2001:db8:e::1")))).status == 132


def test_rcoa_equal_to_map_address_is_a_duplicate():
    """RFC 6275 §10.3.1 spirit: the MAP's own address can never be an RCoA (would fail DAD) -> 134."""
    assert one_ba(make().handle(0.0, ACCESS, bu(1, rcoa=MAP))).status == 134


# --- flags --------------------------------------------------------------------------------------------------------


def test_m_and_h_set_is_a_local_registration():
    """base §4.1 / README decision: M+H is accepted as a local BU, H logged and otherwise ignored."""
    actions = make().handle(0.0, ACCESS, bu(1, flags=w.BU_A | w.BU_M | w.BU_H | w.BU_K))
    assert one_ba(actions).status == 0 and logs(actions, "bu_h_flag_ignored")
    assert one_ba(actions).k is False  # RFC 6275 §10.3.1: K only with dynamic key management


def test_h_without_m_is_a_home_registration_131():
    """RFC 6275 §10.3.1: a node not configured as a home agent answers a home registration with 131."""
    core = make()
    assert one_ba(core.handle(0.0, ACCESS, bu(1, flags=w.BU_A | w.BU_H))).status == 131
    assert core.tunnel_for(RCOA) is None


def test_neither_m_nor_h_is_silently_discarded():
    """RFC 6275 §9.5.1: a correspondent registration without valid nonces/authorisation is silently discarded."""
    actions = make().handle(0.0, ACCESS, bu(1, flags=w.BU_A))
    assert not sends(actions) and logs(actions, "bu_discarded")


def test_a_clear_still_acknowledged():
    """RFC 6275 §10.3.1: the home agent (here the MAP) returns a BA regardless of the A bit."""
    actions = make().handle(0.0, ACCESS, bu(1, flags=w.BU_M))
    assert one_ba(actions).status == 0 and logs(actions, "bu_a_flag_clear")


# --- validation / silently discarded ------------------------------------------------------------------------------


@pytest.mark.parametrize("packet,reason", [
    (bu(1, rcoa=None), "no Home Address option"),
    (bu(1, rcoa=w.ip6("fe80::1")), "home address not unicast routable"),
    (bu(1, src=w.ip6("fe80::1")), "care-of address not unicast routable"),
    (bu(1, options=(w.AlternateCareOfAddress(w.ip6("ff02::1")),)), "care-of address not unicast routable"),
])
def test_invalid_bus_silently_discarded(packet, reason):
    """RFC 6275 §9.5.1, §6.1.7, §9.5.4 and base §6.1: BUs failing validation get no BA."""
    actions = make().handle(0.0, ACCESS, packet)
    assert not sends(actions)
    assert logs(actions, "bu_discarded")[0].fields["reason"].startswith(reason)


def test_bu_for_another_node_ignored():
    """base §6.2: the MAP processes local BUs addressed to it; others are not its business."""
    actions = make().handle(0.0, ACCESS, bu(1, dst=w.ip6("2001:db8:f::2")))
    assert not sends(actions) and logs(actions, "bu_ignored")


def test_alternate_care_of_address_is_the_lcoa():
    """RFC 6275 §9.5.1: the care-of address is the Alternate Care-of Address option when present; the BA still
    goes to the BU's source (§9.5.4)."""
    core = make()
    actions = core.handle(0.0, ACCESS, bu(1, options=(w.AlternateCareOfAddress(LCOA2),)))
    (send, _) = bas(actions)[0]
    assert send.packet.dst == LCOA and core.tunnel_for(RCOA) == LCOA2


def test_binding_refresh_advice_when_configured():
    """RFC 6275 §6.2.4 / §10.3.1: the Refresh Interval is shorter than the granted lifetime."""
    core = make(refresh_advice=200)
    ba = one_ba(core.handle(0.0, ACCESS, bu(1, lifetime=100)))
    assert ba.options == (w.BindingRefreshAdvice(50),)
    ba = one_ba(core.handle(0.0, ACCESS, bu(2, lifetime=10)))
    assert ba.options == ()


# --- proxy neighbour discovery ------------------------------------------------------------------------------------


def ns_from(src: bytes, target: bytes = RCOA, *, slla: bool = True, hop_limit: int = 255) -> w.Packet:
    dst = w.solicited_node(target)
    options = (w.SourceLinkLayerAddress(PEER_MAC),) if slla and src != w.UNSPECIFIED else ()
    return w.Packet(src, dst, w.NeighborSolicitation(target, options), hop_limit=hop_limit)


def test_proxy_na_answers_ns_for_bound_rcoa():
    """RFC 6275 §10.4.1 (R=0, MAP link-layer address) and RFC 4861 §7.2.4 (S=1 to the solicitor, O=0 for a
    proxy; sent to the SLLA link-layer address)."""
    core = make()
    core.handle(0.0, ACCESS, bu(1))
    peer = w.ip6("2001:db8:f::77")
    (send,) = sends(core.handle(1.0, HOME, ns_from(peer)))
    assert send.iface == HOME and send.link_dst == PEER_MAC
    assert (send.packet.src, send.packet.dst, send.packet.hop_limit) == (MAP, peer, 255)
    assert send.packet.payload == w.NeighborAdvertisement(RCOA, r=False, s=True, o=False,
                                                          options=(w.TargetLinkLayerAddress(MAP_MAC),))


def test_proxy_defends_rcoa_against_dad():
    """RFC 4861 §7.2.4 / RFC 6275 §10.4.1: an NS from :: is answered to all-nodes with S=0."""
    core = make()
    core.handle(0.0, ACCESS, bu(1))
    (send,) = sends(core.handle(1.0, HOME, ns_from(w.UNSPECIFIED)))
    assert send.packet.dst == w.ALL_NODES and send.packet.payload.s is False
    assert send.link_dst == w.multicast_mac(w.ALL_NODES)


def test_proxy_override_configurable_and_ignores_other_ns():
    """RFC 4861 §7.1.1 NS validation and §7.2.4 (O flag configurable); RFC 6275 §10.4.1 only for bound RCoAs on the
    RCoA link."""
    core = make(proxy_na_override=True)
    core.handle(0.0, ACCESS, bu(1))
    peer = w.ip6("fe80::77")
    assert sends(core.handle(1.0, HOME, ns_from(peer)))[0].packet.payload.o is True
    assert core.handle(1.0, HOME, ns_from(peer, RCOA2)) == []  # not bound
    assert core.handle(1.0, HOME, ns_from(peer, hop_limit=64)) == []  # RFC 4861 §7.1.1
    assert core.handle(1.0, ACCESS, ns_from(peer)) == []  # only on the RCoA link
    bad_dad = w.Packet(w.UNSPECIFIED, w.ALL_NODES, w.NeighborSolicitation(RCOA), hop_limit=255)
    assert core.handle(1.0, HOME, bad_dad) == []  # DAD NS must go to the solicited-node group
    core = make(proxy_nd=False)
    core.handle(0.0, ACCESS, bu(1))
    assert core.handle(1.0, HOME, ns_from(peer)) == []


# --- data plane decisions -----------------------------------------------------------------------------------------


def test_tunnel_and_reverse_tunnel_checks():
    """base §6.2 (tunnel to the LCoA) and RFC 6275 §10.4.5 (outer source must be the bound LCoA)."""
    core = make()
    assert not core.check_reverse_tunnel(LCOA, RCOA)
    core.handle(0.0, ACCESS, bu(1))
    assert core.tunnel_for(RCOA) == LCOA and core.tunnel_for(RCOA2) is None
    assert core.check_reverse_tunnel(LCOA, RCOA)
    assert not core.check_reverse_tunnel(LCOA2, RCOA)
    assert not core.check_reverse_tunnel(LCOA, RCOA2)
    core.handle(1.0, ACCESS, bu(2, src=LCOA2))
    assert core.check_reverse_tunnel(LCOA2, RCOA) and not core.check_reverse_tunnel(LCOA, RCOA)


# --- MAP option origination ---------------------------------------------------------------------------------------


def test_map_option_defaults_per_edition():
    """base §5/§7.1.2: Dist 1, Pref 10; valid lifetime = min(preferred, valid) in RFC 4140, the valid lifetime
    in RFC 5380 §5; R set in rfc4140 (form the RCoA), clear in rfc5380 (no RFC 4877 allocation here)."""
    opt = make("rfc4140", prefix_valid_lifetime=3600, prefix_preferred_lifetime=1800).map_option(0.0)
    assert (opt.address, opt.dist, opt.pref, opt.r, opt.valid_lifetime) == (MAP, 1, 10, True, 1800)
    opt = make("rfc5380", prefix_valid_lifetime=3600, prefix_preferred_lifetime=1800).map_option(0.0)
    assert (opt.r, opt.valid_lifetime) == (False, 3600)
    assert make(r_flag=True, edition="rfc5380").map_option(0.0).r is True
    assert make().map_option(0.0).valid_lifetime == 0xFFFFFFFF
    assert make(prefix_valid_until=100.0).map_option(40.0).valid_lifetime == 60


def test_preference_changes_at_run_time():
    """base §7.1.2: a MAP can change its preference at any time; 0 means new MNs SHOULD NOT choose it (the MAP
    itself still accepts BUs)."""
    core = make()
    assert logs(core.set_preference(0), "preference_changed")
    assert core.map_option(0.0).pref == 0
    assert one_ba(core.handle(0.0, ACCESS, bu(1))).status == 0
    with pytest.raises(ValueError):
        core.set_preference(16)


def test_prefix_length_64_in_rfc4140_only():
    """RFC 4140 §5: the MAP's prefix length MUST be 64 (RFC 5380 dropped the sentence with RCoA allocation)."""
    with pytest.raises(ValueError):
        make("rfc4140", prefix_length=56)
    core = make("rfc5380", prefix_length=56)
    assert one_ba(core.handle(0.0, ACCESS, bu(1, rcoa=w.ip6("2001:db8:f:ab::1")))).status == 0


def test_rfc5380_edition_logs_rcoa_allocation_deviation():
    """RFC 5380 §6.2: RCoA allocation via RFC 4877 §9 is not implemented and says so at start; unknown editions are
    refused."""
    core = MapCore(MapConfig(address=MAP, home_iface=HOME, link_address=MAP_MAC), "rfc5380")
    assert any("RFC 4877" in entry.fields["clause"] for entry in logs(core.start(0.0), "deviation"))
    with pytest.raises(ValueError):
        MapCore(MapConfig(address=MAP, home_iface=HOME, link_address=MAP_MAC), "rfc9999")


# --- seams --------------------------------------------------------------------------------------------------------


def test_security_seam_open_and_protect():
    """§12 seam: open() sees each packet first (SecurityDrop -> discard; the SA pair it names travels with the
    BU), protect() each outgoing BA under that pair; with ``required`` an unprotected BU is discarded."""

    class Recording:
        def __init__(self, ok, required=False, pair=None):
            self.ok, self.required, self.pair, self.protected = ok, required, pair, []

        def open(self, packet):
            if not self.ok:
                raise SecurityDrop("refused")
            return packet, self.pair

        def protect(self, packet, pair):
            self.protected.append((packet, pair))
            return dataclasses.replace(packet, hop_limit=7)

        def snapshot(self):
            return {}

    cfg = MapConfig(address=MAP, home_iface=HOME, link_address=MAP_MAC, dad="off")
    deny = MapCore(cfg, security=Recording(False))
    assert not sends(deny.handle(0.0, ACCESS, bu(1)))
    assert not sends(MapCore(cfg, security=Recording(True, required=True)).handle(0.0, ACCESS, bu(1)))
    sec = Recording(True, required=True, pair="mn-a")
    allow = MapCore(cfg, security=sec)
    (send, _) = bas(allow.handle(0.0, ACCESS, bu(1)))[0]
    assert send.packet.hop_limit == 7 and [p for _, p in sec.protected] == ["mn-a"]
    assert allow.cache.get(RCOA).sa == "mn-a"
    # base §12.1: a BU for that RCoA under another SA pair is discarded, the binding stays
    sec.pair = "mn-b"
    assert not sends(allow.handle(1.0, ACCESS, bu(2, src=LCOA2)))
    assert allow.cache.get(RCOA).lcoa == LCOA and allow.cache.get(RCOA).seq == 1


def test_policy_seam():
    """One policy(bu, core) function decides acceptance."""
    seen = []

    def policy(request, core):
        seen.append((request.rcoa, request.coa, request.message.seq))
        return 128

    core = MapCore(MapConfig(address=MAP, home_iface=HOME, link_address=MAP_MAC, dad="off"), policy=policy)
    assert one_ba(core.handle(0.0, ACCESS, bu(9))).status == 128
    assert seen == [(RCOA, LCOA, 9)]


# --- snapshot and scale -------------------------------------------------------------------------------------------


def test_snapshot_is_json():
    """Control command state: bindings, tombstones, counters; JSON-serialisable without NaN/Infinity."""
    core = make(dad="on")
    core.handle(0.0, ACCESS, bu(1))
    core.handle(0.0, ACCESS, bu(1, rcoa=RCOA2))
    core.tick(1.0)
    core.handle(2.0, ACCESS, bu(2, rcoa=RCOA2, lifetime=0))
    snap = core.snapshot()
    text = json.dumps(snap, allow_nan=False)
    assert json.loads(text)["bindings"][0]["rcoa"] == "2001:db8:f::abcd"
    assert snap["tombstones"][0]["rcoa"] == "2001:db8:f::beef"
    assert snap["counters"]["ba_sent"] == {"0": 3}


def test_many_bindings_in_virtual_time():
    """Scale: 5,000 bindings with staggered lifetimes expire in order through next_deadline()/tick()."""
    core = make(max_bindings=10_000)
    base = int.from_bytes(w.ip6("2001:db8:f::1:0"), "big")
    for i in range(5000):
        rcoa = (base + i).to_bytes(16, "big")
        core.handle(0.0, ACCESS, bu(1, lifetime=1 + i % 50, rcoa=rcoa))
    assert len(core.cache) == 5000
    removed = 0
    while (deadline := core.next_deadline()) is not None:
        removed += len(of(core.tick(deadline), BindingRemoved))
    assert removed == 5000 and len(core.cache) == 0


# ------------------------------------------------------------------------ the MAP daemon's advertiser (§7.1.2)

def _advertiser(edition: str = "rfc4140", relay_from: tuple[str, ...] = (ACCESS,)):
    from reference_impl.daemon.advertiser import MapWithAdvertiser, advertiser
    core = make(edition)
    spec = [{"iface": HOME, "max_interval": 1.5, "min_interval": 0.5, "min_delay_between_ras": 0.1}]
    return MapWithAdvertiser(core, advertiser(core, spec, {HOME: MAP_MAC, ACCESS: PEER_MAC}, 0.0, edition,
                                              relay_from))


def _map_options_sent(actions, iface: str) -> list[w.MapOption]:
    ras = [s.packet.payload for s in sends(actions)
           if s.iface == iface and isinstance(s.packet.payload, w.RouterAdvertisement)]
    return list(ras[-1].map_options) if ras else []


@pytest.mark.parametrize("edition, relayed", [("rfc4140", True), ("rfc5380", False)])
def test_map_relays_other_maps_options_with_its_own(edition, relayed):
    """§7.1.2 ¶2 / §7.1.1 ¶2 (rfc4140): an option received on a relay_from interface goes out Dist + 1 in the
    MAP's RAs together with its own option; RFC 5380 has no dynamic discovery, so nothing is relayed."""
    other = w.ip6("2001:db8:e::1")
    driven = _advertiser(edition)
    driven.start(0.0)
    ra = w.Packet(w.ip6("fe80::99"), w.ALL_NODES,
                  w.RouterAdvertisement(router_lifetime=0, options=(w.MapOption(other, 2, 7, True, 600),)),
                  hop_limit=255)
    driven.handle(0.1, ACCESS, ra)
    actions = driven.handle(0.2, HOME, w.Packet(w.ip6("fe80::5"), w.ALL_ROUTERS, w.RouterSolicitation()))
    while not _map_options_sent(actions, HOME):
        actions += driven.tick(driven.next_deadline())
    options = {o.address: o for o in _map_options_sent(actions, HOME)}
    assert options[MAP].dist == 1
    assert (other in options) is relayed
    if relayed:
        assert (options[other].dist, options[other].pref) == (3, 7)
    assert not _map_options_sent(actions, ACCESS)  # no RAs on the interface it learns from
