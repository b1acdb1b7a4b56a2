"""Sans-I/O HMIPv6 mobile node (base document §3.1, §6.1, §6.1.1, §6.5, §7.2, §8, §9, §10, §12.2; RFC 5380
§7.1, §11) on top of a Mobile IPv6 mobile node (RFC 6275 §11: home registration, return routability, correspondent
registration, retransmission).

Inputs: decoded packets received on the interface (:meth:`MnCore.handle`, tunnels included: the core unwraps
them), link-layer events (:meth:`MnCore.link_up`, :meth:`MnCore.link_down`), addresses the kernel configured
(:meth:`MnCore.address_added`, :meth:`MnCore.address_removed`, when ``lcoa_source="kernel"``), run-time commands
(:meth:`MnCore.add_correspondent`) and time (:meth:`MnCore.tick` at :meth:`MnCore.next_deadline`).  Outputs:
:mod:`~reference_impl.actions` — ``Send`` (signalling, already encapsulated as it must leave the node),
``AddressAdded``/``AddressRemoved`` (LCoA and RCoA), ``MnPathsChanged`` (the data-plane view for
:mod:`.dataplane`) and ``Log``.

What happens, in order:

1. Router discovery: RS at start and after ``link_up`` (RFC 4861 §6.3.7), RAs accepted only with hop limit 255
   from a link-local source (RFC 4861 §6.1.2).  The MAP options are stored (§7.2 MUST) per RA of the current
   router.  Movement (RFC 6275 §11.5.1): a link-up hint or the loss of the current router (router lifetime, or
   ``missed_advertisements`` Advertisement Intervals without an RA) makes the next RA's router current; if its
   prefixes do not include the LCoA's, a new LCoA is formed (SLAAC with the interface identifier) or taken from
   the kernel's report.  RAs from other routers while the current one is alive are ignored (§11.5.1).
2. MAP selection (:func:`.selection.select_maps`) after every RA, link or binding event.  A MAP option with valid
   lifetime 0 is a MAP failure (§10): its bindings are dropped as lost, another MAP is chosen.  §9 "Eager" / "Lazy":
   a MAP newly advertised (absent from, or failed in, the options stored before this RA) that the selection rule
   ranks first -- the "new" MAP of §9, determined by the §9.1 rule -- is registered with at once and becomes the
   primary MAP, although the current one is still usable; the previous primary's binding is not released while
   its MAP is still advertised with a non-zero valid lifetime and the binding lasts ("lazy": it is kept and
   refreshed -- refreshing an existing binding is allowed even at Pref 0, §7.2 -- and taken up again first when
   the primary MAP fails or goes away).  A MAP newly advertised that ranks below the current one is not "new" in
   the §9.1 sense: no binding is made with it (beyond ``max_maps``).
3. Same MAP, new LCoA (intra-domain, §6.1): only a local BU.  New MAP (inter-domain, §3.1): new RCoA (MAP prefix +
   interface identifier, §6), local BU; then — after the MAP's BA (§6.1 SHOULD wait) — a home registration with
   the RCoA as care-of address (tunnelled LCoA -> MAP), then return routability and a BU to each correspondent.
   The previous MAP gets a BU re-pointing the old RCoA to the new LCoA (§6.1 SHOULD, §8); that binding is not
   refreshed.
4. No usable MAP (none advertised, all failed or refused us): plain Mobile IPv6, the home address bound to the
   LCoA (RFC 4140 §7.2 "revert to using the Mobile IPv6 protocol"; RFC 5380 §7.1 "MUST NOT attempt to use
   HMIPv6").  A usable MAP later brings the node back to HMIPv6.

Local BU: source LCoA, destination MAP, Home Address option = RCoA, A and M set, no Alternate Care-of Address
(§4.1, §6.1); lifetime <= min(MAP option valid lifetime, LCoA valid lifetime).  BAs without a type 2 routing header
holding the RCoA are silently ignored (§6.1).  Home registration lifetime <= the MAP binding's remaining lifetime,
correspondent registrations <= that, the home registration and MAX_RR_BINDING_LIFETIME (§6.1, RFC 6275 §5.2.6).
Retransmission (RFC 6275 §11.8): InitialBindackTimeoutFirstReg for a first registration with a MAP or the HA,
INITIAL_BINDACK_TIMEOUT otherwise, doubled up to MAX_BINDACK_TIMEOUT and then repeated at that rate; a new
sequence number each time; HoTI/CoTI with new cookies, given up after MAX_RO_FAILURE retries (§5.2.9).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ..actions import log as _log
from ..actions import Action, AddressAdded, AddressRemoved, MnPathsChanged, Send
from ..cn.rr import (
    CareOfTest, CareOfTestInit, HomeTest, HomeTestInit, binding_management_key, decode_rr, encode_rr, sign, verify,
)
from ..editions import check_edition
from ..map.config import INFINITE
from ..security import NullSecurity, SecurityDrop, SignallingSecurity
from ..timers import TimerQueue
from ..homelink import ns_to_consider
from ..wire.addresses import ALL_NODES, ALL_ROUTERS, fmt, fmt_mac, in_prefix, is_link_local, multicast_mac
from ..wire.errors import DecodeError
from ..wire.icmpv6 import (
    PI_A, PI_L, AdvertisementInterval, Icmpv6Opaque, MapOption, Mtu, NeighborAdvertisement, NeighborSolicitation,
    PrefixInformation, RouterAdvertisement, RouterSolicitation, SourceLinkLayerAddress, TargetLinkLayerAddress,
    ethernet_lladdr,
)
from ..wire.ipv6 import Packet, decode_packet
from ..wire.mobility import (
    BU_A, BU_H, BU_L, BU_M, AlternateCareOfAddress, BindingAcknowledgement, BindingError, BindingRefreshAdvice,
    BindingRefreshRequest, BindingUpdate, MobilityUnknown, NonceIndices,
)
from .config import MnConfig
from .dataplane import Paths
from .selection import form_address, rank_key, select_maps

__all__ = ["MnCore"]

_INF = float("inf")
_MAX_UNITS = 0xFFFF


@dataclass(slots=True)
class _Router:
    """The current default router (RFC 4861 §6.3.4) and what its last RA said."""

    address: bytes  # link-local source of its RAs
    mac: bytes | None
    expires: float  # router lifetime
    prefixes: tuple[PrefixInformation, ...]  # usable for autoconfiguration (A flag, valid lifetime > 0)
    interval: float | None  # Advertisement Interval option (RFC 6275 §7.3), seconds
    last_ra: float
    mtu: int | None


@dataclass(slots=True)
class _StoredMap:
    """A received MAP option (§7.2: "A mobile node MUST store the received option(s)")."""

    option: MapOption
    received: float
    expires: float


@dataclass(slots=True)
class _Bul:
    """A Binding Update List entry (RFC 6275 §11.1): one per MAP (local binding), the HA, and each CN."""

    kind: str  # "map" | "ha" | "cn"
    peer: bytes
    home: bytes  # RCoA for a local binding, the home address otherwise
    role: str = ""  # local bindings: "primary" | "extra" | "lazy" (§9, kept) | "previous" (§8, not refreshed)
    coa: bytes = b""  # care-of address of the BU being sent / last sent
    state: str = "idle"  # "sending" (BA outstanding) | "bound" | "failed"
    seq: int = 0
    sent: dict[int, tuple[float, int]] = field(default_factory=dict)  # seq -> (sent at, requested lifetime)
    timeout: float = 0.0
    retried_135: bool = False
    bound_coa: bytes | None = None  # care-of address the peer acknowledged
    expires: float | None = None  # end of the acknowledged binding (None: none)
    granted: int = 0
    lifetime_override: int | None = None  # previous-MAP BU: the old binding's remaining lifetime
    kbm: bytes | None = None  # correspondent registration: binding management key of the BU in flight
    indices: tuple[int, int] = (0, 0)
    deregister: bool = False  # home agent entry: the at-home de-registration (Lifetime 0) is being sent
    dereg_until: float = _INF  # ... until when the binding it deletes could last at the home agent at most

    @property
    def key(self) -> tuple[str, bytes]:
        return (self.kind, self.peer)


@dataclass(slots=True)
class _Correspondent:
    """Return routability state for one correspondent node (RFC 6275 §11.6)."""

    address: bytes
    state: str = "idle"  # "idle" | "rr" | "registering" | "bound" | "failed" | "unsupported" | "refused"
    home_cookie: bytes | None = None
    careof_cookie: bytes | None = None
    home_token: bytes | None = None
    home_index: int = 0
    home_at: float = -_INF
    careof_token: bytes | None = None
    careof_index: int = 0
    careof_at: float = -_INF
    careof_for: bytes | None = None  # care-of address the CoTI was sent from
    attempts: int = 0
    timeout: float = 0.0


def _units(seconds: float) -> int:
    """Lifetime field value (4 s units), capped at the 16-bit maximum."""
    return min(_MAX_UNITS, int(max(0.0, seconds) // 4))


class MnCore:
    """One mobile node with one interface.  ``rng`` supplies RS delays, cookies and initial sequence numbers;
    ``security`` protects outgoing BUs to MAPs/the HA and verifies their BAs (the base §12 seam, identity by
    default)."""

    def __init__(self, config: MnConfig, edition: str = "rfc4140", *, rng: random.Random | None = None,
                 security: SignallingSecurity | None = None) -> None:
        self.config = config
        self.edition = check_edition(edition)
        self._rng = rng if rng is not None else random.SystemRandom()
        self.security: SignallingSecurity = security if security is not None else NullSecurity()
        self._timers = TimerQueue()
        self._started = False
        self._now = 0.0
        self.link_is_up = False
        self.router: _Router | None = None
        self.lcoa: bytes | None = None
        self.lcoa_prefix: tuple[bytes, int] | None = None
        self.lcoa_valid_until = _INF
        self._kernel: dict[bytes, tuple[int, float]] = {}  # address -> (prefix length, valid until)
        self.maps: dict[bytes, _StoredMap] = {}
        self.failed: set[bytes] = set()  # MAPs advertised with valid lifetime 0 (§10)
        self.refused: dict[bytes, int] = {}  # MAP -> status of the BA that rejected our local BU
        self.mode = "none"  # "none" | "hmipv6" | "mipv6" | "home" (RFC 6275 §11.5.5)
        self.primary: bytes | None = None
        self._new_maps: set[bytes] = set()  # MAPs the last stored RA advertised for the first time (§9 eager)
        self.bul: dict[tuple[str, bytes], _Bul] = {}
        self.cns: dict[bytes, _Correspondent] = {}
        self._last_seq: dict[tuple[str, bytes], int] = {}
        self._rs_left = 0
        self._ha_refresh_wanted = False
        self._last_paths: Paths | None = None
        self.at_home = False  # RFC 6275 §11.5.5: the home subnet prefix is on-link (the last RA said so)
        self.counters: dict[str, Any] = {
            "ra_received": 0, "ra_ignored": 0, "rs_sent": 0, "bu_sent": {"map": 0, "ha": 0, "cn": 0},
            "ba_accepted": 0, "ba_rejected": 0, "ba_ignored": 0, "hoti_sent": 0, "coti_sent": 0,
            "handovers": {"intra": 0, "inter": 0}, "mipv6_fallbacks": 0,
            "home_returns": 0, "home_deregistrations": 0, "na_sent": 0,
        }
        for cn in config.correspondents:
            self.cns[cn] = _Correspondent(cn)

    # ----------------------------------------------------------------------------------------------------- driving

    def start(self, now: float) -> list[Action]:
        """Begin operating at ``now`` (idempotent; every other entry point calls it): with ``link_up_at_start``
        the first Router Solicitation is scheduled."""
        if self._started:
            return []
        self._started = True
        self._now = now
        cfg = self.config
        actions: list[Action] = [_log("mn_started", edition=self.edition, home_address=cfg.home_address,
                                      home_agent=cfg.home_agent, iface=cfg.iface, lcoa_source=cfg.lcoa_source,
                                      map_selection=cfg.map_selection, hmipv6=cfg.hmipv6)]
        if self.security.required:
            actions.append(_log("deviation", clause="RFC 6275 §5.1, RFC 4877",
                                text="BUs to MAPs are IPsec-protected with manually keyed SAs (no IKE); BUs to the "
                                     "home agent are not protected"))
        else:
            actions.append(_log("deviation", clause="base §12 / RFC 5380 §12, RFC 4877",
                                text="no IPsec: BUs to MAPs and the home agent are not protected (security seam)"))
        if cfg.home_agent is None and cfg.correspondents:
            actions.append(_log("route_optimisation_disabled", reason="no home agent: return routability needs "
                                                                      "the home address"))
        if cfg.link_up_at_start:
            self.link_is_up = True
            actions += self._solicit(now)
        return self._finish(actions)  # the initial (empty) data-plane view

    def handle(self, now: float, iface: str, packet: Packet) -> list[Action]:
        """Process one received, decoded packet (``iface``: where it arrived).  Tunnelled packets are given whole."""
        actions = self.start(now) + self._run_timers(now)
        if iface != self.config.iface:
            return self._finish(actions)
        msg = packet.payload
        if isinstance(msg, RouterAdvertisement):
            actions += self._on_ra(now, packet, msg)
        elif isinstance(msg, NeighborSolicitation):
            actions += self._on_ns(now, packet, msg)
        elif isinstance(msg, Packet):
            actions += self._on_tunnelled(now, packet)
        else:
            actions += self._on_signal(now, packet, ())
        return self._finish(actions)

    def tick(self, now: float) -> list[Action]:
        """Run every timer due at ``now``."""
        return self._finish(self.start(now) + self._run_timers(now))

    def next_deadline(self) -> float | None:
        """When ``tick`` must be called next (None: nothing scheduled)."""
        return self._timers.next()

    def link_up(self, now: float, iface: str) -> list[Action]:
        """Link-layer trigger (RFC 6275 §11.5.1): the interface (re)attached.  Taken as a movement hint: the current
        router is forgotten and router discovery restarts; the LCoA is kept if the next RA still advertises its
        prefix."""
        actions = self.start(now) + self._run_timers(now)
        if iface != self.config.iface:
            return self._finish(actions)
        self.link_is_up = True
        self.router = None
        self._timers.cancel(("router",))
        actions.append(_log("link_up", iface=iface))
        return self._finish(actions + self._solicit(now))

    def link_down(self, now: float, iface: str) -> list[Action]:
        """Link-layer trigger: the interface lost its link; the current router is no longer reachable."""
        actions = self.start(now) + self._run_timers(now)
        if iface != self.config.iface:
            return self._finish(actions)
        self.link_is_up = False
        self.router = None
        self._timers.cancel(("router",))
        self._timers.cancel(("rs",))
        return self._finish(actions + [_log("link_down", iface=iface)])

    def address_added(self, now: float, iface: str, address: bytes, prefix_length: int,
                      valid_lifetime: int = INFINITE, preferred_lifetime: int = INFINITE) -> list[Action]:
        """The I/O layer reports an address the kernel configured on ``iface`` (``lcoa_source="kernel"``)."""
        actions = self.start(now) + self._run_timers(now)
        if iface != self.config.iface or self.config.lcoa_source != "kernel" or is_link_local(address):
            return self._finish(actions)
        until = _INF if valid_lifetime == INFINITE else now + valid_lifetime
        self._kernel[address] = (prefix_length, until)
        actions.append(_log("kernel_address", address=address, prefix_length=prefix_length,
                            valid_lifetime=valid_lifetime))
        if self.router is not None:
            actions += self._update_lcoa(now, self.router.prefixes) + self._reconsider(now)
        return self._finish(actions)

    def address_removed(self, now: float, iface: str, address: bytes) -> list[Action]:
        """The I/O layer reports that the kernel removed an address (``lcoa_source="kernel"``)."""
        actions = self.start(now) + self._run_timers(now)
        if iface != self.config.iface or self._kernel.pop(address, None) is None:
            return self._finish(actions)
        actions.append(_log("kernel_address_removed", address=address))
        if address == self.lcoa:
            self.lcoa = None
            self.lcoa_prefix = None
            if self.router is not None:
                actions += self._update_lcoa(now, self.router.prefixes)
            actions += self._reconsider(now)
        return self._finish(actions)

    def add_correspondent(self, now: float, address: bytes) -> list[Action]:
        """Start route optimisation with ``address`` (RFC 6275 §11.7.2: "MAY initiate ... at any time after sending
        the Binding Update to its home agent")."""
        actions = self.start(now) + self._run_timers(now)
        if address not in self.cns:
            self.cns[address] = _Correspondent(address)
        actions.append(_log("correspondent_added", cn=address))
        return self._finish(actions + self._start_rr(now, self.cns[address]))

    # ------------------------------------------------------------------------------------------ data-plane view

    def paths(self) -> Paths:
        """The current data-plane decisions (also emitted as ``MnPathsChanged`` whenever they change)."""
        cfg = self.config
        tunnels = tuple(sorted((e.home, e.peer) for e in self.bul.values()
                              if e.kind == "map" and e.expires is not None))
        primary = self._primary_entry()
        live_primary = primary is not None and primary.expires is not None
        ha = self.bul.get(("ha", cfg.home_agent)) if cfg.home_agent is not None else None
        ro = tuple(sorted((e.peer, e.bound_coa) for e in self.bul.values()
                          if e.kind == "cn" and e.expires is not None and e.bound_coa is not None))
        return Paths(
            iface=cfg.iface, mode=self.mode, home_address=cfg.home_address, lcoa=self.lcoa,
            router_mac=self.router.mac if self.router is not None else None,
            router=self.router.address if self.router is not None else None,
            map=primary.peer if live_primary else None, rcoa=primary.home if live_primary else None,
            home_agent=cfg.home_agent,
            ha_coa=ha.bound_coa if ha is not None and ha.expires is not None else None,
            ro=ro, tunnels=tunnels, at_home=self.at_home,
            link_mtu=self.router.mtu if self.router is not None and self.router.mtu else cfg.link_mtu,
        )

    def _finish(self, actions: list[Action]) -> list[Action]:
        paths = self.paths()
        if paths != self._last_paths:
            self._last_paths = paths
            actions.append(MnPathsChanged(paths))
        return actions

    # --------------------------------------------------------------------------------- router discovery (§7.2)

    def _solicit(self, now: float) -> list[Action]:
        """RFC 4861 §6.3.7: up to MAX_RTR_SOLICITATIONS, the first after a random delay."""
        cfg = self.config
        self._rs_left = cfg.max_rtr_solicitations
        delay = self._rng.uniform(0.0, cfg.max_rtr_solicitation_delay) if cfg.max_rtr_solicitation_delay else 0.0
        self._timers.set(("rs",), now + delay)
        return [_log("router_discovery", delay=delay)]

    def _send_rs(self, now: float) -> list[Action]:
        cfg = self.config
        if self.router is not None or not self.link_is_up or self._rs_left <= 0:
            return []
        self._rs_left -= 1
        if self._rs_left > 0:
            self._timers.set(("rs",), now + cfg.rtr_solicitation_interval)
        self.counters["rs_sent"] += 1
        rs = RouterSolicitation(options=(SourceLinkLayerAddress(cfg.link_address),))
        return [Send(cfg.iface, Packet(cfg.link_local, ALL_ROUTERS, rs, hop_limit=255), multicast_mac(ALL_ROUTERS))]

    def _on_ra(self, now: float, packet: Packet, ra: RouterAdvertisement) -> list[Action]:
        reason = None
        if packet.hop_limit != 255:
            reason = "hop limit is not 255 (RFC 4861 §6.1.2)"
        elif not is_link_local(packet.src):
            reason = "source is not link-local (RFC 4861 §6.1.2)"
        elif ra.code != 0:
            reason = "code is not 0 (RFC 4861 §6.1.2)"
        if reason is not None:
            self.counters["ra_ignored"] += 1
            return [_log("ra_ignored", src=packet.src, hop_limit=packet.hop_limit, reason=reason)]
        self.counters["ra_received"] += 1
        prefixes = tuple(o for o in ra.options if isinstance(o, PrefixInformation) and o.flags & PI_A
                         and o.valid_lifetime > 0 and o.preferred_lifetime <= o.valid_lifetime)
        current = self.router
        if current is not None and packet.src != current.address:
            return [_log("ra_from_other_router", src=packet.src,
                         text="current default router still reachable (RFC 6275 §11.5.1)")]
        if ra.router_lifetime == 0:
            if current is None:
                return [_log("ra_ignored", src=packet.src, reason="router lifetime 0: not a default router")]
            self.router = None
            return [_log("router_lost", router=packet.src, reason="router lifetime 0")] + self._solicit(now)
        # RFC 4861 §6.3.4: a Source Link-Layer Address option's address SHOULD be recorded for the router; only a
        # 6-octet Ethernet address is usable (RFC 2464 §6), anything else counts as no option, which leaves the
        # address already known for this router as it is
        mac = ethernet_lladdr(ra.options)
        if mac is None and current is not None:
            mac = current.mac
        interval = next((o.interval_ms / 1000 for o in ra.options if isinstance(o, AdvertisementInterval)), None)
        mtu = next((o.mtu for o in ra.options if isinstance(o, Mtu)), None)
        self.router = _Router(packet.src, mac, now + ra.router_lifetime, prefixes, interval, now, mtu)
        lost_at = self.router.expires
        if interval is not None:
            lost_at = min(lost_at, now + interval * self.config.missed_advertisements)
        self._timers.set(("router",), lost_at)
        self._timers.cancel(("rs",))
        actions: list[Action] = []
        if current is None:
            actions.append(_log("router_selected", router=packet.src, mac=mac,
                                prefixes=[f"{fmt(p.prefix)}/{p.prefix_length}" for p in prefixes],
                                maps=[fmt(o.address) for o in ra.map_options]))
        if self._home_on_link(ra):
            # RFC 6275 §11.5.5: "A mobile node detects that it has returned to its home link through the movement
            # detection algorithm in use (Section 11.5.2), when the mobile node detects that its home subnet
            # prefix is again on-link."  No care-of address from this link, no MAP registration (the MAP options
            # are stored, §7.2, but not acted on while at home).
            actions += self._store_maps(now, ra.map_options if self.config.hmipv6 else ())
            return actions + self._returned_home(now)
        if self.at_home:
            actions += self._left_home(now)
        actions += self._update_lcoa(now, prefixes)
        actions += self._store_maps(now, ra.map_options if self.config.hmipv6 else ())
        return actions + self._reconsider(now)

    def _home_on_link(self, ra: RouterAdvertisement) -> bool:
        """RFC 6275 §11.5.2 / §11.5.5: the RA (from the current router, already validated) lists the home subnet
        prefix as on-link: a Prefix Information option with the L flag and a non-zero valid lifetime whose prefix
        holds the home address (RFC 4861 §6.3.4: such a prefix is on-link)."""
        home = self.config.home_address
        return any(isinstance(o, PrefixInformation) and o.flags & PI_L and o.valid_lifetime > 0
                   and in_prefix(home, o.prefix, o.prefix_length) for o in ra.options)

    # --------------------------------------------------------------------------------- returning home (§11.5.5)

    def _returned_home(self, now: float) -> list[Action]:
        """Arrival on the home link (idempotent: nothing more while already at home).

        * The LCoA, every local binding and every correspondent binding are given up without signalling: the
          local bindings are released "lazily" (base §9: "should not release existing bindings until it no longer
          receives the MAP option ... or the lifetime of its existing binding expires") -- the home link's router
          advertises no MAP option for us to use, and a local BU could not be answered anyway: the MAP's BA goes
          to the LCoA (§6.1), and there is no LCoA at home.  They lapse at the MAP.  Correspondent bindings lapse
          at the correspondents too: deleting them is a MAY (RFC 6275 §11.7.2: "A mobile node MAY also send a
          Binding Update to such a correspondent node, instructing it to delete any existing binding"), which
          would need a new home test first; not done.
        * The home registration is deleted (:meth:`_deregister_home`)."""
        if self.at_home:
            return []
        cfg = self.config
        self.at_home = True
        self.mode = "home"
        self.counters["home_returns"] += 1
        actions: list[Action] = [_log("returned_home", router=self.router.address if self.router else None,
                                      text="home subnet prefix on-link (RFC 6275 §11.5.2, §11.5.5)")]
        old = self.lcoa
        if old is not None:
            if cfg.lcoa_source == "slaac":
                actions.append(AddressRemoved(cfg.iface, old, "lcoa", "home"))
            self.lcoa = None
            self.lcoa_prefix = None
            self.lcoa_valid_until = _INF
            self._timers.cancel(("lcoa",))
        for entry in [e for e in self.bul.values() if e.kind == "map"]:
            actions += [_log("map_released", map=entry.peer, rcoa=entry.home,
                             text="at home: the local binding is left to expire (base §9 lazy)")]
            actions += self._drop_entry(entry, "home")
        self.primary = None
        for entry in [e for e in self.bul.values() if e.kind == "cn"]:
            actions += [_log("cn_binding_left", cn=entry.peer, text="at home: left to expire (RFC 6275 §11.7.2 "
                                                                    "MAY delete: not done)")]
            actions += self._drop_entry(entry, "home")
        for cn in self.cns.values():
            self._timers.cancel(("rr", cn.address))
            if cn.state not in ("unsupported", "refused"):
                cn.state = "idle"
            cn.home_cookie = cn.careof_cookie = None
            cn.careof_token = None
            cn.careof_for = None
        return actions + self._deregister_home(now)

    def _deregister_home(self, now: float) -> list[Action]:
        """RFC 6275 §11.5.5: "the mobile node MUST send a Binding Update to its home agent to instruct its home
        agent to no longer intercept or tunnel packets for it" -- if the home agent may hold a binding: the
        Binding Update List has a home registration acknowledged or still being sent.  Without one (the node
        starts at home, or every registration was refused) there is nothing to delete.

        The BU (see :meth:`_bu_packet`): A and H set, Lifetime 0, care-of address = home address, source = home
        address ("The mobile node MUST use its home address as the source address in the Binding Update"),
        retransmitted as RFC 6275 §11.8 says (INITIAL_BINDACK_TIMEOUT: not a first registration) until the BA, or
        until the binding it deletes has run out at the home agent anyway."""
        cfg = self.config
        entry = self.bul.get(("ha", cfg.home_agent)) if cfg.home_agent is not None else None
        if entry is None or entry.state == "failed" or (entry.expires is None and entry.state != "sending"):
            dropped = [] if entry is None else self._drop_entry(entry, "home")
            return dropped + [_log("home_address_usable", text="at home with no home registration to delete")]
        lasts = max([entry.expires if entry.expires is not None else -_INF] +
                    [at + lifetime for at, lifetime in entry.sent.values()])
        for kind in ("retx", "refresh", "expire"):
            self._timers.cancel((kind, entry.key))
        self._ha_refresh_wanted = False
        entry.deregister = True
        entry.dereg_until = lasts
        entry.coa = cfg.home_address
        entry.bound_coa = None
        entry.expires = None
        entry.sent = {}
        entry.retried_135 = False
        entry.state = "sending"
        entry.timeout = cfg.initial_bindack_timeout
        self.counters["home_deregistrations"] += 1
        return [_log("home_deregistration", ha=entry.peer, binding_until=None if lasts == _INF else lasts)] + \
            self._transmit(now, entry)

    def _home_reclaimed(self, now: float, reason: str) -> list[Action]:
        """RFC 6275 §11.5.5: "After receiving the Binding Acknowledgement for its Binding Update to its home agent,
        the mobile node MUST multicast onto the home link (to the all-nodes multicast address) a Neighbor
        Advertisement ... The Target Address in this Neighbor Advertisement MUST be set to the mobile node's home
        address, and the Advertisement MUST include a Target Link-layer Address option ... for each of its home
        addresses, as defined by the current on-link prefixes, including its link-local address.  The Solicited
        (S) flag ... MUST NOT be set ... The Override (O) flag ... MUST be set."  Sent once each (the
        MAX_NEIGHBOR_ADVERTISEMENT retransmissions are a MAY), from the link-local address."""
        cfg = self.config
        actions: list[Action] = [_log("home_address_reclaimed", reason=reason)]
        for target in (cfg.home_address, cfg.link_local):
            na = NeighborAdvertisement(target, r=False, s=False, o=True,
                                       options=(TargetLinkLayerAddress(cfg.link_address),))
            self.counters["na_sent"] += 1
            actions.append(Send(cfg.iface, Packet(cfg.link_local, ALL_NODES, na, hop_limit=255),
                                multicast_mac(ALL_NODES)))
        return actions

    def _left_home(self, now: float) -> list[Action]:
        """An RA without the home subnet prefix after being at home: away again.  A de-registration still waiting
        for its BA is abandoned (RFC 6275 §11.7.1: retransmit "until acknowledged (or until it begins attempting
        to register a different primary care-of address)"); the move then goes as any other (new LCoA, MAP, home
        registration)."""
        self.at_home = False
        self.mode = "none"
        cfg = self.config
        entry = self.bul.get(("ha", cfg.home_agent)) if cfg.home_agent is not None else None
        actions: list[Action] = [_log("left_home", router=self.router.address if self.router else None)]
        if entry is not None and entry.deregister:
            self._timers.cancel(("retx", entry.key))
            entry.deregister = False
            entry.dereg_until = _INF
            entry.state = "idle"
            entry.sent = {}
            actions.append(_log("home_deregistration_abandoned", ha=entry.peer))
        return actions

    def _on_ns(self, now: float, packet: Packet, ns: NeighborSolicitation) -> list[Action]:
        """RFC 6275 §11.5.5: "After the mobile node sends the Binding Update, it MUST be prepared to reply to
        Neighbor Solicitations for its home address.  Such replies MUST be sent using a unicast Neighbor
        Advertisement to the sender's link-layer address."  (The home address is not on the link interface of
        the daemon, so the kernel does not answer.)  A DAD probe for it is answered to all nodes (RFC 4861
        §7.2.4).  Away from home the home agent defends the address: nothing is answered."""
        cfg = self.config
        if not self.at_home or ns.target != cfg.home_address:
            return []
        valid = ns_to_consider(packet, ns)
        if valid is None:
            return [_log("ns_ignored", src=packet.src, reason="invalid Neighbor Solicitation (RFC 4861 §7.1.1)")]
        from_dad, slla = valid
        na = NeighborAdvertisement(ns.target, r=False, s=not from_dad, o=True,
                                   options=(TargetLinkLayerAddress(cfg.link_address),))
        self.counters["na_sent"] += 1
        if from_dad:
            return [Send(cfg.iface, Packet(cfg.home_address, ALL_NODES, na, hop_limit=255),
                         multicast_mac(ALL_NODES))]
        return [Send(cfg.iface, Packet(cfg.home_address, packet.src, na, hop_limit=255), slla)]

    # ------------------------------------------------------------------------------------------------- LCoA

    def _update_lcoa(self, now: float, prefixes: tuple[PrefixInformation, ...]) -> list[Action]:
        """Keep the LCoA while its prefix is advertised, else form (or take from the kernel) one on an advertised
        prefix (RFC 6275 §11.5.3).  The LCoA is always derived from a prefix advertised on the link (§3.1)."""
        cfg = self.config
        if self.at_home:
            return []  # RFC 6275 §11.5.5: at home no care-of address is formed
        own_rcoas = {e.home for e in self.bul.values() if e.kind == "map"}
        if self.lcoa is not None:
            for p in prefixes:
                if in_prefix(self.lcoa, p.prefix, p.prefix_length):
                    if cfg.lcoa_source == "slaac":
                        self.lcoa_valid_until = _INF if p.valid_lifetime == INFINITE else now + p.valid_lifetime
                        self._set_or_cancel(("lcoa",), self.lcoa_valid_until)
                    return []
        new = None
        chosen: PrefixInformation | None = None
        if cfg.lcoa_source == "slaac":
            for p in prefixes:
                if p.prefix_length == 64:  # RFC 4862 §5.5.3 d): prefix + 64-bit identifier = 128 bits
                    candidate = form_address(p.prefix, 64, cfg.iid)
                    if candidate not in own_rcoas:  # §3.1: never present an RCoA as an LCoA
                        new, chosen = candidate, p
                        break
        else:
            for address, (length, until) in sorted(self._kernel.items()):
                p = next((p for p in prefixes if in_prefix(address, p.prefix, p.prefix_length)), None)
                if p is not None and until > now and address not in own_rcoas:
                    new, chosen = address, p
                    break
        old = self.lcoa
        actions: list[Action] = []
        if new == old:
            return actions
        if old is not None and cfg.lcoa_source == "slaac":
            actions.append(AddressRemoved(cfg.iface, old, "lcoa", "moved"))
        self.lcoa = new
        self._timers.cancel(("lcoa",))
        if self.refused:  # the refusals concerned the old LCoA (e.g. 129, §6.2): MAPs may be tried again
            actions.append(_log("map_refusals_cleared", maps=[fmt(a) for a in sorted(self.refused)]))
            self.refused.clear()
        if new is None:
            self.lcoa_prefix = None
            return actions + [_log("lcoa_unavailable", old=old, reason="no usable prefix advertised"
                                   if cfg.lcoa_source == "slaac" else "waiting for the kernel's address")]
        assert chosen is not None
        self.lcoa_prefix = (chosen.prefix, chosen.prefix_length)
        if cfg.lcoa_source == "slaac":
            self.lcoa_valid_until = _INF if chosen.valid_lifetime == INFINITE else now + chosen.valid_lifetime
            actions.append(AddressAdded(cfg.iface, new, 64, "lcoa", chosen.valid_lifetime,
                                        chosen.preferred_lifetime))
        else:
            self.lcoa_valid_until = self._kernel[new][1]
        self._set_or_cancel(("lcoa",), self.lcoa_valid_until)
        return actions + [_log("lcoa_formed", lcoa=new, old=old, source=cfg.lcoa_source)]

    def _set_or_cancel(self, key: tuple, when: float) -> None:
        """A timer at ``when``, or none for an infinite lifetime."""
        if when == _INF:
            self._timers.cancel(key)
        else:
            self._timers.set(key, when)

    def _lcoa_remaining(self, now: float) -> float:
        return self.lcoa_valid_until - now

    # --------------------------------------------------------------------------------- MAP options (§7.2, §10)

    def _store_maps(self, now: float, options: tuple[MapOption, ...]) -> list[Action]:
        actions: list[Action] = []
        before = {a for a, s in self.maps.items() if s.option.valid_lifetime > 0}
        seen: dict[bytes, MapOption] = {}
        for opt in options:
            if opt.dist == 0:
                actions.append(_log("map_option_ignored", map=opt.address, reason="Dist 0 MUST NOT be used (§5)"))
                continue
            seen[opt.address] = opt
        for address, opt in seen.items():
            if opt.valid_lifetime == 0:
                self.maps[address] = _StoredMap(opt, now, now)
                self._timers.cancel(("mapopt", address))
                if address not in self.failed:
                    self.failed.add(address)
                    actions.append(_log("map_failed", map=address, text="MAP option with valid lifetime 0 (§10): "
                                                                        "bindings with it are assumed lost (§7.2)"))
                    actions += self._drop_map(address, "map-failed")
                continue
            if address in self.failed:
                self.failed.discard(address)
                actions.append(_log("map_available", map=address))
            expires = _INF if opt.valid_lifetime == INFINITE else now + opt.valid_lifetime
            if address not in self.maps or self.maps[address].option != opt:
                actions.append(_log("map_option_stored", map=address, dist=opt.dist, pref=opt.pref, r=opt.r,
                                    valid_lifetime=opt.valid_lifetime))
            self.maps[address] = _StoredMap(opt, now, expires)
            self._set_or_cancel(("mapopt", address), expires)
        for address in [a for a in self.maps if a not in seen]:
            del self.maps[address]
            self._timers.cancel(("mapopt", address))
            actions.append(_log("map_option_withdrawn", map=address, text="no longer advertised (§9: release)"))
        self._new_maps = {a for a, o in seen.items() if o.valid_lifetime > 0 and a not in before}
        return actions

    def _map_remaining(self, now: float, address: bytes) -> float:
        stored = self.maps.get(address)
        return 0.0 if stored is None else stored.expires - now

    # --------------------------------------------------------------------------------------- MAP selection (§9.1)

    def _primary_entry(self) -> _Bul | None:
        return self.bul.get(("map", self.primary)) if self.primary is not None else None

    def _form_rcoa(self, opt: MapOption) -> tuple[bytes, list[Action]]:
        """§6: MAP prefix (the option's address, /64) + interface identifier; a provisioned RCoA first (INC-5)."""
        provisioned = dict(self.config.provisioned_rcoas).get(opt.address)
        if provisioned is not None:
            return provisioned, [_log("rcoa_provisioned", map=opt.address, rcoa=provisioned)]
        rcoa = form_address(opt.address, 64, self.config.iid)
        actions: list[Action] = []
        if self.edition == "rfc5380" and opt.r:
            actions.append(_log("deviation", clause="RFC 5380 §5 (R), §6.1; RFC 4877 §9", map=opt.address,
                                text="R=1 asks for an RCoA allocated by the MAP over IKEv2, which is not "
                                     "implemented: RCoA formed statelessly from the MAP prefix (INC-5)"))
        if self.edition == "rfc4140" and not opt.r:
            actions.append(_log("r_flag_clear", map=opt.address,
                                text="RFC 4140 defines only R=1 (INC-6): RCoA formed from the MAP prefix as §6 "
                                     "describes"))
        return rcoa, actions + [_log("rcoa_formed", map=opt.address, rcoa=rcoa)]

    def _unusable(self) -> set[bytes]:
        """MAPs whose RCoA would equal the LCoA (a MAP on the access link with the same prefix): never used."""
        if self.lcoa is None:
            return set()
        return {a for a in self.maps if form_address(a, 64, self.config.iid) == self.lcoa
                and a not in dict(self.config.provisioned_rcoas)}

    def _reconsider(self, now: float) -> list[Action]:
        """Run MAP selection and act on its result (idempotent)."""
        if self.lcoa is None:
            return []
        cfg = self.config
        new_maps, self._new_maps = self._new_maps, set()
        exclude = self.failed | set(self.refused) | self._unusable()
        current = self.primary if self._primary_entry() is not None else self._fallback(exclude)
        options = [s.option for s in self.maps.values()]
        chosen = select_maps(options, method=cfg.map_selection, current=current, exclude=exclude, count=cfg.max_maps)
        actions: list[Action] = []
        if chosen and current is not None and new_maps:
            fresh = select_maps(options, method=cfg.map_selection, exclude=exclude, count=1)
            if fresh and fresh[0].address in new_maps and fresh[0].address != current:
                actions.append(_log("eager_registration", map=fresh[0].address, current=current,
                                    text="§9 eager: a new MAP the selection rule ranks first is registered with"))
                chosen = select_maps(options, method=cfg.map_selection, current=fresh[0].address, exclude=exclude,
                                     count=cfg.max_maps)
        if not chosen:
            reason = "no MAP option in the RA" if not self.maps else "no usable MAP"
            return self._enter_mipv6(now, reason)
        if self.mode != "hmipv6" or self.primary != chosen[0].address:
            actions += self._switch_primary(now, chosen[0])
        wanted = {o.address for o in chosen[1:]}
        for opt in chosen[1:]:
            entry = self.bul.get(("map", opt.address))
            if entry is None:
                actions += self._new_map_entry(now, opt, "extra")
            elif entry.role == "previous":  # forwarding from it until now: make it a full local binding again
                entry.role, entry.lifetime_override = "extra", None
                actions += self._send_bu(now, entry)
        for entry in [e for e in self.bul.values() if e.kind == "map" and e.role == "extra"]:
            if entry.peer not in wanted:
                actions += [_log("map_released", map=entry.peer, rcoa=entry.home)] + \
                    self._drop_entry(entry, "map-changed")
        for entry in [e for e in self.bul.values() if e.kind == "map" and e.role == "lazy"]:
            if not self._lazy_usable(entry, exclude):
                actions += [_log("map_released", map=entry.peer, rcoa=entry.home,
                                 text="§9 lazy: its MAP is no longer advertised (or failed)")] + \
                    self._drop_entry(entry, "map-changed")
        for entry in [e for e in self.bul.values() if e.kind == "map" and e.role in ("primary", "extra", "lazy")]:
            if entry.state == "idle" and entry.coa == self.lcoa:  # first BU postponed (lifetime < 4 s): retry
                actions += self._send_bu(now, entry)
            elif entry.coa != self.lcoa and entry.state != "failed":
                if entry.role == "primary":
                    self.counters["handovers"]["intra"] += 1
                    actions.append(_log("intra_domain_handover", map=entry.peer, rcoa=entry.home, lcoa=self.lcoa,
                                        old_lcoa=entry.coa, text="only a local BU (§6.1)"))
                actions += self._send_bu(now, entry)
        return actions

    def _lazy_usable(self, entry: _Bul, exclude: set[bytes]) -> bool:
        """§9 lazy: a binding kept after the primary moved to another MAP lasts while its MAP is still advertised
        with a non-zero valid lifetime (any Pref: refreshing an existing binding is allowed, §7.2)."""
        stored = self.maps.get(entry.peer)
        return (stored is not None and stored.option.valid_lifetime > 0 and stored.option.dist > 0
                and entry.peer not in exclude)

    def _fallback(self, exclude: set[bytes]) -> bytes | None:
        """With no primary binding: the MAP of a binding kept lazily, to be taken up again before a new binding is
        made (§9: the Eager-Lazy approach "will assist in providing a fallback mechanism in case of the failure of one
        of the MAP routers"); the best ranked by the selection rule if several."""
        kept = [self.maps[e.peer].option for e in self.bul.values()
                if e.kind == "map" and e.role == "lazy" and e.expires is not None and self._lazy_usable(e, exclude)]
        if not kept:
            return None
        return min(kept, key=rank_key(self.config.map_selection)).address

    def _switch_primary(self, now: float, opt: MapOption) -> list[Action]:
        cfg = self.config
        actions: list[Action] = []
        old = self._primary_entry()
        if old is not None and old.peer != opt.address:
            self.counters["handovers"]["inter"] += 1
            actions.append(_log("inter_domain_handover", old_map=old.peer, new_map=opt.address, old_rcoa=old.home))
            actions += self._leave_map(now, old)
        if self.mode == "mipv6":
            actions.append(_log("hmipv6_resumed", map=opt.address))
        self.mode = "hmipv6"
        self.primary = opt.address
        clause = "§9.1 (largest Dist, Pref as tie-breaker)" if cfg.map_selection == "dist" else \
            "§7.2 (highest Pref)"
        actions.append(_log("map_selected", map=opt.address, dist=opt.dist, pref=opt.pref, rule=clause))
        entry = self.bul.get(("map", opt.address))
        if entry is None:
            return actions + self._new_map_entry(now, opt, "primary")
        entry.role = "primary"  # back to a MAP we were forwarding from, or kept lazily: reuse its RCoA
        entry.lifetime_override = None
        if entry.state == "sending" or entry.coa != self.lcoa or entry.expires is None:
            actions += self._send_bu(now, entry)
        else:  # the binding stands: the HA and the CNs are given its RCoA at once
            self._schedule_refresh(entry, now)
            actions += self._register_home(now)
        return actions

    def _leave_map(self, now: float, old: _Bul) -> list[Action]:
        """The primary MAP changes: keep the binding while its MAP is still advertised (§9 lazy), else ask it to
        forward to the new LCoA (§6.1 SHOULD, §8) or let the binding go (no de-registration: it times out)."""
        cfg = self.config
        exclude = self.failed | set(self.refused) | self._unusable()
        if old.expires is not None and self.lcoa is not None and self._lazy_usable(old, exclude):
            old.role, old.lifetime_override = "lazy", None
            actions: list[Action] = [_log("map_kept", map=old.peer, rcoa=old.home,
                                          text="§9 lazy: not released while its MAP is advertised; kept and "
                                               "refreshed")]
            if old.coa != self.lcoa:  # an existing binding: updated with the new LCoA (any Pref, §7.2)
                actions += self._send_bu(now, old)
            return actions
        remaining = (old.expires - now) if old.expires is not None else 0.0
        if (cfg.previous_map_update and old.peer not in self.failed and self.lcoa is not None
                and old.coa != self.lcoa and remaining >= 4):
            old.role = "previous"
            old.lifetime_override = int(min(remaining, self._lcoa_remaining(now)))
            self._timers.cancel(("refresh", old.key))
            return [_log("previous_map_update", map=old.peer, rcoa=old.home, lcoa=self.lcoa,
                         text="forward packets for the old RCoA to the new LCoA (§8)")] + self._send_bu(now, old)
        return self._drop_entry(old, "map-changed")

    def _new_map_entry(self, now: float, opt: MapOption, role: str) -> list[Action]:
        rcoa, actions = self._form_rcoa(opt)
        entry = _Bul("map", opt.address, rcoa, role=role, seq=self._initial_seq(("map", opt.address)))
        self.bul[entry.key] = entry
        valid = opt.valid_lifetime
        actions.append(AddressAdded(self.config.iface, rcoa, 128, "rcoa", valid, valid))
        return actions + self._send_bu(now, entry)

    def _drop_entry(self, entry: _Bul, reason: str) -> list[Action]:
        """Forget a Binding Update List entry and its timers (no de-registration: bindings time out, §9 lazy)."""
        self.bul.pop(entry.key, None)
        for kind in ("retx", "refresh", "expire"):
            self._timers.cancel((kind, entry.key))
        actions: list[Action] = []
        if entry.kind == "map":
            if entry.peer == self.primary:
                self.primary = None
            actions.append(AddressRemoved(self.config.iface, entry.home, "rcoa", reason))
        return actions

    def _drop_map(self, address: bytes, reason: str) -> list[Action]:
        entry = self.bul.get(("map", address))
        return [] if entry is None else self._drop_entry(entry, reason)

    def _enter_mipv6(self, now: float, reason: str) -> list[Action]:
        """No usable MAP: plain Mobile IPv6 with the LCoA as care-of address."""
        actions: list[Action] = []
        if self.mode != "mipv6":
            self.counters["mipv6_fallbacks"] += 1
            if self.edition == "rfc4140":
                clause = "RFC 4140 §7.2: no MAP option / no other MAP available: MUST (revert to) use Mobile IPv6"
            else:
                clause = "RFC 5380 §7.1: no other MAP available: MUST NOT attempt to use HMIPv6"
            actions.append(_log("mipv6_fallback", reason=reason, clause=clause, lcoa=self.lcoa))
            old = self._primary_entry()
            if old is not None:
                actions += self._leave_map(now, old)
            for entry in [e for e in self.bul.values() if e.kind == "map" and e.role in ("extra", "lazy")]:
                actions += self._drop_entry(entry, "map-changed")
            self.mode = "mipv6"
            self.primary = None
        return actions + self._register_home(now)

    # ------------------------------------------------------------------------------------------ sending BUs

    def _initial_seq(self, key: tuple[str, bytes]) -> int:
        """RFC 6275 §11.7.2: continue after the last number sent to this destination, else start at random."""
        last = self._last_seq.get(key)
        return last if last is not None else self._rng.randrange(0x10000)

    def _current_coa(self) -> bytes | None:
        """The care-of address registered with the HA and CNs: the primary RCoA (HMIPv6) or the LCoA."""
        if self.mode == "hmipv6":
            primary = self._primary_entry()
            return primary.home if primary is not None and primary.expires is not None else None
        return self.lcoa if self.mode == "mipv6" else None

    def _lifetime(self, now: float, entry: _Bul) -> float:
        cfg = self.config
        if entry.kind == "map":
            if entry.lifetime_override is not None:
                return float(entry.lifetime_override)
            return min(cfg.map_lifetime, self._map_remaining(now, entry.peer), self._lcoa_remaining(now))
        bound = self._coa_remaining(now, entry.coa)
        if entry.kind == "ha":
            return min(cfg.ha_lifetime, bound)
        ha = self.bul.get(("ha", cfg.home_agent)) if cfg.home_agent is not None else None
        home = (ha.expires - now) if ha is not None and ha.expires is not None else 0.0
        return min(cfg.cn_lifetime, bound, home)

    def _coa_remaining(self, now: float, coa: bytes) -> float:
        """How long ``coa`` stays usable as care-of address: an RCoA as long as its local binding (§6.1: the HA and
        CN lifetimes MUST NOT be larger than the MAP binding's) and the MAP option; an LCoA its valid lifetime."""
        entry = next((e for e in self.bul.values() if e.kind == "map" and e.home == coa), None)
        if entry is not None:
            if entry.expires is None:
                return 0.0
            return min(entry.expires - now, self._map_remaining(now, entry.peer))
        return self._lcoa_remaining(now) if coa == self.lcoa else 0.0

    def _send_bu(self, now: float, entry: _Bul) -> list[Action]:
        """Start a new BU exchange for ``entry`` (new care-of address or refresh)."""
        if self.lcoa is None:
            return []
        if entry.kind == "map":
            entry.coa = self.lcoa
        first = entry.kind in ("map", "ha") and entry.expires is None
        cfg = self.config
        entry.timeout = cfg.initial_bindack_timeout_first_reg if first else cfg.initial_bindack_timeout
        entry.sent = {}
        entry.retried_135 = False
        entry.state = "sending"
        self._timers.cancel(("refresh", entry.key))
        return self._transmit(now, entry)

    def _transmit(self, now: float, entry: _Bul) -> list[Action]:
        """One transmission of the entry's BU with a new sequence number (RFC 6275 §11.8)."""
        if entry.deregister:
            return self._transmit_deregistration(now, entry)
        lifetime = self._lifetime(now, entry)
        units = _units(lifetime)
        if units == 0:
            entry.state = "idle" if entry.expires is None else "bound"
            self._timers.cancel(("retx", entry.key))
            if entry.kind == "ha":
                self._ha_refresh_wanted = True
            return [_log("bu_postponed", kind=entry.kind, peer=entry.peer, lifetime=lifetime,
                         reason="allowed lifetime below 4 s")]
        entry.seq = (entry.seq + 1) & 0xFFFF
        self._last_seq[entry.key] = entry.seq
        entry.sent[entry.seq] = (now, units * 4)
        self._timers.set(("retx", entry.key), now + entry.timeout)
        self.counters["bu_sent"][entry.kind] += 1
        packet = self._bu_packet(entry, units)
        return [_log("bu_sent", kind=entry.kind, role=entry.role or None, peer=entry.peer, home=entry.home,
                     coa=entry.coa, seq=entry.seq, lifetime=units * 4, timeout=entry.timeout),
                Send(self.config.iface, packet, self._link_dst())]

    def _transmit_deregistration(self, now: float, entry: _Bul) -> list[Action]:
        """One transmission of the at-home de-registration (RFC 6275 §11.5.5, §6.1.7: "The deletion of a binding
        MUST be indicated by setting the Lifetime field to 0"); none once the binding it deletes has run out."""
        if now >= entry.dereg_until:
            return self._drop_entry(entry, "expired") + [
                _log("home_deregistration_moot", ha=entry.peer,
                     text="the home binding has expired at the home agent meanwhile")] + \
                self._home_reclaimed(now, "home binding expired")
        entry.seq = (entry.seq + 1) & 0xFFFF
        self._last_seq[entry.key] = entry.seq
        entry.sent[entry.seq] = (now, 0)
        self._timers.set(("retx", entry.key), now + entry.timeout)
        self.counters["bu_sent"]["ha"] += 1
        return [_log("bu_sent", kind="ha", role="deregistration", peer=entry.peer, home=entry.home,
                     coa=entry.coa, seq=entry.seq, lifetime=0, timeout=entry.timeout),
                Send(self.config.iface, self._bu_packet(entry, 0), self._link_dst())]

    def _link_dst(self) -> bytes | None:
        return self.router.mac if self.router is not None else None

    def _via(self, packet: Packet, coa: bytes) -> Packet:
        """Wrap a packet sourced from an RCoA into that MAP's tunnel (LCoA -> MAP, §6.1); LCoA-sourced packets go
        as they are."""
        entry = next((e for e in self.bul.values() if e.kind == "map" and e.home == coa), None)
        if entry is None or self.lcoa is None:
            return packet
        return Packet(self.lcoa, entry.peer, packet, hop_limit=64)

    def _bu_packet(self, entry: _Bul, units: int) -> Packet:
        cfg = self.config
        if entry.kind == "map":
            # §4.1, §6.1: A and M set, RCoA in the Home Address option, LCoA as source, no Alternate CoA option
            bu = BindingUpdate(entry.seq, BU_A | BU_M, units)
            # base §12.1: protected with AH or ESP under the SA pair set up for the RCoA (None: none configured,
            # the BU goes out plain and a MAP enforcing §12.1 drops it)
            return self.security.protect(Packet(entry.coa, entry.peer, bu, hop_limit=64, home_address=entry.home),
                                         self.security.pair_for(entry.peer, entry.home))
        if entry.kind == "ha":
            # RFC 6275 §11.7.1; §6.1: "the RCoA is used as the care-of address in the source address field"
            flags = BU_A | BU_H
            if cfg.iid == cfg.home_address[8:]:
                flags |= BU_L
            options = (AlternateCareOfAddress(entry.coa),) if cfg.ha_alternate_coa else ()
            if entry.deregister:
                # RFC 6275 §11.5.5: "the mobile node MUST set the Acknowledge (A) and Home Registration (H) bits,
                # set the Lifetime field to zero, and set the care-of address for the binding to the mobile
                # node's own home address.  The mobile node MUST use its home address as the source address".
                # No Home Address option: the home address is the source (§11.7.1: "either in the Home Address
                # destination option or in the Source Address field"; §6.3: the option carries a home address
                # for a packet sent from a care-of address).  The Alternate Care-of Address option (= the home
                # address) stays as in every home registration (§11.7.1 "MUST be included in all home
                # registrations").  Not tunnelled; to the current router's link-layer address (below).
                return self.security.protect(
                    Packet(cfg.home_address, entry.peer, BindingUpdate(entry.seq, flags, units, options),
                           hop_limit=64), None)
            inner = Packet(entry.coa, entry.peer, BindingUpdate(entry.seq, flags, units, options), hop_limit=64,
                           home_address=entry.home)
            return self._via(self.security.protect(inner, None), entry.coa)
        # correspondent registration (RFC 6275 §11.7.2, §5.2.6): Nonce Indices + Binding Authorization Data last
        assert entry.kbm is not None
        bu = BindingUpdate(entry.seq, BU_A, units, (NonceIndices(*entry.indices),))
        bu = sign(bu, entry.kbm, entry.coa, entry.peer)
        return self._via(Packet(entry.coa, entry.peer, bu, hop_limit=64, home_address=entry.home), entry.coa)

    def _register_home(self, now: float) -> list[Action]:
        """Home registration with the current care-of address (§6.1: after the MAP's BA) if it changed."""
        cfg = self.config
        coa = self._current_coa()
        if cfg.home_agent is None or coa is None or self.at_home:
            return []
        entry = self.bul.get(("ha", cfg.home_agent))
        if entry is None:
            entry = _Bul("ha", cfg.home_agent, cfg.home_address, seq=self._initial_seq(("ha", cfg.home_agent)))
            self.bul[entry.key] = entry
        if entry.state == "failed":
            return []
        if entry.coa == coa and entry.state in ("sending", "bound") and not self._ha_refresh_wanted:
            return []
        self._ha_refresh_wanted = False
        entry.coa = coa
        return [_log("home_registration", ha=cfg.home_agent, coa=coa)] + self._send_bu(now, entry)

    def _schedule_refresh(self, entry: _Bul, sent_at: float, advice: int | None = None) -> None:
        if entry.role == "previous" or entry.expires is None:
            return
        delay = entry.granted * self.config.refresh_ratio
        if advice is not None:
            delay = min(delay, advice)
        self._timers.set(("refresh", entry.key), sent_at + delay)

    # ---------------------------------------------------------------------------------------- received packets

    def _on_tunnelled(self, now: float, packet: Packet) -> list[Action]:
        """Unwrap IPv6-in-IPv6: the outer tunnel must come from a MAP holding a binding for the inner destination
        (§6.1), or from the home agent in Mobile IPv6 mode; an inner HA -> care-of address tunnel is the home
        agent's (RFC 6275 §10.4.2)."""
        cfg = self.config
        layers: list[tuple[bytes, bytes]] = []
        p = packet
        while isinstance(p.payload, Packet):
            layers.append((p.src, p.dst))
            p = p.payload
        src, dst = layers[0]
        if dst != self.lcoa:
            return [_log("tunnel_dropped", src=src, dst=dst, reason="not to the current LCoA")]
        map_entry = self.bul.get(("map", src))
        inner_dst = layers[1][1] if len(layers) > 1 else p.dst
        from_map = map_entry is not None and map_entry.home == inner_dst
        from_ha = src == cfg.home_agent and self.mode == "mipv6"
        if not (from_map or from_ha):
            return [_log("tunnel_dropped", src=src, dst=dst, reason="not from a bound MAP or the home agent")]
        if len(layers) > 1 and not from_ha:
            ha_src, ha_dst = layers[1]
            if ha_src != cfg.home_agent or len(layers) > 2:
                return [_log("tunnel_dropped", src=ha_src, dst=ha_dst, reason="inner tunnel not from the HA")]
        via = tuple(s for s, _ in layers)
        return self._on_signal(now, p, via)

    def _on_signal(self, now: float, packet: Packet, via: tuple[bytes, ...]) -> list[Action]:
        try:
            packet, sa = self.security.open(packet)
        except SecurityDrop as exc:
            return [_log("ipsec_dropped", src=packet.src, dst=packet.dst, reason=str(exc))]
        msg = packet.payload
        if isinstance(msg, BindingAcknowledgement):
            return self._on_ba(now, packet, msg, via, sa)
        if isinstance(msg, MobilityUnknown):
            rr = decode_rr(msg)
            if isinstance(rr, HomeTest):
                return self._on_hot(now, packet, rr, via)
            if isinstance(rr, CareOfTest):
                return self._on_cot(now, packet, rr)
            return []
        if isinstance(msg, BindingRefreshRequest):
            return self._on_brr(now, packet)
        if isinstance(msg, BindingError):
            return self._on_be(now, packet, msg)
        if isinstance(msg, Icmpv6Opaque) and msg.type == 4 and msg.code == 1:
            return self._on_param_problem(now, msg)
        return []

    def _ignore_ba(self, packet: Packet, reason: str) -> list[Action]:
        self.counters["ba_ignored"] += 1
        return [_log("ba_ignored", src=packet.src, rh2=packet.rh2_address, reason=reason)]

    def _on_ba(self, now: float, packet: Packet, ba: BindingAcknowledgement, via: tuple[bytes, ...],
               sa: str | None = None) -> list[Action]:
        cfg = self.config
        src = packet.src
        entry = self.bul.get(("map", src)) or self.bul.get(("ha", src)) or self.bul.get(("cn", src))
        if entry is None:
            return self._ignore_ba(packet, "no Binding Update List entry for the source")
        if entry.kind == "map":
            if packet.rh2_address != entry.home:
                return self._ignore_ba(packet, "no type 2 routing header holding the RCoA (§6.1: MUST silently "
                                               "ignore)")
            if packet.dst != self.lcoa:
                return self._ignore_ba(packet, "not addressed to the current LCoA")
        elif entry.deregister:
            # RFC 6275 §9.5.4 / §6.1.8: a BA to a BU sent from the home address has no type 2 routing header;
            # one holding the home address is accepted too
            if packet.rh2_address not in (None, cfg.home_address):
                return self._ignore_ba(packet, "type 2 routing header not holding the home address")
            if packet.dst != cfg.home_address:
                return self._ignore_ba(packet, "not addressed to the home address")
        else:
            if packet.rh2_address != cfg.home_address:
                return self._ignore_ba(packet, "no type 2 routing header holding the home address (RFC 6275 §6.4)")
            if packet.dst != entry.coa:
                return self._ignore_ba(packet, "not addressed to the registered care-of address")
        if entry.kind == "map" and self.security.required and not self.security.permits(sa, src, entry.home):
            return self._ignore_ba(packet, "not protected by the SA pair for this MAP and RCoA (base §12.1: binding "
                                           "updates between the MAP and the mobile node MUST be protected)")
        if entry.kind == "cn" and ba.status not in (136, 137, 138):
            if entry.kbm is None or not verify(ba, entry.kbm, entry.coa, src):
                return self._ignore_ba(packet, "Binding Authorization Data missing or invalid (RFC 6275 §11.7.3)")
        if entry.state != "sending":
            return self._ignore_ba(packet, "no outstanding Binding Update")
        if ba.status == 135:
            # RFC 6275 §11.7.1/§11.7.3: take the last accepted number and continue after it
            entry.seq = ba.seq
            self._last_seq[entry.key] = ba.seq
            actions: list[Action] = [_log("ba_seq_out_of_window", peer=src, last_seq=ba.seq)]
            if not entry.retried_135:
                entry.retried_135 = True
                actions += self._transmit(now, entry)
            return actions
        if ba.seq not in entry.sent:
            return self._ignore_ba(packet, "sequence number matches no outstanding BU (RFC 6275 §11.7.3)")
        sent_at, requested = entry.sent[ba.seq]
        if ba.status >= 128:
            return self._ba_rejected(now, entry, ba)
        return self._ba_accepted(now, entry, ba, sent_at, requested)

    def _ba_accepted(self, now: float, entry: _Bul, ba: BindingAcknowledgement, sent_at: float,
                     requested: int) -> list[Action]:
        self.counters["ba_accepted"] += 1
        self._timers.cancel(("retx", entry.key))
        previous_coa = entry.bound_coa if entry.expires is not None else None
        entry.granted = min(ba.lifetime * 4, requested)
        actions: list[Action] = [_log("ba_accepted", kind=entry.kind, role=entry.role or None, peer=entry.peer,
                                      status=ba.status, seq=ba.seq, lifetime=entry.granted, coa=entry.coa)]
        if ba.status == 1 and entry.kind == "ha":
            actions.append(_log("prefix_discovery_needed", text="status 1: Mobile Prefix Solicitation is not "
                                                                "implemented (RFC 6275 §11.7.3 SHOULD)"))
        if entry.deregister:  # RFC 6275 §11.5.5: the home binding is gone; the home address is ours on the link
            return actions + self._drop_entry(entry, "deregistered") + self._home_reclaimed(now, "deregistered")
        if entry.granted == 0:
            return actions + self._drop_entry(entry, "deregistered")
        entry.state = "bound"
        entry.bound_coa = entry.coa
        entry.expires = sent_at + entry.granted  # RFC 6275 §11.7.3: counts down from when the BU was sent
        self._timers.set(("expire", entry.key), entry.expires)
        advice = None
        if entry.kind != "cn":  # RFC 6275 §11.7.3: ignore Binding Refresh Advice from correspondent nodes
            advice = next((o.interval * 4 for o in ba.options if isinstance(o, BindingRefreshAdvice)), None)
        self._schedule_refresh(entry, sent_at, advice)
        if entry.kind == "map" and entry.role == "primary":
            actions += self._register_home(now)
        elif entry.kind == "ha" and entry.coa != previous_coa:
            for cn in self.cns.values():
                if cn.state in ("failed", "refused"):
                    cn.state = "idle"  # a new care-of address: try again (RFC 6275 §11.7.2 SHOULD)
                actions += self._start_rr(now, cn)
        elif entry.kind == "cn":
            self.cns[entry.peer].state = "bound"
        return actions

    def _ba_rejected(self, now: float, entry: _Bul, ba: BindingAcknowledgement) -> list[Action]:
        self.counters["ba_rejected"] += 1
        self._timers.cancel(("retx", entry.key))
        actions: list[Action] = [_log("ba_rejected", kind=entry.kind, role=entry.role or None, peer=entry.peer,
                                      status=ba.status, seq=ba.seq)]
        if entry.kind == "map":
            if entry.role == "previous":
                return actions + [_log("previous_map_refused", map=entry.peer, status=ba.status)] + \
                    self._drop_entry(entry, "map-changed")
            self.refused[entry.peer] = ba.status
            return actions + self._drop_entry(entry, "map-refused") + self._reconsider(now)
        if entry.kind == "ha" and entry.deregister:
            # 133 (not home agent for this mobile node, RFC 6275 §9.5.1): it holds no binding to delete.  Any other
            # refusal: the de-registration is not retried (the binding lapses at the home agent).
            actions += self._drop_entry(entry, "deregistration-refused")
            if ba.status == 133:
                return actions + self._home_reclaimed(now, "home agent holds no binding (status 133)")
            return actions + [_log("home_deregistration_failed", status=ba.status)]
        if entry.kind == "ha":
            entry.state = "failed"
            note = "MUST NOT re-use this home address" if ba.status == 134 else "no further BUs to the HA"
            return actions + [_log("home_registration_failed", status=ba.status, text=note + " (RFC 6275 §11.7)")]
        cn = self.cns[entry.peer]
        if ba.status in (136, 137, 138):  # RFC 6275 §5.2.7: get new tokens and try again
            cn.attempts += 1
            if cn.attempts > self.config.max_ro_failure:
                cn.state = "failed"
                return actions + [_log("ro_failed", cn=cn.address, text="nonce indices keep expiring")] + \
                    self._drop_entry(entry, "refused")
            if ba.status in (136, 138):
                cn.home_token = None
            if ba.status in (137, 138):
                cn.careof_token = None
            entry.state = "idle"
            return actions + self._start_rr(now, cn, keep_attempts=True)
        cn.state = "refused"
        return actions + self._drop_entry(entry, "refused")

    # ---------------------------------------------------------------------------- return routability (§11.6)

    def _start_rr(self, now: float, cn: _Correspondent, *, keep_attempts: bool = False) -> list[Action]:
        cfg = self.config
        if not cfg.route_optimisation or cfg.home_agent is None or cn.state in ("unsupported", "refused"):
            return []
        if cn.state == "failed" and keep_attempts:
            return []
        coa = self._current_coa()
        if coa is None or self._home_registration() != coa:
            return []  # RFC 6275 §11.7.2: after the home registration
        if not keep_attempts:
            cn.attempts = 0
        cn.timeout = cfg.initial_bindack_timeout
        fresh_home = cn.home_token is not None and now - cn.home_at < cfg.max_token_lifetime
        fresh_coa = (cn.careof_token is not None and cn.careof_for == coa
                     and now - cn.careof_at < cfg.max_token_lifetime)
        if not fresh_home:
            cn.home_token = None
        if not fresh_coa:
            cn.careof_token = None
        if fresh_home and fresh_coa:  # RFC 6275 §5.2.7 / §11.6.1: recent tokens MAY be reused
            return [_log("rr_tokens_reused", cn=cn.address)] + self._bu_to_cn(now, cn)
        cn.state = "rr"
        cn.careof_for = coa
        self._timers.set(("rr", cn.address), now + cn.timeout)
        return [_log("rr_started", cn=cn.address, coa=coa, home_token_reused=fresh_home)] + \
            self._send_tests(cn, coa)

    def _home_registration(self) -> bytes | None:
        """The care-of address of the acknowledged, unexpired home registration, or None when there is none."""
        cfg = self.config
        ha = self.bul.get(("ha", cfg.home_agent)) if cfg.home_agent is not None else None
        return ha.bound_coa if ha is not None and ha.expires is not None else None

    def _send_tests(self, cn: _Correspondent, home_coa: bytes) -> list[Action]:
        """HoTI from the home address reverse-tunnelled via the HA from ``home_coa``, the registered care-of address
        — inside the MAP tunnel in HMIPv6 mode, i.e. encapsulated twice (§12.2) — and CoTI from the care-of address
        (RFC 6275 §5.2.5, §11.6.1); new cookies every time (§11.8)."""
        cfg = self.config
        actions: list[Action] = []
        if cn.home_token is None:
            assert cfg.home_agent is not None
            cn.home_cookie = self._rng.getrandbits(64).to_bytes(8, "big")
            hoti = Packet(cfg.home_address, cn.address, encode_rr(HomeTestInit(cn.home_cookie)), hop_limit=64)
            tunnelled = Packet(home_coa, cfg.home_agent, hoti, hop_limit=64)
            self.counters["hoti_sent"] += 1
            actions.append(Send(cfg.iface, self._via(tunnelled, home_coa), self._link_dst()))
        if cn.careof_token is None:
            cn.careof_cookie = self._rng.getrandbits(64).to_bytes(8, "big")
            coti = Packet(cn.careof_for, cn.address, encode_rr(CareOfTestInit(cn.careof_cookie)), hop_limit=64)
            self.counters["coti_sent"] += 1
            actions.append(Send(cfg.iface, self._via(coti, cn.careof_for), self._link_dst()))
        return actions

    def _rr_timeout(self, now: float, address: bytes) -> list[Action]:
        cn = self.cns.get(address)
        if cn is None or cn.state != "rr":
            return []
        cn.attempts += 1
        if cn.attempts > self.config.max_ro_failure:
            cn.state = "failed"
            return [_log("ro_failed", cn=address, text="return routability timed out after MAX_RO_FAILURE retries: "
                                                       "packets keep going through the home agent (RFC 6275 "
                                                       "§5.2.9)")]
        home_coa = self._home_registration()
        if home_coa is None:
            # the home registration expired meanwhile: the HoTI is reverse-tunnelled through the home agent (RFC
            # 6275 §6.1.3: "This message is tunneled through the home agent"), which forwards only what comes from
            # the registered primary care-of address (§10.4.5).  Suspended; the next accepted home registration
            # starts it again (§11.7.2, _ba_accepted).
            cn.state = "idle"
            return [_log("rr_suspended", cn=address, reason="no valid home registration (RFC 6275 §6.1.3, "
                                                            "§10.4.5)")]
        cn.timeout = min(cn.timeout * 2, self.config.max_bindack_timeout)
        self._timers.set(("rr", address), now + cn.timeout)
        return [_log("rr_retransmit", cn=address, attempt=cn.attempts)] + self._send_tests(cn, home_coa)

    def _on_hot(self, now: float, packet: Packet, hot: HomeTest, via: tuple[bytes, ...]) -> list[Action]:
        """RFC 6275 §11.6.2: from a CN with return routability in progress, no home token yet, to the home address,
        received in a tunnel from the home agent, with the cookie we sent."""
        cn = self.cns.get(packet.src)
        cfg = self.config
        if (cn is None or cn.state != "rr" or cn.home_token is not None or packet.dst != cfg.home_address
                or cfg.home_agent not in via or hot.cookie != cn.home_cookie):
            return [_log("hot_ignored", src=packet.src)]
        cn.home_token, cn.home_index, cn.home_at = hot.token, hot.nonce_index, now
        cn.home_cookie = None
        return self._rr_progress(now, cn)

    def _on_cot(self, now: float, packet: Packet, cot: CareOfTest) -> list[Action]:
        """RFC 6275 §11.6.2: to the current care-of address, with the cookie we sent."""
        cn = self.cns.get(packet.src)
        if (cn is None or cn.state != "rr" or cn.careof_token is not None or packet.dst != cn.careof_for
                or cot.cookie != cn.careof_cookie):
            return [_log("cot_ignored", src=packet.src)]
        cn.careof_token, cn.careof_index, cn.careof_at = cot.token, cot.nonce_index, now
        cn.careof_cookie = None
        return self._rr_progress(now, cn)

    def _rr_progress(self, now: float, cn: _Correspondent) -> list[Action]:
        if cn.home_token is None or cn.careof_token is None:
            return []
        self._timers.cancel(("rr", cn.address))
        return [_log("rr_completed", cn=cn.address, home_nonce_index=cn.home_index,
                     careof_nonce_index=cn.careof_index)] + self._bu_to_cn(now, cn)

    def _bu_to_cn(self, now: float, cn: _Correspondent) -> list[Action]:
        cfg = self.config
        key = ("cn", cn.address)
        entry = self.bul.get(key)
        if entry is None:
            entry = _Bul("cn", cn.address, cfg.home_address, seq=self._initial_seq(key))
            self.bul[key] = entry
        assert cn.home_token is not None and cn.careof_token is not None and cn.careof_for is not None
        entry.coa = cn.careof_for
        entry.kbm = binding_management_key(cn.home_token, cn.careof_token)
        entry.indices = (cn.home_index, cn.careof_index)
        cn.state = "registering"
        return self._send_bu(now, entry)

    def _on_brr(self, now: float, packet: Packet) -> list[Action]:
        """RFC 6275 §11.7.4: only from a CN in the Binding Update List; refresh by running return routability."""
        cn = self.cns.get(packet.src)
        if cn is None or ("cn", packet.src) not in self.bul:
            return [_log("brr_ignored", src=packet.src)]
        return [_log("brr_received", cn=packet.src)] + self._start_rr(now, cn)

    def _on_be(self, now: float, packet: Packet, be: BindingError) -> list[Action]:
        """RFC 6275 §11.3.6: status 1 = the CN has no binding for our home address (register again), status 2 =
        it does not understand the Mobility Header (no route optimisation with it)."""
        cn = self.cns.get(packet.src)
        if cn is None or be.home_address != self.config.home_address:
            return []
        actions: list[Action] = [_log("binding_error", cn=packet.src, status=be.status)]
        entry = self.bul.get(("cn", packet.src))
        if entry is not None:
            actions += self._drop_entry(entry, "binding-error")
        if be.status == 2:
            cn.state = "unsupported"
            return actions
        cn.state = "idle"
        return actions + self._start_rr(now, cn)

    def _on_param_problem(self, now: float, msg: Icmpv6Opaque) -> list[Action]:
        """RFC 6275 §11.6.2: ICMP Parameter Problem code 1 for a HoTI/CoTI: the CN has no Mobile IPv6 support."""
        try:
            invoking = decode_packet(msg.body[4:], verify_checksums=False)
        except DecodeError:
            return []
        rr = decode_rr(invoking.payload)
        cn = self.cns.get(invoking.dst)
        if cn is None or not isinstance(rr, (HomeTestInit, CareOfTestInit)):
            return []
        cn.state = "unsupported"
        self._timers.cancel(("rr", cn.address))
        return [_log("ro_unsupported", cn=cn.address, text="ICMP Parameter Problem code 1 (RFC 6275 §11.6.2)")]

    # --------------------------------------------------------------------------------------------------- timers

    def _run_timers(self, now: float) -> list[Action]:
        self._now = max(self._now, now)
        actions: list[Action] = []
        while (key := self._timers.pop_one(now)) is not None:
            kind = key[0]
            if kind == "rs":
                actions += self._send_rs(now)
            elif kind == "router":
                if self.router is not None:
                    actions.append(_log("router_lost", router=self.router.address,
                                        reason="router lifetime or Advertisement Interval elapsed "
                                               "(RFC 6275 §11.5.1)"))
                    self.router = None
                    actions += self._solicit(now)
            elif kind == "lcoa":
                actions += self._lcoa_expired(now)
            elif kind == "mapopt":
                if key[1] in self.maps:
                    del self.maps[key[1]]
                    actions.append(_log("map_option_expired", map=key[1]))
                    actions += self._reconsider(now)
            elif kind == "retx":
                entry = self.bul.get(key[1])
                if entry is not None and entry.state == "sending":
                    entry.timeout = min(entry.timeout * 2, self.config.max_bindack_timeout)
                    actions += self._transmit(now, entry)
            elif kind == "refresh":
                actions += self._refresh(now, key[1])
            elif kind == "expire":
                actions += self._expired(now, key[1])
            elif kind == "rr":
                actions += self._rr_timeout(now, key[1])
        return actions

    def _lcoa_expired(self, now: float) -> list[Action]:
        old = self.lcoa
        if old is None:
            return []
        self.lcoa = None
        self.lcoa_prefix = None
        actions: list[Action] = [_log("lcoa_expired", lcoa=old)]
        if self.config.lcoa_source == "slaac":
            actions.append(AddressRemoved(self.config.iface, old, "lcoa", "expired"))
        if self.router is not None:
            actions += self._update_lcoa(now, self.router.prefixes)
        return actions + self._reconsider(now)

    def _refresh(self, now: float, key: tuple[str, bytes]) -> list[Action]:
        entry = self.bul.get(key)
        if entry is None or entry.state != "bound":
            return []
        if entry.kind == "cn":
            cn = self.cns[entry.peer]
            return [_log("cn_refresh", cn=entry.peer)] + self._start_rr(now, cn)
        return [_log("binding_refresh", kind=entry.kind, peer=entry.peer)] + self._send_bu(now, entry)

    def _expired(self, now: float, key: tuple[str, bytes]) -> list[Action]:
        entry = self.bul.get(key)
        if entry is None:
            return []
        actions: list[Action] = [_log("binding_expired", kind=entry.kind, role=entry.role or None, peer=entry.peer,
                                      home=entry.home)]
        if entry.kind == "map":
            return actions + self._drop_entry(entry, "expired") + self._reconsider(now)
        if entry.kind == "ha":
            if entry.deregister:
                return actions
            entry.expires = None
            entry.bound_coa = None
            if entry.state != "sending":
                actions += self._send_bu(now, entry)
            return actions
        actions += self._drop_entry(entry, "expired")
        cn = self.cns.get(entry.peer)
        if cn is not None:
            cn.state = "idle"
            actions += self._start_rr(now, cn)
        return actions

    # ------------------------------------------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """Read-only, JSON-serialisable state for a control command (times on the core's clock)."""
        now = self._now

        def t(value: float | None) -> float | None:
            return None if value is None or value in (_INF, -_INF) else value

        router = self.router
        return {
            "role": "mn",
            "edition": self.edition,
            "now": now,
            "mode": self.mode,
            "at_home": self.at_home,
            "link_up": self.link_is_up,
            "home_address": fmt(self.config.home_address),
            "lcoa": fmt(self.lcoa) if self.lcoa is not None else None,
            "lcoa_valid_until": t(self.lcoa_valid_until),
            "router": None if router is None else {
                "address": fmt(router.address), "mac": fmt_mac(router.mac) if router.mac else None,
                "expires_at": router.expires, "last_ra": router.last_ra,
                "prefixes": [f"{fmt(p.prefix)}/{p.prefix_length}" for p in router.prefixes]},
            "maps": [{"address": fmt(a), "dist": s.option.dist, "pref": s.option.pref, "r": s.option.r,
                      "valid_lifetime": s.option.valid_lifetime, "received_at": s.received,
                      "expires_at": t(s.expires)} for a, s in sorted(self.maps.items())],
            "failed_maps": sorted(fmt(a) for a in self.failed),
            "refused_maps": {fmt(a): s for a, s in sorted(self.refused.items())},
            "primary_map": fmt(self.primary) if self.primary is not None else None,
            "binding_update_list": [
                {"kind": e.kind, "role": e.role or None, "peer": fmt(e.peer), "home": fmt(e.home),
                 "coa": fmt(e.coa) if e.coa else None, "state": e.state, "seq": e.seq,
                 "bound_coa": fmt(e.bound_coa) if e.bound_coa else None, "granted": e.granted,
                 "expires_at": e.expires, "retransmit_timeout": e.timeout}
                for e in sorted(self.bul.values(), key=lambda e: (e.kind, e.peer))
            ],
            "correspondents": [
                {"address": fmt(c.address), "state": c.state, "attempts": c.attempts,
                 "home_token_at": t(c.home_at), "careof_token_at": t(c.careof_at),
                 "careof_for": fmt(c.careof_for) if c.careof_for else None}
                for c in sorted(self.cns.values(), key=lambda c: c.address)
            ],
            "counters": {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.counters.items()},
            "next_deadline": self.next_deadline(),
        }
