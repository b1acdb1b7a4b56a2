"""Access router configuration.  Times in seconds; defaults are the RFC values (RFC 4861 §6.2.1 and §10,
RFC 6275 §7.5 and §13, base document §10); the harness passes scaled values for virtual runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..wire.addresses import is_link_local, link_local_from_mac
from ..wire.icmpv6 import MapOption, PrefixInformation

__all__ = ["ArConfig", "ArInterface", "FailureDetection"]


@dataclass(slots=True, frozen=True)
class ArInterface:
    """One router interface (RFC 4861 §6.2.1 variables plus the HMIPv6 roles of the interface).

    ``send_map_options``: the MAP options are advertised on this interface (the "certain interfaces" of §7.1.1).
    ``listen_map_options``: MAP-facing interface: MAP options in RAs received here are learnt (dynamic discovery,
    rfc4140 only).  ``unsolicited``: False sends RAs only when solicited (RFC 6275 §7.5).
    ``min_interval`` None: 0.33 × max_interval when max_interval >= 9 s, else 0.75 × max_interval (RFC 4861
    §6.2.1).  ``min_delay_between_ras`` None: 3 s (MIN_DELAY_BETWEEN_RAS), or min_interval when that is smaller
    (RFC 6275 §13 MinDelayBetweenRAs).  Intervals may go down to 0.03/0.07 s (RFC 6275 §7.5).
    """

    name: str
    link_address: bytes
    link_local: bytes | None = None
    advertise: bool = True
    prefixes: tuple[PrefixInformation, ...] = ()
    mtu: int | None = None
    cur_hop_limit: int = 64
    flags: int = 0  # RA M/O/H bits (wire.RA_M, RA_O, RA_H)
    router_lifetime: int | None = None  # None: 3 × max_interval, at most 9000 s
    reachable_time: int = 0
    retrans_timer: int = 0
    max_interval: float = 600.0
    min_interval: float | None = None
    min_delay_between_ras: float | None = None
    advertisement_interval_option: bool = True  # RFC 6275 §7.3
    send_map_options: bool = True
    listen_map_options: bool = False
    unsolicited: bool = True

    def __post_init__(self) -> None:
        if len(self.link_address) != 6:
            raise ValueError("link_address must be a 6-byte MAC")
        if self.link_local is not None and not is_link_local(self.link_local):
            raise ValueError("link_local must be an fe80::/10 address")
        if not 0.07 <= self.max_interval <= 1800:
            raise ValueError("max_interval must be 0.07..1800 s (RFC 4861 §6.2.1, RFC 6275 §7.5)")
        if not 0.03 <= self.min_rtr_adv_interval <= 0.75 * self.max_interval:
            raise ValueError("min_interval must be 0.03 s..0.75 × max_interval")

    @property
    def own_link_local(self) -> bytes:
        return self.link_local if self.link_local is not None else link_local_from_mac(self.link_address)

    @property
    def min_rtr_adv_interval(self) -> float:
        if self.min_interval is not None:
            return self.min_interval
        return 0.33 * self.max_interval if self.max_interval >= 9 else 0.75 * self.max_interval

    @property
    def min_delay(self) -> float:
        if self.min_delay_between_ras is not None:
            return self.min_delay_between_ras
        return min(3.0, self.min_rtr_adv_interval)

    @property
    def default_lifetime(self) -> int:
        if self.router_lifetime is not None:
            return self.router_lifetime
        return min(9000, max(1, int(3 * self.max_interval)))


@dataclass(slots=True, frozen=True)
class FailureDetection:
    """Dynamic MAP failure detection by ICMPv6 echo (base document §10; RFC 5380 §10 keeps the example without
    naming the probe).  A probe counts as lost when no reply came before the next regular probe."""

    enabled: bool = True
    source: bytes | None = None  # the AR's global address; probing is off (and logged) when None
    interval: float = 10.0
    aggressive_interval: float = 5.0
    aggressive_duration: float = 15.0
    identifier: int = 0x4D50
    payload: bytes = b"hmipv6 map probe"
    targets: tuple[bytes, ...] | None = None  # None: every advertised MAP except the local one


@dataclass(slots=True, frozen=True)
class ArConfig:
    """``manual_maps``: MAP options configured by hand (§7, the default).  ``discovery``: "manual" or "dynamic"
    (§7.1.1, rfc4140 edition only).  ``local_map``: this router's own MAP option when it is also a MAP."""

    interfaces: tuple[ArInterface, ...]
    manual_maps: tuple[MapOption, ...] = ()
    discovery: Literal["manual", "dynamic"] = "manual"
    local_map: MapOption | None = None
    learned_map_timeout: float = 1800.0  # how long a learnt MAP option lives without being re-advertised
    failure_detection: FailureDetection = field(default_factory=FailureDetection)
    max_initial_advertisements: int = 3  # MAX_INITIAL_RTR_ADVERTISEMENTS
    max_initial_interval: float = 16.0  # MAX_INITIAL_RTR_ADVERT_INTERVAL
    max_ra_delay: float = 0.5  # MAX_RA_DELAY_TIME

    def __post_init__(self) -> None:
        if self.discovery not in ("manual", "dynamic"):
            raise ValueError("discovery must be 'manual' or 'dynamic'")
        names = [i.name for i in self.interfaces]
        if len(set(names)) != len(names):
            raise ValueError("interface names must be unique")
        for opt in self.manual_maps + ((self.local_map,) if self.local_map else ()):
            if not 1 <= opt.dist <= 15:
                raise ValueError("MAP option Dist must be 1..15 (0 MUST NOT be used)")
