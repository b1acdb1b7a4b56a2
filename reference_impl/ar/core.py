"""Sans-I/O HMIPv6 access router (base document §3, §7.1.1, §10; RFC 5380 §7, §10): Router Advertisements
(RFC 4861 §6.2; RFC 6275 §7.3, §7.5) carrying MAP options, dynamic MAP discovery (rfc4140 only) and MAP failure
detection by ICMPv6 echo.

Feed received, decoded packets to :meth:`ArCore.handle`, call :meth:`ArCore.tick` at :meth:`ArCore.next_deadline`;
both return :mod:`~reference_impl.actions`.  Randomisation (RA intervals and delays) comes from the injected
``rng`` so virtual-time runs are reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..actions import log as _log
from ..actions import Action, MapStateChanged, Send
from ..editions import check_edition
from ..timers import TimerQueue
from ..wire.addresses import ALL_NODES, UNSPECIFIED, fmt, is_link_local, multicast_mac
from ..wire.icmpv6 import (
    AdvertisementInterval, EchoReply, EchoRequest, MapOption, Mtu, RouterAdvertisement, RouterSolicitation,
    SourceLinkLayerAddress, encode_nd_options,
)
from ..wire.ipv6 import Packet
from .config import ArConfig, ArInterface
from .failure import MapProber, ProbeState
from .map_table import MAX_LEARNED, MapTable

__all__ = ["DEFAULT_LINK_MTU", "ArCore"]

#: Link MTU assumed when the interface advertises none (RFC 2464 §2: 1500 octets on Ethernet).
DEFAULT_LINK_MTU = 1500
_RA_HEADERS = 40 + 16  # IPv6 header + RA header before the options (RFC 4861 §4.2)


@dataclass(slots=True)
class _RaState:
    initial_left: int
    last_multicast: float | None = None
    solicited_pending: bool = False
    sent: int = 0


def _option_dict(opt: MapOption) -> dict[str, Any]:
    return {"address": fmt(opt.address), "dist": opt.dist, "pref": opt.pref, "r": opt.r,
            "valid_lifetime": opt.valid_lifetime}


class ArCore:
    """One access router with any number of interfaces."""

    def __init__(self, config: ArConfig, edition: str = "rfc4140", *, rng: random.Random | None = None) -> None:
        self.config = config
        self.edition = check_edition(edition)
        self._rng = rng if rng is not None else random.Random()
        self._ifaces = {i.name: i for i in config.interfaces}
        self._own_link_locals = frozenset(i.own_link_local for i in config.interfaces)
        self._ra = {i.name: _RaState(config.max_initial_advertisements) for i in config.interfaces if i.advertise}
        self.dynamic = config.discovery == "dynamic" and self.edition == "rfc4140"
        self.table = MapTable(config.manual_maps, config.local_map, self.dynamic)
        self.prober = MapProber(config.failure_detection)
        self.probing = config.failure_detection.enabled and config.failure_detection.source is not None
        self._timers = TimerQueue()
        self._started = False
        self._now = 0.0
        self.counters: dict[str, int] = {"ra_sent": 0, "rs_received": 0, "probes_sent": 0, "probe_replies": 0,
                                         "map_options_refused": 0}

    # ----------------------------------------------------------------------------------------------------- driving

    def start(self, now: float) -> list[Action]:
        """Begin advertising at ``now`` (first RA at once); idempotent, implied by ``handle``/``tick``."""
        if self._started:
            return []
        self._started = True
        self._now = now
        cfg = self.config
        actions: list[Action] = [_log("ar_started", edition=self.edition,
                                      discovery="dynamic" if self.dynamic else "manual",
                                      interfaces=[i.name for i in cfg.interfaces])]
        if cfg.discovery == "dynamic" and not self.dynamic:
            actions.append(_log("dynamic_discovery_disabled",
                                reason="RFC 5380 removed dynamic MAP discovery (§7, Appendix A): manual "
                                       "configuration only"))
        if cfg.failure_detection.enabled and not self.probing:
            actions.append(_log("failure_detection_disabled", reason="no probe source address configured"))
        for name, iface in self._ifaces.items():
            if iface.advertise and iface.unsolicited:
                self._timers.set(("ra", name), now)
        actions += self._sync_probes(now)
        return actions + self._run_timers(now)

    def handle(self, now: float, iface: str, packet: Packet) -> list[Action]:
        """Process one received, decoded packet (``iface``: where it arrived)."""
        actions = self.start(now) + self._run_timers(now)
        msg = packet.payload
        if isinstance(msg, RouterSolicitation):
            actions += self._on_rs(now, iface, packet, msg)
        elif isinstance(msg, RouterAdvertisement):
            actions += self._on_ra(now, iface, packet, msg)
        elif isinstance(msg, EchoReply):
            actions += self._on_echo_reply(now, packet, msg)
        return actions

    def tick(self, now: float) -> list[Action]:
        return self.start(now) + self._run_timers(now)

    def next_deadline(self) -> float | None:
        return self._timers.next()

    # ------------------------------------------------------------------------------------------ advertisements

    def advertised_map_options(self, iface: str) -> tuple[MapOption, ...]:
        if not self._ifaces[iface].send_map_options:
            return ()
        return self.table.options_for(iface)

    def build_ras(self, iface: str) -> list[Packet]:
        """The RAs this router sends on ``iface`` now: from its link-local, hop limit 255 (RFC 4861 §4.2, §6.2.3),
        each no larger than the link MTU (the advertised MTU option's value, else :data:`DEFAULT_LINK_MTU`).

        Usually one.  When the MAP options do not all fit, they are spread over several RAs, each with the other
        options (source link-layer address, MTU, prefixes, Advertisement Interval) and, on a router that is also a
        MAP, its own MAP option (RFC 4861 §6.2.3: "If including all options causes the size of an advertisement to
        exceed the link MTU, multiple advertisements can be sent, each containing a subset of the options";
        base §7.1.1: a MAP "MUST send its own option, together with the received option, in the same
        advertisement")."""
        cfg: ArInterface = self._ifaces[iface]
        common: list = [SourceLinkLayerAddress(cfg.link_address)]
        if cfg.mtu is not None:
            common.append(Mtu(cfg.mtu))
        common.extend(cfg.prefixes)
        if cfg.advertisement_interval_option:
            ms = int(round(cfg.max_interval * 1000))
            common.append(AdvertisementInterval(ms + 20 if ms < 200 else ms))  # RFC 6275 §7.5: +20 ms below 200
        maps = self.advertised_map_options(iface)
        own = self.table.local.address if self.table.local is not None else None
        common.extend(o for o in maps if o.address == own)
        room = (cfg.mtu if cfg.mtu is not None else DEFAULT_LINK_MTU) - _RA_HEADERS - len(encode_nd_options(common))
        subsets: list[list[MapOption]] = [[]]
        used = 0
        for opt in (o for o in maps if o.address != own):
            size = len(encode_nd_options((opt,)))
            if subsets[-1] and used + size > room:  # at least one per RA, whatever the room
                subsets.append([])
                used = 0
            subsets[-1].append(opt)
            used += size
        return [Packet(cfg.own_link_local, ALL_NODES,
                       RouterAdvertisement(cfg.cur_hop_limit, cfg.flags, cfg.default_lifetime, cfg.reachable_time,
                                           cfg.retrans_timer, tuple(common) + tuple(subset)), hop_limit=255)
                for subset in subsets]

    def _send_ra(self, now: float, name: str) -> list[Action]:
        iface = self._ifaces[name]
        st = self._ra[name]
        if st.last_multicast is not None and now - st.last_multicast < iface.min_delay - 1e-9:
            self._timers.set(("ra", name), st.last_multicast + iface.min_delay)  # RFC 4861 §6.2.6 rate limit
            return []
        st.last_multicast = now
        st.solicited_pending = False
        ras = self.build_ras(name)
        st.sent += len(ras)
        self.counters["ra_sent"] += len(ras)
        if iface.unsolicited:
            delay = self._rng.uniform(iface.min_rtr_adv_interval, iface.max_interval)
            if st.initial_left > 0:
                delay = min(delay, self.config.max_initial_interval)
                st.initial_left -= 1
            self._timers.set(("ra", name), now + delay)
        return [Send(name, ra, multicast_mac(ALL_NODES)) for ra in ras]

    def _on_rs(self, now: float, iface: str, packet: Packet, rs: RouterSolicitation) -> list[Action]:
        """RFC 4861 §6.1.1 validation and §6.2.6 response scheduling (multicast reply, random delay, rate limit)."""
        cfg = self._ifaces.get(iface)
        if cfg is None or not cfg.advertise:
            return []
        if packet.hop_limit != 255 or rs.code != 0:
            return []
        if packet.src == UNSPECIFIED and any(isinstance(o, SourceLinkLayerAddress) for o in rs.options):
            return []
        self.counters["rs_received"] += 1
        st = self._ra[iface]
        if st.solicited_pending:
            return []  # one advertisement answers several solicitations; the delay runs from the first
        delay = self._rng.uniform(0.0, self.config.max_ra_delay)
        when = now + delay
        if st.last_multicast is not None and now - st.last_multicast < cfg.min_delay:
            when = st.last_multicast + cfg.min_delay + delay
        scheduled = self._timers.get(("ra", iface))
        if scheduled is not None and scheduled <= when:
            return []  # the next multicast RA comes sooner anyway
        st.solicited_pending = True
        self._timers.set(("ra", iface), when)
        return [_log("ra_solicited", iface=iface, src=packet.src, send_at=when)]

    def _fast_ras(self, now: float) -> None:
        """RFC 4861 §6.2.4: after a change in advertised information, up to MAX_INITIAL_RTR_ADVERTISEMENTS
        advertisements at the initial (short) intervals, the first as soon as the rate limit allows."""
        for name, st in self._ra.items():
            iface = self._ifaces[name]
            if not iface.unsolicited:
                continue
            st.initial_left = self.config.max_initial_advertisements
            when = now
            if st.last_multicast is not None and now - st.last_multicast < iface.min_delay:
                when = st.last_multicast + iface.min_delay
            scheduled = self._timers.get(("ra", name))
            if scheduled is None or when < scheduled:
                self._timers.set(("ra", name), when)

    # ------------------------------------------------------------------------------- dynamic discovery (§7.1.1)

    def _on_ra(self, now: float, iface: str, packet: Packet, ra: RouterAdvertisement) -> list[Action]:
        cfg = self._ifaces.get(iface)
        if cfg is None or not cfg.listen_map_options or packet.src in self._own_link_locals:
            return []
        maps = ra.map_options
        reason = None
        if not self.dynamic:
            reason = "dynamic discovery disabled"
        elif not is_link_local(packet.src):
            reason = "RA source is not link-local (RFC 4861 §6.1.2)"
        elif packet.hop_limit != 255:
            reason = "RA hop limit is not 255 (RFC 4861 §6.1.2)"
        elif ra.code != 0:
            reason = "RA code is not 0"
        if reason is not None:
            if not maps:
                return []
            return [_log("map_options_ignored", iface=iface, src=packet.src, hop_limit=packet.hop_limit,
                         reason=reason)]
        actions: list[Action] = []
        usable = []
        for opt in maps:
            if opt.dist == 0:
                actions.append(_log("map_option_ignored", address=opt.address, reason="Dist 0 MUST NOT be used"))
            else:
                usable.append(opt)
        stored, gone, refused = self.table.learn(now, iface, packet.src, tuple(usable),
                                                 self.config.learned_map_timeout)
        for key in stored:
            self._timers.set(("learned", key), self.table.learned[key].expires)
        for key in gone:
            self._timers.cancel(("learned", key))
        if stored or gone:
            refused_maps = {k[0] for k in refused}
            actions.append(_log("map_options_learned", iface=iface, router=packet.src,
                                maps=[_option_dict(o) for o in usable if o.address not in refused_maps],
                                withdrawn=[fmt(k[0]) for k in gone]))
        if refused:
            self.counters["map_options_refused"] += len(refused)
            actions.append(_log("map_options_refused", iface=iface, router=packet.src, count=len(refused),
                                reason=f"learnt MAP state is full ({MAX_LEARNED}): the options already learnt are "
                                       "kept until they expire"))
        return actions + self._sync_probes(now)

    def set_local_map(self, now: float, option: MapOption | None) -> list[Action]:
        """This router is (or stops being) a MAP: its own option is sent with the relayed ones (§7.1.1)."""
        self.table.local = option
        return [_log("local_map_set", map=_option_dict(option) if option else None)] + self._sync_probes(now)

    # -------------------------------------------------------------------------------- failure detection (§10)

    def _targets(self) -> list[bytes]:
        fd = self.config.failure_detection
        if fd.targets is not None:
            return list(fd.targets)
        local = self.table.local.address if self.table.local is not None else None
        return [a for a in self.table.addresses() if a != local]

    def _sync_probes(self, now: float) -> list[Action]:
        if not self.probing:
            return []
        wanted = self._targets()
        actions: list[Action] = []
        for address in wanted:
            if address not in self.prober.states:
                self.prober.states[address] = ProbeState()
                self._timers.set(("probe", address), now)
                actions.append(_log("map_probing_started", map=address))
        for address in [a for a in self.prober.states if a not in wanted]:
            del self.prober.states[address]
            self._timers.cancel(("probe", address))
            self.table.failed.discard(address)
            actions.append(_log("map_probing_stopped", map=address))
        return actions

    def _probe(self, now: float, address: bytes) -> list[Action]:
        fd = self.config.failure_detection
        seq, next_due, change = self.prober.on_timer(now, address)
        self._timers.set(("probe", address), next_due)
        self.counters["probes_sent"] += 1
        actions: list[Action] = []
        if change == "lost":
            actions.append(_log("map_probe_lost", map=address, text="probing aggressively"))
        elif change == "down":
            self.table.failed.add(address)
            actions += [_log("map_down", map=address, reason="no echo reply", advertised_valid_lifetime=0),
                        MapStateChanged(address, False, "probe-timeout")]
            self._fast_ras(now)
        probe = Packet(fd.source, address, EchoRequest(fd.identifier, seq, fd.payload), hop_limit=64)
        return actions + [Send(None, probe)]

    def _on_echo_reply(self, now: float, packet: Packet, reply: EchoReply) -> list[Action]:
        previous = self.prober.on_reply(now, packet.src, reply.identifier, reply.sequence)
        if packet.src in self.prober.states and reply.identifier == self.config.failure_detection.identifier:
            self.counters["probe_replies"] += 1
        if previous is None:
            return []
        if previous == "aggressive":
            return [_log("map_probe_recovered", map=packet.src)]
        self.table.failed.discard(packet.src)
        actions: list[Action] = [_log("map_up", map=packet.src, reason="echo reply")]
        if packet.src not in self.table.forced_down:
            actions.append(MapStateChanged(packet.src, True, "probe-reply"))
            self._fast_ras(now)
        return actions

    def force_map_down(self, now: float, address: bytes) -> list[Action]:
        """Manual trigger (§10): advertise ``address`` with valid lifetime 0 until :meth:`restore_map`."""
        actions = self.start(now) + self._run_timers(now)
        if address in self.table.forced_down:
            return actions
        was_available = self.table.available(address)
        self.table.forced_down.add(address)
        actions.append(_log("map_forced_down", map=address))
        if was_available:
            actions.append(MapStateChanged(address, False, "manual"))
            self._fast_ras(now)
        return actions

    def restore_map(self, now: float, address: bytes) -> list[Action]:
        """End a manual failure; the MAP is advertised normally again unless probing still finds it down."""
        actions = self.start(now) + self._run_timers(now)
        if address not in self.table.forced_down:
            return actions
        self.table.forced_down.discard(address)
        actions.append(_log("map_restored", map=address, probing_says_down=address in self.table.failed))
        if self.table.available(address):
            actions.append(MapStateChanged(address, True, "manual-restore"))
            self._fast_ras(now)
        return actions

    def readdress_map(self, now: float, old: bytes, new: bytes) -> list[Action]:
        """A renumbered MAP (a change in the advertised MAP's address, base §3.1 ¶7): the manually configured MAP
        option for ``old`` is advertised with the global address ``new`` from now on, its Dist, Pref, R and valid
        lifetime unchanged, and a fresh RA goes out as soon as the rate limit allows (RFC 4861 §6.2.4).  Probing
        follows the address.  Idempotent: ``old`` already replaced by ``new`` changes nothing.  Raises ValueError when
        ``old`` is not a manually configured option or ``new`` is already configured."""
        if old == new:  # checked before the timers run: a refused command must not swallow a due RA or probe
            raise ValueError(f"{fmt(old)}: the new address is the old one")
        local = self.table.local.address if self.table.local is not None else None
        done = old not in self.table.manual and new in self.table.manual
        if old not in self.table.manual and not done:
            reason = "this router's own MAP option" if old == local else "not a manually configured MAP option"
            raise ValueError(f"{fmt(old)}: {reason}")
        if not done and (new in self.table.manual or new == local):
            raise ValueError(f"{fmt(new)}: already configured as a MAP option of this router")
        actions = self.start(now) + self._run_timers(now)
        if done:
            return actions + [_log("map_readdress_unchanged", old=old, new=new, reason="already advertised")]
        option = self.table.readdress(old, new)
        actions.append(_log("map_readdressed", old=old, new=new, map=_option_dict(option)))
        actions += self._sync_probes(now)
        self._fast_ras(now)
        return actions

    # --------------------------------------------------------------------------------------------------- timers

    def _run_timers(self, now: float) -> list[Action]:
        self._now = max(self._now, now)
        actions: list[Action] = []
        while (key := self._timers.pop_one(now)) is not None:
            kind = key[0]
            if kind == "ra":
                actions += self._send_ra(now, key[1])
            elif kind == "probe":
                if key[1] in self.prober.states:
                    actions += self._probe(now, key[1])
            elif kind == "learned":
                if self.table.expire(key[1], now):
                    actions.append(_log("map_option_expired", map=key[1][0], iface=key[1][1], router=key[1][2]))
                    actions += self._sync_probes(now)
        return actions

    # ------------------------------------------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """Read-only, JSON-serialisable state for a control command."""
        return {
            "role": "ar",
            "edition": self.edition,
            "now": self._now,
            "discovery": "dynamic" if self.dynamic else "manual",
            "interfaces": {
                name: {"advertise": name in self._ra, "next_ra": self._timers.get(("ra", name)),
                       "last_multicast_ra": self._ra[name].last_multicast if name in self._ra else None,
                       "initial_left": self._ra[name].initial_left if name in self._ra else None,
                       "ra_sent": self._ra[name].sent if name in self._ra else 0,
                       "map_options": [_option_dict(o) for o in self.advertised_map_options(name)]}
                for name in self._ifaces
            },
            "learned": [{"map": fmt(k[0]), "iface": k[1], "router": fmt(k[2]), "dist": e.option.dist,
                         "expires_at": e.expires} for k, e in sorted(self.table.learned.items())],
            "probes": {fmt(a): {"state": s.state, "awaiting": s.awaiting, "last_reply": s.last_reply,
                                "probes_sent": s.probes_sent, "next_probe": self._timers.get(("probe", a))}
                       for a, s in sorted(self.prober.states.items())},
            "forced_down": sorted(fmt(a) for a in self.table.forced_down),
            "failed": sorted(fmt(a) for a in self.table.failed),
            "counters": dict(self.counters),
            "next_deadline": self.next_deadline(),
        }

