"""Regression tests for the defects of the reference implementation the fuzzing found (issue 9), each reproduced
precisely.  All are fixed: an MN suspends return routability while it has no home registration
(``reference_impl/mn/core.py``), MAP, HA and MN use a Source Link-Layer Address option only when it holds a 6-octet
Ethernet address (``reference_impl/homelink.py``, ``reference_impl/mn/core.py``), and an AR bounds its learnt MAP
options and spreads its MAP options over RAs that fit the link MTU (``reference_impl/ar``).

The daemons would survive them anyway: :mod:`reference_impl.daemon.runner` counts and logs an action it cannot
encode (``encode_errors``), replaces a link-layer destination that is not 6 octets, and survives an exception
escaping a core (``internal_errors``).
"""

from __future__ import annotations

import tracemalloc

from fuzz_support import (
    ACC1, AR_LL, LCOA, MAP, OTHER_LCOA, OTHER_RCOA, RCOA, ar_core, map_core, mn_core, register_bu,
)

from reference_impl import wire as w
from reference_impl.actions import Send
from reference_impl.ar.map_table import MAX_LEARNED
from reference_impl.map import MapConfig, MapCore

LONG_LLADDR = bytes(range(14))  # a link-layer address option of 2 units (16 octets): 14 octets of "address"


def test_mn_hoti_retransmission_after_home_binding_expired():
    """An MN registered with its MAP and HA, return routability with its CN under way (HoTI/CoTI out, no answer
    yet); its clock then leaps 5000 s (daemon stalled, host suspended).  Ticking through the due timers expires the
    home binding before the RR retransmission timer fires.  The retransmitted HoTI used to be
    ``Packet(src=None, dst=HA, payload=HoTI)`` (TypeError in ``encode_packet``); now return routability is
    suspended until the next home registration (RFC 6275 §6.1.3, §10.4.5: the HoTI goes through the HA)."""
    core, now = mn_core()
    when = now + 5000
    for _ in range(50):
        for action in core.tick(when):
            if isinstance(action, Send):
                w.encode_packet(action.packet)
        when = core.next_deadline()


def test_map_proxy_na_to_a_link_layer_address_longer_than_ethernet():
    """NS for a bound RCoA on the MAP's link, hop limit 255, Source Link-Layer Address option of length 2 (RFC 4861
    §4.6.1 allows it for other link types; on Ethernet it is length 1, RFC 2464 §6).  The proxy NA's ``link_dst``
    used to be the 14 octets (a garbage frame); now the option is treated as absent and the NA goes to the
    solicitor's address for the I/O layer to resolve."""
    core = map_core(2)
    core.handle(0.0, "acc", register_bu(OTHER_RCOA, OTHER_LCOA, 1))
    ns = w.Packet(w.ip6("2001:db8:100::5"), w.solicited_node(OTHER_RCOA),
                  w.NeighborSolicitation(OTHER_RCOA, (w.SourceLinkLayerAddress(LONG_LLADDR),)), hop_limit=255)
    for action in core.handle(0.1, "dom", ns):
        if isinstance(action, Send):
            assert action.link_dst is None or len(action.link_dst) == 6, action.link_dst
            assert action.packet.dst == w.ip6("2001:db8:100::5")  # RFC 4861 §7.2.4: to the solicitor


def test_mn_router_mac_from_a_long_link_layer_address_option():
    """The MN's current router (or one a spoofer on the link pretends to be) advertises with a Source Link-Layer
    Address option of length 2.  ``paths().router_mac`` used to become those 14 octets, garbling every frame of the
    MN (mn_main.MnHost.on_tun, its BUs) until the next good RA; now the option counts as absent and the router's
    known MAC is kept (RFC 4861 §6.3.4)."""
    core, now = mn_core()
    ra = w.Packet(AR_LL, w.ALL_NODES, w.RouterAdvertisement(router_lifetime=1800, options=(
        w.SourceLinkLayerAddress(LONG_LLADDR), w.PrefixInformation(ACC1, 64), w.MapOption(MAP, 1, 10, True, 86400))),
        hop_limit=255)
    core.handle(now + 0.1, "acc", ra)
    mac = core.paths().router_mac
    assert mac is None or len(mac) == 6, mac
    for action in core.handle(now + 0.2, "acc", ra) + core.tick(now + 0.3):
        if isinstance(action, Send):
            assert action.link_dst is None or len(action.link_dst) == 6, action


def _flood_ar_with_learnt_maps(routers: int, per_ra: int):
    ar = ar_core()
    now = 1.0
    for r in range(routers):
        maps = tuple(w.MapOption(w.ip6(f"2001:db8:{r + 1:x}:{k:x}::1"), 1, 10, True, 86400) for k in range(per_ra))
        ar.handle(now, "up", w.Packet(w.ip6(f"fe80::{r + 1:x}:1"), w.ALL_NODES,
                                      w.RouterAdvertisement(router_lifetime=0, options=maps), hop_limit=255))
        now += 0.01
    return ar


def test_ar_learnt_map_options_are_bounded():
    """60 RAs of 1256 octets (each fits the link MTU) from 60 different link-local sources on a MAP-facing link, 50
    MAP options each, hop limit 255 (anyone on that link can send them: dynamic discovery has no authentication).
    The AR used to keep 3000 learnt options and probe 3000 addresses by ICMPv6 echo every interval; now it keeps
    at most MAX_LEARNED and counts the options it refuses."""
    ar = _flood_ar_with_learnt_maps(60, 50)
    assert MAX_LEARNED == 256
    assert len(ar.table.learned) <= 256 and len(ar.prober.states) <= 256, (len(ar.table.learned),
                                                                         len(ar.prober.states))
    assert ar.counters["map_options_refused"] == 3000 - len(ar.table.learned)


def test_ar_advertisement_fits_the_link_mtu():
    """As above with 3 routers × 50 options.  The AR used to put them all in one RA of 3,600+ octets, which the
    daemon's send failed with EMSGSIZE on every RA (the access link went without Router Advertisements); with 60
    routers it exceeded 65535 octets and could not be encoded.  RFC 4861 §6.2.3: "multiple advertisements can be
    sent, each containing a subset of the options": every RA the AR sends fits the link MTU with its Ethernet
    header, each keeps the other options, and together they carry every MAP option."""
    ar = _flood_ar_with_learnt_maps(3, 50)
    ras = ar.build_ras("acc")
    assert len(ras) > 1
    carried = []
    for ra in ras:
        data = w.encode_packet(ra)
        assert len(data) + 14 <= 1514, len(data)
        others = [o for o in ra.payload.options if not isinstance(o, w.MapOption)]
        assert any(isinstance(o, w.PrefixInformation) for o in others) and any(
            isinstance(o, w.SourceLinkLayerAddress) for o in others), others
        carried += ra.payload.map_options
    assert sorted(o.address for o in carried) == sorted(o.address for o in ar.advertised_map_options("acc"))
    sends = [a for a in ar.tick(ar.next_deadline() + 10) if isinstance(a, Send) and a.iface == "acc"]
    assert [s.packet for s in sends] == ar.build_ras("acc")  # what the AR sends is what build_ras builds


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
