"""Mobile node core (sans-I/O), its MAP selection and data plane, in virtual time: one test per clause / transition
(base document §3.1, §4.1, §6, §6.1, §6.1.1, §6.5, §7.2, §8, §9.1, §10, §12.2; RFC 5380 §5, §7.1, §11; RFC 6275
§5.2, §11.5–§11.8).  The last tests wire MN ↔ AR ↔ MAP ↔ HA ↔ CN cores through a small in-memory network that
carries every packet as bytes through the codec."""

from __future__ import annotations

import ast
import dataclasses
import heapq
import itertools
import json
import random
import struct
import time
from pathlib import Path

import pytest

from reference_impl import wire as w
from reference_impl.actions import AddressAdded, AddressRemoved, Log, MnPathsChanged, Send
from reference_impl.ar import ArConfig, ArCore, ArInterface, FailureDetection
from reference_impl.cn import CnConfig, CnCore, rr
from reference_impl.ha import HaConfig, HaCore
from reference_impl.map import MapConfig, MapCore
from reference_impl.mn import MnConfig, MnCore, Paths, dataplane, select_maps
from reference_impl.wire import fastpath
from mn_actions import bus, layers, logs, sends

INF = 0xFFFFFFFF
IF = "wlan0"
MN_MAC = w.mac("02:00:00:00:00:aa")
IID = bytes.fromhex("000000fffe0000aa")  # modified EUI-64 of MN_MAC
AR1_LL, AR2_LL, AR3_LL = w.ip6("fe80::a1"), w.ip6("fe80::a2"), w.ip6("fe80::a3")
AR_MAC = w.mac("02:00:00:00:0a:01")
A1, A2, A3 = w.ip6("2001:db8:a1::"), w.ip6("2001:db8:a2::"), w.ip6("2001:db8:a3::")
LCOA1, LCOA2, LCOA3 = w.ip6("2001:db8:a1::ff:fe00:aa"), w.ip6("2001:db8:a2::ff:fe00:aa"), \
    w.ip6("2001:db8:a3::ff:fe00:aa")
MAP1, MAP2, MAP3 = w.ip6("2001:db8:f1::1"), w.ip6("2001:db8:f2::1"), w.ip6("2001:db8:f3::1")
RCOA1, RCOA2, RCOA3 = w.ip6("2001:db8:f1::ff:fe00:aa"), w.ip6("2001:db8:f2::ff:fe00:aa"), \
    w.ip6("2001:db8:f3::ff:fe00:aa")
HA = w.ip6("2001:db8:7::1")
HOME = w.ip6("2001:db8:7::aa")
CN = w.ip6("2001:db8:c::1")


def make(edition: str = "rfc4140", **kw) -> MnCore:
    cfg = MnConfig(**({"iface": IF, "link_address": MN_MAC, "home_address": HOME, "home_agent": HA,
                       "max_rtr_solicitation_delay": 0.0} | kw))
    core = MnCore(cfg, edition, rng=random.Random(5))
    core.start(0.0)
    return core


def mopt(address: bytes, dist: int = 1, pref: int = 10, valid: int = INF, r: bool = True) -> w.MapOption:
    return w.MapOption(address, dist, pref, r, valid)


def ra(*maps: w.MapOption, src: bytes = AR1_LL, prefix: bytes = A1, valid: int = 2592000, hop_limit: int = 255,
       lifetime: int = 1800, interval_ms: int | None = None, mtu: int | None = None) -> w.Packet:
    options: list = [w.SourceLinkLayerAddress(AR_MAC)]
    if mtu is not None:
        options.append(w.Mtu(mtu))
    options.append(w.PrefixInformation(prefix, 64, valid_lifetime=valid, preferred_lifetime=min(valid, 604800)))
    if interval_ms is not None:
        options.append(w.AdvertisementInterval(interval_ms))
    options += maps
    return w.Packet(src, w.ALL_NODES, w.RouterAdvertisement(router_lifetime=lifetime, options=tuple(options)),
                    hop_limit=hop_limit)


def of(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def ack(send: Send, status: int = 0, lifetime: int | None = None, options: tuple = ()) -> w.Packet:
    """The BA a correct peer returns for the BU in ``send``: to the BU's source with RH2 = its Home Address option,
    through the MAP tunnel when the BU came through it."""
    chain = layers(send.packet)
    inner = chain[-1]
    bu = inner.payload
    ba = w.BindingAcknowledgement(status, bu.seq, bu.lifetime if lifetime is None else lifetime, 0, options)
    packet = w.Packet(inner.dst, inner.src, ba, rh2_address=inner.home_address)
    if len(chain) > 1:  # the peer answers the RCoA; the MAP tunnels it to the LCoA
        packet = w.Packet(chain[0].dst, chain[0].src, packet)
    return packet


def registered(core: MnCore, now: float = 0.0, *maps: w.MapOption) -> list:
    """RA with MAP1 (or ``maps``) -> local BU acked -> HA BU acked; returns the actions after the HA's BA."""
    actions = core.handle(now, IF, ra(*(maps or (mopt(MAP1),))))
    (local,) = bus(actions, "map")
    (home,) = bus(core.handle(now + 0.1, IF, ack(local)), "ha")
    return core.handle(now + 0.2, IF, ack(home))


# --- MAP selection (pure) -------------------------------------------------------------------------------------------


def test_selection_default_furthest_dist_first_pref_breaks_ties():
    """base §9.1 steps 1–5 (INC-1: the §3.1 "section 10" pointer means §9.1): MAPs by descending Dist, the first with
    non-zero Pref and valid lifetime; RFC 5380 §5: Pref is the tie-breaker for equal Dist."""
    near, far, far_better = mopt(MAP1, dist=1, pref=15), mopt(MAP2, dist=3, pref=5), mopt(MAP3, dist=3, pref=9)
    assert select_maps([near, far, far_better]) == [far_better]
    assert select_maps([near, far, far_better], count=3) == [far_better, far, near]
    assert select_maps([near, mopt(MAP2, dist=3, pref=0), mopt(MAP3, dist=3, valid=0)]) == [near]
    assert select_maps([mopt(MAP2, dist=0)]) == []  # Dist 0 MUST NOT be used (§5)


def test_selection_highest_preference_rule():
    """base §7.2 (RFC 5380 §7.1): "SHOULD register with the MAP having the highest preference value" — the
    configurable alternative (INC-2)."""
    near, far = mopt(MAP1, dist=1, pref=15), mopt(MAP2, dist=3, pref=5)
    assert select_maps([near, far], method="pref") == [near]
    assert select_maps([near, far], method="dist") == [far]


def test_selection_keeps_existing_binding_with_pref_zero_but_never_lifetime_zero():
    """base §7.2 / INC-3: a Pref-0 MAP SHOULD NOT be used for new bindings, but an existing binding may be refreshed;
    a valid lifetime of 0 MUST NOT be selected at all."""
    current = mopt(MAP1, pref=0)
    other = mopt(MAP2, dist=2)
    assert select_maps([current, other], current=MAP1) == [current]
    assert select_maps([current, other]) == [other]
    assert select_maps([mopt(MAP1, valid=0), other], current=MAP1) == [other]
    assert select_maps([current]) == []


# --- router discovery and addresses ---------------------------------------------------------------------------------


def test_router_solicitations_at_start():
    """RFC 4861 §6.3.7: up to MAX_RTR_SOLICITATIONS RSs RTR_SOLICITATION_INTERVAL apart, from the link-local address
    with SLLA, to all-routers, hop limit 255; they stop when an RA arrives."""
    core = MnCore(MnConfig(IF, MN_MAC, HOME, HA), rng=random.Random(1))
    core.start(0.0)
    first = core.next_deadline()
    assert 0.0 <= first <= 1.0  # MAX_RTR_SOLICITATION_DELAY
    (rs,) = sends(core.tick(first))
    p = rs.packet
    assert (p.src, p.dst, p.hop_limit) == (w.ip6("fe80::ff:fe00:aa"), w.ALL_ROUTERS, 255)
    assert p.payload == w.RouterSolicitation(options=(w.SourceLinkLayerAddress(MN_MAC),))
    assert rs.link_dst == w.multicast_mac(w.ALL_ROUTERS)
    assert core.next_deadline() == first + 4.0
    assert len(sends(core.tick(first + 4.0))) == 1
    core.handle(first + 5.0, IF, ra(mopt(MAP1)))
    assert not [s for s in sends(core.tick(first + 8.0)) if isinstance(s.packet.payload, w.RouterSolicitation)]


def test_router_advertisement_validation():
    """RFC 4861 §6.1.2 (base §7.2 reads RAs): RAs with hop limit != 255 or a non-link-local source are ignored."""
    core = make()
    assert logs(core.handle(0.0, IF, ra(mopt(MAP1), hop_limit=64)), "ra_ignored")
    assert logs(core.handle(0.0, IF, ra(mopt(MAP1), src=w.ip6("2001:db8:a1::1"))), "ra_ignored")
    assert core.lcoa is None and not core.maps


def test_ra_forms_lcoa_and_rcoa_and_sends_local_bu():
    """base §6, §6.1, §4.1, §5 (R=1): LCoA = on-link prefix + EUI-64 identifier, RCoA = MAP prefix + the same
    identifier; the local BU comes from the LCoA to the MAP with the RCoA in the Home Address option, A and M set,
    no Alternate Care-of Address option; the MAP option is stored (§7.2 MUST)."""
    core = make()
    actions = core.handle(0.0, IF, ra(mopt(MAP1)))
    added = {(a.address, a.role) for a in of(actions, AddressAdded)}
    assert added == {(LCOA1, "lcoa"), (RCOA1, "rcoa")}
    (send,) = bus(actions)
    p = send.packet
    assert (p.src, p.dst, p.home_address, p.rh2_address) == (LCOA1, MAP1, RCOA1, None)
    bu = p.payload
    assert bu.a and bu.m and not bu.h and bu.alternate_coa is None and bu.options == ()
    assert send.link_dst == AR_MAC
    assert w.decode_packet(w.encode_packet(p)) == p
    snap = core.snapshot()
    assert snap["maps"][0]["address"] == "2001:db8:f1::1" and snap["primary_map"] == "2001:db8:f1::1"


def test_local_bu_lifetime_bounded_by_map_option_and_lcoa():
    """base §6.1 / RFC 6275 §11.7.1: the lifetime does not exceed the MAP option's valid lifetime (the RCoA's
    validity) nor the LCoA's valid lifetime."""
    core = make(map_lifetime=1000)
    assert bus(core.handle(0.0, IF, ra(mopt(MAP1, valid=300), valid=3000)))[0].packet.payload.lifetime == 75
    core = make(map_lifetime=1000)
    assert bus(core.handle(0.0, IF, ra(mopt(MAP1, valid=3000), valid=120)))[0].packet.payload.lifetime == 30
    core = make(map_lifetime=200)
    assert bus(core.handle(0.0, IF, ra(mopt(MAP1))))[0].packet.payload.lifetime == 50


def test_local_bu_retransmitted_with_exponential_backoff():
    """RFC 6275 §11.8, §13: first registration timeout InitialBindackTimeoutFirstReg (1.5 s), doubled up to
    MAX_BINDACK_TIMEOUT (32 s), then at that rate; every retransmission with a new sequence number."""
    core = make()
    (first,) = bus(core.handle(0.0, IF, ra(mopt(MAP1))))
    times, seqs = [], [first.packet.payload.seq]
    while len(times) < 7:
        deadline = core.next_deadline()
        found = bus(core.tick(deadline))
        if found:
            times.append(deadline)
            seqs.append(found[0].packet.payload.seq)
    assert times == [1.5, 4.5, 10.5, 22.5, 46.5, 78.5, 110.5]
    assert all(b == (a + 1) & 0xFFFF for a, b in zip(seqs, seqs[1:]))


def test_ba_without_routing_header_for_rcoa_silently_ignored():
    """base §6.1: the MN MUST silently ignore BAs that do not contain a type 2 routing header holding its RCoA."""
    core = make()
    (send,) = bus(core.handle(0.0, IF, ra(mopt(MAP1))))
    good = ack(send)
    for bad in (dataclasses.replace(good, rh2_address=None), dataclasses.replace(good, rh2_address=RCOA2)):
        actions = core.handle(0.1, IF, bad)
        assert logs(actions, "ba_ignored") and not bus(actions, "ha")
    assert bus(core.handle(0.2, IF, good), "ha")


def test_home_registration_after_map_ba_with_rcoa_tunnelled():
    """base §6.1: after the MAP's BA (SHOULD wait) the MN registers the RCoA with its HA: Home Address option = home
    address, the RCoA as care-of address in the source field, tunnelled LCoA -> MAP; H and A set (RFC 6275
    §11.7.1); the lifetime MUST NOT be larger than the MAP binding's."""
    core = make(ha_lifetime=1000, map_lifetime=400)
    (local,) = bus(core.handle(0.0, IF, ra(mopt(MAP1))))
    assert not bus(core.tick(1.0), "ha")
    actions = core.handle(2.0, IF, ack(local, lifetime=50))  # MAP grants 200 s, counted from 0.0
    (home,) = bus(actions, "ha")
    outer, inner = layers(home.packet)
    assert (outer.src, outer.dst) == (LCOA1, MAP1)
    assert (inner.src, inner.dst, inner.home_address) == (RCOA1, HA, HOME)
    bu = inner.payload
    assert bu.h and bu.a and not bu.m and bu.alternate_coa == RCOA1
    assert bu.lifetime * 4 <= 198
    assert w.decode_packet(w.encode_packet(home.packet)) == home.packet


def test_sequence_number_out_of_window_resent_after_last_accepted():
    """RFC 6275 §11.7.1/§11.7.3: a BA 135 gives the last accepted number; the next BU uses the following one."""
    core = make()
    (send,) = bus(core.handle(0.0, IF, ra(mopt(MAP1))))
    ba = ack(send, status=135)
    ba = dataclasses.replace(ba, payload=dataclasses.replace(ba.payload, seq=5000))
    (again,) = bus(core.handle(0.1, IF, ba))
    assert again.packet.payload.seq == 5001


def test_bindings_refreshed_before_expiry():
    """RFC 6275 §11.7.1/§11.7.3: a new BU "well before" expiry — at refresh_ratio of the granted lifetime, or at the
    Binding Refresh Advice interval when shorter (from a MAP/HA only)."""
    core = make(refresh_ratio=0.5)
    (send,) = bus(core.handle(0.0, IF, ra(mopt(MAP1))))
    core.handle(0.5, IF, ack(send, lifetime=25, options=(w.BindingRefreshAdvice(5),)))  # 100 s, advice 20 s
    refresh = [t for t, a in run(core, 60.0) if isinstance(a, Send) and isinstance(a.packet.payload, w.BindingUpdate)
               and a.packet.payload.m]
    assert refresh and refresh[0] == 20.0


def run(core: MnCore, end: float) -> list[tuple[float, object]]:
    """Tick at every deadline up to ``end``; (time, action) pairs."""
    out = []
    while (deadline := core.next_deadline()) is not None and deadline <= end:
        out += [(deadline, a) for a in core.tick(deadline)]
    return out


# --- movement -------------------------------------------------------------------------------------------------------


def test_intra_domain_move_sends_only_a_local_bu():
    """base §6.1: "When the mobile node moves within the same MAP domain, it should only register its new LCoA with
    its MAP. In this case, the RCoA remains unchanged." (link-layer trigger, RFC 6275 §11.5.1)"""
    core = make()
    registered(core)
    core.link_down(5.0, IF)
    core.link_up(5.5, IF)
    actions = core.handle(6.0, IF, ra(mopt(MAP1), src=AR2_LL, prefix=A2))
    (local,) = bus(actions)
    assert (local.packet.src, local.packet.home_address) == (LCOA2, RCOA1)
    assert not [a for a in of(actions, AddressAdded) if a.role == "rcoa"]
    assert [(a.address, a.reason) for a in of(actions, AddressRemoved)] == [(LCOA1, "moved")]
    assert not bus(core.handle(6.1, IF, ack(local)), "ha")
    assert core.counters["handovers"] == {"intra": 1, "inter": 0}


def test_inter_domain_move_new_rcoa_previous_map_and_home_agent():
    """base §3.1, §6.1, §8: a new MAP -> new RCoA and a local BU to it, a BU to the previous MAP re-pointing the old
    RCoA to the new LCoA (§6.1 SHOULD), and after the new MAP's BA a home registration with the new RCoA."""
    core = make()
    registered(core)
    core.link_up(5.0, IF)
    actions = core.handle(6.0, IF, ra(mopt(MAP2), src=AR3_LL, prefix=A3))
    previous, new = bus(actions)
    assert (previous.packet.src, previous.packet.dst, previous.packet.home_address) == (LCOA3, MAP1, RCOA1)
    assert (new.packet.src, new.packet.dst, new.packet.home_address) == (LCOA3, MAP2, RCOA2)
    assert any(a.address == RCOA2 and a.role == "rcoa" for a in of(actions, AddressAdded))
    assert not bus(core.handle(6.1, IF, ack(previous)), "ha")  # previous MAP: no refresh, no HA update
    (home,) = bus(core.handle(6.2, IF, ack(new)), "ha")
    assert layers(home.packet)[1].src == RCOA2 and layers(home.packet)[0].dst == MAP2
    assert core.counters["handovers"]["inter"] == 1
    assert (RCOA1, MAP1) in core.paths().tunnels  # old RCoA still forwarded until that binding ends


def test_map_failure_switches_to_another_map():
    """base §10, §7.2: a MAP option with valid lifetime 0 means MAP failure: that MAP MUST NOT be selected, the MN
    MUST choose another MAP and create new bindings; existing bindings with the failed MAP are assumed lost (no BU
    is sent to it)."""
    core = make()
    registered(core, 0.0, mopt(MAP1, dist=2), mopt(MAP2, dist=1))
    actions = core.handle(5.0, IF, ra(mopt(MAP1, dist=2, valid=0), mopt(MAP2, dist=1)))
    assert logs(actions, "map_failed")
    (local,) = bus(actions)
    assert (local.packet.dst, local.packet.home_address) == (MAP2, RCOA2)
    assert (RCOA1, "map-failed") in {(a.address, a.reason) for a in of(actions, AddressRemoved)}
    (home,) = bus(core.handle(5.1, IF, ack(local)), "ha")
    assert layers(home.packet)[1].src == RCOA2


@pytest.mark.parametrize("edition,clause", [("rfc4140", "RFC 4140 §7.2"), ("rfc5380", "RFC 5380 §7.1")])
def test_no_map_left_falls_back_to_mobile_ipv6(edition, clause):
    """RFC 4140 §7.2: if no other MAP is available the MN MUST revert to Mobile IPv6; RFC 5380 §7.1: it MUST NOT
    attempt to use HMIPv6.  Either way the home address is bound to the LCoA, sent directly (no MAP tunnel)."""
    core = make(edition)
    registered(core)
    actions = core.handle(5.0, IF, ra(mopt(MAP1, valid=0)))
    (log,) = logs(actions, "mipv6_fallback")
    assert log.fields["clause"].startswith(clause)
    (home,) = bus(actions)
    assert len(layers(home.packet)) == 1
    assert (home.packet.src, home.packet.dst, home.packet.home_address) == (LCOA1, HA, HOME)
    assert home.packet.payload.alternate_coa == LCOA1 and not home.packet.payload.m
    core.handle(5.1, IF, ack(home))
    assert core.paths().mode == "mipv6" and core.paths().ha_coa == LCOA1


def test_without_map_option_mobile_ipv6_then_hmipv6_when_a_map_appears():
    """RFC 4140 §7.2: "If no MAP options are found in the router advertisement, the mobile node MUST use the Mobile
    IPv6 protocol"; a usable MAP advertised later is used again (§9 "eager")."""
    core = make()
    (home,) = bus(core.handle(0.0, IF, ra()))
    assert home.packet.src == LCOA1 and home.packet.payload.h
    core.handle(0.1, IF, ack(home))
    actions = core.handle(5.0, IF, ra(mopt(MAP1)))
    assert logs(actions, "hmipv6_resumed")
    (local,) = bus(actions)
    (home2,) = bus(core.handle(5.1, IF, ack(local)), "ha")
    assert layers(home2.packet)[1].src == RCOA1


def test_hmipv6_switched_off_is_plain_mobile_ipv6():
    """Issue 4: HMIPv6 can be switched off entirely (the baseline): MAP options are not used, the home registration
    binds the LCoA directly, and no BU ever goes to the MAP."""
    core = make(hmipv6=False)
    (home,) = bus(core.handle(0.0, IF, ra(mopt(MAP1))))
    assert home.packet.src == LCOA1 and home.packet.dst == HA and home.packet.payload.h
    core.handle(0.1, IF, ack(home))
    assert core.paths().mode == "mipv6" and core.paths().ha_coa == LCOA1
    assert not bus(core.handle(5.0, IF, ra(mopt(MAP1))), "map") and core.snapshot()["maps"] == []


def test_map_refusing_the_mn_is_not_used_again():
    """base §6.2 (status 129 for LCoAs outside the MAP's on-link prefixes) and RFC 6275 §11.7.3: after a rejection
    the MN does not keep sending BUs to that MAP; it selects another one (until its LCoA changes)."""
    core = make()
    (first,) = bus(core.handle(0.0, IF, ra(mopt(MAP1, dist=2), mopt(MAP2, dist=1))))
    assert first.packet.dst == MAP1
    actions = core.handle(0.1, IF, ack(first, status=129))
    (second,) = bus(actions)
    assert second.packet.dst == MAP2
    assert not bus(core.handle(1.0, IF, ra(mopt(MAP1, dist=2), mopt(MAP2, dist=1))))
    assert core.snapshot()["refused_maps"] == {"2001:db8:f1::1": 129}
    core.link_up(2.0, IF)  # a new LCoA: the refusal concerned the old one, MAP1 may be tried again
    actions = core.handle(2.5, IF, ra(mopt(MAP1, dist=2), src=AR2_LL, prefix=A2))
    assert [(s.packet.src, s.packet.dst) for s in bus(actions)] == [(LCOA2, MAP1)]  # MAP2 never acked: let go
    assert core.primary == MAP1 and logs(actions, "map_refusals_cleared")


def test_several_maps_one_binding_per_rcoa_from_the_lcoa():
    """base §6.1: with several RCoAs the MN performs the BU procedure for each (RFC 4140 MUST, RFC 5380 MAY), and
    MUST NOT use one RCoA as care-of address toward another MAP (§3.1: the LCoA is always the on-link address)."""
    core = make(max_maps=2)
    actions = core.handle(0.0, IF, ra(mopt(MAP1, dist=2), mopt(MAP2, dist=1)))
    sent = bus(actions)
    assert [(s.packet.src, s.packet.dst, s.packet.home_address) for s in sent] == [(LCOA1, MAP1, RCOA1),
                                                                                    (LCOA1, MAP2, RCOA2)]
    for s in sent:
        core.handle(0.1, IF, ack(s))
    assert set(core.paths().tunnels) == {(RCOA1, MAP1), (RCOA2, MAP2)}
    assert core.paths().map == MAP1  # the primary is registered with the HA


def test_eager_new_map_ranked_first_becomes_primary_and_lazy_keeps_the_old_binding():
    """base §9 (RFC 5380 §9): "the mobile node should register with any "new" MAP advertised by the AR (Eager)" -- new
    as the §9.1 rule determines it: here the furthest -- and "should not release existing bindings until it no longer
    receives the MAP option ... or the lifetime of its existing binding expires (Lazy)".  Same LCoA (overlapping
    domains, no movement): a local BU to the new MAP with its own RCoA from the LCoA (§6.1 ¶3: not the old RCoA),
    then the HA is given the new RCoA; the old binding is neither de-registered nor dropped while its MAP is
    advertised, and is refreshed like any binding."""
    core = make()
    registered(core)
    actions = core.handle(5.0, IF, ra(mopt(MAP1, dist=1), mopt(MAP2, dist=2)))
    assert logs(actions, "eager_registration") and logs(actions, "map_kept")
    (local,) = bus(actions)
    assert (local.packet.src, local.packet.dst, local.packet.home_address) == (LCOA1, MAP2, RCOA2)
    assert not of(actions, AddressRemoved)
    (home,) = bus(core.handle(5.1, IF, ack(local)), "ha")
    assert layers(home.packet)[1].src == RCOA2 and layers(home.packet)[0].dst == MAP2
    core.handle(5.2, IF, ack(home))
    assert set(core.paths().tunnels) == {(RCOA1, MAP1), (RCOA2, MAP2)} and core.paths().map == MAP2
    refresh = next(a for _, a in run(core, 451.0) if isinstance(a, Send) and a.packet.dst == MAP1)
    assert refresh.packet.home_address == RCOA1 and refresh.packet.payload.lifetime > 0  # at 0.75 x 600 s
    core.handle(451.5, IF, ack(refresh))
    # the old MAP no longer advertised: released without a de-registration (the binding times out)
    actions = core.handle(460.0, IF, ra(mopt(MAP2, dist=2)))
    assert logs(actions, "map_released") and not [s for s in bus(actions) if s.packet.dst == MAP1]
    assert core.paths().tunnels == ((RCOA2, MAP2),)


def test_new_map_not_ranked_first_is_not_a_new_binding():
    """§9 "new" MAP per §9.1: a MAP advertised for the first time but nearer than the current one, or with Pref 0, is
    not registered with (one MAP by default; §7.2 ¶8 makes more a MAY)."""
    core = make()
    registered(core, 0.0, mopt(MAP1, dist=2))
    assert not bus(core.handle(5.0, IF, ra(mopt(MAP1, dist=2), mopt(MAP2, dist=1))))
    assert not bus(core.handle(6.0, IF, ra(mopt(MAP1, dist=2), mopt(MAP2, dist=1), mopt(MAP3, dist=3, pref=0))))
    assert core.primary == MAP1


def test_lazy_binding_taken_up_again_when_the_new_map_fails():
    """§9: the Eager-Lazy approach "will assist in providing a fallback mechanism in case of the failure of one of the
    MAP routers": when the new MAP fails (valid lifetime 0, §10) the binding kept with the old one is used at once --
    the HA is given the old RCoA without a new local registration first."""
    core = make()
    registered(core)
    (local,) = bus(core.handle(5.0, IF, ra(mopt(MAP1, dist=1), mopt(MAP2, dist=2))))
    (home,) = bus(core.handle(5.1, IF, ack(local)), "ha")
    core.handle(5.2, IF, ack(home))
    actions = core.handle(6.0, IF, ra(mopt(MAP1, dist=1), mopt(MAP2, dist=2, valid=0)))
    assert logs(actions, "map_failed") and core.primary == MAP1
    (home2,) = bus(actions)
    assert layers(home2.packet)[1].src == RCOA1 and layers(home2.packet)[1].dst == HA


def test_r_flag_and_provisioned_rcoa_by_edition():
    """base §5 R flag / INC-6 (rfc4140: only R=1 defined, R=0 reported) and RFC 5380 §5/§6.1 / INC-5 (R=1 means
    IKEv2 allocation, not implemented: logged deviation, or a provisioned RCoA is used)."""
    actions = make("rfc4140").handle(0.0, IF, ra(mopt(MAP1, r=False)))
    assert logs(actions, "r_flag_clear") and bus(actions)[0].packet.home_address == RCOA1
    actions = make("rfc5380").handle(0.0, IF, ra(mopt(MAP1, r=True)))
    assert any("RFC 4877" in d.fields["clause"] for d in logs(actions, "deviation"))
    provisioned = w.ip6("2001:db8:f1::1234")
    actions = make("rfc5380", provisioned_rcoas=((MAP1, provisioned),)).handle(0.0, IF, ra(mopt(MAP1)))
    assert bus(actions)[0].packet.home_address == provisioned and not logs(actions, "deviation")


def test_movement_detected_from_missed_advertisements():
    """RFC 6275 §11.5.1: without RAs from the current router for `missed_advertisements` Advertisement Intervals the
    router is lost; router discovery restarts and the new router's prefix gives a new LCoA."""
    core = make()
    core.handle(0.0, IF, ra(mopt(MAP1), interval_ms=1000))
    assert logs(core.handle(1.0, IF, ra(mopt(MAP1), src=AR2_LL, prefix=A2)), "ra_from_other_router")
    assert core.lcoa == LCOA1
    events = [a for _, a in run(core, 3.5)]
    assert logs(events, "router_lost") and any(isinstance(a, Send) and isinstance(a.packet.payload,
                                                                                  w.RouterSolicitation) for a in events)
    actions = core.handle(4.0, IF, ra(mopt(MAP1), src=AR2_LL, prefix=A2))
    assert core.lcoa == LCOA2 and bus(actions)[0].packet.src == LCOA2


def test_link_up_on_the_same_link_keeps_the_lcoa():
    """RFC 6275 §11.5.1: a link-layer indication need not mean L3 movement: the LCoA stays when the RA still
    advertises its prefix, and no BU is sent."""
    core = make()
    registered(core)
    core.link_down(5.0, IF)
    core.link_up(6.0, IF)
    actions = core.handle(6.5, IF, ra(mopt(MAP1), src=AR2_LL))
    assert core.lcoa == LCOA1 and not bus(actions) and not of(actions, AddressAdded)


def test_lcoa_from_the_kernel():
    """lcoa_source="kernel": the I/O layer reports the kernel's SLAAC address; the core waits for it and uses it."""
    core = make(lcoa_source="kernel")
    actions = core.handle(0.0, IF, ra(mopt(MAP1)))
    assert core.lcoa is None and not bus(actions) and not of(actions, AddressAdded)
    privacy = w.ip6("2001:db8:a1::1:2:3:4")
    actions = core.address_added(0.5, IF, privacy, 64, 3600, 1800)
    (local,) = bus(actions)
    assert local.packet.src == privacy and local.packet.payload.lifetime * 4 <= 3600
    assert [a.role for a in of(actions, AddressAdded)] == ["rcoa"]


# --- return routability and correspondent registration --------------------------------------------------------------


def test_hoti_twice_encapsulated_and_coti_from_rcoa():
    """base §12.2: the HoTI's source MUST be the home address, encapsulated twice (RCoA -> HA inside LCoA -> MAP);
    RFC 6275 §5.2.5/§11.6.1: CoTI from the care-of address (the RCoA, through the MAP tunnel), sent in parallel,
    after the home registration (§11.7.2)."""
    core = make(correspondents=(CN,))
    actions = registered(core)
    hoti, coti = sends(actions)
    assert [(p.src, p.dst) for p in layers(hoti.packet)] == [(LCOA1, MAP1), (RCOA1, HA), (HOME, CN)]
    assert isinstance(rr.decode_rr(layers(hoti.packet)[-1].payload), rr.HomeTestInit)
    assert [(p.src, p.dst) for p in layers(coti.packet)] == [(LCOA1, MAP1), (RCOA1, CN)]
    assert isinstance(rr.decode_rr(layers(coti.packet)[-1].payload), rr.CareOfTestInit)
    for s in (hoti, coti):
        assert w.decode_packet(w.encode_packet(s.packet)) == s.packet


def rr_exchange(core: MnCore, cn: CnCore, actions, now: float = 1.0):
    """Deliver the MN's HoTI/CoTI to a real CN core and the HoT/CoT back the way the network would (HoT via the HA
    tunnel inside the MAP tunnel); return the MN's actions."""
    out = []
    for s in sends(actions):
        chain = layers(s.packet)
        inner = chain[-1]
        if not isinstance(inner.payload, w.MobilityUnknown):
            continue
        (reply,) = sends(cn.handle(now, "eth0", inner))
        packet = reply.packet
        if isinstance(rr.decode_rr(packet.payload), rr.HomeTest):
            packet = w.Packet(MAP1, LCOA1, w.Packet(HA, RCOA1, packet))
        else:
            packet = w.Packet(MAP1, LCOA1, packet)
        out += core.handle(now, IF, packet)
    return out


def test_correspondent_registration_authorised_by_return_routability():
    """RFC 6275 §11.6.2, §11.7.2, §5.2.6 with base §6.1/§6.1.1: once both tokens arrive the MN sends the CN a BU from
    the RCoA (Home Address option = home address, through the MAP tunnel) with Nonce Indices and a Binding
    Authorization Data option the CN verifies; the CN's authenticated BA completes route optimisation."""
    core = make(correspondents=(CN,))
    cn = CnCore(CnConfig(CN), rng=random.Random(9))
    actions = rr_exchange(core, cn, registered(core))
    (send,) = bus(actions, "cn")
    outer, inner = layers(send.packet)
    assert (outer.src, outer.dst, inner.src, inner.dst, inner.home_address) == (LCOA1, MAP1, RCOA1, CN, HOME)
    reply = cn.handle(1.1, "eth0", w.decode_packet(w.encode_packet(inner)))
    (ba_send,) = sends(reply)
    assert ba_send.packet.payload.status == 0 and cn.route_for(HOME) == RCOA1
    actions = core.handle(1.2, IF, w.Packet(MAP1, LCOA1, ba_send.packet))
    assert logs(actions, "ba_accepted")
    assert core.paths().ro == ((CN, RCOA1),)
    forged = dataclasses.replace(ba_send.packet, payload=w.BindingAcknowledgement(0, inner.payload.seq, 10))
    core2 = make(correspondents=(CN,))
    cn2 = CnCore(CnConfig(CN), rng=random.Random(9))
    rr_exchange(core2, cn2, registered(core2))
    assert logs(core2.handle(1.2, IF, w.Packet(MAP1, LCOA1, forged)), "ba_ignored")  # no valid BAD


def test_expired_nonce_ba_restarts_return_routability():
    """RFC 6275 §5.2.7, §11.7.3: BA 136 (no Binding Authorization Data in it, §9.5.4) makes the MN fetch a new home
    keygen token only (HoTI, no CoTI) and send a new BU; repeated failures end after MAX_RO_FAILURE."""
    core = make(correspondents=(CN,))
    cn = CnCore(CnConfig(CN), rng=random.Random(9))
    actions = rr_exchange(core, cn, registered(core))
    for attempt in range(4):
        (send,) = bus(actions, "cn")
        seq = layers(send.packet)[-1].payload.seq
        nack = w.Packet(MAP1, LCOA1, w.Packet(CN, RCOA1, w.BindingAcknowledgement(136, seq, 0), rh2_address=HOME))
        actions = core.handle(1.1 + attempt / 10, IF, nack)
        if attempt < 3:
            tests = [rr.decode_rr(layers(s.packet)[-1].payload) for s in sends(actions)]
            assert [type(t) for t in tests] == [rr.HomeTestInit]
            actions = rr_exchange(core, cn, actions, now=1.15 + attempt / 10)
    assert logs(actions, "ro_failed") and not bus(actions)


def test_postponed_first_bu_is_retried_on_the_next_ra():
    """A local BU whose allowed lifetime is below one unit (4 s, RFC 6275 §6.1.7) is postponed, then sent when a
    later RA makes the MAP option valid long enough."""
    core = make()
    actions = core.handle(0.0, IF, ra(mopt(MAP1, valid=3)))
    assert logs(actions, "bu_postponed") and not bus(actions)
    (local,) = bus(core.handle(1.0, IF, ra(mopt(MAP1, valid=300))))
    assert local.packet.payload.lifetime == 75


def test_test_messages_validated():
    """RFC 6275 §11.6.2: a HoT must come through the home agent's tunnel with the cookie sent; a CoT must be for the
    current care-of address with its cookie; anything else is silently ignored."""
    core = make(correspondents=(CN,))
    hoti, coti = sends(registered(core))
    home_cookie = rr.decode_rr(layers(hoti.packet)[-1].payload).cookie
    coa_cookie = rr.decode_rr(layers(coti.packet)[-1].payload).cookie
    hot = w.Packet(CN, HOME, rr.encode_rr(rr.HomeTest(1, home_cookie, b"T" * 8)))
    assert logs(core.handle(1.0, IF, w.Packet(MAP1, LCOA1, w.Packet(MAP1, RCOA1, hot))), "tunnel_dropped")
    wrong = w.Packet(CN, HOME, rr.encode_rr(rr.HomeTest(1, b"x" * 8, b"T" * 8)))
    assert logs(core.handle(1.0, IF, w.Packet(MAP1, LCOA1, w.Packet(HA, RCOA1, wrong))), "hot_ignored")
    cot = w.Packet(CN, RCOA1, rr.encode_rr(rr.CareOfTest(2, b"y" * 8, b"C" * 8)))
    assert logs(core.handle(1.0, IF, w.Packet(MAP1, LCOA1, cot)), "cot_ignored")
    good_cot = w.Packet(CN, RCOA1, rr.encode_rr(rr.CareOfTest(2, coa_cookie, b"C" * 8)))
    good_hot = w.Packet(CN, HOME, rr.encode_rr(rr.HomeTest(1, home_cookie, b"T" * 8)))
    core.handle(1.0, IF, w.Packet(MAP1, LCOA1, good_cot))
    assert bus(core.handle(1.0, IF, w.Packet(MAP1, LCOA1, w.Packet(HA, RCOA1, good_hot))), "cn")


def test_return_routability_given_up_after_max_ro_failure():
    """RFC 6275 §5.2.9, §11.8: HoTI/CoTI retransmitted with new cookies and back-off; after MAX_RO_FAILURE retries
    the MN keeps using the home agent (no route optimisation)."""
    core = make(correspondents=(CN,))
    first = sends(registered(core))
    cookies = {rr.decode_rr(layers(s.packet)[-1].payload).cookie for s in first}
    events = run(core, 100.0)
    retries = [t for t, a in events if isinstance(a, Log) and a.event == "rr_retransmit"]
    assert retries == [1.2, 3.2, 7.2]
    cookies |= {rr.decode_rr(layers(a.packet)[-1].payload).cookie for _, a in events
                if isinstance(a, Send) and isinstance(layers(a.packet)[-1].payload, w.MobilityUnknown)}
    assert len(cookies) == 8
    assert any(isinstance(a, Log) and a.event == "ro_failed" for _, a in events)
    assert core.snapshot()["correspondents"][0]["state"] == "failed"


# --- data plane (pure functions on bytes) ----------------------------------------------------------------------------

UDP = w.RawPayload(17, struct.pack("!HHHH", 1000, 2000, 12, 0x1234) + b"data")
PATHS = Paths(IF, "hmipv6", HOME, lcoa=LCOA1, map=MAP1, rcoa=RCOA1, home_agent=HA, ha_coa=RCOA1,
              tunnels=((RCOA1, MAP1),), link_mtu=1500)


def test_outgoing_reverse_tunnel_inside_map_tunnel():
    """RFC 6275 §11.3.1 reverse tunnelling + base §6.1: a home-address packet without route optimisation goes
    HoA -> CN inside RCoA -> HA inside LCoA -> MAP."""
    out = dataplane.outgoing(PATHS, w.encode_packet(w.Packet(HOME, CN, UDP)))
    chain = layers(w.decode_packet(out))
    assert [(p.src, p.dst) for p in chain] == [(LCOA1, MAP1), (RCOA1, HA), (HOME, CN)]
    assert chain[-1].payload == UDP


def test_outgoing_route_optimised_from_rcoa_with_home_address_option():
    """base §6.1.1: with a CN binding the source is the RCoA (the care-of address the CN holds) and the Home Address
    option the home address; base §6.1: inside the MAP tunnel; upper-layer checksums unchanged."""
    paths = dataclasses.replace(PATHS, ro=((CN, RCOA1),))
    icmp = w.encode_packet(w.Packet(HOME, CN, w.EchoRequest(1, 2, b"x")))
    outer, inner = layers(w.decode_packet(dataplane.outgoing(paths, icmp)))
    assert (outer.src, outer.dst) == (LCOA1, MAP1)
    assert (inner.src, inner.dst, inner.home_address) == (RCOA1, CN, HOME)
    assert w.encode_packet(inner)[-9:] == icmp[-9:]  # same ICMPv6 message and checksum: pseudo-source = home address


def test_outgoing_rcoa_and_lcoa_sources():
    """base §6.5: the RCoA used as a source goes through the MAP tunnel; INC-8: LCoA-sourced packets are sent as
    they are; home-address packets without any binding are dropped."""
    from_rcoa = w.encode_packet(w.Packet(RCOA1, CN, UDP))
    assert [(p.src, p.dst) for p in layers(w.decode_packet(dataplane.outgoing(PATHS, from_rcoa)))] == \
        [(LCOA1, MAP1), (RCOA1, CN)]
    from_lcoa = w.encode_packet(w.Packet(LCOA1, CN, UDP))
    assert dataplane.outgoing(PATHS, from_lcoa) == from_lcoa
    assert dataplane.outgoing(dataclasses.replace(PATHS, ha_coa=None), w.encode_packet(w.Packet(HOME, CN, UDP))) \
        is None
    mipv6 = Paths(IF, "mipv6", HOME, lcoa=LCOA1, home_agent=HA, ha_coa=LCOA1)
    assert [(p.src, p.dst) for p in layers(w.decode_packet(dataplane.outgoing(
        mipv6, w.encode_packet(w.Packet(HOME, CN, UDP)))))] == [(LCOA1, HA), (HOME, CN)]


def test_incoming_tunnels_and_routing_header():
    """base §6.1 (the MN decapsulates MAP -> LCoA), RFC 6275 §10.4.2/§11.3.3: the HA's tunnel inside it is removed
    too; a type 2 routing header for the home address is processed; tunnels from anyone else are dropped;
    Mobility Headers go to the core."""
    data = w.Packet(CN, HOME, UDP)
    via_ha = w.encode_packet(w.Packet(MAP1, LCOA1, w.Packet(HA, RCOA1, data)))
    assert dataplane.incoming(PATHS, via_ha) == ("deliver", w.encode_packet(data))
    ro = w.encode_packet(w.Packet(MAP1, LCOA1, w.Packet(CN, RCOA1, UDP, rh2_address=HOME)))
    verdict, out = dataplane.incoming(PATHS, ro)
    assert verdict == "deliver" and w.decode_packet(out) == data
    bogus = w.encode_packet(w.Packet(MAP2, LCOA1, w.Packet(CN, RCOA1, UDP)))
    assert dataplane.incoming(PATHS, bogus)[0] == "drop"
    ba = w.encode_packet(w.Packet(MAP1, LCOA1, w.BindingAcknowledgement(0, 1, 1), rh2_address=RCOA1))
    assert dataplane.incoming(PATHS, ba) == ("signal", ba)
    hot = w.encode_packet(w.Packet(MAP1, LCOA1, w.Packet(HA, RCOA1, w.Packet(CN, HOME, w.MobilityUnknown(3, bytes(18))))))
    assert dataplane.incoming(PATHS, hot) == ("signal", hot)
    assert dataplane.incoming(PATHS, w.encode_packet(ra()))[0] == "signal"
    assert dataplane.incoming(PATHS, w.encode_packet(w.Packet(CN, LCOA1, UDP)))[0] == "pass"


def test_upper_layer_mtu_accounts_for_encapsulation():
    """RFC 5380 §11: the MN MUST take the MN-MAP encapsulation into account for the MTU given to upper layers."""
    assert dataplane.upper_layer_mtu(PATHS) == 1500 - 80  # HoA: HA tunnel inside the MAP tunnel
    assert dataplane.upper_layer_mtu(PATHS, src=RCOA1) == 1460
    assert dataplane.upper_layer_mtu(dataclasses.replace(PATHS, ro=((CN, RCOA1),)), dst=CN) == 1500 - 24 - 40
    assert dataplane.upper_layer_mtu(PATHS, src=LCOA1) == 1500
    core = make()
    registered(core, 0.0)
    core.handle(1.0, IF, ra(mopt(MAP1), mtu=1400))
    assert core.paths().link_mtu == 1400


def test_paths_emitted_when_they_change():
    """The data-plane view reaches the I/O layer as MnPathsChanged, only when it changes."""
    core = make()
    actions = core.handle(0.0, IF, ra(mopt(MAP1)))
    (changed,) = of(actions, MnPathsChanged)
    assert changed.paths.lcoa == LCOA1 and changed.paths.tunnels == ()
    assert not of(core.handle(0.5, IF, ra(mopt(MAP1))), MnPathsChanged)


# --- housekeeping ---------------------------------------------------------------------------------------------------


def test_snapshot_is_json():
    """Control command state: mode, router, stored MAP options, Binding Update List, correspondents, counters."""
    core = make(correspondents=(CN,))
    registered(core)
    core.handle(1.0, IF, ra(mopt(MAP1), valid=INF))  # infinite prefix lifetime: no timer for it
    assert core.next_deadline() < 1000.0
    snap = json.loads(json.dumps(core.snapshot(), allow_nan=False))
    assert snap["mode"] == "hmipv6" and snap["lcoa"] == "2001:db8:a1::ff:fe00:aa" and snap["lcoa_valid_until"] is None
    assert {e["kind"] for e in snap["binding_update_list"]} == {"map", "ha"}
    assert snap["correspondents"][0]["state"] == "rr"


def test_mn_public_exports_resolve():
    """Every name in the package's explicit __all__ exists, without duplicates."""
    import importlib

    package = importlib.import_module("reference_impl.mn")
    assert len(set(package.__all__)) == len(package.__all__)
    assert all(hasattr(package, name) for name in package.__all__)


def test_mn_package_is_sans_io():
    """Project rule: the cores have no sockets, clocks, threads or event loops (and no scapy / harness)."""
    import reference_impl.mn as mn

    forbidden = {"socket", "time", "threading", "asyncio", "select", "selectors", "subprocess", "scapy", "harness"}
    for path in Path(mn.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & forbidden, path
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert node.module.split(".")[0] not in forbidden, path


@pytest.mark.parametrize("bad", [{"link_address": b"\x01"}, {"interface_id": b"\x01"}, {"max_maps": 0},
                                 {"cn_lifetime": 1000}, {"map_selection": "random"}])
def test_config_validation(bad):
    """Configuration errors are refused at construction."""
    with pytest.raises(ValueError):
        MnConfig(**({"iface": IF, "link_address": MN_MAC, "home_address": HOME} | bad))


# ====================================================================================================================
# End to end: MN <-> AR <-> MAP <-> HA <-> CN over an in-memory network
# ====================================================================================================================


class Node:
    """A node of the in-memory network: a core plus what its I/O layer would do with the actions."""

    name = "?"
    iface = "?"

    def __init__(self, net, name: str, core, iface: str) -> None:
        self.net, self.name, self.core, self.iface = net, name, core, iface
        self.log: list[Log] = []

    def deadline(self):
        return self.core.next_deadline()

    def tick(self, now: float) -> None:
        self.execute(self.core.tick(now))

    def execute(self, actions) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.net.transmit(self, action.iface, w.encode_packet(action.packet))
            elif isinstance(action, Log):
                self.log.append(action)
            else:
                self.other(action)

    def other(self, action) -> None:
        pass

    def owns(self, address: bytes) -> bool:
        return False

    def events(self, name: str) -> list[Log]:
        return [entry for entry in self.log if entry.event == name]

    def receive(self, now: float, iface: str, data: bytes) -> None:
        self.execute(self.core.handle(now, iface, w.decode_packet(data)))


class MnNode(Node):
    """The MN's I/O layer: addresses from AddressAdded/Removed, data plane through mn.dataplane."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.paths: Paths | None = None
        self.addresses: set[bytes] = set()
        self.delivered: list[w.Packet] = []

    def owns(self, address: bytes) -> bool:
        return address in self.addresses

    def other(self, action) -> None:
        if isinstance(action, MnPathsChanged):
            self.paths = action.paths
        elif isinstance(action, AddressAdded):
            self.addresses.add(action.address)
        elif isinstance(action, AddressRemoved):
            self.addresses.discard(action.address)

    def receive(self, now: float, iface: str, data: bytes) -> None:
        verdict, out = ("signal", data) if self.paths is None else dataplane.incoming(self.paths, data)
        if verdict == "signal":
            self.execute(self.core.handle(now, iface, w.decode_packet(data)))
        elif verdict == "deliver":
            self.delivered.append(w.decode_packet(out))

    def send(self, packet: w.Packet) -> None:
        out = dataplane.outgoing(self.paths, w.encode_packet(packet))
        assert out is not None
        self.net.transmit(self, self.iface, out)


class AnchorNode(Node):
    """A MAP or HA: its core for signalling plus a userspace tunnel data plane like reference_impl/daemon's."""

    def __init__(self, net, name, core, iface, address) -> None:
        super().__init__(net, name, core, iface)
        self.address = address
        self.tunnelled = self.reverse = 0

    def receive(self, now: float, iface: str, data: bytes) -> None:
        nh, _src, dst = fastpath.peek(data)
        if nh == 41 and dst == self.address:
            outer_src, inner = fastpath.decapsulate(data)
            if self.core.check_reverse_tunnel(outer_src, inner[8:24]):
                self.reverse += 1
                self.net.transmit(self, None, fastpath.decrement_hop_limit(inner))
            return
        target = self.core.tunnel_for(dst)
        if target is not None:
            self.tunnelled += 1
            self.net.transmit(self, None, fastpath.encapsulate(self.address, target,
                                                               fastpath.decrement_hop_limit(data)))
            return
        super().receive(now, iface, data)


class CnNode(Node):
    """A correspondent: its core for return routability / BUs, check_home_address and route_for for data."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.delivered: list[w.Packet] = []

    def receive(self, now: float, iface: str, data: bytes) -> None:
        packet = w.decode_packet(data)
        if isinstance(packet.payload, (w.BindingUpdate, w.MobilityUnknown)):
            self.execute(self.core.handle(now, iface, packet))
            return
        if packet.home_address is not None:
            accept, actions = self.core.check_home_address(now, packet.src, packet.dst, packet.home_address,
                                                           packet.next_header)
            self.execute(actions)
            if not accept:
                return
        self.delivered.append(packet)

    def send(self, dst: bytes, payload) -> None:
        coa = self.core.route_for(dst)
        packet = w.Packet(CN, dst, payload) if coa is None else w.Packet(CN, coa, payload, rh2_address=dst)
        self.net.transmit(self, self.iface, w.encode_packet(packet))


class Net:
    """Routes by longest prefix (to a node, or to an access link whose members own the destination), floods
    link-local and multicast destinations on the sender's link, 1 ms per hop; every packet is decoded on the way
    (so whatever the cores emit must survive the codec)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.queue: list = []
        self.order = itertools.count()
        self.routes: list[tuple[bytes, int, object]] = []
        self.links: dict[str, list[tuple[Node, str]]] = {}
        self.nodes: list[Node] = []
        self.trace: list[tuple[float, str, w.Packet]] = []

    def attach(self, link: str, node: Node, iface: str) -> None:
        self.links.setdefault(link, []).append((node, iface))

    def detach(self, link: str, node: Node) -> None:
        self.links[link] = [(n, i) for n, i in self.links[link] if n is not node]

    def transmit(self, sender: Node, iface: str | None, data: bytes) -> None:
        packet = w.decode_packet(data)
        self.trace.append((self.now, sender.name, packet))
        dst = packet.dst
        if w.is_multicast(dst) or w.is_link_local(dst):
            link = next((name for name, members in self.links.items() if (sender, iface) in members), None)
            for node, node_iface in self.links.get(link, []):
                if node is not sender:
                    self._queue(node, node_iface, data)
            return
        matches = [r for r in self.routes if w.in_prefix(dst, r[0], r[1])]
        if not matches:
            return
        target = max(matches, key=lambda r: r[1])[2]
        if isinstance(target, str):
            for node, node_iface in self.links.get(target, []):
                if node.owns(dst):
                    self._queue(node, node_iface, data)
        elif target is not sender:
            self._queue(target, target.iface, data)

    def _queue(self, node: Node, iface: str, data: bytes) -> None:
        heapq.heappush(self.queue, (self.now + 0.001, next(self.order), node, iface, data))

    def run(self, until: float) -> None:
        while True:
            times = [self.queue[0][0]] if self.queue else []
            times += [d for n in self.nodes if (d := n.deadline()) is not None]
            if not times or min(times) > until:
                break
            self.now = max(self.now, min(times))
            while self.queue and self.queue[0][0] <= self.now:
                _, _, node, iface, data = heapq.heappop(self.queue)
                node.receive(self.now, iface, data)
            for node in self.nodes:
                deadline = node.deadline()
                if deadline is not None and deadline <= self.now:
                    node.tick(self.now)
        self.now = until

    def sent_by(self, name: str, since: float, kind) -> list[w.Packet]:
        """Innermost payloads of type ``kind`` a node transmitted since ``since``."""
        return [layers(p)[-1] for t, n, p in self.trace if n == name and t >= since
                and isinstance(layers(p)[-1].payload, kind)]

    def move(self, mn: MnNode, old: str, new: str) -> None:
        """Link-layer handover: link down, re-attach, link up (RFC 6275 §11.5.1 triggers)."""
        mn.execute(mn.core.link_down(self.now, mn.iface))
        self.detach(old, mn)
        self.attach(new, mn, mn.iface)
        mn.execute(mn.core.link_up(self.now, mn.iface))


def network(edition: str = "rfc4140"):
    """AR1 and AR2 (links a1, a2) advertise MAP1, AR3 (link a3) advertises MAP2; MAP1 may forward to a3 (§8)."""
    net = Net()
    p1, p2, p3 = ((w.ip6(f"2001:db8:a{i}::"), 64) for i in (1, 2, 3))
    map1 = MapCore(MapConfig(address=MAP1, home_iface="f1", link_address=w.mac("02:00:00:00:f1:01"),
                             onlink_prefixes=(p1, p2), forward_prefixes=(p3,)), edition)
    map2 = MapCore(MapConfig(address=MAP2, home_iface="f2", link_address=w.mac("02:00:00:00:f2:01"),
                             onlink_prefixes=(p3,)), edition)
    nodes: dict[str, Node] = {}
    for i, (prefix, anchor) in enumerate(((p1, map1), (p2, map1), (p3, map2)), 1):
        iface = ArInterface(f"a{i}", w.mac(f"02:00:00:00:0a:0{i}"), max_interval=10.0,
                            prefixes=(w.PrefixInformation(prefix[0], 64),))
        cfg = ArConfig(interfaces=(iface,), manual_maps=(anchor.map_option(0.0),),
                       failure_detection=FailureDetection(enabled=False))
        nodes[f"ar{i}"] = Node(net, f"ar{i}", ArCore(cfg, edition, rng=random.Random(i)), f"a{i}")
        net.attach(f"a{i}", nodes[f"ar{i}"], f"a{i}")
        net.routes.append((prefix[0], 64, f"a{i}"))
    ha = HaCore(HaConfig(address=HA, home_iface="home", link_address=w.mac("02:00:00:00:07:01")))
    cn = CnCore(CnConfig(address=CN), rng=random.Random(7))
    mn = MnCore(MnConfig(iface=IF, link_address=MN_MAC, home_address=HOME, home_agent=HA, correspondents=(CN,),
                         max_rtr_solicitation_delay=0.0), edition, rng=random.Random(3))
    nodes["map1"] = AnchorNode(net, "map1", map1, "f1", MAP1)
    nodes["map2"] = AnchorNode(net, "map2", map2, "f2", MAP2)
    nodes["ha"] = AnchorNode(net, "ha", ha, "home", HA)
    nodes["cn"] = CnNode(net, "cn", cn, "eth0")
    nodes["mn"] = MnNode(net, "mn", mn, IF)
    for name, prefix in (("map1", "2001:db8:f1::"), ("map2", "2001:db8:f2::"), ("ha", "2001:db8:7::"),
                         ("cn", "2001:db8:c::")):
        net.routes.append((w.ip6(prefix), 64, nodes[name]))
        net.attach(name, nodes[name], nodes[name].iface)
    net.attach("a1", nodes["mn"], IF)
    net.nodes = list(nodes.values())
    for node in net.nodes:
        node.execute(node.core.start(0.0))
    return net, nodes


def udp(seq: int) -> w.RawPayload:
    return w.RawPayload(17, struct.pack("!HHHH", 5000, 6000, 12, 0) + seq.to_bytes(4, "big"))


@pytest.mark.parametrize("edition", ["rfc4140", "rfc5380"])
def test_end_to_end_registration_route_optimisation_and_handovers(edition):
    """End to end over the in-memory network (every hop encoded and decoded):
    RA with MAP option -> RCoA/LCoA formed -> local BU -> BA -> HA BU (after the MAP's BA, base §6.1) -> BA ->
    return routability (HoTI twice encapsulated, §12.2) -> BU to the CN accepted -> data route-optimised both ways;
    then an intra-domain handover (new LCoA, only a local BU, HA not contacted, §6.1) and an inter-domain handover
    (new MAP and RCoA, previous MAP re-pointed (§8), HA and CN re-bound, §3.1)."""
    started = time.perf_counter()
    net, n = network(edition)
    mn, cn, ha, map1, map2 = n["mn"], n["cn"], n["ha"], n["map1"], n["map2"]
    net.run(15.0)

    # registration chain, in order
    ordered = [e.event for e in mn.log if e.event in ("lcoa_formed", "rcoa_formed", "ba_accepted", "bu_sent",
                                                       "rr_completed")]
    assert ordered[:4] == ["lcoa_formed", "rcoa_formed", "bu_sent", "ba_accepted"]
    kinds = [(e.fields["kind"], e.event) for e in mn.log if e.event in ("bu_sent", "ba_accepted")]
    assert kinds == [("map", "bu_sent"), ("map", "ba_accepted"), ("ha", "bu_sent"), ("ha", "ba_accepted"),
                     ("cn", "bu_sent"), ("cn", "ba_accepted")]
    assert map1.core.tunnel_for(RCOA1) == LCOA1
    assert ha.core.tunnel_for(HOME) == RCOA1
    assert cn.core.route_for(HOME) == RCOA1
    hotis = net.sent_by("mn", 0.0, w.MobilityUnknown)
    assert [(p.src, p.dst) for t, name, p in net.trace if name == "mn" and len(layers(p)) == 3] == \
        [(LCOA1, MAP1)]  # the HoTI: the only doubly encapsulated signalling packet
    assert {rr.decode_rr(p.payload).MH_TYPE for p in hotis} == {1, 2}

    # data, route-optimised both ways
    mn.send(w.Packet(HOME, CN, udp(1)))
    cn.send(HOME, udp(2))
    net.run(16.0)
    got = cn.delivered[-1]
    assert (got.src, got.home_address, got.payload) == (RCOA1, HOME, udp(1))
    back = mn.delivered[-1]
    assert (back.src, back.dst, back.payload) == (CN, HOME, udp(2))
    assert map1.reverse >= 1 and map1.tunnelled >= 1

    # intra-domain handover: AR1 -> AR2 (same MAP)
    ha_bus, mark = ha.core.counters["bu_received"], net.now
    net.move(mn, "a1", "a2")
    net.run(30.0)
    assert map1.core.tunnel_for(RCOA1) == LCOA2
    assert ha.core.counters["bu_received"] == ha_bus  # HA not contacted
    assert [p.dst for p in net.sent_by("mn", mark, w.BindingUpdate)] == [MAP1]
    assert cn.core.route_for(HOME) == RCOA1
    cn.send(HOME, udp(3))
    net.run(31.0)
    assert mn.delivered[-1].payload == udp(3)

    # inter-domain handover: AR2 -> AR3 (MAP2)
    mark = net.now
    net.move(mn, "a2", "a3")
    net.run(50.0)
    assert [(p.dst, p.home_address) for p in net.sent_by("mn", mark, w.BindingUpdate)] == \
        [(MAP1, RCOA1), (MAP2, RCOA2), (HA, HOME), (CN, HOME)]
    assert map1.core.tunnel_for(RCOA1) == LCOA3  # previous MAP forwards (§8)
    assert map2.core.tunnel_for(RCOA2) == LCOA3
    assert ha.core.tunnel_for(HOME) == RCOA2
    assert cn.core.route_for(HOME) == RCOA2
    assert mn.core.counters["handovers"] == {"intra": 1, "inter": 1}
    mn.send(w.Packet(HOME, CN, udp(4)))
    cn.send(HOME, udp(5))
    net.run(51.0)
    assert (cn.delivered[-1].src, cn.delivered[-1].payload) == (RCOA2, udp(4))
    assert mn.delivered[-1].payload == udp(5)
    assert time.perf_counter() - started < 5.0


def test_end_to_end_map_failure_falls_back_to_mobile_ipv6_and_recovers():
    """base §10 / §7.2 (RFC 5380 §7.1): an AR advertising the MAP with valid lifetime 0 (manual trigger) makes the MN
    drop HMIPv6 — the HA is re-bound to the LCoA and data is reverse-tunnelled LCoA -> HA — and come back to the MAP
    once it is advertised again."""
    net, n = network("rfc5380")
    mn, ha, cn = n["mn"], n["ha"], n["cn"]
    net.run(15.0)
    n["ar1"].execute(n["ar1"].core.force_map_down(net.now, MAP1))
    net.run(30.0)
    assert mn.events("mipv6_fallback") and ha.core.tunnel_for(HOME) == LCOA1
    assert cn.core.route_for(HOME) == LCOA1  # route optimisation re-done with the LCoA
    mn.send(w.Packet(HOME, w.ip6("2001:db8:c::99"), udp(7)))  # no RO with this one: reverse tunnel to the HA
    net.run(31.0)
    assert [(p.src, p.dst) for t, name, p in net.trace if name == "mn" and t >= 30.0] == [(LCOA1, HA)]
    n["ar1"].execute(n["ar1"].core.restore_map(net.now, MAP1))
    net.run(45.0)
    assert mn.events("hmipv6_resumed") and ha.core.tunnel_for(HOME) == RCOA1


def test_end_to_end_long_run_refreshes_keep_bindings():
    """RFC 6275 §11.7.1/§11.7.3 and base §6.1: over 30 minutes of virtual time the MAP, HA and CN bindings are
    refreshed before they expire (CN ones by a new return routability run) and never lapse."""
    net, n = network()
    for stop in range(60, 1860, 60):
        net.run(float(stop))
        assert n["map1"].core.tunnel_for(RCOA1) == LCOA1, stop
        assert n["ha"].core.tunnel_for(HOME) == RCOA1, stop
        assert n["cn"].core.route_for(HOME) == RCOA1, stop
    assert not [e for e in n["mn"].log if e.event == "binding_expired"]
