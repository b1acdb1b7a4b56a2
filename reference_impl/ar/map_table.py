"""Which MAP options an AR advertises on each interface (base document §7, §7.1.1, §10).

Sources, in order of precedence for the same MAP address: the router's own MAP option (``local``), manually
configured options, and options learnt from other routers' RAs (dynamic discovery, rfc4140 only).  A learnt
option is re-advertised with Dist + 1, keeping the smallest Dist per MAP address across interfaces; it is not
advertised back on the interface it was learnt from (split horizon: an implementation choice against the loops
RFC 5380 Appendix A mentions).  A MAP that failed (echo probing) or was forced down is advertised with valid
lifetime 0.

Learnt state is bounded (:data:`MAX_LEARNED`): dynamic discovery is unauthenticated here (§7.1.1 only says such RAs
SHOULD be authenticated), so anyone on a MAP-facing link can advertise MAP options from any number of link-local
sources.  When full, new options are refused (the caller counts and logs them); the ones already learnt are kept,
refreshed and withdrawn by their router as usual, and expire as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..wire.icmpv6 import MapOption

__all__ = ["MAX_LEARNED", "Learned", "LearnedKey", "MapTable"]

LearnedKey = tuple[bytes, str, bytes]  # (MAP address, interface learnt on, advertising router's link-local)

#: At most this many learnt options (one per MAP address, interface and advertising router), and a learnt option
#: naming a MAP the table does not know yet is refused once it knows this many MAPs in all (own, manual and learnt):
#: every MAP advertised is probed (§10), so this also bounds the failure detector's state.
MAX_LEARNED = 256


@dataclass(slots=True)
class Learned:
    option: MapOption  # as received (Dist not yet incremented)
    expires: float


class MapTable:
    __slots__ = ("dynamic", "failed", "forced_down", "learned", "local", "manual")

    def __init__(self, manual: tuple[MapOption, ...], local: MapOption | None, dynamic: bool) -> None:
        self.manual: dict[bytes, MapOption] = {o.address: o for o in manual}
        self.local = local
        self.dynamic = dynamic
        self.learned: dict[LearnedKey, Learned] = {}
        self.failed: set[bytes] = set()  # detected by probing
        self.forced_down: set[bytes] = set()  # manual trigger

    def learn(self, now: float, iface: str, router: bytes, options: tuple[MapOption, ...],
              timeout: float) -> tuple[list[LearnedKey], list[LearnedKey], list[LearnedKey]]:
        """Record the MAP options of one RA; returns (keys stored or refreshed, keys withdrawn by that router,
        keys refused because the table is full, see :data:`MAX_LEARNED`)."""
        offered = {(opt.address, iface, router): opt for opt in options}
        gone = [k for k in self.learned if k[1] == iface and k[2] == router and k not in offered]
        for key in gone:
            del self.learned[key]
        known = set(self.addresses())
        stored: list[LearnedKey] = []
        refused: list[LearnedKey] = []
        for key, opt in offered.items():
            if key not in self.learned:
                if len(self.learned) >= MAX_LEARNED or (opt.address not in known and len(known) >= MAX_LEARNED):
                    refused.append(key)
                    continue
                known.add(opt.address)
            lifetime = timeout if opt.valid_lifetime == 0 else min(timeout, float(opt.valid_lifetime))
            self.learned[key] = Learned(opt, now + lifetime)
            stored.append(key)
        return stored, gone, refused

    def expire(self, key: LearnedKey, now: float) -> bool:
        entry = self.learned.get(key)
        if entry is not None and entry.expires <= now:
            del self.learned[key]
            return True
        return False

    def addresses(self) -> list[bytes]:
        seen: dict[bytes, None] = {}
        if self.local is not None:
            seen[self.local.address] = None
        for address in self.manual:
            seen[address] = None
        for address, _, _ in self.learned:
            seen[address] = None
        return list(seen)

    def readdress(self, old: bytes, new: bytes) -> MapOption:
        """The manually configured option for ``old`` is advertised for ``new`` from now on (a renumbered MAP):
        Dist, Pref, R and the valid lifetime are kept, and so is its place among the options.  State kept by
        address (forced down, failed) is not carried over: it belongs to the address.  Returns the new option."""
        option = replace(self.manual[old], address=new)
        self.manual = {(new if a == old else a): (option if a == old else o) for a, o in self.manual.items()}
        return option

    def available(self, address: bytes) -> bool:
        return address not in self.failed and address not in self.forced_down

    def options_for(self, iface: str) -> tuple[MapOption, ...]:
        """MAP options to put in an RA sent on ``iface``."""
        out: dict[bytes, MapOption] = {}
        if self.local is not None:
            out[self.local.address] = self.local
        for address, opt in self.manual.items():
            out.setdefault(address, opt)
        if self.dynamic:
            best: dict[bytes, MapOption] = {}
            for (address, learnt_on, _), entry in self.learned.items():
                if learnt_on == iface or address in out:
                    continue
                if address not in best or entry.option.dist < best[address].dist:
                    best[address] = entry.option
            for address, opt in best.items():
                if opt.dist < 15:  # Dist is 4 bits: a MAP 15 hops away cannot be relayed further
                    out[address] = replace(opt, dist=opt.dist + 1)
        return tuple(o if self.available(a) else replace(o, valid_lifetime=0) for a, o in out.items())
