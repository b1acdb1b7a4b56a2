"""The reference mobile node returning home (RFC 6275 §11.5.5): home link detection, the de-registration Binding
Update (H, A, Lifetime 0, care-of address = home address, from the home address), its retransmission and BA, the
unsolicited Neighbor Advertisements, Neighbor Solicitations for the home address, leaving home again, and the data
plane at home."""

from __future__ import annotations

import random

from reference_impl import wire as w
from reference_impl.actions import AddressRemoved, Send
from reference_impl.mn import MnConfig, MnCore, dataplane
from reference_impl.wire.addresses import solicited_node
from mn_actions import bus, layers, logs, sends

INF = 0xFFFFFFFF
IF = "wlan0"
MN_MAC = w.mac("02:00:00:00:00:aa")
MN_LL = w.ip6("fe80::ff:fe00:aa")
AR1_LL, HOME_LL, AR2_LL = w.ip6("fe80::a1"), w.ip6("fe80::71"), w.ip6("fe80::a2")
AR_MAC, HOME_MAC = w.mac("02:00:00:00:0a:01"), w.mac("02:00:00:00:07:01")
A1, A2 = w.ip6("2001:db8:a1::"), w.ip6("2001:db8:a2::")
LCOA1, LCOA2 = w.ip6("2001:db8:a1::ff:fe00:aa"), w.ip6("2001:db8:a2::ff:fe00:aa")
MAP1 = w.ip6("2001:db8:f1::1")
RCOA1 = w.ip6("2001:db8:f1::ff:fe00:aa")
HOME_PREFIX = w.ip6("2001:db8:7::")
HA = w.ip6("2001:db8:7::1")
HOME = w.ip6("2001:db8:7::aa")
CN = w.ip6("2001:db8:c::1")
NEIGHBOUR, NEIGHBOUR_MAC = w.ip6("2001:db8:7::55"), w.mac("02:00:00:00:07:55")


def make(**kw) -> MnCore:
    cfg = MnConfig(**({"iface": IF, "link_address": MN_MAC, "home_address": HOME, "home_agent": HA,
                       "max_rtr_solicitation_delay": 0.0} | kw))
    core = MnCore(cfg, "rfc4140", rng=random.Random(5))
    core.start(0.0)
    return core


def ra(*maps: w.MapOption, src: bytes = AR1_LL, mac: bytes = AR_MAC, prefix: bytes = A1,
       flags: int = w.PI_L | w.PI_A) -> w.Packet:
    options = (w.SourceLinkLayerAddress(mac), w.PrefixInformation(prefix, 64, flags=flags), *maps)
    return w.Packet(src, w.ALL_NODES, w.RouterAdvertisement(router_lifetime=1800, options=options), hop_limit=255)


def home_ra() -> w.Packet:
    """The home link's router: the home subnet prefix, no MAP option."""
    return ra(src=HOME_LL, mac=HOME_MAC, prefix=HOME_PREFIX)


def nas(actions) -> list[Send]:
    return [s for s in sends(actions) if isinstance(s.packet.payload, w.NeighborAdvertisement)]


def ack(send: Send, status: int = 0, lifetime: int | None = None) -> w.Packet:
    chain = layers(send.packet)
    inner = chain[-1]
    bu = inner.payload
    ba = w.BindingAcknowledgement(status, bu.seq, bu.lifetime if lifetime is None else lifetime, 0)
    packet = w.Packet(inner.dst, inner.src, ba, rh2_address=inner.home_address)
    if len(chain) > 1:
        packet = w.Packet(chain[0].dst, chain[0].src, packet)
    return packet


def home_ack(send: Send, status: int = 0, rh2: bool = False) -> w.Packet:
    """The HA's BA to the at-home de-registration: to the home address, no type 2 routing header (or one holding
    the home address, as the conformance tester sends it)."""
    bu = send.packet.payload
    return w.Packet(HA, HOME, w.BindingAcknowledgement(status, bu.seq, 0, 0), rh2_address=HOME if rh2 else None)


def registered(core: MnCore, now: float = 0.0) -> list:
    """RA with MAP1 -> local BU acked -> HA BU acked."""
    (local,) = bus(core.handle(now, IF, ra(w.MapOption(MAP1, 1, 10, True, INF))), "map")
    (home,) = bus(core.handle(now + 0.1, IF, ack(local)), "ha")
    return core.handle(now + 0.2, IF, ack(home))


def go_home(core: MnCore, now: float = 10.0) -> list:
    core.link_down(now, IF)
    core.link_up(now, IF)
    return core.handle(now + 0.1, IF, home_ra())


# --- detection ----------------------------------------------------------------------------------------------------


def test_home_prefix_on_link_means_at_home_without_care_of_address_or_local_bu():
    core = make()
    registered(core)
    assert core.lcoa == LCOA1 and core.primary == MAP1 and not core.at_home
    actions = go_home(core)
    assert core.at_home and core.mode == "home" and logs(actions, "returned_home")
    assert core.lcoa is None and core.primary is None
    assert not [e for e in core.bul.values() if e.kind == "map"]
    assert not bus(actions, "map") and not bus(actions, "cn")
    removed = {(a.address, a.role) for a in actions if isinstance(a, AddressRemoved)}
    assert removed == {(LCOA1, "lcoa"), (RCOA1, "rcoa")}  # the local binding is released, not signalled
    assert not any(isinstance(a, w.Packet) for a in actions)
    paths = core.paths()
    assert paths.at_home and paths.ha_coa is None and paths.tunnels == () and paths.lcoa is None
    # the next RA of the home router changes nothing: no second de-registration, still no care-of address
    again = core.handle(10.5, IF, home_ra())
    assert not bus(again) and core.lcoa is None and core.at_home


def test_home_prefix_not_on_link_is_not_home():
    """A Prefix Information option for the home prefix without the L flag does not make it on-link."""
    core = make()
    registered(core)
    core.link_down(10.0, IF)
    core.link_up(10.0, IF)
    actions = core.handle(10.1, IF, ra(src=HOME_LL, mac=HOME_MAC, prefix=HOME_PREFIX, flags=w.PI_A))
    assert not core.at_home and not logs(actions, "returned_home")


# --- the de-registration ----------------------------------------------------------------------------------------


def test_deregistration_bu_fields():
    core = make()
    registered(core)
    last_seq = core.bul[("ha", HA)].seq
    (dereg,) = bus(go_home(core), "ha")
    p = dereg.packet
    assert not isinstance(p.payload, w.Packet)  # not tunnelled
    assert (p.src, p.dst) == (HOME, HA)  # "MUST use its home address as the source address"
    assert p.home_address is None  # no Home Address option: the source is the home address
    bu = p.payload
    assert bu.h and bu.a and not bu.m
    assert bu.lifetime == 0  # RFC 6275 §6.1.7
    assert bu.alternate_coa == HOME  # care-of address = home address
    assert bu.seq == (last_seq + 1) & 0xFFFF
    assert dereg.link_dst == HOME_MAC  # the home link's router, learnt from its RA's SLLA option
    assert w.decode_packet(w.encode_packet(p)) == p


def test_deregistration_without_alternate_coa_option_when_configured_off():
    core = make(ha_alternate_coa=False)
    registered(core)
    (dereg,) = bus(go_home(core), "ha")
    assert dereg.packet.src == HOME and dereg.packet.payload.alternate_coa is None


def test_deregistration_retransmitted_with_backoff_until_ba():
    core = make(initial_bindack_timeout=1.0, max_bindack_timeout=4.0)
    registered(core)
    (first,) = bus(go_home(core, 10.0), "ha")
    seqs, times = [first.packet.payload.seq], []
    now = 10.1
    while len(seqs) < 5:
        nxt = core.next_deadline()
        assert nxt is not None
        now = nxt
        for s in bus(core.tick(now), "ha"):
            assert s.packet.src == HOME and s.packet.payload.lifetime == 0
            seqs.append(s.packet.payload.seq)
            times.append(round(now - 10.1, 3))
    assert times == [1.0, 3.0, 7.0, 11.0]  # 1, 2, 4, then MAX_BINDACK_TIMEOUT (RFC 6275 §11.8)
    assert len(set(seqs)) == 5  # a new sequence number each time
    actions = core.handle(now + 0.1, IF, w.Packet(HA, HOME, w.BindingAcknowledgement(0, seqs[-1], 0, 0)))
    assert ("ha", HA) not in core.bul and nas(actions)
    assert not bus(core.tick(now + 100.0))


def test_ba_removes_entry_and_sends_unsolicited_neighbor_advertisements():
    core = make()
    registered(core)
    (dereg,) = bus(go_home(core), "ha")
    actions = core.handle(11.0, IF, home_ack(dereg))
    assert ("ha", HA) not in core.bul
    assert logs(actions, "home_address_reclaimed")
    sent = nas(actions)
    assert {s.packet.payload.target for s in sent} == {HOME, MN_LL}  # home address and link-local address
    for s in sent:
        na = s.packet.payload
        assert s.packet.dst == w.ALL_NODES and s.link_dst == w.multicast_mac(w.ALL_NODES)
        assert s.packet.hop_limit == 255
        assert not na.s and na.o and not na.r
        assert w.TargetLinkLayerAddress(MN_MAC) in na.options
    # nothing more is sent: no retransmission, no refresh
    assert not sends(core.tick(100.0))


def test_ba_with_routing_header_for_home_address_accepted_other_ignored():
    core = make()
    registered(core)
    (dereg,) = bus(go_home(core), "ha")
    wrong = w.Packet(HA, HOME, w.BindingAcknowledgement(0, dereg.packet.payload.seq, 0, 0), rh2_address=RCOA1)
    assert not nas(core.handle(11.0, IF, wrong)) and ("ha", HA) in core.bul
    stale = w.Packet(HA, HOME, w.BindingAcknowledgement(0, (dereg.packet.payload.seq - 1) & 0xFFFF, 0, 0))
    assert not nas(core.handle(11.0, IF, stale)) and ("ha", HA) in core.bul
    assert nas(core.handle(11.1, IF, home_ack(dereg, rh2=True))) and ("ha", HA) not in core.bul


def test_status_133_means_nothing_to_delete():
    core = make()
    registered(core)
    (dereg,) = bus(go_home(core), "ha")
    actions = core.handle(11.0, IF, home_ack(dereg, status=133))
    assert ("ha", HA) not in core.bul and nas(actions)


def test_no_deregistration_without_a_home_registration():
    """Starting at home: nothing to delete, no BU."""
    core = make()
    actions = core.handle(0.1, IF, home_ra())
    assert core.at_home and not bus(actions) and logs(actions, "home_address_usable")


def test_deregistration_stops_when_the_binding_has_run_out():
    core = make(ha_lifetime=40, map_lifetime=40)
    registered(core)  # home binding until 0.1 + 40
    go_home(core, 10.0)
    sent_late = []
    now = 10.1
    while (nxt := core.next_deadline()) is not None and nxt < 200:
        now = nxt
        actions = core.tick(now)
        sent_late += [(now, s) for s in bus(actions, "ha")]
        if logs(actions, "home_deregistration_moot"):
            assert nas(actions)
            break
    else:
        raise AssertionError("the de-registration never ended")
    assert all(t < 40.1 for t, _ in sent_late) and ("ha", HA) not in core.bul


# --- Neighbor Discovery for the home address ----------------------------------------------------------------------


def test_ns_for_home_address_answered_unicast_at_home_only():
    core = make()
    registered(core)
    ns = w.Packet(NEIGHBOUR, solicited_node(HOME),
                  w.NeighborSolicitation(HOME, (w.SourceLinkLayerAddress(NEIGHBOUR_MAC),)), hop_limit=255)
    assert not nas(core.handle(5.0, IF, ns))  # away from home the HA defends it
    go_home(core)
    (reply,) = nas(core.handle(11.0, IF, ns))
    na = reply.packet.payload
    assert isinstance(na, w.NeighborAdvertisement) and na.target == HOME and na.s and na.o
    assert reply.packet.dst == NEIGHBOUR and reply.link_dst == NEIGHBOUR_MAC
    dad = w.Packet(w.UNSPECIFIED, solicited_node(HOME), w.NeighborSolicitation(HOME), hop_limit=255)
    (defend,) = nas(core.handle(11.1, IF, dad))
    assert defend.packet.dst == w.ALL_NODES and not defend.packet.payload.s
    bad = w.Packet(NEIGHBOUR, solicited_node(HOME), w.NeighborSolicitation(HOME), hop_limit=64)
    assert not nas(core.handle(11.2, IF, bad))


# --- correspondents -------------------------------------------------------------------------------------------------


def test_correspondent_return_routability_stops_at_home():
    core = make(correspondents=(CN,))
    actions = registered(core)
    assert [s for s in sends(actions) if not isinstance(layers(s.packet)[-1].payload, w.BindingUpdate)]  # HoTI/CoTI
    go_home(core)
    assert core.cns[CN].state == "idle"
    for t in (12.0, 20.0, 40.0, 80.0):
        assert not [s for s in sends(core.tick(t)) if s.packet.dst != HA]  # no HoTI/CoTI, no BU to the CN
    assert not sends(core.add_correspondent(81.0, w.ip6("2001:db8:c::2")))


# --- moving away again ----------------------------------------------------------------------------------------------


def test_moving_away_after_home_is_a_fresh_move():
    core = make()
    registered(core)
    (dereg,) = bus(go_home(core), "ha")
    core.handle(11.0, IF, home_ack(dereg))
    core.link_down(20.0, IF)
    core.link_up(20.0, IF)
    actions = core.handle(20.1, IF, ra(w.MapOption(MAP1, 1, 10, True, INF), src=AR2_LL, prefix=A2))
    assert not core.at_home and logs(actions, "left_home") and core.lcoa == LCOA2
    (local,) = bus(actions, "map")
    assert local.packet.src == LCOA2 and local.packet.home_address == RCOA1
    (home,) = bus(core.handle(20.2, IF, ack(local)), "ha")
    inner = layers(home.packet)[-1]
    assert (inner.src, inner.dst, inner.home_address) == (RCOA1, HA, HOME) and inner.payload.lifetime > 0
    assert inner.payload.seq == (dereg.packet.payload.seq + 1) & 0xFFFF  # continues after the last number sent
    core.handle(20.3, IF, ack(home))
    assert core.paths().ha_coa == RCOA1 and not core.paths().at_home


def test_moving_away_before_the_ba_abandons_the_deregistration():
    core = make()
    registered(core)
    go_home(core)
    core.link_down(11.0, IF)
    core.link_up(11.0, IF)
    actions = core.handle(11.1, IF, ra(w.MapOption(MAP1, 1, 10, True, INF), src=AR2_LL, prefix=A2))
    assert logs(actions, "home_deregistration_abandoned")
    (local,) = bus(actions, "map")
    (home,) = bus(core.handle(11.2, IF, ack(local)), "ha")
    assert layers(home.packet)[-1].payload.lifetime > 0
    core.handle(11.3, IF, ack(home))
    # no de-registration is retransmitted later
    for t in (13.0, 20.0, 50.0):
        assert all(s.packet.payload.lifetime > 0 for s in bus(core.tick(t), "ha") if not layers(s.packet)[1:])


# --- data plane at home -----------------------------------------------------------------------------------------


def _echo(src: bytes, dst: bytes) -> bytes:
    return w.encode_packet(w.Packet(src, dst, w.EchoRequest(1, 1, b"ping"), hop_limit=64))


def test_dataplane_at_home_untunnelled_and_signalling_to_core():
    core = make()
    registered(core)
    away = core.paths()
    out = dataplane.outgoing(away, _echo(HOME, CN))
    assert out is not None and out[6] == 41  # reverse tunnelled away from home
    (dereg,) = bus(go_home(core), "ha")
    paths = core.paths()
    packet = _echo(HOME, CN)
    assert dataplane.outgoing(paths, packet) == packet  # untunnelled at home
    assert dataplane.incoming(paths, _echo(CN, HOME)) == ("pass", _echo(CN, HOME))  # the kernel's
    ba = w.encode_packet(home_ack(dereg, rh2=True))
    assert dataplane.incoming(paths, ba)[0] == "signal"
    assert dataplane.incoming(paths, w.encode_packet(home_ack(dereg)))[0] == "signal"
    ns = w.encode_packet(w.Packet(NEIGHBOUR, solicited_node(HOME),
                                  w.NeighborSolicitation(HOME, (w.SourceLinkLayerAddress(NEIGHBOUR_MAC),)),
                                  hop_limit=255))
    assert dataplane.incoming(paths, ns)[0] == "signal"
    assert dataplane.incoming(away, ns)[0] == "pass"
    other = w.encode_packet(w.Packet(NEIGHBOUR, solicited_node(NEIGHBOUR), w.NeighborSolicitation(NEIGHBOUR),
                                     hop_limit=255))
    assert dataplane.incoming(paths, other)[0] == "pass"
