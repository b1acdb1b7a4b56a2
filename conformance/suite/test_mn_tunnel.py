"""MN test purposes: the MN -> MAP tunnel for outbound packets, and location privacy (base §6.1, §6.6).

Topology (all of them, conformance/suite/mn_support.py): the mobile node alone on acc0 with the tester, which
plays the access router R1 (prefix 2001:db8:1f0::/64), the MAP MAP-A (2001:db8:1a::1), the home agent and the
correspondents (the tester answers neither the correspondents' tests nor the MN's data).  The MN's own traffic
is started over its management connection (``ping -I <home address>``).  The MN is restarted on acc0 before
each test and stopped after it.
"""

from __future__ import annotations

import ipaddress
import time

import pytest
from scapy.layers.inet6 import IPv6ExtHdrFragment, MIP6MH_CoTI, MIP6MH_HoTI

from conformance.suite import mn_support
from conformance.suite.mn_support import MAP_A, MapAd, bu_of, same
from harness.tester.packets import ICMPv6EchoRequest, ipv6_layers

pytestmark = pytest.mark.role("mn")

TUNNEL_MTU = "HMIP-5380-11-P1-MUST-1"  # RFC 5380 §11: the MTU for upper layers accounts for the MAP tunnel


@pytest.fixture
def bench(testbed, tester, _dut_session, edition):
    """The MN restarted on acc0 (see test_mn_registration.bench)."""
    yield from mn_support.bench(testbed, tester, _dut_session, edition)


def _peer(bench) -> str:
    """A correspondent to send to: the MN's first configured correspondent, else the testbed's first CN."""
    if bench.correspondents:
        return bench.correspondents[0]
    node = next((n for n in bench.spec.nodes.values() if n.role == "cn"), None)
    address = next((i.address.ip for i in node.interfaces.values() if i.address), None) if node else None
    return str(address or "2001:db8:20::10")


def _ping_from_home(bench, judge, peer: str) -> None:
    judge.step(f"ping {peer} from the home address over the MN's console")
    bench.run(f"ping -6 -n -c 1 -W 1 -I {bench.home_address} {peer}", timeout=20)


@pytest.mark.tp(id="HMIP-MN-TUN-001", title="Packets from the home address leave tunnelled LCoA -> MAP, RCoA inside")
@pytest.mark.requirements("HMIP-4140-6.1-P2-BIND-1", "HMIP-4140-6.1-P2-BIND-2", "HMIP-4140-6.1-P2-BIND-3",
                          "HMIP-5380-11-P1-BIND-1", TUNNEL_MTU)
def test_reverse_tunnel_to_map(bench, judge, edition) -> None:
    """
    Purpose:        Once registered, the MN sends its packets to the MAP in a tunnel from its LCoA, the inner
                    header carrying its RCoA as source (here a packet from the home address, reverse-tunnelled to
                    the HA as RFC 6275 §11.3.1 describes, inside the MAP tunnel).
    Topology:       MN -- acc0 -- tester (R1, MAP-A, HA, CN).
    Initialisation: MN restarted on acc0; registered with MAP-A and its HA.
    Procedure:      1. Register with MAP-A and the HA.  2. The MN pings a correspondent from its home address
                    (one Echo Request, over its console).  3. Capture the Echo Request on acc0.
                    4. (rfc5380) The MN pings the correspondent from its home address again with an Echo Request
                       of exactly the link MTU (the MN's interface MTU read over its console, else 1500: 40 + 8 +
                       MTU - 48 octets of data); the tester collects the frames the MN sends through the tunnel
                       until the last of that packet (a frame unfragmented or with M clear; at most 2 s).
    Judgement:      1. The Echo Request (home address -> CN) leaves inside a tunnel to the MAP    base §6.1
                    2. The outer header: source the LCoA, destination the MAP                    base §6.1
                    3. The next header: source the RCoA, destination the peer that decapsulates it (the HA, or
                       the CN itself when route-optimised)                                          base §6.1
                    4. (rfc5380) The large Echo Request leaves through the tunnel to the MAP, in frames none of
                       which exceeds the link MTU, fragmented (if at all) by the MN before encapsulation: no
                       tunnel header (LCoA -> MAP, or RCoA -> HA) carries a Fragment header.  The MN offered its
                       upper layers an MTU that leaves room for the tunnel headers.  Nothing of it leaving, an
                       oversize frame, or a fragmented tunnel packet is a FAIL (judgement 1 showed the path
                       works for a small packet).                                              RFC 5380 §11
                    (rfc5380: 1 is also RFC 5380 §11.)
    Reference:      base §6.1 "All packets sent by the mobile node are tunnelled to the MAP. The outer header
                    contains the mobile node's LCoA in the source address field and the MAP's address in the
                    destination address field. The inner header contains the mobile node's RCoA in the source
                    address field and the peer's address in the destination address field." (INC-8: packets
                    from the RCoA or the home address); RFC 5380 §11 "This specification requires the mobile
                    node to tunnel outgoing traffic to the MAP."; "Hence, mobile nodes MUST consider the
                    encapsulation of traffic between the node and the MAP when calculating the available MTU for
                    upper layers."
    """
    judge.require(bench.home_agent is not None, "the MN has no home address and HA to send from")
    reg = bench.register([MapAd(MAP_A)], judge=judge)
    peer = _peer(bench)
    mark = bench.tester.mark()
    _ping_from_home(bench, judge, peer)
    echo = bench.tester.wait_for(lambda f: bench.from_mn(f) and ICMPv6EchoRequest in f.pkt
                                 and same(ipv6_layers(f.pkt)[-1].dst, peer), 2.0, mark, [bench.link])
    judge.require(echo is not None, f"no Echo Request to {peer} left the MN")
    layers = ipv6_layers(echo.pkt)
    judge.record("headers", [f"{l.src} -> {l.dst}" for l in layers])
    to_map = len(layers) >= 2 and same(layers[0].dst, MAP_A)
    judge.check("HMIP-4140-6.1-P2-BIND-1", to_map, "the Echo Request left without a tunnel to the MAP: "
                + " | ".join(f"{l.src} -> {l.dst}" for l in layers), frame=echo,
                tshark={"ipv6.dst": str(ipaddress.IPv6Address(layers[0].dst))})
    if edition == "rfc5380":
        judge.check("HMIP-5380-11-P1-BIND-1", to_map, "the Echo Request was not tunnelled to the MAP")
    judge.check("HMIP-4140-6.1-P2-BIND-2", same(layers[0].src, reg.lcoa) and same(layers[0].dst, MAP_A),
                f"outer header {layers[0].src} -> {layers[0].dst} (expected {reg.lcoa} -> {MAP_A})")
    inner = layers[1]
    judge.check("HMIP-4140-6.1-P2-BIND-3", same(inner.src, reg.rcoa) and (same(inner.dst, bench.home_agent)
                                                                          or same(inner.dst, peer)),
                f"inner header {inner.src} -> {inner.dst} (expected {reg.rcoa} -> the HA or {peer})")
    if edition == "rfc5380":
        _judge_tunnel_mtu(bench, judge, reg, peer)


def _link_mtu(bench) -> int:
    """The MN's access interface MTU as its console shows it (1500 when it cannot be read)."""
    result = bench.run(f"cat /sys/class/net/{bench.iface}/mtu", timeout=10)
    try:
        return int(result.stdout.strip()) if result.ok else 1500
    except ValueError:
        return 1500


def _judge_tunnel_mtu(bench, judge, reg, peer: str) -> None:
    """Judgement 4 of HMIP-MN-TUN-001: a home-address packet of the link MTU leaves the tunnel within the MTU."""
    mtu = _link_mtu(bench)
    judge.record("link_mtu", mtu)
    mark = bench.tester.mark()
    judge.step(f"4. ping {peer} from the home address with a {mtu}-octet packet ({mtu - 48} octets of data)")
    bench.run(f"ping -6 -n -c 1 -W 1 -s {mtu - 48} -I {bench.home_address} {peer}", timeout=20)

    def tunnelled(f) -> bool:
        layers = ipv6_layers(f.pkt)
        return bench.from_mn(f) and len(layers) >= 2 and same(layers[0].dst, MAP_A) and same(layers[0].src, reg.lcoa)

    def home_packet(f) -> bool:  # the Echo Request from the home address, or one of its fragments
        return tunnelled(f) and any(same(l.src, bench.home_address) and same(l.dst, peer)
                                    and (isinstance(l.payload, IPv6ExtHdrFragment) or ICMPv6EchoRequest in l)
                                    for l in ipv6_layers(f.pkt))

    def completes(f) -> bool:  # unfragmented, or the last fragment (M clear) of whatever header was fragmented
        return tunnelled(f) and not bu_of(f) and all(
            l.payload.m == 0 for l in ipv6_layers(f.pkt) if isinstance(l.payload, IPv6ExtHdrFragment))

    bench.tester.wait_for(completes, 2.0, mark, [bench.link])  # the packet's last frame (or 2 s)
    frames = [f for f in bench.tester.frames(mark, [bench.link]) if not f.outgoing and tunnelled(f) and not bu_of(f)]
    echo = [f for f in frames if home_packet(f)]
    oversize = [f for f in frames if 40 + ipv6_layers(f.pkt)[0].plen > mtu]
    # a Fragment header right after a tunnel header (any header but the home-address packet's own)
    tunnel_fragmented = [f for f in frames if any(isinstance(l.payload, IPv6ExtHdrFragment)
                                                  and not same(l.src, bench.home_address)
                                                  for l in ipv6_layers(f.pkt))]
    judge.record("tunnelled_frames", [40 + ipv6_layers(f.pkt)[0].plen for f in frames])
    detail = (f"{len(frames)} tunnelled frame(s) after a {mtu}-octet Echo Request from the home address (link MTU "
              f"{mtu}): {len(echo)} with the home-address packet inside, {len(oversize)} above the link MTU, "
              f"{len(tunnel_fragmented)} with a fragmented tunnel header")
    judge.check(TUNNEL_MTU, bool(echo) and not oversize and not tunnel_fragmented, detail,
                frame=(oversize or tunnel_fragmented or echo or [None])[0])


@pytest.mark.tp(id="HMIP-MN-PRIV-001", title="No packet forwarded by the MAP to the HA or a CN carries the LCoA")
@pytest.mark.requirements("HMIP-4140-6.1-P4-BIND-1", "HMIP-4140-6.1-P2-BIND-3")
def test_lcoa_hidden_from_ha_and_cn(bench, judge) -> None:
    """
    Purpose:        The LCoA reaches neither the HA nor the correspondents: everything the MN sends them (the home
                    registration, return-routability tests, data) carries the RCoA, and the LCoA only appears in
                    the outer header of the tunnel the MAP removes.
    Topology:       MN -- acc0 -- tester (R1, MAP-A, HA, CNs).
    Initialisation: MN restarted on acc0.
    Procedure:      1. Register with MAP-A and the HA.  2. The MN pings a correspondent from its home address.
                    3. Collect every frame the MN sent from the Router Advertisement until 1 s after the ping.
    Judgement:      For every packet addressed to the HA or a correspondent -- the packet as the MAP forwards it,
                    i.e. inside the LCoA -> MAP tunnel -- the 16 octets of the LCoA appear nowhere (source,
                    Home Address option, Alternate Care-of Address, inner headers) and it was not sent directly:
                    1. the BU to the HA (its care-of address is the RCoA)                        base §6.1
                    2. every other packet: return-routability tests (Home Test Init inside RCoA -> HA, Care-of
                       Test Init from the RCoA), data (RCoA as the inner source)                  base §6.1
                    (The §12.2 statements on the Home Test Init's double encapsulation are judged by
                    HMIP-MN-SEC-005.)
                    (A packet of each kind is needed; none at all makes the test INCONCLUSIVE.)
    Reference:      base §6.6 "a mobile node hides its LCoA from its corresponding nodes and its home agent by
                    using its RCoA in the source field of the packets that it sends"; §6.1 "... the RCoA is used
                    as the care-of address in the source address field."; §6.1 "The inner header contains the
                    mobile node's RCoA in the source address field".
    """
    judge.require(bench.home_agent is not None, "the MN has no home agent")
    since = bench.tester.mark()
    reg = bench.register([MapAd(MAP_A)], judge=judge)
    peer = _peer(bench)
    _ping_from_home(bench, judge, peer)
    bench.tester.let_time_pass(time.time() + 1.0)  # the return-routability retransmissions and the Echo Request
    lcoa = ipaddress.IPv6Address(reg.lcoa).packed
    targets = {ipaddress.IPv6Address(a) for a in (bench.home_agent, *bench.correspondents, peer)}
    seen = {"ha_bu": 0, "hoti": 0, "other": 0}
    for frame in bench.tester.frames(since, [bench.link]):
        if frame.outgoing or not bench.from_mn(frame):
            continue
        layers = ipv6_layers(frame.pkt)
        if not layers:
            continue
        via_map = len(layers) >= 2 and same(layers[0].dst, MAP_A)
        forwarded = layers[1] if via_map else layers[0]
        final = ipaddress.IPv6Address(layers[-1].dst)
        if ipaddress.IPv6Address(forwarded.dst) not in targets and final not in targets:
            continue
        leaked = not via_map or lcoa in bytes(forwarded)
        b = bu_of(frame)
        if b is not None and bench.home_bu(b):
            kind, requirement = "ha_bu", "HMIP-4140-6.1-P4-BIND-1"
        else:
            kind, requirement = ("hoti" if MIP6MH_HoTI in frame.pkt else "other"), "HMIP-4140-6.1-P2-BIND-3"
        seen[kind] += 1
        what = "CoTI" if MIP6MH_CoTI in frame.pkt else ("Echo Request" if ICMPv6EchoRequest in frame.pkt else kind)
        judge.check(requirement, not leaked,
                    f"{what} {' | '.join(f'{l.src} -> {l.dst}' for l in layers)}: the LCoA {reg.lcoa} reaches "
                    f"{forwarded.dst}", frame=frame)
    judge.record("packets_checked", seen)
    judge.require(seen["ha_bu"] and (seen["hoti"] or seen["other"]),
                  f"too little traffic toward the HA and correspondents to judge: {seen}")
