"""Sans-I/O correspondent node with route optimisation (RFC 6275 §5.2, §9.2–§9.5): answers Home Test Init with
Home Test and Care-of Test Init with Care-of Test, accepts Binding Updates authorised by return routability and
keeps a binding cache; base document §6.4: "HMIPv6 is completely transparent to correspondent nodes" (the care-of
address it learns is simply the mobile node's RCoA).

Feed it decoded packets addressed to it with :meth:`CnCore.handle`, wake it at :meth:`CnCore.next_deadline` with
:meth:`CnCore.tick`; both return :mod:`~reference_impl.actions`.  Data-plane decisions: :meth:`CnCore.route_for`
(send with a type 2 routing header via the care-of address, §9.3.2) and :meth:`CnCore.check_home_address`
(accept or drop a packet carrying a Home Address option, §9.3.1).

Binding Update validation order (RFC 6275 §9.5.1, §5.2.6):

====  ========================================================================================================
—     silently discarded: home address or source not unicast routable; no Nonce Indices option; Binding
      Authorization Data missing or not last; H set together with Nonce Indices; wrong authenticator
131   H set (this node is not a home agent, §10.3.1), without Binding Authorization Data (there is no Kbm)
136   home nonce index no longer recognised; 137 care-of nonce index (not inspected for deletions); 138 both —
      no Binding Authorization Data in these BAs (§9.5.4)
135   sequence number not newer than the last accepted one (checked only after the authenticator verified); the
      BA carries the last accepted number
130   new binding while the cache is full (§9.5.2)
====  ========================================================================================================

BAs are sent when A is set and for 130/131/135–138 whatever A says (§9.5.4); accepted BUs without A get none.
The authenticator of a deletion (lifetime 0) is checked with the home address as "care-of address" (§6.2.7) and,
failing that, with the BU's care-of address (§11.7.2 has the MN keep its current care-of address when it deletes
a binding from away); the BA uses whichever verified.
"""

from __future__ import annotations

import random
from typing import Any

from ..actions import log as _log
from ..actions import Action, CnBindingAdded, CnBindingRemoved, CnBindingUpdated, Send
from ..map.binding_cache import Binding, BindingCache, Tombstone, seq_newer
from ..timers import TimerQueue
from ..wire.addresses import UNSPECIFIED, fmt, is_multicast, is_unicast_routable
from ..wire.ipv6 import Packet
from ..wire.mobility import (
    BindingAcknowledgement, BindingAuthorizationData, BindingError, BindingUpdate, MobilityUnknown, NonceIndices,
)
from .config import CnConfig
from .nonces import NonceTable
from .rr import (
    CareOfTest, CareOfTestInit, HomeTest, HomeTestInit, binding_management_key, careof_keygen_token, decode_rr,
    encode_rr, home_keygen_token, sign, verify,
)

__all__ = ["CnCore"]

_KNOWN_MH_TYPES = frozenset(range(8))  # BRR, HoTI, CoTI, HoT, CoT, BU, BA, BE (RFC 6275 §6.1.1)
_HAO_EXEMPT = frozenset((50, 51, 135))  # ESP, AH, Mobility Header (RFC 6275 §9.3.1)


class CnCore:
    """One correspondent node.  ``rng`` supplies Kcn, nonces and the first nonce index; pass
    ``random.SystemRandom()`` (the default) outside tests."""

    def __init__(self, config: CnConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng if rng is not None else random.SystemRandom()
        self.nonces = NonceTable(self._rng, node_key=config.node_key, length=config.nonce_length,
                                 regenerate_key=config.regenerate_node_key)
        self.cache = BindingCache()  # keyed by home address: Binding.rcoa = home address, .lcoa = care-of address
        self._own = frozenset(config.addresses)
        self._timers = TimerQueue()
        self._last_error: dict[bytes, float] = {}
        self._started = False
        self._now = 0.0
        self.counters: dict[str, Any] = {
            "hoti_received": 0, "coti_received": 0, "bu_received": 0, "bu_discarded": 0, "ba_sent": {},
            "binding_errors_sent": 0, "expired": 0,
        }

    # ----------------------------------------------------------------------------------------------------- driving

    def start(self, now: float) -> list[Action]:
        """Begin operating at ``now`` (idempotent; ``handle``/``tick`` call it implicitly)."""
        if self._started:
            return []
        self._started = True
        self._now = now
        return [_log("cn_started", address=self.config.address, nonce_interval=self.config.nonce_interval,
                     max_nonce_lifetime=self.config.max_nonce_lifetime)]

    def handle(self, now: float, iface: str, packet: Packet) -> list[Action]:
        """Process one received, decoded packet (``iface``: where it arrived)."""
        actions = self.start(now) + self._run_timers(now)
        if packet.dst not in self._own:
            return actions
        msg = packet.payload
        if isinstance(msg, BindingUpdate):
            return actions + self._on_bu(now, iface, packet, msg)
        if isinstance(msg, MobilityUnknown):
            rr = decode_rr(msg)
            if isinstance(rr, HomeTestInit):
                return actions + self._on_hoti(now, iface, packet, rr)
            if isinstance(rr, CareOfTestInit):
                return actions + self._on_coti(now, iface, packet, rr)
            if rr is None and msg.mh_type not in _KNOWN_MH_TYPES:
                # RFC 6275 §9.2: unknown MH type -> discard and send Binding Error status 2
                return actions + self._binding_error(now, iface, packet.dst, packet.src,
                                                     packet.home_address or UNSPECIFIED, 2)
            if rr is None:
                return actions + [_log("mh_discarded", reason="header too short for its type (RFC 6275 §9.2)",
                                       mh_type=msg.mh_type, src=packet.src)]
        return actions

    def tick(self, now: float) -> list[Action]:
        """Run every timer due at ``now``."""
        return self.start(now) + self._run_timers(now)

    def next_deadline(self) -> float | None:
        """When ``tick`` must be called next (None: nothing scheduled)."""
        return self._timers.next()

    # -------------------------------------------------------------------------------------------------- data plane

    def route_for(self, dst: bytes) -> bytes | None:
        """RFC 6275 §9.3.2: the care-of address to put in a type 2 routing header for a packet to ``dst`` (a home
        address with a binding), or None to send normally.  Not for Neighbor Discovery packets."""
        binding = self.cache.bindings.get(dst)
        return None if binding is None else binding.lcoa

    def check_home_address(self, now: float, src: bytes, dst: bytes, home: bytes,
                           next_header: int) -> tuple[bool, list[Action]]:
        """RFC 6275 §9.3.1 for a received packet with a Home Address option: (accept, actions).

        Dropped when the home address is not unicast routable; accepted when the next header is ESP, AH or the
        Mobility Header; otherwise accepted only if a binding for ``home`` has ``src`` as care-of address, else
        dropped with a Binding Error status 1 to ``src`` (rate-limited, §9.3.3).  Accepted packets are delivered
        as if ``home`` were their source."""
        if not is_unicast_routable(home):
            return False, []
        if next_header in _HAO_EXEMPT:
            return True, []
        binding = self.cache.bindings.get(home)
        if binding is not None and binding.lcoa == src:
            return True, []
        return False, self._binding_error(now, None, dst, src, home, 1)

    def _binding_error(self, now: float, iface: str | None, own: bytes, to: bytes, home: bytes,
                       status: int) -> list[Action]:
        """RFC 6275 §9.3.3: to the offending packet's source, only if unicast; rate-limited per destination."""
        if is_multicast(to) or to == UNSPECIFIED:
            return []
        last = self._last_error.get(to)
        if last is not None and now - last < self.config.binding_error_interval:
            return [_log("binding_error_suppressed", dst=to, status=status, reason="rate limit")]
        self._last_error[to] = now
        self.counters["binding_errors_sent"] += 1
        src = own if own in self._own else self.config.address
        be = Packet(src, to, BindingError(status, home), hop_limit=self.config.hop_limit)
        return [_log("binding_error_sent", dst=to, home_address=home, status=status), Send(iface, be)]

    # --------------------------------------------------------------------------------- return routability (§9.4)

    def _nonce(self, now: float):
        cfg = self.config
        return self.nonces.current(now, cfg.nonce_interval, cfg.max_nonce_lifetime)

    def _on_hoti(self, now: float, iface: str, packet: Packet, hoti: HomeTestInit) -> list[Action]:
        """§9.4.1/§9.4.3: no Home Address option allowed; HoT to the home address (the HoTI's source)."""
        self.counters["hoti_received"] += 1
        if packet.home_address is not None:
            return [_log("hoti_ignored", src=packet.src, reason="Home Address option present (RFC 6275 §9.4.1)")]
        if not is_unicast_routable(packet.src):
            return [_log("hoti_ignored", src=packet.src, reason="source not unicast routable")]
        nonce = self._nonce(now)
        token = home_keygen_token(nonce.kcn, packet.src, nonce.value)
        hot = HomeTest(nonce.index, hoti.cookie, token)
        reply = Packet(packet.dst, packet.src, encode_rr(hot), hop_limit=self.config.hop_limit)
        return [_log("hot_sent", home_address=packet.src, nonce_index=nonce.index), Send(iface, reply)]

    def _on_coti(self, now: float, iface: str, packet: Packet, coti: CareOfTestInit) -> list[Action]:
        """§9.4.2/§9.4.4: no Home Address option allowed; CoT to the care-of address (the CoTI's source)."""
        self.counters["coti_received"] += 1
        if packet.home_address is not None:
            return [_log("coti_ignored", src=packet.src, reason="Home Address option present (RFC 6275 §9.4.2)")]
        if not is_unicast_routable(packet.src):
            return [_log("coti_ignored", src=packet.src, reason="source not unicast routable")]
        nonce = self._nonce(now)
        token = careof_keygen_token(nonce.kcn, packet.src, nonce.value)
        cot = CareOfTest(nonce.index, coti.cookie, token)
        reply = Packet(packet.dst, packet.src, encode_rr(cot), hop_limit=self.config.hop_limit)
        return [_log("cot_sent", care_of_address=packet.src, nonce_index=nonce.index), Send(iface, reply)]

    # ---------------------------------------------------------------------------------- binding updates (§9.5)

    def _discard(self, reason: str, packet: Packet) -> list[Action]:
        self.counters["bu_discarded"] += 1
        return [_log("bu_discarded", reason=reason, src=packet.src, home_address=packet.home_address)]

    def _on_bu(self, now: float, iface: str, packet: Packet, bu: BindingUpdate) -> list[Action]:
        self.counters["bu_received"] += 1
        home = packet.home_address if packet.home_address is not None else packet.src
        if not is_unicast_routable(home):
            return self._discard("home address not unicast routable (RFC 6275 §9.5.1)", packet)
        if not is_unicast_routable(packet.src):
            return self._discard("source not unicast: no BA can be sent (RFC 6275 §9.5.4)", packet)
        coa = bu.alternate_coa or packet.src
        if not is_unicast_routable(coa):
            return self._discard("care-of address not unicast routable (RFC 6275 §6.1.7)", packet)
        indices = next((o for o in bu.options if isinstance(o, NonceIndices)), None)
        if bu.h:
            if indices is not None:
                return self._discard("H set with a Nonce Indices option (RFC 6275 §9.5.1)", packet)
            return [_log("bu_rejected", status=131, home_address=home, text="not a home agent (RFC 6275 §10.3.1)")] \
                + self._ack(iface, packet, home, bu.seq, 131, 0)
        if indices is None:
            return self._discard("no Nonce Indices option (RFC 6275 §9.5.1)", packet)
        if not bu.options or not isinstance(bu.options[-1], BindingAuthorizationData):
            return self._discard("Binding Authorization Data missing or not last (RFC 6275 §9.5.1)", packet)
        cfg = self.config
        deletion = bu.lifetime == 0
        home_nonce = self.nonces.lookup(indices.home_nonce_index, now, cfg.max_nonce_lifetime)
        careof_nonce = None if deletion else self.nonces.lookup(indices.careof_nonce_index, now,
                                                                cfg.max_nonce_lifetime)
        stale_home, stale_coa = home_nonce is None, not deletion and careof_nonce is None
        if stale_home or stale_coa:
            status = 138 if stale_home and stale_coa else 136 if stale_home else 137
            return [_log("bu_rejected", status=status, home_address=home, home_nonce_index=indices.home_nonce_index,
                         careof_nonce_index=indices.careof_nonce_index)] \
                + self._ack(iface, packet, home, bu.seq, status, 0)
        home_token = home_keygen_token(home_nonce.kcn, home, home_nonce.value)
        careof_token = None if deletion else careof_keygen_token(careof_nonce.kcn, coa, careof_nonce.value)
        kbm = binding_management_key(home_token, careof_token)
        cn = packet.dst
        signed_for = next((a for a in ((home, coa) if deletion else (coa,)) if verify(bu, kbm, a, cn)), None)
        if signed_for is None:
            return self._discard("Binding Authorization Data does not verify (RFC 6275 §5.2.6, §9.5.1)", packet)
        key = (kbm, signed_for)
        last = self.cache.last_seq(home)
        if last is not None and not seq_newer(bu.seq, last):
            return [_log("bu_rejected", status=135, home_address=home, seq=bu.seq, last_seq=last)] \
                + self._ack(iface, packet, home, last, 135, 0, key)
        if deletion:
            return self._delete(now, iface, packet, bu, home, key)
        binding = self.cache.get(home)
        if binding is None and len(self.cache) >= cfg.max_bindings:
            return [_log("bu_rejected", status=130, home_address=home, text="binding cache full (RFC 6275 §9.5.2)")] \
                + self._ack(iface, packet, home, bu.seq, 130, 0, key)
        lifetime = min(bu.lifetime * 4, cfg.max_binding_lifetime) // 4 * 4
        actions: list[Action]
        if binding is None:
            binding = Binding(home, coa, bu.seq, lifetime, now + lifetime, now, now, packet.src, False)
            self.cache.add(binding)
            self._timers.cancel(("tomb", home))
            actions = [_log("binding_added", home_address=home, care_of_address=coa, seq=bu.seq, lifetime=lifetime),
                       CnBindingAdded(home, coa, lifetime)]
        else:
            old = binding.lcoa
            binding.lcoa, binding.seq, binding.lifetime = coa, bu.seq, lifetime
            binding.expires, binding.refreshed, binding.bu_source = now + lifetime, now, packet.src
            actions = [_log("binding_refreshed", home_address=home, care_of_address=coa, old_care_of_address=old,
                            seq=bu.seq, lifetime=lifetime),
                       CnBindingUpdated(home, coa, old, lifetime)]
        self._timers.set(("expire", home), binding.expires)
        if bu.a:
            actions += self._ack(iface, packet, home, bu.seq, 0, lifetime // 4, key)
        return actions

    def _delete(self, now: float, iface: str, packet: Packet, bu: BindingUpdate, home: bytes,
                key: tuple[bytes, bytes]) -> list[Action]:
        """§9.5.3: remove any binding, create none; remember the sequence number for as long as the nonces could
        be replayed (§5.2.8, §9.5.3), as a tombstone."""
        until = now + self.config.max_nonce_lifetime
        binding = self.cache.remove(home)
        self._timers.cancel(("expire", home))
        self.cache.tombstones[home] = Tombstone(bu.seq, until)
        self._timers.set(("tomb", home), until)
        actions: list[Action] = []
        if binding is not None:
            actions += [_log("binding_removed", home_address=home, care_of_address=binding.lcoa,
                             reason="deregistered"),
                        CnBindingRemoved(home, binding.lcoa, "deregistered")]
        else:
            actions.append(_log("deletion_without_binding", home_address=home, seq=bu.seq))
        if bu.a:
            actions += self._ack(iface, packet, home, bu.seq, 0, 0, key)
        return actions

    def _ack(self, iface: str, packet: Packet, home: bytes, seq: int, status: int, units: int,
             key: tuple[bytes, bytes] | None = None) -> list[Action]:
        """§9.5.4: to the BU's source, with a type 2 routing header holding the home address when the BU carried a
        Home Address option; Binding Authorization Data whenever a Kbm exists (never for 136–138)."""
        ba = BindingAcknowledgement(status, seq, units)
        if key is not None and status not in (136, 137, 138):
            kbm, coa = key
            ba = sign(ba, kbm, coa, packet.dst)
        rh2 = home if packet.home_address is not None else None
        reply = Packet(packet.dst, packet.src, ba, hop_limit=self.config.hop_limit, rh2_address=rh2)
        sent = self.counters["ba_sent"]
        sent[str(status)] = sent.get(str(status), 0) + 1
        return [_log("ba_sent", status=status, home_address=home, dst=packet.src, seq=seq, lifetime=units * 4),
                Send(iface, reply)]

    # --------------------------------------------------------------------------------------------------- control

    def forget_nonces(self, now: float) -> list[Action]:
        """Drop every nonce and Kcn-derived state (as after a reboot, §5.2.7); tokens in flight then get
        136/137/138."""
        self.nonces.forget_all()
        return [_log("nonces_forgotten")]

    # --------------------------------------------------------------------------------------------------- timers

    def _run_timers(self, now: float) -> list[Action]:
        self._now = max(self._now, now)
        actions: list[Action] = []
        while (key := self._timers.pop_one(now)) is not None:
            kind, home = key
            if kind == "expire":
                until = now + self.config.max_nonce_lifetime
                binding = self.cache.remove(home, tombstone_until=until)
                if binding is not None:
                    self.counters["expired"] += 1
                    self._timers.set(("tomb", home), until)
                    actions += [_log("binding_removed", home_address=home, care_of_address=binding.lcoa,
                                     reason="expired"),
                                CnBindingRemoved(home, binding.lcoa, "expired")]
            elif kind == "tomb":
                self.cache.tombstones.pop(home, None)
        return actions

    # ------------------------------------------------------------------------------------------------ snapshot

    def snapshot(self) -> dict[str, Any]:
        """Read-only, JSON-serialisable state for a control command (times on the core's clock)."""
        now = self._now
        return {
            "role": "cn",
            "now": now,
            "address": fmt(self.config.address),
            "bindings": [
                {"home_address": fmt(b.rcoa), "care_of_address": fmt(b.lcoa), "seq": b.seq, "lifetime": b.lifetime,
                 "remaining": max(0.0, b.expires - now), "expires_at": b.expires, "created_at": b.created,
                 "refreshed_at": b.refreshed}
                for b in sorted(self.cache.bindings.values(), key=lambda b: b.rcoa)
            ],
            "tombstones": [{"home_address": fmt(h), "seq": t.seq, "until": t.until}
                           for h, t in sorted(self.cache.tombstones.items())],
            "nonces": [{"index": n.index, "first_used": n.first_used, "created": n.created}
                       for n in sorted(self.nonces.nonces.values(), key=lambda n: n.created)],
            "counters": {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.counters.items()},
            "next_deadline": self.next_deadline(),
        }
