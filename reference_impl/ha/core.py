"""Sans-I/O home agent (RFC 6275 §10) for mobile nodes whose care-of address is, under HMIPv6, their RCoA (base
document §6.3: "The support of HMIPv6 is completely transparent to the HA's operation").

Feed it decoded packets with :meth:`HaCore.handle` and wake it at :meth:`HaCore.next_deadline` with
:meth:`HaCore.tick`; both return :mod:`~reference_impl.actions`.  It never reads a clock or touches a socket.
Structure, binding cache (:mod:`reference_impl.map.binding_cache`, keyed here by home address: ``Binding.rcoa`` is
the home address and ``Binding.lcoa`` the care-of address), DAD and proxy ND mirror :class:`~reference_impl.map.
MapCore`, which acts as a home agent for RCoAs; the differences are the ones RFC 6275 makes for home registrations.

Binding Update processing (RFC 6275 §9.5.1, §10.3.1, §10.3.2), in order:

====  ========================================================================================================
—     silently discarded: not addressed to this HA; security seam refuses it; no Home Address option (except a
      de-registration from the home link, whose source is the home address, §10.3.2); home or care-of address
      not unicast routable; H clear (a correspondent registration: this node has no return routability); H set
      together with a Nonce Indices option
135   sequence number not newer than the last accepted one (a de-registered entry is kept MAX_DELETE_BCE_TIMEOUT
      so delayed BUs still get 135, §10.3.2); the BA carries the last accepted number
133   de-registration (lifetime 0) without a home registration
132   home address not on a home prefix, or that prefix no longer valid
130   new binding while bindings + DADs in progress reach ``max_bindings``
134   DAD found the home address (or, with L set, the derived link-local address) in use
====  ========================================================================================================

Accepted BUs get a BA whatever A says (§10.3.1), from the HA address the BU was sent to, to the BU's source, with a
type 2 routing header holding the home address when the BU carried a Home Address option (§9.5.4).  K is always 0
(no IKE).  The M flag (HMIPv6 local registration) is a reserved bit for a home agent and is ignored (logged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..actions import log as _log
from ..actions import Action, HaBindingAdded, HaBindingRemoved, HaBindingUpdated, Send
from ..map.binding_cache import Binding, BindingCache, seq_newer
from ..security import NullSecurity, SecurityDrop, SignallingSecurity
from .. import homelink
from ..timers import TimerQueue
from ..wire.addresses import (
    fmt, is_unicast_routable,
)
from ..wire.icmpv6 import NeighborAdvertisement, NeighborSolicitation
from ..wire.ipv6 import Packet
from ..wire.mobility import BindingAcknowledgement, BindingRefreshAdvice, BindingUpdate, NonceIndices
from .config import HaConfig

__all__ = ["HaCore", "HomeBU"]

_LINK_LOCAL_PREFIX = bytes.fromhex("fe80000000000000")


@dataclass(slots=True, frozen=True)
class HomeBU:
    """A received home registration in context (the HA's counterpart of :class:`~reference_impl.map.LocalBU`)."""

    message: BindingUpdate
    src: bytes  # IPv6 source (BAs go here)
    dst: bytes  # the HA address it was sent to
    home: bytes  # Home Address option (or the source of an at-home de-registration)
    coa: bytes  # Alternate Care-of Address option, else src
    iface: str
    now: float
    has_hao: bool
    has_binding: bool
    dad_pending: bool

    @property
    def deregistration(self) -> bool:
        return self.message.lifetime == 0

    def defended(self) -> tuple[bytes, ...]:
        """RFC 6275 §10.3.1: L=0 defends the home address only; L=1 also the derived link-local address."""
        if self.message.l:
            return (self.home, _LINK_LOCAL_PREFIX + self.home[8:])
        return (self.home,)


@dataclass(slots=True)
class _Pending:
    """A new home registration waiting for DAD (RFC 6275 §10.3.1)."""

    bu: HomeBU
    started: float
    transmits_left: int


def default_policy(bu: HomeBU, core: HaCore) -> int | None:
    """Status code (>= 128) rejecting ``bu``, or None to accept it (RFC 6275 §10.3.1, §10.3.2 test order)."""
    cfg = core.config
    if bu.deregistration:
        return None if bu.has_binding else 133
    if not cfg.on_home_prefix(bu.home) or core.prefix_remaining(bu.now) < 4:
        return 132
    if not bu.has_binding and not bu.dad_pending and core.bindings_in_use() >= cfg.max_bindings:
        return 130
    return None


class HaCore:
    """One home agent.  ``policy(bu, core) -> status | None`` and ``security`` are the replaceable seams."""

    def __init__(self, config: HaConfig, *, security: SignallingSecurity | None = None,
                 policy: Callable[[HomeBU, HaCore], int | None] | None = None) -> None:
        self.config = config
        self.security: SignallingSecurity = security if security is not None else NullSecurity()
        self._policy = policy if policy is not None else default_policy
        self.cache = BindingCache()
        self._pending: dict[bytes, _Pending] = {}
        self._tentative: dict[bytes, bytes] = {}  # address under DAD -> home address
        self._defended: dict[bytes, bytes] = {}  # address proxied (home, derived link-local) -> home address
        self._timers = TimerQueue()
        self._own = frozenset(config.addresses)
        self._started = False
        self._now = 0.0
        self.counters: dict[str, Any] = {
            "bu_received": 0, "bu_discarded": 0, "ba_sent": {}, "ns_answered": 0, "na_unsolicited": 0,
            "dad_started": 0, "dad_failed": 0, "expired": 0,
        }

    # ----------------------------------------------------------------------------------------------------- driving

    def start(self, now: float) -> list[Action]:
        """Begin operating at ``now`` (idempotent; ``handle``/``tick`` call it implicitly)."""
        if self._started:
            return []
        self._started = True
        self._now = now
        cfg = self.config
        actions: list[Action] = [_log("ha_started", address=cfg.address, prefix=cfg.prefix,
                                      prefix_length=cfg.prefix_length, dad=cfg.dad)]
        if cfg.dad != "on":
            actions.append(_log("deviation", clause="RFC 6275 §10.3.1", text="DAD for new home registrations is off"))
        if cfg.prefix_valid_until is not None:
            self._timers.set(("prefix",), cfg.prefix_valid_until)
        return actions

    def handle(self, now: float, iface: str, packet: Packet) -> list[Action]:
        """Process one received, decoded packet (``iface``: where it arrived)."""
        actions = self.start(now) + self._run_timers(now)
        try:  # MN-HA IPsec (RFC 6275 §5.1) is not implemented: the seam is NullSecurity unless a test plugs one in
            packet, _ = self.security.open(packet)
        except SecurityDrop as exc:
            return actions + self._discard(f"IPsec: {exc}", packet)
        msg = packet.payload
        if isinstance(msg, BindingUpdate):
            actions += self._on_bu(now, iface, packet, msg)
        elif iface == self.config.home_iface and isinstance(msg, NeighborSolicitation):
            actions += self._on_ns(packet, msg)
        elif iface == self.config.home_iface and isinstance(msg, NeighborAdvertisement):
            actions += self._on_na(packet, msg)
        return actions

    def tick(self, now: float) -> list[Action]:
        """Run every timer due at ``now``."""
        return self.start(now) + self._run_timers(now)

    def next_deadline(self) -> float | None:
        """When ``tick`` must be called next (None: nothing scheduled)."""
        return self._timers.next()

    # -------------------------------------------------------------------------------------------------- data plane

    def tunnel_for(self, dst: bytes) -> bytes | None:
        """RFC 6275 §10.4.2: the care-of address to tunnel a packet for ``dst`` to, or None if ``dst`` is not a
        bound home address.  Packets to a mobile node's link-local address are never tunnelled (None)."""
        binding = self.cache.bindings.get(dst)
        return None if binding is None else binding.lcoa

    def check_reverse_tunnel(self, outer_src: bytes, inner_src: bytes) -> bool:
        """RFC 6275 §10.4.5: a reverse-tunnelled packet is accepted only if the tunnel source is the primary
        care-of address bound to the inner source (the home address)."""
        binding = self.cache.bindings.get(inner_src)
        return binding is not None and binding.lcoa == outer_src

    # ----------------------------------------------------------------------------------------- home prefix (§10.3.1)

    def prefix_remaining(self, now: float) -> float:
        """Remaining valid lifetime of the served prefix in seconds (inf when infinite)."""
        return homelink.prefix_remaining(self.config, now)

    def _preferred_remaining(self, now: float) -> float:
        return homelink.preferred_remaining(self.config, now)

    # ------------------------------------------------------------------------------------------------ BU handling

    def bindings_in_use(self) -> int:
        """Cache slots taken: live bindings plus registrations waiting for DAD."""
        return len(self.cache) + len(self._pending)

    def policy(self, bu: HomeBU) -> int | None:
        """The single BU acceptance decision: a reject status, or None."""
        if bu.home in self._own:
            return 134
        return self._policy(bu, self)

    def _discard(self, reason: str, packet: Packet) -> list[Action]:
        self.counters["bu_discarded"] += 1
        return [_log("bu_discarded", reason=reason, src=packet.src, home_address=packet.home_address)]

    def _on_bu(self, now: float, iface: str, packet: Packet, bu: BindingUpdate) -> list[Action]:
        self.counters["bu_received"] += 1
        cfg = self.config
        if packet.dst not in self._own:
            return [_log("bu_ignored", reason="not addressed to this home agent", dst=packet.dst)]
        home = packet.home_address
        if home is None:
            if not (bu.lifetime == 0 and cfg.on_home_prefix(packet.src)):
                return self._discard("no Home Address option (RFC 6275 §10.3.1)", packet)
            home = packet.src  # at-home de-registration (RFC 6275 §10.3.2)
        if not is_unicast_routable(home):
            return self._discard("home address not unicast routable (RFC 6275 §9.5.1)", packet)
        coa = bu.alternate_coa or packet.src
        if not is_unicast_routable(packet.src) or not is_unicast_routable(coa):
            return self._discard("care-of address not unicast routable (RFC 6275 §6.1.7, §9.5.4)", packet)
        if not bu.h:
            return self._discard("correspondent registration: no return routability at this HA (RFC 6275 §9.5.1)",
                                 packet)
        if any(isinstance(o, NonceIndices) for o in bu.options):
            return self._discard("H set with a Nonce Indices option (RFC 6275 §9.5.1)", packet)
        req = HomeBU(bu, packet.src, packet.dst, home, coa, iface, now, packet.home_address is not None,
                     home in self.cache.bindings, home in self._pending)
        actions: list[Action] = []
        last = self.cache.last_seq(home)
        if last is not None and not seq_newer(bu.seq, last):
            actions.append(_log("bu_rejected", status=135, home_address=home, seq=bu.seq, last_seq=last))
            return actions + self._ack(req, 135, 0, seq=last)
        status = self.policy(req)
        if status is not None:
            actions.append(_log("bu_rejected", status=status, home_address=home, care_of_address=coa, seq=bu.seq))
            if req.deregistration and req.dad_pending:
                self._cancel_dad(home)
                actions.append(_log("dad_cancelled", home_address=home, reason="deregistration during DAD"))
            return actions + self._ack(req, status, 0)
        if bu.m:
            actions.append(_log("bu_m_flag_ignored", home_address=home, text="M is reserved for a home agent"))
        if not bu.a:
            actions.append(_log("bu_a_flag_clear", home_address=home, text="acknowledged anyway (RFC 6275 §10.3.1)"))
        if req.deregistration:
            return actions + self._deregister(now, req)
        binding = self.cache.get(home)
        if binding is not None:
            return actions + self._refresh(now, req, binding)
        pending = self._pending.get(home)
        if pending is not None:
            pending.bu = req  # answer the newest BU when DAD completes
            return actions + [_log("dad_in_progress", home_address=home, seq=bu.seq)]
        return actions + self._register(now, req)

    def _grant(self, req: HomeBU, now: float) -> tuple[int, int]:
        """(status 0 or 1, granted lifetime in 4 s units) per RFC 6275 §10.3.1."""
        remaining = self.prefix_remaining(now)
        granted = min(req.message.lifetime * 4, self.config.max_binding_lifetime, remaining)
        units = max(1, int(granted // 4))
        status = 0
        cfg = self.config
        if cfg.prefix_valid_until is not None and int(remaining) // 4 <= units:
            status = 1
        if cfg.prefix_preferred_until is not None and int(self._preferred_remaining(now)) // 4 <= units:
            status = 1
        return status, units

    def _register(self, now: float, req: HomeBU) -> list[Action]:
        if self.config.dad == "off":
            return self._create(now, req)
        self.counters["dad_started"] += 1
        self._pending[req.home] = _Pending(req, now, self.config.dad_transmits - 1)
        for address in req.defended():
            self._tentative[address] = req.home
        self._timers.set(("dad", req.home), now + self.config.dad_retrans_timer)
        return [_log("dad_started", home_address=req.home, care_of_address=req.coa,
                     addresses=[fmt(a) for a in req.defended()])] + [self._dad_ns(a) for a in req.defended()]

    def _cancel_dad(self, home: bytes) -> _Pending:
        pending = self._pending.pop(home)
        self._timers.cancel(("dad", home))
        for address in pending.bu.defended():
            self._tentative.pop(address, None)
        return pending

    def _create(self, now: float, req: HomeBU) -> list[Action]:
        status, units = self._grant(req, now)
        lifetime = units * 4
        binding = Binding(req.home, req.coa, req.message.seq, lifetime, now + lifetime, now, now, req.src, True)
        self.cache.add(binding)
        for address in req.defended():
            self._defended[address] = req.home
        self._timers.cancel(("tomb", req.home))
        self._timers.set(("expire", req.home), binding.expires)
        actions: list[Action] = [
            _log("binding_added", home_address=req.home, care_of_address=req.coa, seq=req.message.seq,
                 lifetime=lifetime),
            HaBindingAdded(req.home, req.coa, lifetime, self.config.home_iface),
        ]
        actions += [self._unsolicited_na(a) for a in req.defended()]
        if self.config.unsolicited_na_count > 1:
            self._timers.set(("una", req.home, 2), now + self.config.unsolicited_na_interval)
        return actions + self._ack(req, status, units)

    def _refresh(self, now: float, req: HomeBU, binding: Binding) -> list[Action]:
        status, units = self._grant(req, now)
        old = binding.lcoa
        binding.lcoa = req.coa
        binding.seq = req.message.seq
        binding.lifetime = units * 4
        binding.expires = now + binding.lifetime
        binding.refreshed = now
        binding.bu_source = req.src
        self._timers.set(("expire", req.home), binding.expires)
        actions: list[Action] = [_log("binding_refreshed", home_address=req.home, care_of_address=req.coa,
                                      old_care_of_address=old, seq=req.message.seq, lifetime=binding.lifetime)]
        if old != req.coa:
            actions.append(HaBindingUpdated(req.home, req.coa, old, binding.lifetime))
        return actions + self._ack(req, status, units)

    def _drop_defended(self, home: bytes) -> None:
        for address in [a for a, h in self._defended.items() if h == home]:
            del self._defended[address]

    def _deregister(self, now: float, req: HomeBU) -> list[Action]:
        """§10.3.2: stop intercepting at once, keep the entry as a tombstone for MAX_DELETE_BCE_TIMEOUT."""
        binding = self.cache.remove(req.home, tombstone_until=now + self.config.delete_bce_timeout)
        assert binding is not None  # the policy answered 133 otherwise
        self.cache.tombstones[req.home].seq = req.message.seq
        self._drop_defended(req.home)
        self._timers.cancel(("expire", req.home))
        self._timers.set(("tomb", req.home), now + self.config.delete_bce_timeout)
        return [
            _log("binding_removed", home_address=req.home, care_of_address=binding.lcoa, reason="deregistered"),
            HaBindingRemoved(req.home, binding.lcoa, "deregistered"),
        ] + self._ack(req, 0, 0)

    def _ack(self, req: HomeBU, status: int, units: int, *, seq: int | None = None) -> list[Action]:
        """BA to the BU's source, with a type 2 routing header holding the home address unless the BU had no Home
        Address option (RFC 6275 §9.5.4, §10.3.1)."""
        options: tuple = ()
        refresh = self.config.refresh_advice
        if status < 128 and units and refresh is not None and refresh // 4 < units:
            options = (BindingRefreshAdvice(refresh // 4),)
        ba = BindingAcknowledgement(status, req.message.seq if seq is None else seq, units, 0, options)
        rh2 = req.home if req.has_hao else None
        packet = self.security.protect(Packet(req.dst, req.src, ba, hop_limit=64, rh2_address=rh2), None)
        sent = self.counters["ba_sent"]
        sent[str(status)] = sent.get(str(status), 0) + 1
        return [_log("ba_sent", status=status, home_address=req.home, dst=req.src, seq=ba.seq, lifetime=units * 4),
                Send(req.iface, packet)]

    # ------------------------------------------------------------------------------------- neighbour discovery

    def _dad_ns(self, address: bytes) -> Send:
        return homelink.dad_probe(self.config, address)

    def _unsolicited_na(self, address: bytes) -> Send:
        self.counters["na_unsolicited"] += 1
        return homelink.unsolicited_na(self.config, address)

    def _on_ns(self, packet: Packet, ns: NeighborSolicitation) -> list[Action]:
        considered = homelink.ns_to_consider(packet, ns)
        if considered is None:
            return []  # RFC 4861 §7.1.1: silently discard
        from_dad, slla = considered
        target = ns.target
        if target in self._tentative:
            if from_dad:
                return self._dad_failed(self._tentative[target],
                                        "another node is doing DAD for the address (RFC 4862 §5.4.3)")
            return []
        if target not in self._defended or not self.config.proxy_nd:
            return []
        self.counters["ns_answered"] += 1
        return [homelink.proxy_na(self.config, target, packet.src, slla)]

    def _on_na(self, packet: Packet, na: NeighborAdvertisement) -> list[Action]:
        from_neighbour, tlla = homelink.na_from_neighbour(self.config, self._own, packet, na)
        if not from_neighbour:
            return []  # invalid (RFC 4861 §7.1.2) or our own advertisement looped back
        if na.target in self._tentative:
            return self._dad_failed(self._tentative[na.target], "a neighbour advertised the address")
        if na.target in self._defended:
            return [_log("na_for_bound_address", address=na.target, src=packet.src, tlla=tlla)]
        return []

    def _dad_failed(self, home: bytes, reason: str) -> list[Action]:
        pending = self._cancel_dad(home)
        self.counters["dad_failed"] += 1
        return [_log("dad_failed", home_address=home, reason=reason)] + self._ack(pending.bu, 134, 0)

    # --------------------------------------------------------------------------------------------------- timers

    def _run_timers(self, now: float) -> list[Action]:
        self._now = max(self._now, now)
        actions: list[Action] = []
        while (key := self._timers.pop_one(now)) is not None:
            kind, home = key[0], key[1] if len(key) > 1 else b""
            if kind == "expire":
                binding = self.cache.remove(home)
                if binding is not None:
                    self.counters["expired"] += 1
                    self._drop_defended(home)
                    actions += [_log("binding_removed", home_address=home, care_of_address=binding.lcoa,
                                     reason="expired"),
                                HaBindingRemoved(home, binding.lcoa, "expired")]
            elif kind == "tomb":
                self.cache.tombstones.pop(home, None)
            elif kind == "dad":
                actions += self._dad_step(now, home)
            elif kind == "una":
                n = key[2]
                if home in self.cache.bindings:
                    actions += [self._unsolicited_na(a) for a, h in self._defended.items() if h == home]
                    if n < self.config.unsolicited_na_count:
                        self._timers.set(("una", home, n + 1), now + self.config.unsolicited_na_interval)
            elif kind == "prefix":
                actions += self._prefix_expired()
        return actions

    def _dad_step(self, now: float, home: bytes) -> list[Action]:
        pending = self._pending[home]
        if pending.transmits_left > 0:
            pending.transmits_left -= 1
            self._timers.set(("dad", home), now + self.config.dad_retrans_timer)
            return [self._dad_ns(a) for a in pending.bu.defended()]
        self._cancel_dad(home)
        actions: list[Action] = [_log("dad_completed", home_address=home)]
        if self.prefix_remaining(now) < 4:
            return actions + self._ack(pending.bu, 132, 0)
        return actions + self._create(now, pending.bu)

    def _prefix_expired(self) -> list[Action]:
        """RFC 6275 §10.3.1: "The home agent MUST remove a binding when the valid lifetime of the prefix associated
        with it expires"."""
        actions: list[Action] = [_log("prefix_expired", prefix=self.config.prefix)]
        for home in list(self.cache.bindings):
            binding = self.cache.remove(home)
            self._drop_defended(home)
            self._timers.cancel(("expire", home))
            actions += [_log("binding_removed", home_address=home, care_of_address=binding.lcoa,
                             reason="prefix-expired"),
                        HaBindingRemoved(home, binding.lcoa, "prefix-expired")]
        for home in list(self._pending):
            pending = self._cancel_dad(home)
            actions += self._ack(pending.bu, 132, 0)
        return actions

    # ------------------------------------------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """Read-only, JSON-serialisable state for a control command (times on the core's clock)."""
        now = self._now
        return {
            "role": "ha",
            "now": now,
            "address": fmt(self.config.address),
            "prefix": f"{fmt(self.config.prefix)}/{self.config.prefix_length}",
            "bindings": [
                {"home_address": fmt(b.rcoa), "care_of_address": fmt(b.lcoa), "seq": b.seq, "lifetime": b.lifetime,
                 "remaining": max(0.0, b.expires - now), "expires_at": b.expires, "created_at": b.created,
                 "refreshed_at": b.refreshed,
                 "defended": sorted(fmt(a) for a, h in self._defended.items() if h == b.rcoa)}
                for b in sorted(self.cache.bindings.values(), key=lambda b: b.rcoa)
            ],
            "pending_dad": [
                {"home_address": fmt(h), "care_of_address": fmt(p.bu.coa), "seq": p.bu.message.seq,
                 "started_at": p.started, "deadline": self._timers.get(("dad", h))}
                for h, p in sorted(self._pending.items())
            ],
            "tombstones": [{"home_address": fmt(h), "seq": t.seq, "until": t.until}
                           for h, t in sorted(self.cache.tombstones.items())],
            "counters": {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.counters.items()},
            "next_deadline": self.next_deadline(),
        }
