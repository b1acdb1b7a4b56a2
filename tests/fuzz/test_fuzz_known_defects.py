"""Defects the fuzzing found in files this work may not change (issue 9), each reproduced precisely and marked
``xfail(strict=True)``: the day one is fixed, its test passes, pytest reports XPASS as a failure, and the marker
(and the matching entry of :func:`fuzz_support.known_defect`, where there is one) must go.

The daemons no longer die of any of them: :mod:`reference_impl.daemon.runner` counts and logs an action it
cannot encode (``encode_errors``), replaces a link-layer destination that is not 6 octets, and survives an
exception escaping a core (``internal_errors``).
"""

from __future__ import annotations

import tracemalloc

import pytest
from fuzz_support import (
    ACC1, AR_LL, LCOA, MAP, OTHER_LCOA, OTHER_RCOA, RCOA, ar_core, map_core, mn_core, register_bu,
)

from reference_impl import wire as w
from reference_impl.actions import Send
from reference_impl.map import MapConfig, MapCore

LONG_LLADDR = bytes(range(14))  # a link-layer address option of 2 units (16 octets): 14 octets of "address"


@pytest.mark.xfail(strict=True, raises=TypeError, reason="reference_impl/mn/core.py MnCore._send_tests builds the HoTI's tunnel with "
                   "the home binding's bound_coa, which is None once that binding expired while return routability "
                   "was still retrying: Packet(src=None) cannot be encoded")
def test_mn_hoti_retransmission_after_home_binding_expired():
    """Repro: an MN registered with its MAP and HA, return routability with its CN under way (HoTI/CoTI out, no
    answer yet); its clock then leaps 5000 s (daemon stalled, host suspended).  Ticking through the due timers
    expires the home binding (bound_coa = None) before the RR retransmission timer fires, and the retransmitted
    HoTI is ``Packet(src=None, dst=HA, payload=HoTI)``: ``encode_packet`` raises TypeError, which ended hmipv6-mn
    in ``Daemon._send`` (now counted as ``encode_errors``)."""
    core, now = mn_core()
    when = now + 5000
    for _ in range(50):
        for action in core.tick(when):
            if isinstance(action, Send):
                w.encode_packet(action.packet)
        when = core.next_deadline()


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="reference_impl/homelink.py ns_to_consider/proxy_na (MAP and HA cores) use "
                   "the Source Link-Layer Address option's whole body as the Ethernet destination of the proxy NA")
def test_map_proxy_na_to_a_link_layer_address_longer_than_ethernet():
    """Repro: NS for a bound RCoA on the MAP's link, hop limit 255, Source Link-Layer Address option of length 2
    (RFC 4861 §4.6.1 allows it for other link types; on Ethernet it is length 1).  The proxy NA's ``link_dst`` is
    the 14 octets, so the daemon framed ``14 octets + own MAC + 0x86dd + packet``: a garbage frame (the runner now
    logs ``bad_link_dst`` and lets the kernel resolve the destination)."""
    core = map_core(2)
    core.handle(0.0, "acc", register_bu(OTHER_RCOA, OTHER_LCOA, 1))
    ns = w.Packet(w.ip6("2001:db8:100::5"), w.solicited_node(OTHER_RCOA),
                  w.NeighborSolicitation(OTHER_RCOA, (w.SourceLinkLayerAddress(LONG_LLADDR),)), hop_limit=255)
    for action in core.handle(0.1, "dom", ns):
        if isinstance(action, Send):
            assert action.link_dst is None or len(action.link_dst) == 6, action.link_dst


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="reference_impl/mn/core.py MnCore._on_ra keeps the Source Link-Layer Address "
                   "option's whole body as the router's MAC (paths.router_mac)")
def test_mn_router_mac_from_a_long_link_layer_address_option():
    """Repro: the MN's current router (or one a spoofer on the link pretends to be) advertises with a Source
    Link-Layer Address option of length 2.  ``paths().router_mac`` becomes 14 octets; hmipv6-mn builds every frame
    of the home address's traffic as ``router_mac + own MAC + 0x86dd + packet`` (mn_main.MnHost.on_tun) and its BUs
    with that ``link_dst``: the MN's traffic is garbled until the next good RA."""
    core, now = mn_core()
    ra = w.Packet(AR_LL, w.ALL_NODES, w.RouterAdvertisement(router_lifetime=1800, options=(
        w.SourceLinkLayerAddress(LONG_LLADDR), w.PrefixInformation(ACC1, 64), w.MapOption(MAP, 1, 10, True, 86400))),
        hop_limit=255)
    core.handle(now + 0.1, "acc", ra)
    mac = core.paths().router_mac
    assert mac is None or len(mac) == 6, mac


def _flood_ar_with_learnt_maps(routers: int, per_ra: int):
    ar = ar_core()
    now = 1.0
    for r in range(routers):
        maps = tuple(w.MapOption(w.ip6(f"2001:db8:{r + 1:x}:{k:x}::1"), 1, 10, True, 86400) for k in range(per_ra))
        ar.handle(now, "up", w.Packet(w.ip6(f"fe80::{r + 1:x}:1"), w.ALL_NODES,
                                      w.RouterAdvertisement(router_lifetime=0, options=maps), hop_limit=255))
        now += 0.01
    return ar


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="reference_impl/ar/core.py + ar/map_table.py: MAP options learnt by dynamic "
                   "discovery are kept per (MAP, interface, advertising router) without any bound")
def test_ar_learnt_map_options_are_bounded():
    """Repro: 60 RAs of 1256 octets (each fits the link MTU) from 60 different link-local sources on a MAP-facing
    link, 50 MAP options each, hop limit 255 (anyone on that link can send them: dynamic discovery has no
    authentication).  The AR keeps 3000 learnt options and probes 3000 addresses by ICMPv6 echo every interval."""
    ar = _flood_ar_with_learnt_maps(60, 50)
    assert len(ar.table.learned) <= 256 and len(ar.prober.states) <= 256, (len(ar.table.learned),
                                                                         len(ar.prober.states))


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="reference_impl/ar/core.py ArCore.build_ra puts every MAP option in one RA: "
                   "beyond the link MTU it cannot be sent, beyond 65535 octets it cannot even be encoded")
def test_ar_advertisement_fits_the_link_mtu():
    """Repro: as above with 3 routers × 50 options.  RFC 4861 §6.2.3: an advertisement larger than the link MTU is
    split (or options left out); here ``build_ra('acc')`` is one RA of 3,600+ octets, which the daemon's send
    fails with EMSGSIZE on every RA: the access link goes without Router Advertisements (its MNs lose their
    router).  With 60 routers the RA exceeds 65535 octets and ``encode_packet`` raises ValueError, which ended
    hmipv6-ar in ``Daemon._send`` (now counted as ``encode_errors``)."""
    ar = _flood_ar_with_learnt_maps(3, 50)
    data = w.encode_packet(ar.build_ra("acc"))
    assert len(data) + 14 <= 1514, len(data)


def test_binding_refreshes_do_not_grow_memory():
    """Repro: a MAP with one binding of 3600 s nobody refreshes (the earliest deadline) and another one refreshed
    20,000 times with lifetime 0xFFFF units: the timer heap holds 20,002 entries for 2 live timers, about 3.5 MB
    (~180 octets per BU) that stay until the first binding expires.  The refresh rate is the sender's choice (any
    node on the path without IPsec, base §12), so memory grows with the BU rate × the shortest lifetime.  The same
    happens in an AR for every RA re-teaching it a MAP option (a ``("learned", key)`` timer 1800 s out): 27,000 RAs
    from 4 routers leave 27,002 heap entries for 6 live timers (6.7 MB).  The 1,000,000-packet soak shows both:
    MAP1 and AR1 grew linearly (benchmarks/soak.py).  Fixed: TimerQueue.set rebuilds the heap from the live
    entries when it exceeds twice their number (+64); this test failed before."""
    core = MapCore(MapConfig(address=MAP, home_iface="dom", link_address=w.mac("02:00:00:00:00:0f"), dad="off"))
    core.start(0.0)
    core.handle(0.0, "acc", register_bu(RCOA, LCOA, 1, lifetime=900))
    core.handle(0.0, "acc", register_bu(OTHER_RCOA, OTHER_LCOA, 1, lifetime=0xFFFF))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        now = 0.0
        for i in range(2, 20002):
            now += 0.001
            core.handle(now, "acc", register_bu(OTHER_RCOA, OTHER_LCOA, i & 0xFFFF, lifetime=0xFFFF))
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 500_000, f"{grown / 1e6:.1f} MB for 20,000 refreshes of one binding"
