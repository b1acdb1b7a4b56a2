"""Mobile node configuration.  Times in seconds; defaults are the RFC values (RFC 6275 §12/§13, RFC 4861 §10) or,
where the documents leave a value open, a stated choice (the harness passes scaled values for virtual runs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..cn.rr import MAX_RO_FAILURE, MAX_RR_BINDING_LIFETIME, MAX_TOKEN_LIFETIME
from ..wire.addresses import is_unicast_routable, link_local_from_mac

__all__ = ["MnConfig"]


@dataclass(slots=True, frozen=True)
class MnConfig:
    """Everything a mobile node core needs.

    ``iface`` / ``link_address``: the one interface the MN uses and its MAC (modified EUI-64 interface identifier
    unless ``interface_id`` gives 8 bytes).  ``home_address`` / ``home_agent``: RFC 6275 home registration;
    ``home_agent`` None = HMIPv6 without a home agent (RFC 5380 §1): local binding only, the RCoA used as source
    (base §6.5).  ``correspondents``: nodes to run route optimisation with once the home registration is
    acknowledged (RFC 6275 §11.7.2 MAY); more can be added at run time.

    ``lcoa_source``: "slaac" = the core forms the LCoA from the RA's Prefix Information (A flag, /64) and its
    interface identifier and asks the I/O layer to configure it (``AddressAdded``); "kernel" = the I/O layer
    reports the addresses the kernel configured (``address_added``) and the core picks one on an advertised prefix.

    ``map_selection``: "dist" = base §9.1 default (largest Dist first, Pref as tie-breaker as RFC 5380 §5 asks),
    "pref" = base §7.2 "SHOULD register with the MAP having the highest preference value" (INC-2).  Either way
    Pref 0 and valid lifetime 0 exclude a MAP from new bindings, while the current MAP is kept (and refreshed)
    while it is advertised with a non-zero valid lifetime, even at Pref 0 (§7.2, INC-3; §9 "lazy"); a MAP advertised
    for the first time that the rule ranks first becomes the primary at once, the previous one's binding being kept
    while its MAP is advertised (§9 "eager" and "lazy").
    ``max_maps``: register with up to this many MAPs at once (§6.1, §7.2 MAY), one RCoA and one local binding each;
    the first is primary (registered with the HA and CNs).  ``provisioned_rcoas``: (MAP address, RCoA) pairs given
    by configuration instead of stateless formation (RFC 5380 R=1 allocation, INC-5).
    ``hmipv6``: False = a plain Mobile IPv6 mobile node (MAP options are not used), the baseline HMIPv6 is compared
    against.  ``previous_map_update``: on an inter-MAP move send the previous MAP a BU re-pointing the old RCoA to the new
    LCoA (§6.1 SHOULD, §8).

    Lifetimes are requested values (seconds), then capped as the documents require.  ``refresh_ratio``: refresh a
    binding after this fraction of its granted lifetime (or at the Binding Refresh Advice interval if shorter).
    """

    iface: str
    link_address: bytes
    home_address: bytes
    home_agent: bytes | None = None
    correspondents: tuple[bytes, ...] = ()
    interface_id: bytes | None = None
    lcoa_source: Literal["slaac", "kernel"] = "slaac"
    map_selection: Literal["dist", "pref"] = "dist"
    max_maps: int = 1
    provisioned_rcoas: tuple[tuple[bytes, bytes], ...] = ()
    previous_map_update: bool = True
    hmipv6: bool = True
    route_optimisation: bool = True
    ha_alternate_coa: bool = True  # RFC 6275 §11.7.1: "MUST be included in all home registrations"
    map_lifetime: int = 600
    ha_lifetime: int = 600
    cn_lifetime: int = MAX_RR_BINDING_LIFETIME
    refresh_ratio: float = 0.75
    # RFC 6275 §11.8, §12, §13
    initial_bindack_timeout_first_reg: float = 1.5  # InitialBindackTimeoutFirstReg
    initial_bindack_timeout: float = 1.0  # INITIAL_BINDACK_TIMEOUT
    max_bindack_timeout: float = 32.0  # MAX_BINDACK_TIMEOUT
    max_ro_failure: int = MAX_RO_FAILURE
    max_token_lifetime: float = MAX_TOKEN_LIFETIME
    # RFC 4861 §10 host constants and movement detection (RFC 6275 §11.5.1)
    max_rtr_solicitation_delay: float = 1.0
    rtr_solicitation_interval: float = 4.0
    max_rtr_solicitations: int = 3
    missed_advertisements: int = 3  # RAs missed (per the Advertisement Interval option) before the router is lost
    link_up_at_start: bool = True
    link_mtu: int = 1500  # until an RA's MTU option says otherwise

    def __post_init__(self) -> None:
        if len(self.link_address) != 6:
            raise ValueError("link_address must be a 6-byte MAC")
        if not is_unicast_routable(self.home_address):
            raise ValueError("home_address must be a global unicast address")
        if self.home_agent is not None and not is_unicast_routable(self.home_agent):
            raise ValueError("home_agent must be a global unicast address")
        if self.interface_id is not None and len(self.interface_id) != 8:
            raise ValueError("interface_id must be 8 bytes (64 bits)")
        if self.lcoa_source not in ("slaac", "kernel") or self.map_selection not in ("dist", "pref"):
            raise ValueError("lcoa_source is 'slaac' or 'kernel'; map_selection is 'dist' or 'pref'")
        if self.max_maps < 1:
            raise ValueError("max_maps >= 1")
        if min(self.map_lifetime, self.ha_lifetime, self.cn_lifetime) < 4:
            raise ValueError("requested lifetimes must be at least 4 s (one lifetime unit)")
        if not 4 <= self.cn_lifetime <= MAX_RR_BINDING_LIFETIME:
            raise ValueError("cn_lifetime must not exceed MAX_RR_BINDING_LIFETIME (420 s, RFC 6275 §5.2.6)")
        if not 0 < self.refresh_ratio < 1:
            raise ValueError("refresh_ratio must be in (0, 1)")

    @property
    def iid(self) -> bytes:
        """The 64-bit interface identifier used for the LCoA and the RCoA."""
        return self.interface_id if self.interface_id is not None else link_local_from_mac(self.link_address)[8:]

    @property
    def link_local(self) -> bytes:
        return b"\xfe\x80" + bytes(6) + self.iid
