"""MAP selection and RCoA formation: pure functions of the stored MAP options (base document §7.2, §9.1, §6, §5;
RFC 5380 §5, §7.1).

:func:`select_maps` implements the §9.1 default algorithm ("dist"): arrange the MAPs by descending Dist, take the
first whose Pref and valid lifetime are non-zero; equal Dist is broken by the higher Pref (RFC 5380 §5: "SHOULD
use [Pref] as a tie-breaker"), then by the lower address so the choice is deterministic.  "pref" orders by Pref
first (§7.2 "SHOULD register with the MAP having the highest preference value"), Dist as tie-breaker.  The current
MAP is kept while it is advertised with a non-zero valid lifetime, even at Pref 0: §7.2 lets existing bindings be
refreshed (INC-3) and §9 asks the MN to be "lazy" in releasing them; a MAP advertised for the first time that
the rule ranks first is made the ``current`` one by the core (§9 "eager", :meth:`.core.MnCore._reconsider`).
Options with Dist 0 (which "MUST NOT be used", §5) or valid lifetime 0 (MAP failure, §7.2/§10) are never chosen.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..wire.addresses import prefix_of
from ..wire.icmpv6 import MapOption

__all__ = ["form_address", "rank_key", "select_maps"]


def rank_key(method: str):
    """The sort key of the selection rule ``method`` ("dist": §9.1, "pref": §7.2): best first."""
    if method == "pref":
        return lambda o: (-o.pref, -o.dist, o.address)
    return lambda o: (-o.dist, -o.pref, o.address)


def select_maps(options: Iterable[MapOption], *, method: str = "dist", current: bytes | None = None,
                exclude: Iterable[bytes] = (), count: int = 1) -> list[MapOption]:
    """The MAPs to be registered with, primary first (at most ``count``); empty when none is usable.

    ``current``: the MAP of the existing primary binding (kept if still usable for a refresh); ``exclude``:
    addresses not to choose (failed, rejected the MN, or unusable for another reason).
    """
    excluded = set(exclude)
    usable = [o for o in options if o.valid_lifetime > 0 and o.dist > 0 and o.address not in excluded]
    for_new = sorted((o for o in usable if o.pref > 0), key=rank_key(method))
    kept = next((o for o in usable if o.address == current), None) if current is not None else None
    chosen = [kept] if kept is not None else []
    chosen += [o for o in for_new if kept is None or o.address != kept.address]
    return chosen[:count]


def form_address(prefix: bytes, prefix_length: int, iid: bytes) -> bytes:
    """Prefix + interface identifier (RFC 4862 §5.5.3 for /64; longer prefixes keep their bits, the identifier
    fills the rest)."""
    base = prefix_of(prefix, prefix_length)
    if prefix_length <= 64:
        return base[:8] + iid
    mask = (1 << (128 - prefix_length)) - 1
    value = int.from_bytes(base, "big") | (int.from_bytes(bytes(8) + iid, "big") & mask)
    return value.to_bytes(16, "big")
