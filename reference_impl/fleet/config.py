"""Fleet configuration: the MAP the emulated mobile nodes register with, lifetimes and retransmission timers.

Defaults are the RFC 6275 values (§12 protocol constants, §11.8 retransmission): a fleet is a load of real mobile
nodes, not the conformance suite's scaled timers.  Times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FleetConfig"]


@dataclass(slots=True, frozen=True)
class FleetConfig:
    """What every emulated mobile node of one fleet shares.

    ``map_address``: where local BUs go (base §6.1).  ``lifetime``: requested binding lifetime (a multiple of 4 s;
    lifetimes travel in 4 s units).  ``refresh_ratio``: refresh after this fraction of the granted lifetime (or at
    the Binding Refresh Advice interval if shorter), counted from when the acknowledged BU was sent (RFC 6275
    §11.7.3).  Retransmission (RFC 6275 §11.8): ``initial_bindack_timeout_first_reg`` for a first registration,
    ``initial_bindack_timeout`` otherwise, doubled per retransmission up to ``max_bindack_timeout``, a new sequence
    number each time.  ``max_transmissions``: give an exchange up after this many BUs (0: never, as the RFC).
    ``seed``: initial sequence numbers are random per mobile node (RFC 6275 §11.7.2), drawn from this seed.
    """

    map_address: bytes
    lifetime: int = 600
    refresh_ratio: float = 0.75
    initial_bindack_timeout_first_reg: float = 1.5  # InitialBindackTimeoutFirstReg
    initial_bindack_timeout: float = 1.0  # INITIAL_BINDACK_TIMEOUT
    max_bindack_timeout: float = 32.0  # MAX_BINDACK_TIMEOUT
    max_transmissions: int = 0
    hop_limit: int = 64
    seed: int = 1

    def __post_init__(self) -> None:
        if len(self.map_address) != 16:
            raise ValueError("map_address must be 16 bytes")
        if not 4 <= self.lifetime <= 0xFFFF * 4:
            raise ValueError("lifetime must be 4..262140 s (one to 65535 units of 4 s)")
        if not 0 < self.refresh_ratio < 1:
            raise ValueError("refresh_ratio must be in (0, 1)")
        if min(self.initial_bindack_timeout_first_reg, self.initial_bindack_timeout, self.max_bindack_timeout) <= 0:
            raise ValueError("retransmission timeouts must be positive")
        if self.max_transmissions < 0:
            raise ValueError("max_transmissions must be >= 0 (0: unlimited)")

    @property
    def lifetime_units(self) -> int:
        return self.lifetime // 4
