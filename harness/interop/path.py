"""What the tester's captures show of each hop of the mobile node's path after an attachment, and the clause
behind the first hop that is missing: the cause a broken end-to-end flow is indexed by.

The expected path after the mobile node attaches to an access router (HMIPv6, MAP M)::

    RA with M's option  ->  local BU  LCoA -> M  ->  BA  M -> LCoA (retransmitted BUs if BAs are lost)
    ->  accepted, with a type 2 routing header holding the RCoA
    ->  [another domain: BU  RCoA -> HA]  ->  CN's datagrams to the RCoA tunnelled M -> LCoA
    ->  the MN's datagrams tunnelled LCoA -> M and sent on by M

and in plain Mobile IPv6 (no MAP left): a home BU from the LCoA itself.
Each hop names the requirement whose violation would break it (edition-specific IDs where the editions
differ).  Everything is read with scapy from the captures, never from the devices.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterable

from harness.tester.packets import (
    MIP6MH_BA, MIP6MH_BU, UDP, HAO, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_RA, ICMPv6NDOptMAP, IPv6ExtHdrRouting,
    ipv6_layers,
)

#: the requirement behind each hop, per edition ("*": both)
CAUSES: dict[str, dict[str, str]] = {
    "ra": {"rfc4140": "HMIP-4140-7.1-P1-BIND-1", "rfc5380": "HMIP-5380-7-P2-BIND-1"},
    "local_bu_intra": {"*": "HMIP-4140-6.1-P8-BIND-1"},
    "local_bu_new_map": {"*": "HMIP-4140-3-P5-SHOULD-1"},
    "ba": {"*": "MIP6-6275-9.5.4-P3-MUST-1"},
    "bu_retransmit": {"*": "MIP6-6275-11.8-P6-SHOULD-1"},
    "ba_accepted": {"*": "HMIP-4140-6.2-P2-MUST-1"},
    "ba_rh2": {"*": "HMIP-4140-6.2-P2-MUST-2"},
    "home_bu": {"*": "HMIP-4140-6.1-P4-MUST-1"},
    "tunnel_down": {"*": "HMIP-4140-6.1-P2-BIND-4"},
    "tunnel_up": {"*": "HMIP-4140-6.1-P2-BIND-1"},
    "map_forwards_up": {"*": "HMIP-4140-6.2-P3-MUST-1"},
    "failed_map_unused": {"*": "HMIP-4140-7.2-P3-MUST-NOT-1"},
    "revert_mip6": {"rfc4140": "HMIP-4140-7.2-P3-MUST-2", "rfc5380": "HMIP-5380-7.1-P2-MUST-NOT-2"},
}


def requirement(hop: str, edition: str) -> str:
    ids = CAUSES[hop]
    return ids.get(edition) or ids["*"]


def all_requirements() -> tuple[str, ...]:
    """Every requirement a cause may name (a test purpose that diagnoses declares them)."""
    return tuple(sorted({r for ids in CAUSES.values() for r in ids.values()}))


@dataclasses.dataclass
class Hop:
    """One hop of the path: whether the captures show it, what they show, and the frame."""

    name: str
    requirement: str
    holds: bool
    detail: str
    frame: object = None


@dataclasses.dataclass(frozen=True)
class Attachment:
    """Where the mobile node went and what it should do there."""

    link: str  # the access link
    prefix: ipaddress.IPv6Network  # its prefix (the LCoA's)
    map: str | None  # the MAP it should use (None: plain Mobile IPv6)
    home_agent: str
    home_address: str
    correspondent: str
    new_domain: bool  # a MAP other than the one before (HA and CN must learn a new RCoA)
    failed_map: str | None = None  # a MAP advertised with valid lifetime 0 (judged apart: InteropBench's Checks)
    map_links: tuple[str, ...] = ()  # links where the MAP's traffic can be seen (its domain and upstream links)


def _in(address: str, net: ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.IPv6Address(address) in net
    except ValueError:
        return False


def owner(frame, message) -> object:
    """The IPv6 header a ``message`` (BU, BA) belongs to: the innermost one that carries it."""
    layers = [layer for layer in ipv6_layers(frame.pkt) if message in layer]
    return layers[-1] if layers else None


def _bu_layer(frame, dst: str | None = None):
    """The IPv6 header of a BU (at any tunnel depth), optionally only one addressed to ``dst``."""
    layer = owner(frame, MIP6MH_BU)
    return layer if layer is not None and (dst is None or layer.dst == dst) else None


def home_of(layer) -> str | None:
    return layer[HAO].hoa if HAO in layer else None


def _rh2(frame) -> str | None:
    rh = frame.pkt.getlayer(IPv6ExtHdrRouting)
    if rh is None or rh.type != 2 or not rh.addresses:
        return None
    return rh.addresses[0]


class PathView:
    """The captures of one phase: frames from capture mark ``since`` up to (not including) mark ``until``."""

    def __init__(self, tester, since: int, until: int | None = None) -> None:
        self.tester, self.since, self.until = tester, since, until  # capture marks: [since, until)

    def frames(self, links: Iterable[str] | None = None, match: Callable | None = None) -> list:
        return [f for f in self.tester.frames(self.since, list(links) if links else None)
                if (self.until is None or f.index < self.until) and (match is None or match(f))]

    def first(self, links: Iterable[str] | None, match: Callable):
        found = self.frames(links, match)
        return found[0] if found else None


def _flow_datagram(frame, port: int | None, echo: str | None) -> bool:
    pkt = frame.pkt
    if port is not None and UDP in pkt and pkt[UDP].dport == port:
        return True
    return echo is not None and (ICMPv6EchoRequest in pkt if echo == "request" else ICMPv6EchoReply in pkt)


def diagnose(view: PathView, at: Attachment, edition: str, *, down_port: int | None = None,
             up_port: int | None = None, leg: str = "down") -> list[Hop]:
    """The hops of ``at``'s path in order, up to and including the first that does not hold.  ``leg``: "down"
    (CN -> MN datagrams, UDP to ``down_port`` or echo requests) or "up" (MN -> CN, UDP to ``up_port`` or echo
    replies)."""
    hops: list[Hop] = []

    def hop(name: str, holds: bool, detail: str, frame=None) -> bool:
        hops.append(Hop(name, requirement(name, edition), holds, detail, frame))
        return holds

    access = [at.link]
    everywhere = None
    if at.map is None:
        home = view.first(everywhere, lambda f: (b := _bu_layer(f, at.home_agent)) is not None and _in(b.src, at.prefix)
                          and len(ipv6_layers(f.pkt)) == 1)
        hop("revert_mip6", home is not None,
            f"home BU from the LCoA ({home.pkt.getlayer(MIP6MH_BU).seq if home else '-'}) to {at.home_agent}"
            if home is not None else f"no BU from an address of {at.prefix} to the home agent {at.home_agent}: "
                                     "the mobile node did not revert to Mobile IPv6", home)
        return hops

    m = at.map
    ra = view.first(access, lambda f: ICMPv6ND_RA in f.pkt and any(
        o.addr == m and o.validlifetime > 0 for o in map_options(f.pkt)))
    if not hop("ra", ra is not None, f"RA on {at.link} with MAP {m}" if ra is not None
               else f"no RA on {at.link} carried MAP {m} with a valid lifetime", ra):
        return hops
    bus = view.frames(everywhere, lambda f: (b := _bu_layer(f, m)) is not None and _in(b.src, at.prefix))
    name = "local_bu_new_map" if at.new_domain else "local_bu_intra"
    if not hop(name, bool(bus), f"local BU from {_bu_layer(bus[0], m).src} to {m}" if bus
               else f"no local BU from an address of {at.prefix} to MAP {m}", bus[0] if bus else None):
        return hops

    def ba_for(bu, links):
        layer = _bu_layer(bu, m)
        return view.first(links, lambda f: (ly := owner(f, MIP6MH_BA)) is not None and ly.src == m
                          and ly.dst == layer.src and ly[MIP6MH_BA].seq == layer[MIP6MH_BU].seq)
    answered = [(bu, ba) for bu in bus if (ba := ba_for(bu, everywhere)) is not None]
    if not hop("ba", bool(answered), f"BA from {m} for the local BU" if answered else
               f"no BA from {m} for the local BU(s) (A set) from {_bu_layer(bus[0], m).src}", bus[-1]):
        return hops
    delivered = next(((bu, ba) for bu, _ in answered if (ba := ba_for(bu, access)) is not None), None)
    if delivered is None:  # every BA was lost on the way (a lossy path): only a retransmitted BU gets through
        hop("bu_retransmit", len(bus) > 1, f"{len(bus)} BUs sent, no BA reached {at.link}" if len(bus) > 1 else
            f"the BA for the only local BU never reached {at.link}, and the BU was not retransmitted", bus[-1])
        return hops
    bu, ba = delivered
    layer = _bu_layer(bu, m)
    lcoa, rcoa = layer.src, home_of(layer)
    status = ba.pkt[MIP6MH_BA].status
    if not hop("ba_accepted", status < 128, f"BA status {status}", ba):
        return hops
    rh2 = _rh2(ba)
    if not hop("ba_rh2", rh2 == rcoa, f"BA with a type 2 routing header holding {rh2}" if rh2 == rcoa else
               f"the BA carries {'no type 2 routing header' if rh2 is None else 'a type 2 routing header with ' + rh2}"
               f", not the RCoA {rcoa}: the mobile node must ignore it", ba):
        return hops
    if at.new_domain:
        home = view.first(everywhere, lambda f: (b := _bu_layer(f, at.home_agent)) is not None and b.src == rcoa)
        if not hop("home_bu", home is not None, f"BU from the RCoA {rcoa} to the home agent" if home is not None
                   else f"no BU with the new RCoA {rcoa} to the home agent {at.home_agent}", home):
            return hops
    if leg == "down":
        def to_rcoa(f) -> bool:
            return _flow_datagram(f, down_port, None if down_port else "request") and any(
                ly.dst in (rcoa, at.home_address) for ly in ipv6_layers(f.pkt))
        tunnelled = view.first(access, lambda f: to_rcoa(f) and (ls := ipv6_layers(f.pkt))[0].src == m
                               and ls[0].dst == lcoa and len(ls) >= 2)
        arriving = view.first(at.map_links or everywhere, lambda f: to_rcoa(f) and ipv6_layers(f.pkt)[0].dst == rcoa)
        if tunnelled is None and arriving is None:
            return hops  # nothing reached the MAP: not a hop of this path (the HA's or the CN's state)
        hop("tunnel_down", tunnelled is not None,
            f"datagrams for {rcoa} tunnelled {m} -> {lcoa}" if tunnelled is not None
            else f"datagrams for {rcoa} reached the MAP but none was tunnelled to the LCoA {lcoa}",
            tunnelled or arriving)
        return hops

    def from_mn(f) -> bool:
        return _flow_datagram(f, up_port, None if up_port else "reply")
    sent = view.first(access, lambda f: from_mn(f) and ipv6_layers(f.pkt)[0].src == lcoa)
    if not hop("tunnel_up", sent is not None and ipv6_layers(sent.pkt)[0].dst == m and len(ipv6_layers(sent.pkt)) >= 2,
               "the MN's datagrams tunnelled LCoA -> MAP" if sent is not None and ipv6_layers(sent.pkt)[0].dst == m
               else ("the MN sent its datagrams from the LCoA without the tunnel to its MAP" if sent is not None
                     else "no datagram of the MN's flow left the LCoA"), sent):
        return hops
    onward = view.first(at.map_links or everywhere, lambda f: from_mn(f) and ipv6_layers(f.pkt)[0].src != lcoa
                        and ipv6_layers(f.pkt)[0].dst != m and f.time > sent.time)
    hop("map_forwards_up", onward is not None, "the MAP sent the decapsulated datagrams on" if onward is not None
        else "the MAP received the MN's tunnelled datagrams but sent none on", onward or sent)
    return hops


def map_options(pkt) -> list:
    out, opt = [], pkt.getlayer(ICMPv6NDOptMAP)
    while opt is not None:
        out.append(opt)
        opt = opt.payload.getlayer(ICMPv6NDOptMAP) if opt.payload is not None else None
    return out


def first_broken(hops: list[Hop]) -> Hop | None:
    return next((h for h in hops if not h.holds), None)
