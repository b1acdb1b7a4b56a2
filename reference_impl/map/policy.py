"""BU admission: the single place that decides whether a local BU is accepted, and with which status if not.

:func:`default_policy` applies, in this order (RFC 6275 §10.3.1 test order, base document §6.2 and §8):

====  =======================================================================================================
131   H set and M clear: a home registration; the MAP is not a home agent (M+H is accepted as a local BU)
133   deregistration (lifetime 0) for an RCoA with no binding (RFC 6275 §10.3.2)
132   RCoA (home address) not on the MAP's prefix, or that prefix no longer valid
129   LCoA outside ``onlink_prefixes`` (§6.2), unless an existing binding is re-pointed to a prefix on the
      ``forward_prefixes`` allow-list (§8, previous-MAP forwarding)
130   a new binding while the cache (bindings + DADs in progress) is full
====  =======================================================================================================

BUs with neither M nor H (correspondent registrations) never reach the policy: the MAP has no return
routability, so they fail RFC 6275 §9.5.1 validation and are silently discarded.  Sequence numbers (135) are
checked before the policy, as RFC 6275 §9.5.1 comes before §10.3.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..wire.addresses import in_prefix
from ..wire.mobility import BindingUpdate

if TYPE_CHECKING:
    from .core import MapCore

__all__ = ["LocalBU", "default_policy"]


@dataclass(slots=True, frozen=True)
class LocalBU:
    """A received BU in context: the message plus the addresses the rules need."""

    message: BindingUpdate
    src: bytes  # IPv6 source (BAs go here)
    dst: bytes  # the MAP address it was sent to
    rcoa: bytes  # Home Address option
    coa: bytes  # Alternate Care-of Address option, else src
    iface: str
    now: float
    has_binding: bool  # a live binding exists for rcoa
    dad_pending: bool  # a registration for rcoa is waiting for DAD
    sa: str | None = None  # the SA pair that protected it (None: unprotected, security off)

    @property
    def deregistration(self) -> bool:
        return self.message.lifetime == 0


def default_policy(bu: LocalBU, core: MapCore) -> int | None:
    """Status code (>= 128) rejecting ``bu``, or None to accept it."""
    cfg = core.config
    if not bu.message.m:
        return 131
    if bu.deregistration:
        return None if bu.has_binding else 133
    if not cfg.on_map_prefix(bu.rcoa) or core.prefix_remaining(bu.now) < 4:
        return 132
    if cfg.onlink_prefixes is not None and not any(in_prefix(bu.coa, p, n) for p, n in cfg.onlink_prefixes):
        if not (bu.has_binding and any(in_prefix(bu.coa, p, n) for p, n in cfg.forward_prefixes)):
            return 129
    if not bu.has_binding and not bu.dad_pending and core.bindings_in_use() >= cfg.max_bindings:
        return 130
    return None
