"""Access router core (sans-I/O) driven in virtual time: RA timing, MAP options, discovery, failure detection."""

from __future__ import annotations

import json
import random

import pytest

from reference_impl import wire as w
from reference_impl.actions import Log, MapStateChanged, Send
from reference_impl.ar import ArConfig, ArCore, ArInterface, FailureDetection

MAP1 = w.ip6("2001:db8:f::1")
MAP2 = w.ip6("2001:db8:e::1")
SELF_MAP = w.ip6("2001:db8:a::1")
AR_GLOBAL = w.ip6("2001:db8:a::2")
PREFIX = w.PrefixInformation(w.ip6("2001:db8:1::"), 64)
MAC_DOWN = w.mac("02:00:00:00:01:01")
MAC_UP = w.mac("02:00:00:00:01:02")
UPSTREAM = w.ip6("fe80::99")


def access(**kw) -> ArInterface:
    return ArInterface("wlan0", MAC_DOWN, **({"prefixes": (PREFIX,)} | kw))


def uplink(**kw) -> ArInterface:
    return ArInterface("up0", MAC_UP, **({"advertise": False, "listen_map_options": True} | kw))


def make(edition: str = "rfc4140", *, interfaces=None, seed: int = 1, probing: bool = False, **kw) -> ArCore:
    fd = FailureDetection(source=AR_GLOBAL) if probing else FailureDetection(enabled=False)
    cfg = ArConfig(interfaces=interfaces or (access(),), failure_detection=fd, **kw)
    return ArCore(cfg, edition, rng=random.Random(seed))


def ras(actions) -> list[Send]:
    return [a for a in actions if isinstance(a, Send) and isinstance(a.packet.payload, w.RouterAdvertisement)]


def echoes(actions) -> list[Send]:
    return [a for a in actions if isinstance(a, Send) and isinstance(a.packet.payload, w.EchoRequest)]


def logs(actions, event: str) -> list[Log]:
    return [a for a in actions if isinstance(a, Log) and a.event == event]


def run_until(core: ArCore, end: float) -> list[tuple[float, object]]:
    """Tick at every deadline up to ``end``; returns (time, action) pairs."""
    out = []
    while (deadline := core.next_deadline()) is not None and deadline <= end:
        out += [(deadline, a) for a in core.tick(deadline)]
    return out


def ra_from(src: bytes, *maps: w.MapOption, hop_limit: int = 255) -> w.Packet:
    return w.Packet(src, w.ALL_NODES, w.RouterAdvertisement(options=maps), hop_limit=hop_limit)


# --- router advertisements ----------------------------------------------------------------------------------------


def test_first_ra_content():
    """RFC 4861 §4.2/§6.2.3 + base §5/§7: from the link-local address, to all-nodes, hop limit 255, with SLLA,
    the prefixes, the Advertisement Interval option (RFC 6275 §7.3) and the manually configured MAP options."""
    manual = w.MapOption(MAP1, dist=2, pref=12, r=True, valid_lifetime=3600)
    core = make(manual_maps=(manual,), interfaces=(access(mtu=1400),))
    (send,) = ras(core.start(0.0))
    p = send.packet
    assert send.iface == "wlan0" and send.link_dst == w.multicast_mac(w.ALL_NODES)
    assert (p.src, p.dst, p.hop_limit) == (w.link_local_from_mac(MAC_DOWN), w.ALL_NODES, 255)
    ra = p.payload
    assert ra.router_lifetime == 1800 and ra.cur_hop_limit == 64
    assert ra.options == (w.SourceLinkLayerAddress(MAC_DOWN), w.Mtu(1400), PREFIX,
                          w.AdvertisementInterval(600_000), manual)
    assert w.decode_packet(w.encode_packet(p)) == p


def test_unsolicited_intervals_initial_then_random_in_range():
    """RFC 4861 §6.2.4: intervals uniformly in [MinRtrAdvInterval, MaxRtrAdvInterval], the first
    MAX_INITIAL_RTR_ADVERTISEMENTS (3) capped at MAX_INITIAL_RTR_ADVERT_INTERVAL (16 s)."""
    core = make(interfaces=(access(max_interval=100.0, min_interval=30.0),))
    core.start(0.0)
    times = [0.0] + [t for t, a in run_until(core, 3000.0) if isinstance(a, Send)]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g <= 16.0 for g in gaps[:3])
    assert all(30.0 <= g <= 100.0 for g in gaps[3:]) and len(gaps) > 20
    assert len({round(g, 6) for g in gaps[3:]}) > 10  # actually random


def test_interval_defaults_and_fast_mobile_ipv6_limits():
    """RFC 4861 §6.2.1 MinRtrAdvInterval default 0.33×Max; RFC 6275 §7.5 allows 0.03/0.07 s and adds 20 ms to an
    advertised interval below 200 ms; MinDelayBetweenRAs follows MinRtrAdvInterval below 3 s (RFC 6275 §13)."""
    iface = access()
    assert iface.min_rtr_adv_interval == pytest.approx(198.0) and iface.min_delay == 3.0
    fast = access(max_interval=0.07, min_interval=0.03)
    assert fast.min_delay == 0.03
    core = make(interfaces=(fast,))
    (send,) = ras(core.start(0.0))
    assert w.AdvertisementInterval(90) in send.packet.payload.options
    times = [0.0] + [t for t, a in run_until(core, 2.0) if isinstance(a, Send)]
    assert all(0.03 - 1e-9 <= b - a <= 0.07 + 1e-9 for a, b in zip(times, times[1:]))
    with pytest.raises(ValueError):
        access(max_interval=0.05)
    with pytest.raises(ValueError):
        access(max_interval=10.0, min_interval=9.0)


def test_same_seed_same_schedule():
    """Randomisation comes only from the injected rng: equal seeds give equal schedules."""
    def schedule(seed):
        core = make(seed=seed)
        core.start(0.0)
        return [t for t, _ in run_until(core, 5000.0)]

    assert schedule(7) == schedule(7) and schedule(7) != schedule(8)


def test_rs_answered_after_random_delay_and_timer_reset():
    """RFC 4861 §6.2.6: multicast answer delayed 0..MAX_RA_DELAY_TIME, then the interval timer restarts."""
    core = make()
    core.start(0.0)
    run_until(core, 60.0)  # the three initial RAs (<= 16 s apart) are over
    last = core.snapshot()["interfaces"]["wlan0"]["last_multicast_ra"]
    assert core.next_deadline() >= last + 198.0
    now = last + 50.0
    rs = w.Packet(w.ip6("fe80::5"), w.ALL_ROUTERS, w.RouterSolicitation((w.SourceLinkLayerAddress(MAC_UP),)),
                  hop_limit=255)
    actions = core.handle(now, "wlan0", rs)
    assert not ras(actions) and logs(actions, "ra_solicited")
    when = core.next_deadline()
    assert now <= when <= now + 0.5
    assert core.handle(now + 0.1, "wlan0", rs) == []  # several RSs, one RA
    (send,) = ras(core.tick(when))
    assert send.packet.dst == w.ALL_NODES
    assert 198.0 <= core.next_deadline() - when <= 600.0


def test_rs_rate_limited_after_recent_multicast_ra():
    """RFC 4861 §6.2.6: a multicast RA sent within MIN_DELAY_BETWEEN_RAS -> answer at last + 3 s + delay."""
    core = make()
    core.start(0.0)
    rs = w.Packet(w.ip6("fe80::5"), w.ALL_ROUTERS, w.RouterSolicitation(), hop_limit=255)
    core.handle(1.0, "wlan0", rs)
    assert 3.0 <= core.next_deadline() <= 3.5


def test_rs_not_answered_early_when_next_ra_is_sooner():
    """RFC 4861 §6.2.6: if the random delay would end after the next scheduled multicast RA, that RA is the answer."""
    core = make(interfaces=(access(max_interval=4.0, min_interval=3.0),))
    core.start(0.0)
    scheduled = core.next_deadline()
    rs = w.Packet(w.ip6("fe80::5"), w.ALL_ROUTERS, w.RouterSolicitation(), hop_limit=255)
    assert core.handle(scheduled - 0.01, "wlan0", rs) == []
    assert core.next_deadline() == scheduled


@pytest.mark.parametrize("packet", [
    w.Packet(w.ip6("fe80::5"), w.ALL_ROUTERS, w.RouterSolicitation(), hop_limit=64),
    w.Packet(w.ip6("fe80::5"), w.ALL_ROUTERS, w.RouterSolicitation(code=1), hop_limit=255),
    w.Packet(w.UNSPECIFIED, w.ALL_ROUTERS, w.RouterSolicitation((w.SourceLinkLayerAddress(MAC_UP),)), hop_limit=255),
])
def test_invalid_rs_ignored(packet):
    """RFC 4861 §6.1.1: hop limit 255, code 0, no SLLA from the unspecified address."""
    core = make()
    core.start(0.0)
    deadline = core.next_deadline()
    assert core.handle(deadline / 2, "wlan0", packet) == [] and core.next_deadline() == deadline


def test_solicited_only_interface():
    """RFC 6275 §7.5: unsolicited multicast RAs can be disabled per interface; RSs are still answered."""
    core = make(interfaces=(access(unsolicited=False),))
    assert ras(core.start(0.0)) == [] and core.next_deadline() is None
    core.handle(10.0, "wlan0", w.Packet(w.ip6("fe80::5"), w.ALL_ROUTERS, w.RouterSolicitation(), hop_limit=255))
    assert len(ras(core.tick(core.next_deadline()))) == 1 and core.next_deadline() is None


# --- dynamic MAP discovery (rfc4140 §7.1.1) -----------------------------------------------------------------------


def discovery(edition="rfc4140", **kw) -> ArCore:
    return make(edition, discovery="dynamic", interfaces=(access(), uplink(),
                                                          ArInterface("up1", w.mac("02:00:00:00:01:03"),
                                                                      advertise=False, listen_map_options=True)), **kw)


def test_received_map_option_relayed_with_dist_plus_one():
    """base §7.1.1: copy a received MAP option and re-send it with Dist incremented by one."""
    core = discovery()
    core.start(0.0)
    opt = w.MapOption(MAP1, dist=1, pref=9, r=True, valid_lifetime=3600)
    actions = core.handle(1.0, "up0", ra_from(UPSTREAM, opt))
    assert logs(actions, "map_options_learned")
    assert core.advertised_map_options("wlan0") == (w.MapOption(MAP1, dist=2, pref=9, r=True, valid_lifetime=3600),)


def test_smallest_dist_across_interfaces_and_split_horizon():
    """base §7.1.1: for the same MAP from two interfaces choose the smallest Dist; never sent back where learnt."""
    core = discovery()
    core.start(0.0)
    core.handle(1.0, "up0", ra_from(UPSTREAM, w.MapOption(MAP1, dist=3)))
    core.handle(1.0, "up1", ra_from(w.ip6("fe80::98"), w.MapOption(MAP1, dist=1)))
    assert core.advertised_map_options("wlan0")[0].dist == 2
    assert core.table.options_for("up1")[0].dist == 4  # only the up0 copy is eligible there


def test_own_map_option_sent_together_with_relayed_ones():
    """base §7.1.1/§7.1.2: a router that is also a MAP sends its own option with the received ones."""
    own = w.MapOption(SELF_MAP, dist=1, pref=10)
    core = discovery(local_map=own)
    core.start(0.0)
    core.handle(1.0, "up0", ra_from(UPSTREAM, w.MapOption(MAP1, dist=1)))
    assert core.advertised_map_options("wlan0") == (own, w.MapOption(MAP1, dist=2))
    core.set_local_map(2.0, None)
    assert core.advertised_map_options("wlan0") == (w.MapOption(MAP1, dist=2),)


@pytest.mark.parametrize("src,hop_limit,reason", [
    (w.ip6("2001:db8:a::9"), 255, "RA source is not link-local"),
    (UPSTREAM, 254, "RA hop limit is not 255"),
])
def test_map_options_from_invalid_ras_ignored(src, hop_limit, reason):
    """RFC 4861 §6.1.2 as required of MAP option relaying: only link-local sources with hop limit 255."""
    core = discovery()
    core.start(0.0)
    actions = core.handle(1.0, "up0", ra_from(src, w.MapOption(MAP1), hop_limit=hop_limit))
    assert logs(actions, "map_options_ignored")[0].fields["reason"].startswith(reason)
    assert core.advertised_map_options("wlan0") == ()


def test_dist_zero_ignored_dist_15_not_relayed():
    """base §5: Dist 0 MUST NOT be used; a 4-bit Dist of 15 cannot be incremented."""
    core = discovery()
    core.start(0.0)
    actions = core.handle(1.0, "up0", ra_from(UPSTREAM, w.MapOption(MAP1, dist=0), w.MapOption(MAP2, dist=15)))
    assert logs(actions, "map_option_ignored")
    assert core.advertised_map_options("wlan0") == ()


def test_learned_options_withdrawn_and_expire():
    """A MAP option the upstream router stops sending is withdrawn; one not refreshed expires after
    learned_map_timeout (or its valid lifetime, if shorter); a received valid lifetime 0 is relayed as is (§10)."""
    core = discovery(learned_map_timeout=100.0)
    core.start(0.0)
    core.handle(1.0, "up0", ra_from(UPSTREAM, w.MapOption(MAP1), w.MapOption(MAP2, valid_lifetime=0)))
    assert [o.valid_lifetime for o in core.advertised_map_options("wlan0")] == [0xFFFFFFFF, 0]
    actions = core.handle(2.0, "up0", ra_from(UPSTREAM, w.MapOption(MAP2, valid_lifetime=50)))
    assert logs(actions, "map_options_learned")[0].fields["withdrawn"] == ["2001:db8:f::1"]
    events = [a for _, a in run_until(core, 60.0) if isinstance(a, Log) and a.event == "map_option_expired"]
    assert len(events) == 1 and core.advertised_map_options("wlan0") == ()
    core.handle(61.0, "up0", ra_from(UPSTREAM, w.MapOption(MAP1)))
    actions = core.handle(62.0, "up0", ra_from(UPSTREAM))  # an RA without any MAP option withdraws them all
    assert logs(actions, "map_options_learned")[0].fields["withdrawn"] == ["2001:db8:f::1"]
    assert core.advertised_map_options("wlan0") == () and core.handle(63.0, "up0", ra_from(UPSTREAM)) == []


def test_manual_mode_ignores_received_map_options():
    """base §7: manual configuration is the default mechanism."""
    core = make(interfaces=(access(), uplink()), manual_maps=(w.MapOption(MAP2),))
    core.start(0.0)
    actions = core.handle(1.0, "up0", ra_from(UPSTREAM, w.MapOption(MAP1)))
    assert logs(actions, "map_options_ignored")[0].fields["reason"] == "dynamic discovery disabled"
    assert core.advertised_map_options("wlan0") == (w.MapOption(MAP2),)


def test_rfc5380_disables_dynamic_discovery_with_logged_reason():
    """RFC 5380 §7 and Appendix A: dynamic MAP discovery removed; manual configuration only."""
    core = discovery("rfc5380", manual_maps=(w.MapOption(MAP2),))
    started = core.start(0.0)
    assert "RFC 5380" in logs(started, "dynamic_discovery_disabled")[0].fields["reason"]
    core.handle(1.0, "up0", ra_from(UPSTREAM, w.MapOption(MAP1)))
    assert core.advertised_map_options("wlan0") == (w.MapOption(MAP2),)


def test_map_options_only_on_configured_interfaces():
    """base §7.1.1: routers are configured to send the MAP option on certain interfaces."""
    core = make(manual_maps=(w.MapOption(MAP1),), interfaces=(access(send_map_options=False),))
    (send,) = ras(core.start(0.0))
    assert send.packet.payload.map_options == ()


# --- MAP failure detection (§10) ----------------------------------------------------------------------------------


def reply_to(probe: Send) -> w.Packet:
    req = probe.packet.payload
    return w.Packet(probe.packet.dst, probe.packet.src, w.EchoReply(req.identifier, req.sequence, req.data))


def test_probe_every_interval_while_answered():
    """base §10: ICMP echo requests to the MAP regularly (every 10 s); answered probes keep it advertised."""
    core = make(probing=True, manual_maps=(w.MapOption(MAP1),))
    (probe,) = echoes(core.start(0.0))
    assert (probe.iface, probe.packet.src, probe.packet.dst) == (None, AR_GLOBAL, MAP1)
    for t in (10.0, 20.0, 30.0):
        core.handle(t - 9.0, "up0", reply_to(probe))
        probes = [a for time, a in run_until(core, t) if isinstance(a, Send) and time == t
                  and isinstance(a.packet.payload, w.EchoRequest)]
        assert len(probes) == 1
        probe = probes[0]
    assert core.snapshot()["probes"]["2001:db8:f::1"]["state"] == "up"


def test_map_declared_down_after_aggressive_probing_then_recovers():
    """base §10: no reply -> aggressive probes every 5 s for 15 s -> MAP option with valid lifetime 0 (and fast
    RAs, RFC 4861 §6.2.4); an answer restores it."""
    core = make(probing=True, manual_maps=(w.MapOption(MAP1, valid_lifetime=3600),))
    core.start(0.0)
    timeline = run_until(core, 40.0)
    probe_times = [t for t, a in timeline if isinstance(a, Send) and isinstance(a.packet.payload, w.EchoRequest)]
    assert probe_times[:5] == [10.0, 15.0, 20.0, 25.0, 35.0]
    lost = [t for t, a in timeline if isinstance(a, Log) and a.event == "map_probe_lost"]
    changes = [(t, a) for t, a in timeline if isinstance(a, MapStateChanged)]
    assert lost == [10.0]
    assert [(t, a.available, a.reason) for t, a in changes] == [(25.0, False, "probe-timeout")]
    down_ras = [a for t, a in timeline if t >= 25.0 and isinstance(a, Send)
                and isinstance(a.packet.payload, w.RouterAdvertisement)]
    assert down_ras and down_ras[0].packet.payload.map_options[0].valid_lifetime == 0
    assert core.snapshot()["probes"]["2001:db8:f::1"]["state"] == "down"
    last = [a for _, a in timeline if isinstance(a, Send) and isinstance(a.packet.payload, w.EchoRequest)][-1]
    actions = core.handle(40.5, "up0", reply_to(last))
    assert [(a.available, a.reason) for a in actions if isinstance(a, MapStateChanged)] == [(True, "probe-reply")]
    assert core.advertised_map_options("wlan0")[0].valid_lifetime == 3600
    assert core.next_deadline() <= 40.5 + 3.0  # fast RA announcing the recovery


def test_reply_during_aggressive_phase_cancels_failure():
    """base §10: an answer during the aggressive phase means the MAP is alive; it is never advertised as failed."""
    core = make(probing=True, manual_maps=(w.MapOption(MAP1),))
    core.start(0.0)
    timeline = run_until(core, 16.0)
    last = [a for _, a in timeline if isinstance(a, Send) and isinstance(a.packet.payload, w.EchoRequest)][-1]
    assert logs(core.handle(16.0, "up0", reply_to(last)), "map_probe_recovered")
    # the next probe (t=20) is again unanswered: lost at 30, down only at 45
    assert not [a for _, a in run_until(core, 44.0) if isinstance(a, MapStateChanged)]


def test_foreign_echo_replies_ignored():
    """base §10 probing: only a reply with this AR's identifier and a recent sequence number counts (RFC 4443 §4.2)."""
    core = make(probing=True, manual_maps=(w.MapOption(MAP1),))
    (probe,) = echoes(core.start(0.0))
    req = probe.packet.payload
    for bogus in (w.EchoReply(req.identifier + 1, req.sequence), w.EchoReply(req.identifier, req.sequence + 99)):
        core.handle(1.0, "up0", w.Packet(MAP1, AR_GLOBAL, bogus))
    assert core.snapshot()["probes"]["2001:db8:f::1"]["awaiting"] is True


def test_manual_failure_trigger_and_restore():
    """base §10: ARs can be triggered by manual intervention to advertise a MAP with valid lifetime 0."""
    core = make(manual_maps=(w.MapOption(MAP1),))
    core.start(0.0)
    actions = core.force_map_down(5.0, MAP1)
    assert [(a.available, a.reason) for a in actions if isinstance(a, MapStateChanged)] == [(False, "manual")]
    assert core.advertised_map_options("wlan0")[0].valid_lifetime == 0
    assert core.next_deadline() <= 5.0 + 3.0
    actions = core.restore_map(6.0, MAP1)
    assert [a.available for a in actions if isinstance(a, MapStateChanged)] == [True]
    assert core.advertised_map_options("wlan0")[0].valid_lifetime == 0xFFFFFFFF


def test_probing_targets_learned_maps_but_not_self():
    """base §10 with §7.1.1: every advertised MAP is probed, except this router's own MAP function."""
    core = discovery(probing=True, local_map=w.MapOption(SELF_MAP))
    core.start(0.0)
    core.handle(1.0, "up0", ra_from(UPSTREAM, w.MapOption(MAP1)))
    assert list(core.snapshot()["probes"]) == ["2001:db8:f::1"]


def test_probing_without_source_is_disabled_and_logged():
    """base §10 probing needs a source address for the echo requests; without one it is off and the log says so."""
    cfg = ArConfig(interfaces=(access(),), manual_maps=(w.MapOption(MAP1),))
    core = ArCore(cfg, rng=random.Random(1))
    assert logs(core.start(0.0), "failure_detection_disabled") and core.snapshot()["probes"] == {}


def test_snapshot_is_json():
    """Control command state: JSON-serialisable without NaN/Infinity."""
    core = discovery(probing=True)
    core.start(0.0)
    core.handle(1.0, "up0", ra_from(UPSTREAM, w.MapOption(MAP1)))
    snap = json.loads(json.dumps(core.snapshot(), allow_nan=False))
    assert snap["interfaces"]["wlan0"]["map_options"][0]["dist"] == 2
    assert snap["learned"][0]["router"] == "fe80::99"


# --- renumbered MAP (map-readdress) --------------------------------------------------------------------------------

MAP1_NEW = w.ip6("2001:db8:f::99")


def test_readdress_replaces_the_manual_option_and_advertises_at_once():
    """base §3.1 ¶7 (a change in the advertised MAP's address): the option is advertised with the new address, Dist,
    Pref, R and valid lifetime kept, in its place among the options; the next RA goes out at once (RFC 4861
    §6.2.4), not at the end of the current interval."""
    first, second = w.MapOption(MAP1, dist=2, pref=12, r=True, valid_lifetime=3600), w.MapOption(MAP2, dist=1, pref=9)
    core = make(manual_maps=(first, second))
    core.start(0.0)
    run_until(core, 100.0)  # past the initial advertisements: the next one is minutes away
    assert core.next_deadline() > 101.0
    actions = core.readdress_map(100.5, MAP1, MAP1_NEW)
    (log,) = logs(actions, "map_readdressed")
    assert (log.fields["old"], log.fields["new"]) == ("2001:db8:f::1", "2001:db8:f::99")
    assert core.advertised_map_options("wlan0") == (w.MapOption(MAP1_NEW, dist=2, pref=12, r=True,
                                                                valid_lifetime=3600), second)
    assert core.next_deadline() <= 100.5 + 3.0  # MIN_DELAY_BETWEEN_RAS at most
    (ra,) = ras(core.tick(core.next_deadline()))
    assert [o.address for o in ra.packet.payload.map_options] == [MAP1_NEW, MAP2]
    assert core.snapshot()["interfaces"]["wlan0"]["map_options"][0]["address"] == "2001:db8:f::99"


def test_readdress_back_restores_and_is_idempotent():
    """The reverse command restores the original option; repeating either is harmless (undo after a crash)."""
    manual = w.MapOption(MAP1, dist=3, pref=4, r=False, valid_lifetime=600)
    core = make(manual_maps=(manual,))
    core.start(0.0)
    core.readdress_map(1.0, MAP1, MAP1_NEW)
    assert logs(core.readdress_map(2.0, MAP1, MAP1_NEW), "map_readdress_unchanged")
    core.readdress_map(3.0, MAP1_NEW, MAP1)
    assert core.advertised_map_options("wlan0") == (manual,)
    assert logs(core.readdress_map(4.0, MAP1_NEW, MAP1), "map_readdress_unchanged")
    assert core.advertised_map_options("wlan0") == (manual,)


@pytest.mark.parametrize("old, new", [(MAP2, MAP1_NEW), (MAP1, MAP1), (MAP1, SELF_MAP), (SELF_MAP, MAP1_NEW)],
                         ids=["unknown", "same", "taken-by-local", "local"])
def test_readdress_rejects_what_is_not_a_manual_option(old, new):
    """Only a manually configured option is renumbered, never onto an address already advertised by this router."""
    core = make(manual_maps=(w.MapOption(MAP1),), local_map=w.MapOption(SELF_MAP))
    core.start(0.0)
    with pytest.raises(ValueError):
        core.readdress_map(1.0, old, new)
    assert {o.address for o in core.advertised_map_options("wlan0")} == {MAP1, SELF_MAP}


def test_readdress_moves_probing_to_the_new_address_and_keeps_forced_down_by_address():
    """base §10 failure detection follows the advertised address; a manual failure belongs to the address it was
    given for (the renumbered option is advertised normally, the old address stays forced down if it returns)."""
    core = make(probing=True, manual_maps=(w.MapOption(MAP1),))
    core.start(0.0)
    core.force_map_down(1.0, MAP1)
    actions = core.readdress_map(2.0, MAP1, MAP1_NEW)
    assert logs(actions, "map_probing_stopped") and logs(actions, "map_probing_started")
    assert list(core.snapshot()["probes"]) == ["2001:db8:f::99"]
    (probe,) = echoes(actions + core.tick(2.0))
    assert probe.packet.dst == MAP1_NEW
    assert core.advertised_map_options("wlan0")[0].valid_lifetime == 0xFFFFFFFF
    core.readdress_map(3.0, MAP1_NEW, MAP1)
    assert core.advertised_map_options("wlan0")[0].valid_lifetime == 0


@pytest.mark.parametrize("arg", ["2001:db8:f::1 2001:db8:f::99", "2001:db8:f::1,2001:db8:f::99",
                                 ["2001:db8:f::1", "2001:db8:f::99"]])
def test_map_readdress_control_argument(arg):
    """The AR daemon's ``map-readdress`` control command takes "OLD NEW" (or "OLD,NEW", or a list)."""
    from reference_impl.daemon.ar_main import _old_new

    assert _old_new(arg) == (MAP1, MAP1_NEW)


@pytest.mark.parametrize("arg", [None, "2001:db8:f::1", "2001:db8:f::1 2001:db8:f::99 2001:db8:f::98", "x y"])
def test_map_readdress_control_argument_refused(arg):
    """Anything but two addresses is a ValueError (the control socket replies ok: false with it)."""
    from reference_impl.daemon.ar_main import _old_new

    with pytest.raises(ValueError):
        _old_new(arg)
