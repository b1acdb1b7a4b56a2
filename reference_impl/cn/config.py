"""Correspondent node configuration.  Times in seconds; defaults are the RFC 6275 values (§5.2.7, §12)."""

from __future__ import annotations

from dataclasses import dataclass

from ..wire.addresses import is_unicast_routable
from .rr import MAX_NONCE_LIFETIME, MAX_RR_BINDING_LIFETIME

__all__ = ["CnConfig"]


@dataclass(slots=True, frozen=True)
class CnConfig:
    """Everything a correspondent node core needs.

    ``address``: the CN's address (HoT/CoT/BA source when the request came to it); ``extra_addresses``: further
    own addresses that answer return routability and BUs.  ``node_key``: Kcn, 20 random octets (RFC 6275
    §5.2.1); None = drawn from the core's ``rng``.  ``nonce_interval``: how long a nonce stays current after its
    first use before a new one (with a new index) is made (§5.2.7: "generate a new nonce every 30 seconds");
    ``max_nonce_lifetime``: a nonce is refused this long after its first use (MAX_NONCE_LIFETIME).
    ``regenerate_node_key``: a new Kcn with every new nonce (§5.2.7 SHOULD), so a nonce index names both.
    ``max_binding_lifetime``: granted lifetimes never exceed it nor MAX_RR_BINDING_LIFETIME (§5.2.6).
    ``binding_error_interval``: at most one Binding Error per source address in this interval (§9.3.3 rate limit).
    """

    address: bytes
    extra_addresses: tuple[bytes, ...] = ()
    node_key: bytes | None = None
    nonce_length: int = 8  # §5.2.2: "The recommended length is 64 bits"
    nonce_interval: float = 30.0
    max_nonce_lifetime: float = MAX_NONCE_LIFETIME
    regenerate_node_key: bool = True
    max_binding_lifetime: int = MAX_RR_BINDING_LIFETIME
    max_bindings: int = 1024
    binding_error_interval: float = 1.0
    hop_limit: int = 64

    def __post_init__(self) -> None:
        if not is_unicast_routable(self.address):
            raise ValueError("CN address must be a global unicast address")
        if self.node_key is not None and len(self.node_key) != 20:
            raise ValueError("RFC 6275 §5.2.1: the node key is 20 octets")
        if self.nonce_length < 1 or self.nonce_interval <= 0 or self.max_nonce_lifetime < self.nonce_interval:
            raise ValueError("nonce_length >= 1, 0 < nonce_interval <= max_nonce_lifetime")
        if not 4 <= self.max_binding_lifetime <= MAX_RR_BINDING_LIFETIME:
            raise ValueError("max_binding_lifetime must be 4..MAX_RR_BINDING_LIFETIME (420) s (RFC 6275 §5.2.6)")

    @property
    def addresses(self) -> tuple[bytes, ...]:
        return (self.address,) + self.extra_addresses
