"""Shared helpers of the MN-role test purposes: the tester plays the mobile node's whole world.

Topology (every MN test purpose)::

    MN (DUT) --- acc0 --- tester: access router(s) R1 (and R2), MAP-A, MAP-B, the HA and the CNs

The mobile node is attached to ``acc0``, the tester's own access link (no router, no other node), so
everything the MN hears comes from the tester and everything it sends is captured there.  The tester

* sends Router Advertisements as an access router (hop limit 255, link-local source, Source Link-Layer
  Address option, a Prefix Information option with A and L set, and zero or more MAP options),
* answers local BUs as the MAP (a BA from the MAP address to the LCoA with a type 2 routing header holding
  the RCoA), and home registrations as the HA, inside the MAP tunnel (MAP -> LCoA [HA -> RCoA, RH2 = home
  address]) or directly in Mobile IPv6 mode (HA -> LCoA),
* answers Neighbor Solicitations for the routers' link-local addresses,
* or, through :class:`PlayedMaps`, answers every BU as the MAP (or HA) it is sent to while keeping each played
  MAP's binding cache, so that a scenario tells a new binding from the refresh of an existing one.

The MAPs the tester plays (:data:`MAP_A`, :data:`MAP_B`) are not the testbed's MAP nodes: their prefixes
exist only on this link.  The mobile node's home address, home agent and correspondents are those of the
testbed's mobile-node configuration.

Isolation: :meth:`MnBench.start` stops the DUT's daemon, attaches the MN to ``acc0`` (a carrier flap), and
starts the daemon afresh (no binding, no stored MAP option); :meth:`MnBench.finish` stops it again, puts back
the interface settings the daemon changed and re-attaches the MN to the link the testbed file gives it.

Test modules use the :func:`bench` generator through a fixture of their own::

    @pytest.fixture
    def bench(testbed, tester, _dut_session, edition):
        yield from mn_support.bench(testbed, tester, _dut_session, edition)
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from scapy.layers.inet6 import MIP6MH_CoT, MIP6MH_CoTI, MIP6MH_HoT, MIP6MH_HoTI, MIP6OptAltCoA
from scapy.packet import Raw

from harness.tester import AUTO, Frame, Tester
from harness.tester.mobility import mh_checksum, mh_pseudo_checksum
from harness.tester.packets import (
    HAO, MIP6MH_BA, MIP6MH_BU, Ether, ICMPv6EchoRequest, ICMPv6ND_RA, ICMPv6ND_RS, ICMPv6NDOptMAP,
    ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr, IPv6, IPv6ExtHdrRouting, ipv6_layers, link_local_from_mac,
)
from harness.verdicts import Inconclusive

__all__ = [
    "ACCESS_LINK", "MAP_A", "MAP_B", "NO_RH2", "PREFIX_1", "PREFIX_2", "Answer", "Bu", "MapAd", "MnBench",
    "PlayedCorrespondents", "PlayedMaps", "PlayedRouter", "Registration", "bench", "bu_of", "canonical", "in_prefix",
    "prefix64", "same", "signed_ba",
]

ACCESS_LINK = "acc0"
#: the MAPs the tester plays (their /64 is the RCoA prefix, base §5 / §6)
MAP_A = "2001:db8:1a::1"
MAP_B = "2001:db8:1b::1"
#: on-link prefixes of the access routers the tester plays: acc0's own and a second one (a "move" to another AR)
PREFIX_1 = "2001:db8:1f0::/64"
PREFIX_2 = "2001:db8:1f1::/64"
ROUTER_2_MAC = "02:00:5e:1f:00:02"
NO_RH2 = "none"  # ba(rh2=NO_RH2): a BA without a type 2 routing header


def prefix64(address: str) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(f"{address}/64", strict=False)


def in_prefix(address: str | None, prefix: str | ipaddress.IPv6Network) -> bool:
    if address is None:
        return False
    return ipaddress.IPv6Address(address) in ipaddress.IPv6Network(prefix, strict=False)


def canonical(address: str) -> str:
    return str(ipaddress.IPv6Address(address))


def same(a: str | None, b: str | None) -> bool:
    """Two IPv6 addresses in any text form are the same address."""
    if a is None or b is None:
        return a is b
    return ipaddress.IPv6Address(a) == ipaddress.IPv6Address(b)


@dataclasses.dataclass(frozen=True)
class MapAd:
    """A MAP option the played access router advertises (base §5).  ``r`` None: the edition's value
    (rfc4140: R=1, "form an RCoA based on the prefix"; rfc5380: R=0, stateless RCoA accepted, INC-5)."""

    address: str
    dist: int = 1
    pref: int = 10
    valid: int = 86400
    r: int | None = None


@dataclasses.dataclass(frozen=True)
class PlayedRouter:
    """An access router the tester plays on acc0."""

    mac: str
    prefix: str

    @property
    def link_local(self) -> str:
        return link_local_from_mac(self.mac)


@dataclasses.dataclass
class Bu:
    """A Binding Update the MN sent, seen through its tunnels: ``layers`` are the IPv6 headers from the
    outermost in, ``ip`` the one carrying the BU."""

    frame: Frame
    layers: list
    ip: Any
    msg: Any

    @property
    def outer(self):
        return self.layers[0]

    @property
    def tunnelled(self) -> bool:
        return len(self.layers) > 1

    @property
    def hao(self) -> str | None:
        opt = self.ip.getlayer(HAO)
        return opt.hoa if opt is not None else None

    @property
    def hao_option(self):
        return self.ip.getlayer(HAO)

    @property
    def alt_coa(self) -> str | None:
        return next((o.acoa for o in self.msg.options if isinstance(o, MIP6OptAltCoA)), None)

    @property
    def coa(self) -> str:
        """The care-of address the BU registers (RFC 6275 §11.7.1: the Alternate CoA, else the source)."""
        return self.alt_coa or self.ip.src

    @property
    def seq(self) -> int:
        return self.msg.seq

    @property
    def lifetime(self) -> int:
        """Requested lifetime in seconds (the field is in 4-second units)."""
        return self.msg.mhtime * 4

    def flag(self, name: str) -> bool:
        return bool(getattr(self.msg.flags, name))

    @property
    def flags(self) -> str:
        return "".join(f for f in "AHLKMRP" if self.flag(f))

    @property
    def time(self) -> float:
        return self.frame.time


def bu_of(frame: Frame) -> Bu | None:
    """The Binding Update a frame carries (at any tunnel depth), else None."""
    pkt = frame.pkt
    if MIP6MH_BU not in pkt:
        return None
    layers = ipv6_layers(pkt)
    if not layers or MIP6MH_BU not in layers[-1]:
        return None
    return Bu(frame, layers, layers[-1], layers[-1][MIP6MH_BU])


@dataclasses.dataclass
class Registration:
    """What a completed registration established: the MAP, the LCoA and RCoA, and the BUs seen."""

    map: str
    lcoa: str
    rcoa: str
    local_bu: Bu
    ha_bu: Bu | None = None


class MnBench:
    """The tester as the MN DUT's access routers, MAPs, HA and CNs on ``acc0``."""

    def __init__(self, testbed, tester: Tester, dut, edition: str) -> None:
        self.testbed, self.tester, self.dut, self.edition = testbed, tester, dut, edition
        self.spec = testbed.spec
        self.node = dut.node
        self.link = ACCESS_LINK
        self.timers = self.spec.timers
        if self.link not in tester.ports:
            raise Inconclusive(f"the tester has no port on {self.link}, the MN test purposes' access link")
        self.router = PlayedRouter(tester.mac(self.link), PREFIX_1)
        self.router2 = PlayedRouter(ROUTER_2_MAC, PREFIX_2)
        iface = next(i for i in self.spec.nodes[self.node].interfaces.values() if self.spec.links[i.link].access)
        self.iface = iface.name
        self.home_link = iface.link  # where the testbed file puts the MN (restored by finish())
        self.mac: str | None = iface.mac
        self._sysctls: dict[str, str] = {}
        self.home_address, self.home_agent, self.correspondents = self._mn_identity()
        self.cns = PlayedCorrespondents(self)

    # -- the DUT's identity and lifecycle ---------------------------------------------------------------
    def _mn_identity(self) -> tuple[str, str | None, tuple[str, ...]]:
        """Home address, home agent and correspondents of the MN: those the testbed gives its mobile node (the HA
        node, the home address on its link, the CN nodes; :func:`harness.testbed.refconfig.mn_config`)."""
        from harness.testbed import refconfig

        section = refconfig.mn_config(self.spec, self.spec.nodes[self.node], Path("."), self.edition)["mn"]
        return section["home_address"], section.get("home_agent"), tuple(section.get("correspondents", ()))

    @property
    def driver(self):
        return self.testbed.driver(self.node)

    def start(self) -> None:
        """Stop the MN, attach it to acc0, start it afresh; wait for its first Router Solicitation (its MAC)."""
        self._stop()
        self._save_sysctls()
        self.testbed.attach(self.node, self.link)
        mark = self.tester.mark()
        self.tester.impersonate(self.link, self.router.link_local, self.router.mac, router=True)
        self.tester.impersonate(self.link, self.router2.link_local, self.router2.mac, router=True)
        self.dut.restart()
        rs = self.tester.wait_for(lambda f: ICMPv6ND_RS in f.pkt, self.rs_timeout, mark, [self.link])
        if rs is not None:
            self.mac = rs.pkt[Ether].src
        if self.mac is None:
            raise Inconclusive("the mobile node sent no Router Solicitation and the testbed gives no MAC for it")

    @property
    def rs_timeout(self) -> float:
        return self.timers.max_rtr_solicitation_delay + 2.0

    def finish(self) -> None:
        """Stop the MN and give the node back as the testbed file describes it."""
        try:
            self._stop()
        finally:
            self.tester.release(self.link)
            self._restore_sysctls()
            if self.spec.nodes[self.node].interfaces[self.iface].link != self.home_link:
                self.testbed.attach(self.node, self.home_link)

    def _stop(self) -> None:
        if hasattr(self.testbed, "stop_service"):
            self.testbed.stop_service(self.node)
        else:
            try:
                self.dut.command("stop")
            except Inconclusive:
                pass

    def _sysctl_names(self) -> list[str]:
        return [f"net.ipv6.conf.{self.iface}.{k}" for k in ("accept_ra", "autoconf")]

    def _save_sysctls(self) -> None:
        if self._sysctls or not hasattr(self.testbed, "netns_of"):
            return
        result = self.driver.run("sysctl -n " + " ".join(self._sysctl_names()), timeout=10)
        values = result.stdout.split()
        if result.ok and len(values) == 2:
            self._sysctls = dict(zip(self._sysctl_names(), values))

    def _restore_sysctls(self) -> None:
        if self._sysctls:
            self.driver.run("sysctl -q -w " + " ".join(f"{k}={v}" for k, v in self._sysctls.items()), timeout=10)

    def move(self) -> None:
        """A link-layer handover as the MN sees it: a carrier flap on its port (it stays on acc0)."""
        self.testbed.attach(self.node, self.link)

    def handover(self, router: PlayedRouter, maps: Iterable[MapAd] = (), **ra_kw) -> int:
        """Move the MN (carrier flap), wait for its Router Solicitation, then let ``router`` advertise ``maps``;
        return the capture mark taken before the flap.  The other played router is gone from then on: its
        link-local address no longer answers Neighbor Solicitations (unreachability detection fails); ``router``'s
        answers them (again, after a handover away from it)."""
        mark = self.tester.mark()
        for other in (self.router, self.router2):
            if other != router:
                self.tester.release(self.link, other.link_local)
        self.tester.impersonate(self.link, router.link_local, router.mac, router=True)
        self.move()
        self.tester.wait_for(lambda f: self.from_mn(f) and ICMPv6ND_RS in f.pkt, self.rs_timeout, mark, [self.link])
        self.advertise(router, maps, **ra_kw)
        return mark

    def run(self, command: str, timeout: float = 20.0):
        """Run a command on the MN over its management connection."""
        return self.driver.run(command, timeout=timeout)

    # -- addresses ----------------------------------------------------------------------------------------
    def iid(self) -> int:
        return int(ipaddress.IPv6Address(link_local_from_mac(self.mac))) & ((1 << 64) - 1)

    @property
    def link_local(self) -> str:
        return link_local_from_mac(self.mac)

    # -- what the tester sends -----------------------------------------------------------------------------
    def r_flag(self, ad: MapAd) -> int:
        return ad.r if ad.r is not None else (1 if self.edition == "rfc4140" else 0)

    def ra(self, router: PlayedRouter | None = None, maps: Iterable[MapAd] = (), *, prefix_valid: int = 86400,
           prefix_preferred: int | None = None, router_lifetime: int = 1800):
        router = router or self.router
        net = ipaddress.IPv6Network(router.prefix, strict=False)
        pkt = (Ether(src=router.mac, dst="33:33:00:00:00:01") / IPv6(src=router.link_local, dst="ff02::1", hlim=255)
               / ICMPv6ND_RA(chlim=64, routerlifetime=router_lifetime)
               / ICMPv6NDOptSrcLLAddr(lladdr=router.mac)
               / ICMPv6NDOptPrefixInfo(prefix=str(net.network_address), prefixlen=net.prefixlen, L=1, A=1,
                                       validlifetime=prefix_valid,
                                       preferredlifetime=prefix_valid if prefix_preferred is None else prefix_preferred))
        for ad in maps:
            pkt = pkt / ICMPv6NDOptMAP(dist=ad.dist, pref=ad.pref, R=self.r_flag(ad), validlifetime=ad.valid,
                                       addr=ad.address)
        return pkt

    def advertise(self, router: PlayedRouter | None = None, maps: Iterable[MapAd] = (), **kw) -> int:
        """Send one Router Advertisement; return the capture mark taken just before it."""
        mark = self.tester.mark()
        self.tester.send(self.link, self.ra(router, maps, **kw))
        return mark

    def ba(self, bu: Bu, *, status: int = 0, lifetime: int | None = None, rh2: str | None = None,
           seq: int | None = None, router: PlayedRouter | None = None):
        """The MAP's BA to a local BU: MAP -> LCoA, type 2 routing header with the RCoA (``rh2``: another
        address, or :data:`NO_RH2` for none), lifetime in seconds (default: as requested)."""
        router = router or self.router
        units = bu.msg.mhtime if lifetime is None else lifetime // 4
        address = bu.hao if rh2 is None else rh2
        pkt = Ether(src=router.mac, dst=self.mac) / IPv6(src=bu.ip.dst, dst=bu.ip.src, hlim=64)
        if address != NO_RH2:
            pkt = pkt / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[address])
        return pkt / MIP6MH_BA(status=status, flags=0, seq=bu.seq if seq is None else seq, mhtime=units)

    def home_ba(self, bu: Bu, *, status: int = 0, lifetime: int | None = None, router: PlayedRouter | None = None):
        """The HA's BA to a home registration, to its care-of address with the home address in a type 2 routing
        header; inside the MAP tunnel (MAP -> LCoA) when the BU came through one."""
        router = router or self.router
        units = bu.msg.mhtime if lifetime is None else lifetime // 4
        inner = (IPv6(src=bu.ip.dst, dst=bu.coa, hlim=64)
                 / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[bu.hao or self.home_address])
                 / MIP6MH_BA(status=status, flags=0, seq=bu.seq, mhtime=units))
        if bu.tunnelled:
            return Ether(src=router.mac, dst=self.mac) / IPv6(src=bu.outer.dst, dst=bu.outer.src, hlim=64) / inner
        return Ether(src=router.mac, dst=self.mac) / inner

    def send(self, frame, sa: str | None = AUTO) -> int:
        """Send a frame on acc0; a BA in it is protected with IPsec SA pair ``sa`` (AUTO: the tester's pair for
        the RCoA in its routing header, None: unprotected)."""
        mark = self.tester.mark()
        self.tester.send(self.link, frame, sa=sa)
        return mark

    @property
    def map_sa(self) -> str | None:
        """The SA pair the tester holds as a MAP toward this MN (None: the testbed's IPsec is off)."""
        return next((p.name for p in self.spec.security.pairs if p.mn == self.node and p.map_node is None), None)

    def poke(self, router: PlayedRouter | None = None) -> int:
        """An Echo Request from the router to the MN's link-local address: its Echo Reply proves the capture
        alive during a negative judgement (every IPv6 node answers it, RFC 4443 §4.1)."""
        router = router or self.router
        return self.send(Ether(src=router.mac, dst=self.mac) / IPv6(src=router.link_local, dst=self.link_local)
                         / ICMPv6EchoRequest(id=0x4D4E, seq=7))

    # -- what the tester waits for ------------------------------------------------------------------------------
    def from_mn(self, frame: Frame) -> bool:
        return frame.link == self.link and frame.pkt[Ether].src == self.mac

    def alive(self, frame) -> bool:
        """Any frame from the mobile node (``frame`` may be a tunnel-layer view)."""
        frame = getattr(frame, "frame", frame)
        return self.from_mn(frame)

    def wait_bu(self, match: Callable[[Bu], bool], timeout: float, since: int) -> Bu | None:
        frame = self.tester.wait_for(lambda f: self.from_mn(f) and (b := bu_of(f)) is not None and match(b),
                                     timeout, since, [self.link])
        return bu_of(frame) if frame is not None else None

    def bus(self, match: Callable[[Bu], bool], since: int) -> list[Bu]:
        """Every BU matching ``match`` captured after ``since`` (in order)."""
        found = []
        for f in self.tester.frames(since, [self.link]):
            if f.outgoing or not self.from_mn(f):
                continue
            try:
                b = bu_of(f)
            except Exception:  # noqa: BLE001 - a frame scapy cannot read is no BU
                continue
            if b is not None and match(b):
                found.append(b)
        return found

    def collect(self, match: Callable[[Bu], bool], count: int, window: float, since: int) -> list[Bu]:
        """BUs matching ``match`` after ``since``: returns as soon as ``count`` are captured, else at the end of
        ``window``."""
        deadline = time.monotonic() + window
        while True:
            found = self.bus(match, since)
            if len(found) >= count or time.monotonic() >= deadline:
                return found[:count]
            self.tester.wait_for(lambda f: self.from_mn(f) and MIP6MH_BU in f.pkt,
                                 min(0.2, max(0.0, deadline - time.monotonic())), None, [self.link])

    def absent_bu(self, match: Callable[[Bu], bool], since: int, window: float | None = None) -> Bu | None:
        """A negative judgement (:meth:`Tester.absent`): the first BU matching ``match`` (at any tunnel depth)
        within ``window`` (default :attr:`retransmission_window`) after ``since``, else None.  The MN is poked at
        the start; a frame from it captured in the window proves the capture alive (else INCONCLUSIVE)."""
        opened = time.time()
        self.poke()

        def offending(view) -> bool:
            frame = view.frame
            if not self.from_mn(frame):
                return False
            b = bu_of(frame)
            return b is not None and match(b)

        hit = self.tester.absent(offending, window=window or self.retransmission_window,
                                 alive=lambda f: self.alive(f) and f.time >= opened, links=[self.link], since=since)
        return bu_of(hit) if hit is not None else None

    @staticmethod
    def local_to(map_address: str | Iterable[str] | None = None) -> Callable[[Bu], bool]:
        """A local BU (not inside a tunnel; its destination a MAP) to ``map_address`` (or one of them)."""
        wanted = {map_address} if isinstance(map_address, str) else set(map_address or ())
        return lambda b: not b.tunnelled and (not wanted or any(same(b.ip.dst, m) for m in wanted))

    def home_bu(self, b: Bu) -> bool:
        """A BU to the home agent (at any tunnel depth)."""
        return self.home_agent is not None and same(b.ip.dst, self.home_agent)

    def wait_local_bu(self, map_address, since: int, timeout: float | None = None) -> Bu | None:
        return self.wait_bu(self.local_to(map_address), timeout or self.react_timeout, since)

    def wait_home_bu(self, since: int, timeout: float | None = None) -> Bu | None:
        return self.wait_bu(self.home_bu, timeout or self.react_timeout, since)

    @property
    def react_timeout(self) -> float:
        """How long the MN may take to react to an RA or a BA (processing, not a protocol timer)."""
        return 3.0 + self.timers.max_rtr_solicitation_delay

    @property
    def retransmission_window(self) -> float:
        """A negative judgement's window: several of the MN's initial retransmission intervals (RFC 6275 §11.8)."""
        return max(1.0, 3 * self.timers.initial_bindack_timeout_first_reg + 0.5)

    # -- complete exchanges ---------------------------------------------------------------------------------
    def register(self, maps: Iterable[MapAd], *, router: PlayedRouter | None = None, expect: str | None = None,
                 ba_lifetime: int | None = None, home: bool = True, judge=None, **ra_kw) -> Registration:
        """Advertise ``maps`` and complete the MN's registration with the MAP it picks (``expect``: only that
        one) and, when ``home``, with the HA.  A missing step is INCONCLUSIVE: the test point was not reached."""
        maps = list(maps)
        since = self.advertise(router, maps, **ra_kw)
        return self.complete(maps if expect is None else [MapAd(expect)], since, router=router,
                             ba_lifetime=ba_lifetime, home=home, judge=judge)

    def complete(self, maps: Iterable[MapAd], since: int, *, router: PlayedRouter | None = None,
                 ba_lifetime: int | None = None, home: bool = True, judge=None) -> Registration:
        addresses = [m.address for m in maps]
        bu = self.wait_local_bu(addresses, since)
        if bu is None:
            raise Inconclusive(f"no local BU to {' or '.join(addresses)} within {self.react_timeout:.1f} s of the "
                               "Router Advertisement: the MN did not register")
        if judge is not None:
            judge.step(f"local BU {bu.ip.src} -> {bu.ip.dst} (RCoA {bu.hao}, seq {bu.seq}); the MAP answers")
        mark = self.send(self.ba(bu, lifetime=ba_lifetime, router=router))
        reg = Registration(bu.ip.dst, bu.ip.src, bu.hao, bu)
        if home and self.home_agent is not None:
            hbu = self.wait_home_bu(mark)
            if hbu is None:
                raise Inconclusive("no home registration after the MAP's BA: the MN did not complete its registration")
            if judge is not None:
                judge.step(f"home BU (care-of address {hbu.coa}, seq {hbu.seq}); the HA answers")
            self.send(self.home_ba(hbu, router=router))
            reg.ha_bu = hbu
        return reg

    def checksum_ok(self, b: Bu) -> tuple[int, int] | None:
        return mh_checksum(bytes(b.frame.pkt)) if not b.tunnelled else None  # opened by the IPsec seam


# -- the MAPs' and the home agent's side, with the MAPs' binding caches ----------------------------------------
@dataclasses.dataclass
class Answer:
    """A BU of the MN to a played MAP (``map``) or to the HA, as the tester answered it.  ``live``: the MAP held a
    binding for the BU's RCoA when it arrived (from the lifetimes the tester itself granted).  ``granted``: the
    lifetime in the BA (None: not answered)."""

    bu: Bu
    map: str | None
    live: bool
    granted: int | None

    @property
    def local(self) -> bool:
        return self.map is not None

    @property
    def new(self) -> bool:
        """A local BU with a non-zero lifetime for an RCoA its MAP held no binding for: in the MAP's binding cache a
        new entry, not the refresh or update of an existing one (RFC 6275 §10.3.1)."""
        return self.local and self.bu.lifetime > 0 and not self.live


class PlayedMaps:
    """The tester as every MAP of ``maps`` and as the HA at once: each BU of the MN is answered once, and each played
    MAP keeps a binding cache -- RCoA -> end of the lifetime it granted (the wall clock the capture stamps frames
    with) -- so that a test purpose tells, from the wire, a new binding from the refresh of an existing one.

    ``grant``: the longest lifetime (s, a multiple of 4) a MAP grants (default: what was asked), to make the MN
    refresh within a test.  A local BU inside a tunnel is recorded, not answered (a MAP is not reached through
    another MAP's tunnel, base §6.1 ¶3, §9.1).  ``router``: the access router the answers come from (its MAC)."""

    def __init__(self, bench: MnBench, maps: Iterable[str], *, grant: dict[str, int] | None = None) -> None:
        self.bench = bench
        self.maps = [canonical(m) for m in maps]
        self.grant = {canonical(m): v for m, v in (grant or {}).items()}
        self.router = bench.router
        self.cache: dict[str, dict[str, float]] = {m: {} for m in self.maps}
        self.answers: list[Answer] = []
        self._seen: set[int] = set()

    def live(self, map_address: str, rcoa: str | None, at: float) -> bool:
        """Whether ``map_address`` holds a binding for ``rcoa`` at ``at``."""
        if rcoa is None:
            return False
        end = self.cache.get(canonical(map_address), {}).get(canonical(rcoa))
        return end is not None and end > at

    def ends(self, map_address: str) -> float | None:
        """When the last binding ``map_address`` holds runs out (None: it holds none)."""
        ends = [e for e in self.cache.get(canonical(map_address), {}).values()]
        return max(ends) if ends else None

    def serve(self, since: int, window: float, until: Callable[[], bool] | None = None) -> bool:
        """Answer every BU of the MN after ``since`` for ``window`` seconds, or until ``until()`` holds (True)."""
        deadline = time.monotonic() + window
        while True:
            for b in self.bench.bus(lambda b: True, since):
                if b.frame.index not in self._seen:
                    self._seen.add(b.frame.index)
                    self._answer(b)
            if until is not None and until():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.bench.tester.wait_for(lambda f: self.bench.from_mn(f), min(0.1, remaining), None, [self.bench.link])

    def _answer(self, b: Bu) -> None:
        bench = self.bench
        target = canonical(b.ip.dst)
        if target in self.maps and b.flag("M"):
            live = self.live(target, b.hao, b.time)
            granted = None
            if not b.tunnelled and b.hao is not None:  # no RCoA (Home Address option): nothing to bind
                granted = min(b.lifetime, self.grant.get(target, b.lifetime))
                bench.send(bench.ba(b, lifetime=granted, router=self.router))
                cache = self.cache[target]
                if granted > 0:
                    cache[canonical(b.hao)] = time.time() + granted
                else:
                    cache.pop(canonical(b.hao), None)
            self.answers.append(Answer(b, target, live, granted))
        elif bench.home_bu(b):
            bench.send(bench.home_ba(b, router=self.router))
            self.answers.append(Answer(b, None, True, b.lifetime))

    def local(self, map_address: str | None = None, since: float = 0.0) -> list[Answer]:
        """The local BUs answered (to ``map_address`` only, if given) sent at or after ``since``."""
        wanted = canonical(map_address) if map_address is not None else None
        return [a for a in self.answers if a.local and (wanted is None or a.map == wanted) and a.bu.time >= since]

    def home(self, since: float = 0.0) -> list[Answer]:
        return [a for a in self.answers if not a.local and a.bu.time >= since]

    def bound(self, map_address: str) -> list[Answer]:
        """The registrations (lifetime above 0) ``map_address`` answered with a binding, in order."""
        return [a for a in self.local(map_address) if a.bu.lifetime > 0 and a.granted]

    def registered(self, map_address: str) -> bool:
        """The MN holds a binding at ``map_address`` and, when it has a home agent, sent it a home BU from an
        RCoA of that MAP's prefix."""
        return bool(self.bound(map_address)) and (self.bench.home_agent is None or any(
            in_prefix(h.bu.coa, prefix64(map_address)) for h in self.home()))


# -- the correspondents' side of return routability (RFC 6275 §5.2, §6.1.5, §6.1.6, §6.2.7) --------------------
_NONCE_INDEX = 7  # the single nonce index the played correspondents use


def _token(kind: str, *parts: str) -> bytes:
    """A deterministic keygen token: every Home/Care-of Test for the same addresses carries the same one, so
    whichever of them the MN kept, the tester knows its binding management key."""
    return hashlib.sha1("|".join((kind, *parts)).encode()).digest()[:8]


def signed_ba(seq: int, units: int, kbm: bytes, care_of: str, correspondent: str, home: str) -> bytes:
    """A correspondent's BA (status 0) as Mobility Header bytes, with a Binding Authorization Data option (RFC 6275
    §6.2.7, alignment 8n+2: PadN of 6 octets first) and its checksum (pseudo-header destination = the home address,
    the type 2 routing header's final destination)."""
    head = struct.pack("!BBBBHBBHH", 59, 3, 6, 0, 0, 0, 0, seq, units)  # Header Len 3: 32 octets
    pad = bytes((1, 4, 0, 0, 0, 0))
    mh_data = head + pad + bytes((5, 12))  # "MH Data": checksum zero, Authenticator left out
    data = ipaddress.IPv6Address(care_of).packed + ipaddress.IPv6Address(correspondent).packed + mh_data
    auth = hmac.new(kbm, data, hashlib.sha1).digest()[:12]
    mh = bytearray(mh_data + auth)
    struct.pack_into("!H", mh, 4, mh_pseudo_checksum(correspondent, home, bytes(mh)))
    return bytes(mh)


class PlayedCorrespondents:
    """The tester as the MN's correspondents for return routability: it answers Home and Care-of Test Init
    messages (through the HA and the MAP tunnel as they would arrive) and acknowledges the correspondent
    registration with a Binding Authorization Data option computed from the tokens it gave."""

    def __init__(self, bench: MnBench) -> None:
        self.bench = bench
        self.answered: set[int] = set()  # frame indices
        self.bound: dict[str, Bu] = {}  # correspondent -> the BU acknowledged last

    def home_token(self, cn: str) -> bytes:
        return _token("home", str(ipaddress.IPv6Address(self.bench.home_address)), str(ipaddress.IPv6Address(cn)))

    def careof_token(self, cn: str, coa: str) -> bytes:
        return _token("care-of", str(ipaddress.IPv6Address(coa)), str(ipaddress.IPv6Address(cn)))

    def is_correspondent(self, address: str) -> bool:
        return any(same(address, c) for c in self.bench.correspondents)

    def answer(self, frame: Frame) -> str | None:
        """Answer one frame of the MN if it is a HoTI, a CoTI or a correspondent BU; what it was, else None."""
        b = self.bench
        if frame.index in self.answered or frame.outgoing or not b.from_mn(frame):
            return None
        layers = ipv6_layers(frame.pkt)
        if not layers:
            return None
        inner = layers[-1]
        eth = Ether(src=b.router.mac, dst=b.mac)

        def back(packet):  # the reverse of the MN's tunnels, outermost first
            for layer in reversed(layers[:-1]):
                packet = IPv6(src=layer.dst, dst=layer.src, hlim=64) / packet
            return eth / packet

        kind = None
        if MIP6MH_HoTI in inner and self.is_correspondent(inner.dst):
            msg = inner[MIP6MH_HoTI]
            b.tester.send(b.link, back(IPv6(src=inner.dst, dst=inner.src, hlim=64) / MIP6MH_HoT(
                index=_NONCE_INDEX, cookie=msg.cookie, token=self.home_token(inner.dst))))
            kind = "HoT"
        elif MIP6MH_CoTI in inner and self.is_correspondent(inner.dst):
            msg = inner[MIP6MH_CoTI]
            b.tester.send(b.link, back(IPv6(src=inner.dst, dst=inner.src, hlim=64) / MIP6MH_CoT(
                index=_NONCE_INDEX, cookie=msg.cookie, token=self.careof_token(inner.dst, inner.src))))
            kind = "CoT"
        else:
            bu = bu_of(frame)
            if bu is not None and self.is_correspondent(bu.ip.dst) and bu.lifetime > 0:
                cn, coa = bu.ip.dst, bu.coa
                kbm = hashlib.sha1(self.home_token(cn) + self.careof_token(cn, coa)).digest()
                mh = signed_ba(bu.seq, bu.msg.mhtime, kbm, coa, cn, bu.hao or b.home_address)
                b.tester.send(b.link, back(IPv6(src=cn, dst=bu.ip.src, hlim=64)
                                           / IPv6ExtHdrRouting(nh=135, type=2, segleft=1,
                                                               addresses=[bu.hao or b.home_address])
                                           / Raw(mh)))
                self.bound[str(ipaddress.IPv6Address(cn))] = bu
                kind = "BA"
        if kind is not None:
            self.answered.add(frame.index)
        return kind

    def serve(self, since: int, until: Callable[[], bool], timeout: float) -> bool:
        """Answer the MN's return-routability traffic after ``since`` until ``until()`` holds (True) or ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for frame in self.bench.tester.frames(since, [self.bench.link]):
                try:
                    self.answer(frame)
                except (AttributeError, IndexError, TypeError, ValueError):
                    continue
            if until():
                return True
            if time.monotonic() >= deadline:
                return False
            self.bench.tester.wait_for(lambda f: self.bench.from_mn(f), min(0.1, deadline - time.monotonic()),
                                       None, [self.bench.link])

    def cn_bus(self, since: int) -> list[Bu]:
        """Correspondent registrations (BUs to a correspondent, at any tunnel depth) after ``since``."""
        return self.bench.bus(lambda b: self.is_correspondent(b.ip.dst), since)


def bench(testbed, tester, dut, edition: str) -> Iterator[MnBench]:
    """Fixture body: an MN restarted on acc0 for the test, stopped and given back afterwards."""
    if dut.role != "mn":
        raise Inconclusive(f"the DUT {dut.node} is a {dut.role}, not a mobile node")
    b = MnBench(testbed, tester, dut, edition)
    try:
        b.start()
        yield b
    finally:
        b.finish()


# -- shared procedures of the BA-ignored purposes (base §6.1, §12.1) -------------------------------------------
def retransmitted_local_bu(bench: MnBench, judge) -> Bu:
    """Advertise MAP-A, let the MN's first local BU go unanswered and return its retransmission."""
    since = bench.advertise(maps=[MapAd(MAP_A)])
    first = bench.wait_local_bu(MAP_A, since)
    judge.require(first is not None, "no local BU to MAP-A")
    second = bench.wait_bu(bench.local_to(MAP_A), bench.react_timeout, first.frame.index + 1)
    judge.require(second is not None, "the MN did not retransmit its local BU: an ignored BA could not be told "
                  "from a missing one")
    return second


def judge_ba_ignored(bench: MnBench, judge, second: Bu, mark: int, requirement: str | Iterable[str]) -> None:
    """The BA sent after ``mark`` was ignored: no home registration follows and the MN keeps retransmitting its
    local BU; then a proper BA must complete the registration (else the negative judgement proves nothing).
    ``requirement``: the requirement (or requirements) the ignoring is judged against."""
    requirements = (requirement,) if isinstance(requirement, str) else tuple(requirement)
    judge.step("4. watch one window for a home registration")
    home = bench.absent_bu(bench.home_bu, since=mark)
    retx = bench.bus(lambda b: bench.local_to(MAP_A)(b) and b.frame.index > second.frame.index, mark)
    for rid in requirements:
        judge.check(rid, home is None, "the MN registered with its HA after a BA it must silently ignore"
                    if home is not None else "no home registration followed the BA", frame=getattr(home, "frame", None))
    for rid in requirements:
        judge.check(rid, bool(retx), "the MN stopped retransmitting its local BU after the BA "
                    f"(none within {bench.retransmission_window:.1f} s)" if not retx else
                    f"the MN went on retransmitting its local BU ({len(retx)} after the BA)")
    judge.step("5. positive control: a proper BA to the latest BU")
    mark = bench.send(bench.ba(retx[-1] if retx else second))
    judge.require(bench.home_agent is None or bench.wait_home_bu(mark) is not None,
                  "the MN did not register with its HA even after a proper BA: the negative judgement proves nothing")
