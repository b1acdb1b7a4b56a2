"""Sans-I/O Mobility Anchor Point (base document §6.2, §7.1.2, §8, §10; RFC 5380 §6.2, §8) acting as a local
home agent for RCoAs (RFC 6275 §9.5, §10.3, §10.4).

Feed it decoded packets with :meth:`MapCore.handle` and wake it at :meth:`MapCore.next_deadline` with
:meth:`MapCore.tick`; both return :mod:`~reference_impl.actions`.  It never reads a clock or touches a socket.

Decisions the documents leave open (also in README.md):

* A BU with M and H set is accepted as a local registration (H is logged and otherwise ignored; no 139).
  H without M is a home registration: status 131.  Neither M nor H (a correspondent registration) is silently
  discarded: the MAP has no return routability, so RFC 6275 §9.5.1 validation cannot succeed.
* A BU with M set but A clear is still acknowledged, as RFC 6275 §10.3.1 requires of a home agent.
* A BU without a Home Address option is silently discarded (base §6.1: the RCoA travels in the HAO).
* The K bit of BAs is always 0 (no dynamic key management); the L bit is ignored (no link-local is derived from
  an RCoA, so only the RCoA itself is defended).
* Status 1 ("prefix discovery necessary") is only used with decrementing prefix lifetimes (``*_until``).
* An RCoA equal to one of the MAP's own addresses is refused with 134 (it is a duplicate by definition).

:meth:`MapCore.refresh_fast` is the daemon's path for the common case at high rates, a plain refresh: it takes
the BU's fields instead of a decoded packet, makes the same checks, state changes and counts as :meth:`handle`,
and returns only the BA's status and lifetime (log lines on request, :meth:`refresh_logs`) -- or None, having
changed nothing, whenever the BU is anything else, and the caller then takes the full path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..actions import log as _log
from ..actions import Action, BindingAdded, BindingRemoved, BindingUpdated, Send
from ..editions import check_edition
from ..security import NullSecurity, SecurityDrop, SignallingSecurity
from .. import homelink
from ..timers import TimerQueue
from ..wire.addresses import (
    fmt, is_unicast_routable,
)
from ..wire.icmpv6 import (
    MapOption, NeighborAdvertisement, NeighborSolicitation,
)
from ..wire.ipv6 import Packet
from ..wire.mobility import BU_A, BU_H, BU_M, BindingAcknowledgement, BindingRefreshAdvice, BindingUpdate
from .binding_cache import Binding, BindingCache, seq_newer
from .config import INFINITE, MapConfig
from .policy import LocalBU, default_policy

__all__ = ["MapCore"]

_FAST_FLAGS, _FAST_WANT = BU_A | BU_H | BU_M, BU_A | BU_M  # A and M set, H clear: no flag-specific log lines
_STATUS_KEYS = ("0", "1")  # counters["ba_sent"] keys of the statuses a refresh is accepted with


@dataclass(slots=True)
class _Pending:
    """A new registration waiting for DAD on its RCoA (RFC 6275 §10.3.1)."""

    bu: LocalBU
    started: float
    transmits_left: int


class MapCore:
    """One MAP.  ``policy(bu, core) -> status | None`` and ``security`` are the two replaceable seams."""

    def __init__(self, config: MapConfig, edition: str = "rfc4140", *,
                 security: SignallingSecurity | None = None,
                 policy: Callable[[LocalBU, MapCore], int | None] | None = None) -> None:
        self.config = config
        self.edition = check_edition(edition)
        if self.edition == "rfc4140" and config.prefix_length != 64:
            raise ValueError("RFC 4140 §5: the prefix length of the MAP's address MUST be 64")
        self.security: SignallingSecurity = security if security is not None else NullSecurity()
        self._policy = policy if policy is not None else default_policy
        self.cache = BindingCache()
        self._pending: dict[bytes, _Pending] = {}
        self._optimistic_left: dict[bytes, int] = {}
        self._timers = TimerQueue()
        self._own = frozenset(config.addresses)
        self._preference = config.preference
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
        actions: list[Action] = [_log("map_started", edition=self.edition, address=cfg.address,
                                      prefix=cfg.prefix, prefix_length=cfg.prefix_length, dad=cfg.dad)]
        if self.edition == "rfc5380":
            actions.append(_log("deviation", clause="RFC 5380 §6.2 / RFC 4877 §9",
                                text="RCoA allocation through IKEv2 not implemented: any RCoA on the MAP prefix "
                                     "is accepted, as in RFC 4140"))
        if cfg.dad != "on":
            actions.append(_log("deviation", clause="base §6.1 / RFC 6275 §10.3.1",
                                text=f"DAD for new RCoAs is '{cfg.dad}'"))
        if cfg.prefix_valid_until is not None:
            self._timers.set(("prefix",), cfg.prefix_valid_until)
        return actions

    def handle(self, now: float, iface: str, packet: Packet) -> list[Action]:
        """Process one received, decoded packet (``iface``: where it arrived)."""
        actions = self.start(now) + self._run_timers(now)
        try:
            packet, sa = self.security.open(packet)
        except SecurityDrop as exc:
            return actions + self._discard(f"IPsec: {exc}", packet)
        msg = packet.payload
        if isinstance(msg, BindingUpdate):
            actions += self._on_bu(now, iface, packet, msg, sa)
        elif iface == self.config.home_iface and isinstance(msg, NeighborSolicitation):
            actions += self._on_ns(now, packet, msg)
        elif iface == self.config.home_iface and isinstance(msg, NeighborAdvertisement):
            actions += self._on_na(now, packet, msg)
        return actions

    def tick(self, now: float) -> list[Action]:
        """Run every timer due at ``now``."""
        return self.start(now) + self._run_timers(now)

    def next_deadline(self) -> float | None:
        """When ``tick`` must be called next (None: nothing scheduled).  It may come before anything is due: the
        expiry timer of a binding refreshed since it was set is re-armed then, with no other effect."""
        return self._timers.next()

    # -------------------------------------------------------------------------------------------------- data plane

    def tunnel_for(self, dst: bytes) -> bytes | None:
        """LCoA to tunnel a packet for ``dst`` to (base §6.2), or None if ``dst`` is not a bound RCoA."""
        binding = self.cache.bindings.get(dst)
        return None if binding is None else binding.lcoa

    def check_reverse_tunnel(self, outer_src: bytes, inner_src: bytes) -> bool:
        """RFC 6275 §10.4.5 for the MAP: the tunnel source must be the LCoA bound to the inner source (RCoA)."""
        binding = self.cache.bindings.get(inner_src)
        return binding is not None and binding.lcoa == outer_src

    # ------------------------------------------------------------------------------------------- MAP option (§5)

    def prefix_remaining(self, now: float) -> float:
        """Remaining valid lifetime of the served prefix in seconds (inf when infinite)."""
        return homelink.prefix_remaining(self.config, now)

    def _preferred_remaining(self, now: float) -> float:
        return homelink.preferred_remaining(self.config, now)

    def map_option(self, now: float) -> MapOption:
        """The MAP option this MAP originates (§5, §7.1.2): Dist, current Pref, R, valid lifetime, address.

        Valid lifetime: rfc4140 = min(preferred, valid) of the MAP prefix; rfc5380 = its valid lifetime.
        R: ``config.r_flag``, by default set in rfc4140 (form the RCoA from this prefix) and clear in rfc5380
        (where R would promise RFC 4877 RCoA allocation, which this MAP does not do).
        """
        cfg = self.config
        valid = self.prefix_remaining(now)
        if self.edition == "rfc4140":
            valid = min(valid, self._preferred_remaining(now))
        lifetime = INFINITE if valid == homelink.INF else min(int(valid), INFINITE - 1)
        r = cfg.r_flag if cfg.r_flag is not None else self.edition == "rfc4140"
        return MapOption(cfg.address, cfg.dist, self._preference, r, lifetime)

    @property
    def preference(self) -> int:
        return self._preference

    def set_preference(self, preference: int) -> list[Action]:
        """Change Pref at run time (§7.1.2); 0 tells new mobile nodes not to choose this MAP.  Bindings, new ones
        included, are still accepted: the rule binds mobile nodes, not the MAP."""
        if not 0 <= preference <= 15:
            raise ValueError("preference is 0..15")
        old, self._preference = self._preference, preference
        return [_log("preference_changed", old=old, new=preference)]

    # ------------------------------------------------------------------------------------------------ BU handling

    def bindings_in_use(self) -> int:
        """Cache slots taken: live bindings plus registrations waiting for DAD."""
        return len(self.cache) + len(self._pending)

    def policy(self, bu: LocalBU) -> int | None:
        """The single BU acceptance decision (see :mod:`.policy`): a reject status, or None."""
        if bu.rcoa in self._own:
            return 134
        return self._policy(bu, self)

    def _discard(self, reason: str, packet: Packet) -> list[Action]:
        self.counters["bu_discarded"] += 1
        return [_log("bu_discarded", reason=reason, src=packet.src, home_address=packet.home_address)]

    def _on_bu(self, now: float, iface: str, packet: Packet, bu: BindingUpdate, sa: str | None) -> list[Action]:
        self.counters["bu_received"] += 1
        if packet.dst not in self._own:
            return [_log("bu_ignored", reason="not addressed to this MAP", dst=packet.dst)]
        if sa is None and self.security.required:
            return self._discard("unprotected BU (base §12.1: binding updates between the MAP and the mobile "
                                 "node MUST be protected with either AH or ESP in transport mode)", packet)
        home = packet.home_address
        if home is None:
            return self._discard("no Home Address option (base §6.1: the RCoA is carried in it)", packet)
        owner = self._owner(home)
        if owner is not False and owner != sa:
            return self._discard(f"BU for an RCoA bound under SA {owner!r} arrived under SA {sa!r} (base §12.1: "
                                 "a BU for an RCoA must come from the mobile node that established the SA "
                                 "for that RCoA)", packet)
        if not is_unicast_routable(home):
            return self._discard("home address not unicast routable (RFC 6275 §9.5.1)", packet)
        coa = bu.alternate_coa or packet.src
        if not is_unicast_routable(packet.src) or not is_unicast_routable(coa):
            return self._discard("care-of address not unicast routable (RFC 6275 §6.1.7, §9.5.4)", packet)
        if not bu.m and not bu.h:
            return self._discard("correspondent registration: no return routability at a MAP (RFC 6275 §9.5.1)",
                                 packet)
        req = LocalBU(bu, packet.src, packet.dst, home, coa, iface, now,
                      home in self.cache.bindings, home in self._pending, sa)
        actions: list[Action] = []
        last = self.cache.last_seq(home)
        if last is not None and not seq_newer(bu.seq, last):
            actions.append(_log("bu_rejected", status=135, rcoa=home, seq=bu.seq, last_seq=last))
            return actions + self._ack(req, 135, 0, seq=last)
        status = self.policy(req)
        if status is not None:
            actions.append(_log("bu_rejected", status=status, rcoa=home, lcoa=coa, seq=bu.seq))
            if req.deregistration and req.dad_pending:
                self._pending.pop(home)
                self._timers.cancel(("dad", home))
                actions.append(_log("dad_cancelled", rcoa=home, reason="deregistration during DAD"))
            return actions + self._ack(req, status, 0)
        if bu.h:
            actions.append(_log("bu_h_flag_ignored", rcoa=home, text="M and H set: treated as a local BU"))
        if not bu.a:
            actions.append(_log("bu_a_flag_clear", rcoa=home, text="acknowledged anyway (RFC 6275 §10.3.1)"))
        if req.deregistration:
            return actions + self._deregister(now, req)
        binding = self.cache.get(home)
        if binding is not None:
            return actions + self._refresh(now, req, binding)
        pending = self._pending.get(home)
        if pending is not None:
            pending.bu = req  # answer the newest BU when DAD completes (any sequence number: no entry yet)
            return actions + [_log("dad_in_progress", rcoa=home, seq=bu.seq)]
        return actions + self._register(now, req)

    def _owner(self, rcoa: bytes) -> str | None | bool:
        """The SA pair under which the live or pending registration of ``rcoa`` was made, False if none."""
        binding = self.cache.bindings.get(rcoa)
        if binding is not None:
            return binding.sa
        pending = self._pending.get(rcoa)
        return pending.bu.sa if pending is not None else False

    def _grant(self, req: LocalBU, now: float) -> tuple[int, int]:
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

    def _register(self, now: float, req: LocalBU) -> list[Action]:
        mode = self.config.dad
        if mode == "off":
            return self._create(now, req, optimistic=False)
        self.counters["dad_started"] += 1
        actions: list[Action] = [_log("dad_started", rcoa=req.rcoa, lcoa=req.coa, mode=mode)]
        left = self.config.dad_transmits - 1
        if mode == "on":
            self._pending[req.rcoa] = _Pending(req, now, left)
            self._timers.set(("dad", req.rcoa), now + self.config.dad_retrans_timer)
            return actions + [self._dad_ns(req.rcoa)]
        actions += self._create(now, req, optimistic=True)
        self._optimistic_left[req.rcoa] = left
        self._timers.set(("odad", req.rcoa), now + self.config.dad_retrans_timer)
        return actions + [self._dad_ns(req.rcoa)]

    def _create(self, now: float, req: LocalBU, *, optimistic: bool) -> list[Action]:
        status, units = self._grant(req, now)
        lifetime = units * 4
        binding = Binding(req.rcoa, req.coa, req.message.seq, lifetime, now + lifetime, now, now, req.src,
                          req.message.h, optimistic, req.sa)
        self.cache.add(binding)
        self._timers.cancel(("tomb", req.rcoa))
        self._timers.set(("expire", req.rcoa), binding.expires)
        actions: list[Action] = [
            _log("binding_added", rcoa=req.rcoa, lcoa=req.coa, seq=req.message.seq, lifetime=lifetime),
            BindingAdded(req.rcoa, req.coa, lifetime, self.config.home_iface),
            self._unsolicited_na(req.rcoa),
        ]
        if self.config.unsolicited_na_count > 1:
            self._timers.set(("una", req.rcoa, 2), now + self.config.unsolicited_na_interval)
        return actions + self._ack(req, status, units)

    def _refresh(self, now: float, req: LocalBU, binding: Binding) -> list[Action]:
        old = binding.lcoa
        status, units = self._renew(now, req, binding)
        actions: list[Action] = [_log("binding_refreshed", rcoa=req.rcoa, lcoa=req.coa, old_lcoa=old,
                                      seq=req.message.seq, lifetime=binding.lifetime)]
        if old != req.coa:
            actions.append(BindingUpdated(req.rcoa, req.coa, old, binding.lifetime))
        return actions + self._ack(req, status, units)

    def _renew(self, now: float, req: LocalBU, binding: Binding) -> tuple[int, int]:
        """The state change of an accepted refresh (RFC 6275 §10.3.1); (status, granted units) for its BA."""
        status, units = self._grant(req, now)
        binding.lcoa = req.coa
        binding.seq = req.message.seq
        binding.lifetime = units * 4
        binding.expires = now + binding.lifetime
        binding.refreshed = now
        binding.bu_source = req.src
        binding.h_flag = req.message.h
        # lazily: an expiry timer due before the new expiry is re-armed when it comes due (_run_timers), so
        # that refreshes do not pile superseded entries into the timer heap
        key = ("expire", req.rcoa)
        scheduled = self._timers.get(key)
        if scheduled is None or binding.expires < scheduled:
            self._timers.set(key, binding.expires)
        return status, units

    def refresh_fast(self, now: float, iface: str, src: bytes, dst: bytes, rcoa: bytes, seq: int, flags: int,
                     lifetime: int) -> tuple[int, int] | None:
        """A BU from ``src`` to ``dst`` with Home Address option ``rcoa`` and no mobility options (its checksum
        already verified), received at ``now`` on ``iface``: if it is a plain refresh -- an unprotected local
        BU (A and M set, H clear, lifetime > 0) from the LCoA already bound to ``rcoa``, with a newer sequence
        number, that the default policy accepts, no timer due, security off, no Binding Refresh Advice
        configured, this very class (not a subclass) -- apply it exactly as :meth:`handle` would and return
        (status, granted lifetime in 4 s units) for the BA :meth:`handle` would send (no mobility options,
        to ``src``, from ``dst``, type 2 routing header ``rcoa``); :meth:`refresh_logs` gives the log lines.
        Otherwise change nothing and return None: the caller decodes the packet and calls :meth:`handle`."""
        binding = self.cache.bindings.get(rcoa)
        if (binding is None or binding.lcoa != src or binding.sa is not None or not lifetime
                or flags & _FAST_FLAGS != _FAST_WANT or type(self) is not MapCore or not self._started
                or self._policy is not default_policy or type(self.security) is not NullSecurity
                or self.config.refresh_advice is not None or dst not in self._own
                or not seq_newer(seq, binding.seq)):
            return None
        deadline = self._timers.next()
        if (deadline is not None and deadline <= now) or not is_unicast_routable(rcoa) \
                or not is_unicast_routable(src):
            return None
        req = LocalBU(BindingUpdate(seq, flags, lifetime), src, dst, rcoa, src, iface, now, True,
                      rcoa in self._pending, None)
        if self.policy(req) is not None:
            return None
        if now > self._now:
            self._now = now
        counters = self.counters
        counters["bu_received"] += 1
        status, units = self._renew(now, req, binding)
        sent = counters["ba_sent"]
        key = _STATUS_KEYS[status]
        sent[key] = sent.get(key, 0) + 1
        return status, units

    def refresh_logs(self, src: bytes, rcoa: bytes, seq: int, status: int, units: int) -> list[Action]:
        """The log lines :meth:`handle` returns for the refresh :meth:`refresh_fast` applied (LCoA unchanged)."""
        return [_log("binding_refreshed", rcoa=rcoa, lcoa=src, old_lcoa=src, seq=seq, lifetime=units * 4),
                _log("ba_sent", status=status, rcoa=rcoa, dst=src, seq=seq, lifetime=units * 4)]

    def _deregister(self, now: float, req: LocalBU) -> list[Action]:
        binding = self.cache.remove(req.rcoa, tombstone_until=now + self.config.delete_bce_timeout)
        assert binding is not None  # the policy answered 133 otherwise
        self.cache.tombstones[req.rcoa].seq = req.message.seq
        self._timers.cancel(("expire", req.rcoa))
        self._timers.cancel(("odad", req.rcoa))
        self._optimistic_left.pop(req.rcoa, None)
        self._timers.set(("tomb", req.rcoa), now + self.config.delete_bce_timeout)
        return [
            _log("binding_removed", rcoa=req.rcoa, lcoa=binding.lcoa, reason="deregistered"),
            BindingRemoved(req.rcoa, binding.lcoa, "deregistered"),
        ] + self._ack(req, 0, 0)

    def _ack(self, req: LocalBU, status: int, units: int, *, seq: int | None = None) -> list[Action]:
        """BA to the BU's source with a type 2 routing header holding the RCoA (base §6.2, RFC 6275 §9.5.4)."""
        options: tuple = ()
        refresh = self.config.refresh_advice
        if status < 128 and units and refresh is not None and refresh // 4 < units:
            options = (BindingRefreshAdvice(refresh // 4),)
        ba = BindingAcknowledgement(status, req.message.seq if seq is None else seq, units, 0, options)
        packet = self.security.protect(Packet(req.dst, req.src, ba, hop_limit=64, rh2_address=req.rcoa), req.sa)
        sent = self.counters["ba_sent"]
        sent[str(status)] = sent.get(str(status), 0) + 1
        return [_log("ba_sent", status=status, rcoa=req.rcoa, dst=req.src, seq=ba.seq, lifetime=units * 4),
                Send(req.iface, packet)]

    # ------------------------------------------------------------------------------------- neighbour discovery

    def _dad_ns(self, rcoa: bytes) -> Send:
        return homelink.dad_probe(self.config, rcoa)

    def _unsolicited_na(self, rcoa: bytes) -> Send:
        self.counters["na_unsolicited"] += 1
        return homelink.unsolicited_na(self.config, rcoa)

    def _on_ns(self, now: float, packet: Packet, ns: NeighborSolicitation) -> list[Action]:
        considered = homelink.ns_to_consider(packet, ns)
        if considered is None:
            return []  # RFC 4861 §7.1.1: silently discard
        from_dad, slla = considered
        target = ns.target
        if target in self._pending:
            if from_dad:
                return self._dad_failed(target, "another node is doing DAD for the RCoA (RFC 4862 §5.4.3)")
            return []
        binding = self.cache.bindings.get(target)
        if binding is None:
            return []
        if binding.optimistic and from_dad:
            return self._withdraw_optimistic(target, "another node is doing DAD for the RCoA")
        if not self.config.proxy_nd:
            return []
        self.counters["ns_answered"] += 1
        return [homelink.proxy_na(self.config, target, packet.src, slla)]

    def _on_na(self, now: float, packet: Packet, na: NeighborAdvertisement) -> list[Action]:
        from_neighbour, tlla = homelink.na_from_neighbour(self.config, self._own, packet, na)
        if not from_neighbour:
            return []  # invalid (RFC 4861 §7.1.2) or our own advertisement looped back
        target = na.target
        if target in self._pending:
            return self._dad_failed(target, "a neighbour advertised the RCoA")
        binding = self.cache.bindings.get(target)
        if binding is not None and binding.optimistic:
            return self._withdraw_optimistic(target, "a neighbour advertised the RCoA")
        if binding is not None:
            return [_log("na_for_bound_rcoa", rcoa=target, src=packet.src, tlla=tlla)]
        return []

    def _dad_failed(self, rcoa: bytes, reason: str) -> list[Action]:
        pending = self._pending.pop(rcoa)
        self._timers.cancel(("dad", rcoa))
        self.counters["dad_failed"] += 1
        return [_log("dad_failed", rcoa=rcoa, reason=reason)] + self._ack(pending.bu, 134, 0)

    def _withdraw_optimistic(self, rcoa: bytes, reason: str) -> list[Action]:
        binding = self.cache.remove(rcoa)
        assert binding is not None
        self._timers.cancel(("expire", rcoa))
        self._timers.cancel(("odad", rcoa))
        self._optimistic_left.pop(rcoa, None)
        self.counters["dad_failed"] += 1
        return [_log("dad_failed_after_ack", rcoa=rcoa, reason=reason,
                     text="optimistic DAD: binding withdrawn after a successful BA (deviation)"),
                BindingRemoved(rcoa, binding.lcoa, "dad-conflict")]

    # --------------------------------------------------------------------------------------------------- timers

    def _run_timers(self, now: float) -> list[Action]:
        self._now = max(self._now, now)
        actions: list[Action] = []
        while (key := self._timers.pop_one(now)) is not None:
            kind, rcoa = key[0], key[1] if len(key) > 1 else b""
            if kind == "expire":
                live = self.cache.bindings.get(rcoa)
                if live is not None and live.expires > now:  # refreshed since the timer was set: re-arm
                    self._timers.set(key, live.expires)
                    continue
                binding = self.cache.remove(rcoa)
                if binding is not None:
                    self.counters["expired"] += 1
                    self._timers.cancel(("odad", rcoa))
                    self._optimistic_left.pop(rcoa, None)
                    actions += [_log("binding_removed", rcoa=rcoa, lcoa=binding.lcoa, reason="expired"),
                                BindingRemoved(rcoa, binding.lcoa, "expired")]
            elif kind == "tomb":
                self.cache.tombstones.pop(rcoa, None)
            elif kind == "dad":
                actions += self._dad_step(now, rcoa)
            elif kind == "odad":
                left = self._optimistic_left.get(rcoa, 0)
                binding = self.cache.bindings.get(rcoa)
                if left > 0 and binding is not None:
                    self._optimistic_left[rcoa] = left - 1
                    self._timers.set(("odad", rcoa), now + self.config.dad_retrans_timer)
                    actions.append(self._dad_ns(rcoa))
                else:
                    self._optimistic_left.pop(rcoa, None)
                    if binding is not None:
                        binding.optimistic = False
                        actions.append(_log("dad_completed", rcoa=rcoa, mode="optimistic"))
            elif kind == "una":
                n = key[2]
                if rcoa in self.cache.bindings:
                    actions.append(self._unsolicited_na(rcoa))
                    if n < self.config.unsolicited_na_count:
                        self._timers.set(("una", rcoa, n + 1), now + self.config.unsolicited_na_interval)
            elif kind == "prefix":
                actions += self._prefix_expired(now)
        return actions

    def _dad_step(self, now: float, rcoa: bytes) -> list[Action]:
        pending = self._pending[rcoa]
        if pending.transmits_left > 0:
            pending.transmits_left -= 1
            self._timers.set(("dad", rcoa), now + self.config.dad_retrans_timer)
            return [self._dad_ns(rcoa)]
        del self._pending[rcoa]
        actions: list[Action] = [_log("dad_completed", rcoa=rcoa, mode="on")]
        req = pending.bu
        if self.prefix_remaining(now) < 4:
            return actions + self._ack(req, 132, 0)
        return actions + self._create(now, req, optimistic=False)

    def _prefix_expired(self, now: float) -> list[Action]:
        """RFC 6275 §10.3.1: remove bindings when the valid lifetime of their prefix ends."""
        actions: list[Action] = [_log("prefix_expired", prefix=self.config.prefix)]
        for rcoa in list(self.cache.bindings):
            binding = self.cache.remove(rcoa)
            self._timers.cancel(("expire", rcoa))
            actions += [_log("binding_removed", rcoa=rcoa, lcoa=binding.lcoa, reason="prefix-expired"),
                        BindingRemoved(rcoa, binding.lcoa, "prefix-expired")]
        for rcoa in list(self._pending):
            pending = self._pending.pop(rcoa)
            self._timers.cancel(("dad", rcoa))
            actions += self._ack(pending.bu, 132, 0)
        return actions

    # ------------------------------------------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """Read-only, JSON-serialisable state for a control command (times on the core's clock)."""
        now = self._now
        opt = self.map_option(now)
        return {
            "role": "map",
            "edition": self.edition,
            "now": now,
            "address": fmt(self.config.address),
            "prefix": f"{fmt(self.config.prefix)}/{self.config.prefix_length}",
            "map_option": {"dist": opt.dist, "pref": opt.pref, "r": opt.r, "valid_lifetime": opt.valid_lifetime},
            "security": self.security.snapshot(),
            "bindings": [
                {"rcoa": fmt(b.rcoa), "lcoa": fmt(b.lcoa), "seq": b.seq, "lifetime": b.lifetime,
                 "remaining": max(0.0, b.expires - now), "expires_at": b.expires, "created_at": b.created,
                 "refreshed_at": b.refreshed, "h_flag": b.h_flag, "optimistic": b.optimistic, "sa": b.sa}
                for b in sorted(self.cache.bindings.values(), key=lambda b: b.rcoa)
            ],
            "pending_dad": [
                {"rcoa": fmt(r), "lcoa": fmt(p.bu.coa), "seq": p.bu.message.seq, "started_at": p.started,
                 "deadline": self._timers.get(("dad", r))}
                for r, p in sorted(self._pending.items())
            ],
            "tombstones": [{"rcoa": fmt(r), "seq": t.seq, "until": t.until}
                           for r, t in sorted(self.cache.tombstones.items())],
            "counters": {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.counters.items()},
            "next_deadline": self.next_deadline(),
        }
